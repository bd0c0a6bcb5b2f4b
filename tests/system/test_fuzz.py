"""Fuzz tests (hypothesis): bad input never crashes or wedges anything.

- The SSE parser: arbitrary bytes split arbitrarily never raise and parse exactly as the
  unsplit bytes; well-formed streams give exactly the events they were built from.
- The client's answer handling: arbitrary SSE bodies, JSON bodies and error bodies served by
  a tiny local server end in PCM or a TTSError, never another exception, never a hang.
- The read-aloud cleaner: adversarial messages (4000 characters, zalgo, control characters,
  lone surrogates, hundreds of mentions, odd names) never raise, respect the length limit and
  give text the endpoint can take.
- Command argument validation (speech_service checks, SpeakOrder, SpeechRequest.validated,
  storage validate_pref / validate_read_aloud_change / validate_nickname, autocomplete): only
  InputError, with a message that fits a Discord reply; accepted values are canonical.

Examples are derandomized (the same on every run) and bounded for CI.
"""

from __future__ import annotations

import asyncio
import base64
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from bot.base.errors import InputError
from bot.commands.checks import SPEAK_MAX_CHARS, check_picked_voice, check_typed_text
from bot.commands.choices import AUTOCOMPLETE_LIMIT, CHOICE_MAX_CHARS, shorten, style_choices, voice_choices
from bot.commands.speak import SpeakOrder
from bot.speech.endpoint.client import EndpointClient
from bot.speech.endpoint.sse import SSEEvent, SSEParser
from bot.speech.errors import TTSError
from bot.speech.request import MAX_INSTRUCTIONS_CHARS, STYLE_MAX_CHARS, SpeechRequest, check_style
from bot.speech.voices import LANGUAGES, VOICE_NAMES, check_language
from bot.store.models import MAX_NICKNAME_CHARS, PREF_FIELDS, READ_ALOUD_FIELDS
from bot.store.validators import validate_nickname, validate_pref, validate_read_aloud_change
from bot.text.clean import Attachment, CleanOptions, MessageInfo, clean_content, clean_message
from tests.standins.fake_api import wav_bytes
from tests.standins.settings import make_settings

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DISCORD_MESSAGE_MAX = 2000

# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------

SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
CONTROLS = st.sampled_from(
    [chr(c) for c in range(32)] + [chr(c) for c in range(0x7F, 0xA0)] + list("\u200b\u200e\u202e\u2066\ufeff")
)
COMBINING = st.integers(0x0300, 0x036F).map(chr)
ZALGO = st.builds(
    lambda base, marks: base + "".join(marks), st.sampled_from("aeiouZ"), st.lists(COMBINING, max_size=40)
)
ANY_CHAR = st.one_of(st.characters(), SURROGATES, CONTROLS, COMBINING)
NASTY_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=300),
    st.lists(st.one_of(ZALGO, st.text(ANY_CHAR, max_size=8), st.just(" ")), max_size=120).map("".join),
    st.builds(
        lambda unit, n: (unit * n)[:4000], st.text(ANY_CHAR, min_size=1, max_size=12), st.integers(1, 4000)
    ),
    st.sampled_from(["", " ", "\n\t ", "\u200b", "\x00" * 10, "\ud800", " \udfff "]),
)


def raises_only_input_error(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Call; an InputError is fine (returned) if its message fits a Discord reply, anything
    else propagates and fails the test."""
    try:
        return call(*args, **kwargs)
    except InputError as err:
        message = err.user_message()
        assert message.strip() and len(message) <= DISCORD_MESSAGE_MAX, message[:200]
        return err


def speakable(text: str) -> bool:
    """What the endpoint can take: UTF-8 encodable, no control characters."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text)


# --------------------------------------------------------------------------------------------
# SSE parser
# --------------------------------------------------------------------------------------------


def parse(data: bytes, cuts: list[int]) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    points = sorted({c % (len(data) + 1) for c in cuts})
    start = 0
    for point in [*points, len(data)]:
        events += parser.feed(data[start:point])
        start = point
    return events + parser.close()


SSE_PIECES = st.sampled_from(
    [b"\n", b"\r", b"\r\n", b"\n\n", b"data:", b"data: ", b"event:", b"id:", b":", b"status:", b" 500",
     b":HTTP_STATUS/200", b"retry: 5", b"{", b"}", b"\xff", b"\xe3\x81", b"\x82", b"\x00"]
)  # fmt: skip
SSE_BYTES = st.one_of(
    st.binary(max_size=400), st.lists(st.one_of(SSE_PIECES, st.binary(max_size=6)), max_size=80).map(b"".join)
)
CUTS = st.lists(st.integers(0, 10_000), max_size=30)


@FUZZ
@given(data=SSE_BYTES, cuts=CUTS)
@example(data=b"data:a\r", cuts=[7])
@example(data=b"data:\xe3\x81\x82\r\n\r\n", cuts=[6, 8])
def test_sse_any_bytes_split_anywhere_parse_as_unsplit(data: bytes, cuts: list[int]) -> None:
    assert parse(data, cuts) == parse(data, [])


LINE_VALUE = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=40)


@dataclass
class Block:
    data: list[str]
    event: str | None
    id: str | None
    status: int | None
    status_as_comment: bool
    comments: list[str]
    space: bool

    def lines(self) -> list[str]:
        sep = ": " if self.space else ":"
        out = [f":{c}" for c in self.comments]
        if self.id is not None:
            out.append(f"id{sep}{self.id}")
        if self.event is not None:
            out.append(f"event{sep}{self.event}")
        if self.status is not None:
            out.append(
                f":HTTP_STATUS/{self.status}" if self.status_as_comment else f"status{sep}{self.status}"
            )
        out += [f"data{sep}{d}" for d in self.data]
        out.append("retry: 100")  # unknown fields are ignored
        return out

    def expected(self) -> SSEEvent:
        return SSEEvent(self.event or "message", "\n".join(self.data), self.id, self.status)


def _value(space: bool) -> st.SearchStrategy[str]:
    # Without the space after the colon, a value that starts with a space keeps it; with it,
    # exactly one space is dropped, so any value round-trips.
    return LINE_VALUE if space else LINE_VALUE.filter(lambda v: not v.startswith(" "))


@st.composite
def blocks(draw: st.DrawFn) -> Block:
    space = draw(st.booleans())
    value = _value(space)
    data = draw(st.lists(value, min_size=1, max_size=4))
    return Block(
        data=data,
        event=draw(st.none() | value),
        id=draw(st.none() | value),
        status=draw(st.none() | st.integers(100, 599)),
        status_as_comment=draw(st.booleans()),
        comments=draw(st.lists(LINE_VALUE.filter(lambda c: "HTTP_STATUS/" not in c), max_size=2)),
        space=space,
    )


@FUZZ
@given(
    stream=st.lists(blocks(), min_size=1, max_size=6),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    mixed=st.booleans(),
    ending=st.sampled_from(["blank line", "line end", "nothing"]),
    cuts=CUTS,
)
def test_sse_well_formed_streams_give_their_events_however_split(
    stream: list[Block], newline: str, mixed: bool, ending: str, cuts: list[int]
) -> None:
    endings = ["\n", "\r\n", "\r"]
    parts: list[str] = []
    n = 0
    end = newline
    for i, block in enumerate(stream):
        for line in block.lines():
            end = endings[n % 3] if mixed else newline
            parts.append(line + end)
            n += 1
        last = i == len(stream) - 1
        if not last or ending == "blank line":
            # The blank line must not merge with the previous CR into one CRLF.
            parts.append("\r" if end == "\r" and newline == "\n" else newline)
    text = "".join(parts)
    if ending == "nothing":
        text = text[: -len(newline)] if text.endswith(newline) and not mixed else text.rstrip("\r\n")
    data = text.encode()
    expected = [b.expected() for b in stream]
    assert parse(data, []) == expected
    assert parse(data, cuts) == expected


# --------------------------------------------------------------------------------------------
# The client's handling of whatever the endpoint sends
# --------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int = 200
    content_type: str = "text/event-stream"
    body: bytes = b""
    pieces: list[int] = field(default_factory=list)  # write the body in these cuts


class AnswerServer:
    """One local server for the whole module, on its own event loop; each example sets the
    answer it serves next."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.answer = Answer()
        self.tmp = tmp
        self._runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None
        self.client: EndpointClient | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        answer = self.answer
        resp = web.StreamResponse(status=answer.status, headers={"Content-Type": answer.content_type})
        await resp.prepare(request)
        start = 0
        for cut in sorted({p % (len(answer.body) + 1) for p in answer.pieces}):
            await resp.write(answer.body[start:cut])
            start = cut
        await resp.write(answer.body[start:])
        await resp.write_eof()
        return resp

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/audio/speech", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        config = make_settings(
            None,
            self.tmp,
            api_url=f"http://127.0.0.1:{port}/v1/audio/speech",
            retry_attempts=1,
            first_byte_timeout=2.0,
            stall_timeout=2.0,
            total_timeout=5.0,
        )
        self.session = aiohttp.ClientSession()
        self.client = EndpointClient(config, self.session)

    async def _stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def start(self) -> None:
        self.loop.run_until_complete(self._start())

    def stop(self) -> None:
        self.loop.run_until_complete(self._stop())
        self.loop.close()

    def outcome(self, answer: Answer, mode: str) -> bytes | TTSError:
        """PCM or the TTSError the client raised for `answer`; any other exception escapes."""
        self.answer = answer
        return self.loop.run_until_complete(self._consume(mode))

    async def _consume(self, mode: str) -> bytes | TTSError:
        client = self.client
        assert client is not None
        request = SpeechRequest("Fuzzing the answer handling.")
        try:
            async with asyncio.timeout(10):
                if mode == "synth":
                    return (await client.synthesize(request)).pcm
                chunks = [chunk async for chunk in client.stream(request)]
        except TTSError as err:
            return err
        assert all(len(c) % 2 == 0 for c in chunks), "PCM chunks must be whole samples"
        return b"".join(chunks)


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnswerServer]:
    server = AnswerServer(tmp_path_factory.mktemp("fuzz"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


JSON_KEYS = st.sampled_from(
    ["output", "audio", "data", "finish_reason", "code", "message", "request_id", "status_code",
     "usage", "characters", "text", "expires_at"]
)  # fmt: skip
B64 = st.binary(max_size=60).map(lambda b: base64.b64encode(b).decode())
# Audio URLs in answers: never anything but this machine (a refused port, or no URL at all).
LOCAL_URLS = ["http://127.0.0.1:1/audio.wav", "", "not a url", "/relative.wav"]
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    B64,
    st.sampled_from(["stop", "null", "", "InternalError", "Throttling.RateQuota", "InvalidApiKey", "=="]),
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_KEYS, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def payloads(draw: st.DrawFn) -> str:
    """A JSON text shaped roughly like the endpoint's (or not at all)."""
    audio = draw(st.dictionaries(st.sampled_from(["data", "id", "expires_at"]), JSON_VALUE | B64, max_size=3))
    if draw(st.booleans()):
        audio["url"] = draw(st.sampled_from(LOCAL_URLS))
    output = draw(st.one_of(st.just({"audio": audio, "finish_reason": draw(JSON_LEAF)}), JSON_VALUE))
    obj = draw(
        st.one_of(
            st.just({"output": output, "request_id": "r-1"}),
            st.dictionaries(JSON_KEYS, JSON_VALUE, max_size=5),
            JSON_VALUE,
        )
    )
    text = json.dumps(obj)
    return draw(st.sampled_from([text, text[: len(text) // 2], text + "}"]))


@st.composite
def sse_bodies(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 4)) == 0:
        return draw(SSE_BYTES)
    out = []
    for n in range(draw(st.integers(0, 5))):
        lines = [f"id:{n}", f"event:{draw(st.sampled_from(['result', 'error', 'message', '']))}"]
        status = draw(st.none() | st.sampled_from([200, 400, 401, 429, 500, 503, 999, 0]))
        if status is not None:
            lines.append(f":HTTP_STATUS/{status:03d}" if draw(st.booleans()) else f"status:{status}")
        lines += [f"data:{draw(payloads())}"]
        out.append("\n".join(lines) + draw(st.sampled_from(["\n\n", "\r\n\r\n", "\n"])))
    return "".join(out).encode()


@st.composite
def good_streams(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A stream as the endpoint sends it (chunks of any length, odd ones included, then the
    final `stop` event), and the PCM it carries."""
    chunks = draw(st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=8))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    events = []
    for n, chunk in enumerate(chunks, 1):
        payload = {
            "output": {"finish_reason": "null", "audio": {"data": base64.b64encode(chunk).decode()}},
            "request_id": "req-1",
        }
        events.append([f"id:{n}", "event:result", ":HTTP_STATUS/200", "data:" + json.dumps(payload)])
    final = {
        "output": {"finish_reason": "stop", "audio": {"data": "", "url": LOCAL_URLS[0]}},
        "usage": {"characters": 9},
    }
    events.append([f"id:{len(chunks) + 1}", "event:result", ":HTTP_STATUS/200", "data:" + json.dumps(final)])
    body = "".join(newline.join(lines) + newline + newline for lines in events).encode()
    pcm = b"".join(chunks)
    return body, pcm[: len(pcm) - len(pcm) % 2]


@FUZZ
@given(stream=good_streams(), pieces=CUTS)
def test_client_stream_of_a_good_sse_body_gives_its_pcm(
    answers: AnswerServer, stream: tuple[bytes, bytes], pieces: list[int]
) -> None:
    body, pcm = stream
    assert answers.outcome(Answer(200, "text/event-stream", body, pieces), "stream") == pcm


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A good stream with one thing wrong: cut short, a byte changed, or junk inserted."""
    body, _ = draw(good_streams())
    at = draw(st.integers(0, len(body)))
    how = draw(st.sampled_from(["cut", "flip", "insert"]))
    if how == "cut":
        return body[:at]
    if how == "flip" and at < len(body):
        return body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    return body[:at] + draw(st.one_of(SSE_PIECES, st.binary(max_size=8))) + body[at:]


@FUZZ
@given(
    body=st.one_of(sse_bodies(), damaged()),
    pieces=CUTS,
    status=st.sampled_from([200, 200, 200, 500, 429]),
)
@example(body=b"", pieces=[], status=200)
@example(body=b'event:error\ndata:{"code":{"a":1}}\n\n', pieces=[], status=200)
@example(body=b'data:{"output":{"audio":{"data":"AAE"},"finish_reason":"stop"}}\n\n', pieces=[9], status=200)
def test_client_stream_of_any_sse_body_ends_in_pcm_or_a_tts_error(
    answers: AnswerServer, body: bytes, pieces: list[int], status: int
) -> None:
    outcome = answers.outcome(Answer(status, "text/event-stream", body, pieces), "stream")
    assert isinstance(outcome, (bytes, TTSError))
    if isinstance(outcome, TTSError):
        assert outcome.user_message().strip()


@FUZZ
@given(
    text=payloads() | st.text(max_size=200),
    status=st.sampled_from([200, 200, 400, 401, 403, 404, 429, 500, 502, 503]),
    content_type=st.sampled_from(["application/json", "text/html", "text/plain", "audio/wav", "audio/pcm"]),
)
@example(text='{"output": {"audio": {"data": "not base64!"}}}', status=200, content_type="application/json")
@example(text="<html>502</html>", status=502, content_type="text/html")
@example(text="RIFF....WAVEfmt ", status=200, content_type="audio/wav")
def test_client_synthesize_of_any_answer_ends_in_audio_or_a_tts_error(
    answers: AnswerServer, text: str, status: int, content_type: str
) -> None:
    outcome = answers.outcome(Answer(status, content_type, text.encode("utf-8", "replace")), "synth")
    assert isinstance(outcome, (bytes, TTSError))
    if isinstance(outcome, bytes):
        assert status == 200


@FUZZ
@given(
    pcm=st.binary(max_size=2000),
    as_wav=st.booleans(),
    extra=st.dictionaries(JSON_KEYS, JSON_LEAF, max_size=3),
)
def test_client_synthesize_of_a_good_answer_gives_its_audio(
    answers: AnswerServer, pcm: bytes, as_wav: bool, extra: dict[str, Any]
) -> None:
    pcm = pcm[: len(pcm) - len(pcm) % 2]
    data = wav_bytes(pcm) if as_wav else pcm
    assume(data)
    answer = {
        **extra,
        "request_id": "req-1",
        "output": {"finish_reason": "stop", "audio": {"data": base64.b64encode(data).decode(), "url": ""}},
        "usage": {"characters": 9},
    }
    outcome = answers.outcome(Answer(200, "application/json", json.dumps(answer).encode()), "synth")
    assert outcome == pcm


DEEP = "[" * 5000


@pytest.mark.parametrize(
    ("mode", "answer"),
    [
        ("stream", Answer(200, "text/event-stream", f"data:{DEEP}\n\n".encode())),
        ("synth", Answer(200, "application/json", DEEP.encode())),
        ("synth", Answer(500, "application/json", DEEP.encode())),
    ],
    ids=["sse-event", "json-answer", "error-body"],
)
def test_client_deeply_nested_json_is_a_bad_response(
    answers: AnswerServer, mode: str, answer: Answer
) -> None:
    # json.loads raises RecursionError, not ValueError, on deep nesting.
    outcome = answers.outcome(answer, mode)
    assert isinstance(outcome, TTSError)


# --------------------------------------------------------------------------------------------
# The read-aloud cleaner
# --------------------------------------------------------------------------------------------

IDS = st.integers(1, 10**19)


@st.composite
def messages(draw: st.DrawFn) -> MessageInfo:
    ids = draw(st.lists(IDS, max_size=30, unique=True))
    names = st.text(ANY_CHAR, max_size=60)
    mention = st.one_of(
        st.sampled_from(ids).map(lambda i: f"<@{i}>") if ids else st.just("<@1>"),
        IDS.map(lambda i: f"<@!{i}>"),
        IDS.map(lambda i: f"<@&{i}>"),
        IDS.map(lambda i: f"<#{i}>"),
        st.integers(-(10**15), 10**15).map(lambda t: f"<t:{t}:R>"),
        st.sampled_from(
            ["@everyone", "@here", "<:kek:123456789012345678>", "</ping:123>", "||x||", "```", "`"]
        ),
    )
    piece = st.one_of(
        mention, ZALGO, st.text(ANY_CHAR, max_size=10), st.sampled_from([" ", "\n", "https://a.b/c "])
    )
    content = draw(
        st.one_of(
            NASTY_TEXT,
            st.lists(piece, max_size=200).map("".join),
            st.builds(lambda m, n: (m + " ") * n, mention, st.integers(100, 700)).map(lambda s: s[:4000]),
        )
    )
    return MessageInfo(
        content,
        author_name=draw(names),
        user_names={i: draw(names) for i in ids},
        spoken_names={i: draw(names) for i in ids[:3]},
        role_names=draw(st.dictionaries(IDS, names, max_size=3)),
        channel_names=draw(st.dictionaries(IDS, names, max_size=3)),
        attachments=draw(
            st.lists(
                st.builds(Attachment, names, st.none() | st.text(max_size=20), st.booleans()), max_size=10
            )
        ),
        stickers=draw(st.lists(names, max_size=3)),
        embeds=draw(st.integers(0, 10)),
        reply_to_name=draw(st.none() | names),
        created_at=draw(st.none() | st.floats(-1e12, 1e12)),
    )


OPTIONS = st.builds(
    CleanOptions,
    max_length=st.integers(1, 2000),
    emoji_mode=st.sampled_from(["name", "none"]),
    repeat_char_cap=st.integers(1, 5),
    repeat_word_cap=st.integers(1, 5),
    language=st.sampled_from([*LANGUAGES, "Klingon"]),
    read_replies=st.booleans(),
    describe_attachments=st.booleans(),
)
# The phrases around the cut body: "replying to NAME, ", "NAME said, ", attachments and up to
# three sticker names (names are cut to 40 characters).
PHRASES_MAX = 400


@FUZZ
@given(info=messages(), options=OPTIONS, say_name=st.booleans())
@example(
    info=MessageInfo(("<@1> " * 800)[:4000], user_names={1: "A" * 60}), options=CleanOptions(), say_name=True
)
@example(
    info=MessageInfo("Z\u0336\u0337\u0338" * 1000, author_name="\ud800"),
    options=CleanOptions(),
    say_name=True,
)
def test_cleaner_never_raises_and_keeps_to_the_limit(
    info: MessageInfo, options: CleanOptions, say_name: bool
) -> None:
    body = clean_content(info, options)
    assert len(body) <= options.max_length
    text = clean_message(info, options, say_name=say_name)
    assert len(text) <= options.max_length + PHRASES_MAX
    for out in (body, text):
        assert speakable(out), ascii(out[:200])
        if out:
            assert SpeechRequest(out).validated().text


# --------------------------------------------------------------------------------------------
# Command argument validation
# --------------------------------------------------------------------------------------------

STALE_VOICES = [
    "Dylan", "Jada", "Sunny", "Chelsie ", "chErRy", " Eldric   Sage ", "Eldric_Sage", "cherry\u200b",
    "Cherry\x00", "Ｃｈｅｒｒｙ", "", "  ", "\ud800",
]  # fmt: skip
VOICE_INPUT = st.one_of(st.sampled_from([*VOICE_NAMES, *STALE_VOICES]), st.text(ANY_CHAR, max_size=50))
LANGUAGE_INPUT = st.one_of(
    st.sampled_from([*LANGUAGES, "english ", "EN", "Klingon", ""]), st.text(ANY_CHAR, max_size=20)
)


def around_limit(limit: int) -> st.SearchStrategy[str]:
    """Text of about `limit` characters: exactly at it, one over, padded, or with nasty characters."""
    return st.builds(
        lambda n, pad, unit: pad + (unit * n)[:n] + pad,
        st.integers(max(0, limit - 2), limit + 2),
        st.sampled_from(["", " ", "\n\t", "\u200b"]),
        st.sampled_from(["a", "é", "漢", "😀", "e\u0301", "\ud800", "\x00", " "]),
    )


INSTRUCTIONS = st.one_of(
    st.none(), NASTY_TEXT, around_limit(MAX_INSTRUCTIONS_CHARS), around_limit(STYLE_MAX_CHARS)
)


@FUZZ
@given(
    text=st.one_of(NASTY_TEXT, around_limit(4000), around_limit(SPEAK_MAX_CHARS)),
    voice=VOICE_INPUT,
    language=LANGUAGE_INPUT,
    instructions=INSTRUCTIONS,
    optimize=st.none() | st.booleans(),
)
def test_speech_request_validation_raises_only_input_error(
    text: str, voice: str, language: str, instructions: str | None, optimize: bool | None
) -> None:
    result = raises_only_input_error(SpeechRequest(text, voice, language, instructions, optimize).validated)
    if isinstance(result, InputError):
        return
    assert result.text and result.text == result.text.strip() and speakable(result.text)
    assert result.voice in VOICE_NAMES and result.language in LANGUAGES
    if result.instructions is not None:
        assert 0 < len(result.instructions) <= MAX_INSTRUCTIONS_CHARS and speakable(result.instructions)
    assert result.validated() == result  # canonical: validating again changes nothing


@FUZZ
@given(
    text=st.one_of(NASTY_TEXT, around_limit(SPEAK_MAX_CHARS)),
    voice=st.none() | VOICE_INPUT,
    style=st.one_of(st.none(), NASTY_TEXT, around_limit(STYLE_MAX_CHARS)),
    language=st.none() | LANGUAGE_INPUT,
)
def test_command_options_raise_only_input_error(
    text: str, voice: str | None, style: str | None, language: str | None
) -> None:
    order = raises_only_input_error(SpeakOrder.create, text, voice=voice, style=style, language=language)
    if not isinstance(order, InputError):
        assert 0 < len(order.text) <= SPEAK_MAX_CHARS and speakable(order.text)
        assert order.voice is None or order.voice in VOICE_NAMES
        assert order.style is None or (0 < len(order.style) <= STYLE_MAX_CHARS and speakable(order.style))
        assert order.language is None or order.language in LANGUAGES
    checks = ((check_typed_text, text), (check_picked_voice, voice or ""), (check_language, language or ""))
    for check, value in checks:
        raises_only_input_error(check, value)
    if style is not None:
        raises_only_input_error(check_style, style)
    assert len(shorten(text, 100)) <= 100


@FUZZ
@given(current=st.one_of(NASTY_TEXT, around_limit(CHOICE_MAX_CHARS), around_limit(STYLE_MAX_CHARS)))
def test_autocomplete_never_raises_and_fits_discord(current: str) -> None:
    for choices in (voice_choices(current), style_choices(current)):
        assert len(choices) <= AUTOCOMPLETE_LIMIT
        for label, value in choices:
            assert 0 < len(label) <= CHOICE_MAX_CHARS and 0 < len(value) <= CHOICE_MAX_CHARS


ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(),
    NASTY_TEXT,
    VOICE_INPUT,
    LANGUAGE_INPUT,
    around_limit(MAX_INSTRUCTIONS_CHARS),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(b"bytes"),
)


@FUZZ
@given(name=st.one_of(st.sampled_from(PREF_FIELDS), st.text(max_size=20)), value=ANY_VALUE)
@example(name="optimize_instructions", value="0" * 4000)  # once echoed whole: 2,004 characters
@example(name="x" * 4000, value=True)
def test_validate_pref_raises_only_input_error(name: str, value: object) -> None:
    result = raises_only_input_error(validate_pref, name, value)
    if isinstance(result, InputError) or result is None:
        return
    if name == "voice":
        assert result in VOICE_NAMES
    elif name == "language":
        assert result in LANGUAGES
    elif name == "instructions":
        assert isinstance(result, str) and len(result) <= MAX_INSTRUCTIONS_CHARS and speakable(result)
    else:
        assert isinstance(result, bool)


@FUZZ
@given(
    name=st.one_of(st.sampled_from([*READ_ALOUD_FIELDS, "channel_ids"]), st.text(max_size=20)),
    value=st.one_of(
        ANY_VALUE, st.sampled_from([0, 1, 19, 20, 2000, 2001, 2**63 - 1, 2**63, -1, "name", "NONE "])
    ),
)
def test_validate_read_aloud_change_raises_only_input_error(name: str, value: object) -> None:
    raises_only_input_error(validate_read_aloud_change, name, value)


@FUZZ
@given(nickname=st.one_of(st.none(), NASTY_TEXT, around_limit(MAX_NICKNAME_CHARS)))
def test_validate_nickname_raises_only_input_error(nickname: str | None) -> None:
    result = raises_only_input_error(validate_nickname, nickname)
    if isinstance(result, str):
        assert 0 < len(result) <= MAX_NICKNAME_CHARS and speakable(result) and result == result.strip()


def test_instructions_limit_is_exact() -> None:
    ok = "a" * MAX_INSTRUCTIONS_CHARS
    assert SpeechRequest("hi", instructions=ok).validated().instructions == ok
    assert (
        SpeechRequest("hi", instructions=f"  {ok}\n").validated().instructions == ok
    )  # padding is not counted
    with pytest.raises(InputError, match=str(MAX_INSTRUCTIONS_CHARS)):
        SpeechRequest("hi", instructions=ok + "b").validated()
    assert validate_pref("instructions", ok) == ok
    with pytest.raises(InputError):
        validate_pref("instructions", ok + "b")
    assert check_style("s" * STYLE_MAX_CHARS) == "s" * STYLE_MAX_CHARS
    with pytest.raises(InputError):
        check_style("s" * (STYLE_MAX_CHARS + 1))


@pytest.mark.parametrize("voice", ["Dylan", "Jada", "Sunny", "Eldric_Sage", "", "\ud800"])
def test_unknown_voices_from_stale_clients_are_input_errors(voice: str) -> None:
    with pytest.raises(InputError):
        check_picked_voice(voice)
    with pytest.raises(InputError):
        SpeechRequest("hi", voice).validated()
    with pytest.raises(InputError) as err:
        validate_pref("voice", voice)
    assert len(err.value.user_message()) <= DISCORD_MESSAGE_MAX
