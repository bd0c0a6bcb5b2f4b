"""The endpoint client against the fake: audio in every answer shape, streaming, the wire
body, validation before the network, long text, the concurrency cap and early close.
(Faults, retries and backoff are in test_client_faults.py.)"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.audio.clip import Audio
from bot.audio.wav import to_wav
from bot.base.errors import InputError
from bot.speech.endpoint.client import EndpointClient
from bot.speech.endpoint.text_split import split_text
from bot.speech.engine import SpeechEngine
from bot.speech.errors import ThrottledError
from bot.speech.request import SpeechRequest
from bot.speech.voices import LANGUAGES, VOICE_NAMES
from tests.standins.clock import ManualClock
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import API_KEY, MakeClient, StartFake, make_settings

TEXT = "Hello there, this is Parla speaking."


async def collect(client: EndpointClient, request: SpeechRequest) -> list[bytes]:
    return [chunk async for chunk in client.stream(request)]


async def speak(client: EndpointClient, request: SpeechRequest, mode: str) -> bytes:
    if mode == "json":
        audio = await client.synthesize(request)
        assert (audio.rate, audio.channels) == (24000, 1)
        return audio.pcm
    return b"".join(await collect(client, request))


# -- the engine interface --------------------------------------------------------------------
def test_is_a_speech_engine(client: EndpointClient) -> None:
    assert isinstance(client, SpeechEngine)
    assert client.name == "api:relay:qwen3-tts-instruct-flash"
    assert client.sample_rate == 24000


def test_name_reflects_style(fake_endpoint: FakeEndpoint, make_client: MakeClient) -> None:
    assert make_client(fake_endpoint, "dashscope").name == "api:dashscope:qwen3-tts-instruct-flash"


# -- whole audio (JSON mode and relay variants) ----------------------------------------------
@pytest.mark.parametrize("style", ["relay", "dashscope"])
async def test_synthesize_downloads_the_url(
    style: str, fake_endpoint: FakeEndpoint, make_client: MakeClient
) -> None:
    client = make_client(fake_endpoint, style)
    audio = await client.synthesize(SpeechRequest(TEXT, voice="Ethan"))
    assert audio == Audio(fake_endpoint.expected_pcm(TEXT, "Ethan"), 24000, 1)
    assert audio.duration == pytest.approx(len(TEXT) * 0.02, abs=1e-3)
    assert fake_endpoint.downloads == 1
    (rec,) = fake_endpoint.requests
    assert (rec.style, rec.stream, rec.text, rec.voice) == (style, False, TEXT, "Ethan")
    assert rec.headers["Authorization"] == f"Bearer {API_KEY}"
    assert client.stats.requests == 1 and client.stats.characters == len(TEXT)


@pytest.mark.parametrize("json_audio", ["data", "data-pcm"])
async def test_synthesize_uses_base64_data(
    json_audio: str, start_fake: StartFake, make_client: MakeClient
) -> None:
    fake = await start_fake(json_audio=json_audio)
    audio = await make_client(fake).synthesize(SpeechRequest(TEXT))
    assert audio == Audio(fake.expected_pcm(TEXT), 24000, 1)
    assert fake.downloads == 0


@pytest.mark.parametrize("relay_mode", ["redirect", "audio"])
async def test_synthesize_accepts_redirect_and_direct_audio(
    relay_mode: str, start_fake: StartFake, make_client: MakeClient
) -> None:
    fake = await start_fake(relay_mode=relay_mode)
    audio = await make_client(fake).synthesize(SpeechRequest(TEXT))
    assert audio == Audio(fake.expected_pcm(TEXT), 24000, 1)
    assert fake.downloads == (1 if relay_mode == "redirect" else 0)
    # The presigned download never carries the API key.
    assert fake.request_count == 1


# -- streaming -------------------------------------------------------------------------------
@pytest.mark.parametrize("style", ["relay", "dashscope"])
async def test_stream_yields_the_audio_in_chunks(
    style: str, fake_endpoint: FakeEndpoint, make_client: MakeClient
) -> None:
    client = make_client(fake_endpoint, style)
    chunks = await collect(client, SpeechRequest(TEXT, voice="Serena"))
    expected = fake_endpoint.expected_pcm(TEXT, "Serena")
    assert b"".join(chunks) == expected
    assert len(chunks) == -(-len(expected) // fake_endpoint.chunk_bytes)
    assert all(len(c) % 2 == 0 and c for c in chunks)
    (rec,) = fake_endpoint.requests
    assert rec.stream and rec.headers["X-DashScope-SSE"] == "enable"
    assert fake_endpoint.completed_streams == 1
    assert client.stats.characters == len(TEXT)


async def test_stream_yields_audio_before_the_answer_is_complete(
    start_fake: StartFake, make_client: MakeClient
) -> None:
    # 1.2 s of audio sent at 4x real time: the whole answer takes 0.3 s.
    fake = await start_fake(realtime_factor=4.0)
    stream = make_client(fake).stream(SpeechRequest("x" * 60))
    first = await anext(stream)
    assert first and fake.completed_streams == 0, "the first chunk came only after the whole answer"
    rest = [chunk async for chunk in stream]
    assert first + b"".join(rest) == fake.expected_pcm("x" * 60)


async def test_stream_with_crlf_framing(start_fake: StartFake, make_client: MakeClient) -> None:
    fake = await start_fake(crlf=True, chunk_bytes=999)
    chunks = await collect(make_client(fake), SpeechRequest(TEXT))
    assert b"".join(chunks) == fake.expected_pcm(TEXT)


# -- relays with unusual answers (a small hand-written server) -------------------------------
ODD_PCM = bytes(range(256)) * 9 + b"\x01"  # 2305 bytes: an odd total


def tricky_sse(pcm: bytes) -> bytes:
    """CRLF, comments, `data: ` with a space, JSON split over two data lines, odd-sized
    chunks, and no blank line after the final event."""
    out = [b": connected\r\n\r\n"]
    sizes = [333, 1001, 7, 1]
    pos = n = 0
    while pos < len(pcm):
        size = sizes[n % len(sizes)]
        chunk, pos, n = pcm[pos : pos + size], pos + size, n + 1
        b64 = base64.b64encode(chunk).decode()
        out.append(
            f"id:{n}\r\nevent:result\r\n: keep-alive\r\n:HTTP_STATUS/200\r\n"
            f'data: {{"output":\r\ndata:{{"finish_reason":null,"audio":{{"data":"{b64}"}}}},'
            f'"request_id":"odd-1"}}\r\n\r\n'.encode()
        )
    out.append(b'id:99\r\nevent:result\r\ndata:{"output":{"finish_reason":"stop","audio":{"data":""}}}')
    return b"".join(out)


@pytest.fixture
async def odd_relay() -> AsyncIterator[str]:
    async def sse(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        raw = tricky_sse(ODD_PCM)
        for i in range(0, len(raw), 97):  # writes that split lines, CRLFs and base64 anywhere
            await resp.write(raw[i : i + 97])
        await resp.write_eof()
        return resp

    async def json_answer(request: web.Request) -> web.Response:
        # A relay that ignores X-DashScope-SSE and answers with the whole audio as JSON.
        body = {"output": {"finish_reason": "stop", "audio": {"data": base64.b64encode(ODD_PCM).decode()}}}
        return web.json_response(body)

    async def wav_answer(request: web.Request) -> web.Response:
        return web.Response(body=to_wav(Audio(ODD_PCM[:-1])), content_type="audio/wav")

    async def wav_file(request: web.Request) -> web.Response:
        return web.Response(body=to_wav(Audio(ODD_PCM[:-1])), content_type="audio/wav")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(request.url.with_path("/files/audio.wav").with_query({"Expires": "1"})))

    async def redirect_relative(request: web.Request) -> web.Response:
        raise web.HTTPFound("/files/audio.wav?Expires=1")

    async def throttle_until(request: web.Request) -> web.Response:
        # Retry-After as an HTTP date, 5 s from now (1 s resolution).
        when = email.utils.formatdate(time.time() + 5, usegmt=True)
        body = {"code": "Throttling.RateQuota", "message": "Slow down.", "request_id": "date-1"}
        return web.json_response(body, status=429, headers={"Retry-After": when})

    app = web.Application()
    app.router.add_post("/sse", sse)
    app.router.add_post("/json", json_answer)
    app.router.add_post("/wav", wav_answer)
    app.router.add_post("/redirect", redirect)
    app.router.add_post("/redirect-relative", redirect_relative)
    app.router.add_post("/throttle-until", throttle_until)
    app.router.add_get("/files/audio.wav", wav_file)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def odd_client(
    url: str, session: aiohttp.ClientSession, tmp_path: Path, clock: ManualClock | None = None
) -> EndpointClient:
    clock = clock or ManualClock()
    settings = make_settings(None, tmp_path, api_url=url)
    return EndpointClient(settings, session, sleep=clock.sleep, clock=clock, rand=lambda: 0.5)


async def test_stream_parses_an_unusual_but_valid_sse_answer(
    odd_relay: str, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    chunks = await collect(odd_client(odd_relay + "/sse", session, tmp_path), SpeechRequest(TEXT))
    assert all(len(c) % 2 == 0 for c in chunks)
    # The odd last byte never forms a sample: everything else arrives whole and in order.
    assert b"".join(chunks) == ODD_PCM[:-1]


@pytest.mark.parametrize("path", ["/json", "/wav"])
async def test_stream_from_a_relay_that_ignores_the_streaming_header(
    path: str, odd_relay: str, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    client = odd_client(odd_relay + path, session, tmp_path)
    assert b"".join(await collect(client, SpeechRequest(TEXT))) == ODD_PCM[:-1]
    audio = await client.synthesize(SpeechRequest(TEXT))
    assert audio.pcm == ODD_PCM[:-1]


async def test_redirect_to_an_absolute_url(
    odd_relay: str, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    client = odd_client(odd_relay + "/redirect", session, tmp_path)
    assert (await client.synthesize(SpeechRequest(TEXT))).pcm == ODD_PCM[:-1]


async def test_redirect_to_a_relative_url(
    odd_relay: str, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    client = odd_client(odd_relay + "/redirect-relative", session, tmp_path)
    assert (await client.synthesize(SpeechRequest(TEXT))).pcm == ODD_PCM[:-1]


async def test_stream_from_a_relay_that_redirects(
    odd_relay: str, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    client = odd_client(odd_relay + "/redirect", session, tmp_path)
    assert b"".join(await collect(client, SpeechRequest(TEXT))) == ODD_PCM[:-1]


@pytest.mark.parametrize("path", ["/redirect", "/wav", "/json"])
async def test_every_answer_shape_is_charged(
    path: str, odd_relay: str, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # A redirect or raw audio carries no usage: the characters sent are charged, once per answer,
    # whether the answer was asked for whole or streamed.
    client = odd_client(odd_relay + path, session, tmp_path)
    charged: list[int] = []
    client.usage_listener = charged.append
    await collect(client, SpeechRequest(TEXT))
    await client.synthesize(SpeechRequest(TEXT))
    assert charged == [len(TEXT), len(TEXT)]
    assert client.stats.characters == 2 * len(TEXT)


@pytest.mark.parametrize("mode", ["json", "sse"])
async def test_retry_after_as_an_http_date(
    mode: str, odd_relay: str, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    clock = ManualClock()
    client = odd_client(odd_relay + "/throttle-until", session, tmp_path, clock)
    with pytest.raises(ThrottledError):
        await speak(client, SpeechRequest(TEXT), mode)
    assert len(clock.sleeps) == 2
    assert all(3.5 < s <= 5.0 for s in clock.sleeps), clock.sleeps


# -- the wire body ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["json", "sse"])
@pytest.mark.parametrize(
    ("optimize", "present", "value"),
    [(False, True, False), (True, True, True), (None, False, None)],
    ids=["false-is-sent", "true-is-sent", "unset-is-omitted"],
)
async def test_optimize_instructions_on_the_wire_relay(
    mode: str,
    optimize: bool | None,
    present: bool,
    value: bool | None,
    fake_endpoint: FakeEndpoint,
    client: EndpointClient,
) -> None:
    req = SpeechRequest(TEXT, instructions="Speak slowly.", optimize_instructions=optimize)
    await speak(client, req, mode)
    body = fake_endpoint.requests[0].body
    assert ("optimize_instructions" in body) == present
    if present:
        assert body["optimize_instructions"] is value
    assert None not in body.values(), "no field is ever sent as null"
    assert body == {
        "model": "qwen3-tts-instruct-flash",
        "input": TEXT,
        "voice": "Cherry",
        "language_type": "Auto",
        "instructions": "Speak slowly.",
        **({"optimize_instructions": value} if present else {}),
    }


@pytest.mark.parametrize("mode", ["json", "sse"])
@pytest.mark.parametrize("optimize", [False, True, None])
async def test_optimize_instructions_on_the_wire_dashscope(
    mode: str, optimize: bool | None, fake_endpoint: FakeEndpoint, make_client: MakeClient
) -> None:
    client = make_client(fake_endpoint, "dashscope")
    req = SpeechRequest(TEXT, voice="Eldric Sage", language="english", instructions="Warm.",
                        optimize_instructions=optimize)  # fmt: skip
    await speak(client, req, mode)
    body = fake_endpoint.requests[0].body
    parameters: dict[str, Any] = {"instructions": "Warm."}
    if optimize is not None:
        parameters["optimize_instructions"] = optimize
    assert body == {
        "model": "qwen3-tts-instruct-flash",
        "input": {"text": TEXT, "voice": "Eldric Sage", "language_type": "English"},
        "parameters": parameters,
    }
    assert "null" not in json.dumps(body)


@pytest.mark.parametrize("style", ["relay", "dashscope"])
async def test_unset_instructions_are_omitted(
    style: str, fake_endpoint: FakeEndpoint, make_client: MakeClient
) -> None:
    client = make_client(fake_endpoint, style)
    await client.synthesize(SpeechRequest(TEXT))
    await client.synthesize(SpeechRequest(TEXT, instructions="   "))  # blank counts as unset
    for rec in fake_endpoint.requests:
        text = json.dumps(rec.body)
        assert "instructions" not in text and "null" not in text
        if style == "dashscope":
            assert "parameters" not in rec.body


async def test_only_instructions_without_optimize(
    fake_endpoint: FakeEndpoint, client: EndpointClient
) -> None:
    await client.synthesize(SpeechRequest(TEXT, instructions="Whisper."))
    body = fake_endpoint.requests[0].body
    assert body["instructions"] == "Whisper." and "optimize_instructions" not in body


async def test_optimize_without_instructions_is_still_sent(
    fake_endpoint: FakeEndpoint, client: EndpointClient
) -> None:
    await client.synthesize(SpeechRequest(TEXT, optimize_instructions=False))
    body = fake_endpoint.requests[0].body
    assert body["optimize_instructions"] is False and "instructions" not in body


async def test_voice_and_language_are_sent_in_canonical_spelling(
    fake_endpoint: FakeEndpoint, client: EndpointClient
) -> None:
    await client.synthesize(SpeechRequest(f"  {TEXT}\n", voice=" eldric   SAGE ", language="japanese"))
    body = fake_endpoint.requests[0].body
    assert (body["input"], body["voice"], body["language_type"]) == (TEXT, "Eldric Sage", "Japanese")


# -- validation before any network call ------------------------------------------------------
@pytest.mark.parametrize("mode", ["json", "sse"])
@pytest.mark.parametrize(
    ("request_", "listed"),
    [
        (SpeechRequest(TEXT, voice="Jennifer"), VOICE_NAMES),
        (SpeechRequest(TEXT, language="Klingon"), LANGUAGES),
        (SpeechRequest(""), ()),
        (SpeechRequest("  \n\t "), ()),
        (SpeechRequest("\x00\x07"), ()),
    ],
    ids=["voice", "language", "empty", "whitespace", "control-chars"],
)
async def test_invalid_input_is_refused_before_any_request(
    mode: str,
    request_: SpeechRequest,
    listed: tuple[str, ...],
    fake_endpoint: FakeEndpoint,
    client: EndpointClient,
) -> None:
    with pytest.raises(InputError) as info:
        await speak(client, request_, mode)
    message = info.value.user_message()
    for name in listed:
        assert name in message
    if not listed:
        assert "empty" in message
    assert fake_endpoint.request_count == 0
    assert client.stats.requests == 0


async def test_too_long_instructions_are_refused_before_any_request(
    fake_endpoint: FakeEndpoint, client: EndpointClient
) -> None:
    with pytest.raises(InputError, match="1600"):
        await client.synthesize(SpeechRequest(TEXT, instructions="x" * 1601))
    assert fake_endpoint.request_count == 0


# -- long text -------------------------------------------------------------------------------
LONG = " ".join(
    f"Sentence {i} tells a little more of the story, with a clause or two; then it ends." for i in range(19)
)


@pytest.mark.parametrize("mode", ["json", "sse"])
@pytest.mark.parametrize("style", ["relay", "dashscope"])
async def test_long_text_becomes_several_requests_joined_in_order(
    mode: str, style: str, fake_endpoint: FakeEndpoint, make_client: MakeClient
) -> None:
    assert len(LONG) >= 1500
    client = make_client(fake_endpoint, style)
    pcm = await speak(client, SpeechRequest(LONG, voice="Vincent"), mode)
    texts = [rec.text for rec in fake_endpoint.requests]
    assert len(texts) >= 3
    assert all(len(t) <= 600 for t in texts)
    assert " ".join(texts).split() == LONG.split(), "a word was cut, lost or reordered"
    assert texts == split_text(LONG, 600)
    assert pcm == b"".join(fake_endpoint.expected_pcm(t, "Vincent") for t in texts)


async def test_the_piece_limit_is_a_setting(fake_endpoint: FakeEndpoint, make_client: MakeClient) -> None:
    client = make_client(fake_endpoint, max_input_chars=100)
    audio = await client.synthesize(SpeechRequest(LONG[:450]))
    texts = [rec.text for rec in fake_endpoint.requests]
    assert len(texts) >= 5 and all(len(t) <= 100 for t in texts)
    assert audio.pcm == b"".join(fake_endpoint.expected_pcm(t) for t in texts)


# -- concurrency and early close -------------------------------------------------------------
async def test_concurrency_cap_for_streams(start_fake: StartFake, make_client: MakeClient) -> None:
    fake = await start_fake(first_chunk_delay=0.02)
    client = make_client(fake, max_concurrent_requests=2)
    texts = [f"Message number {i}." for i in range(10)]
    results = await asyncio.gather(*(collect(client, SpeechRequest(t)) for t in texts))
    assert [b"".join(r) for r in results] == [fake.expected_pcm(t) for t in texts]
    assert fake.request_count == 10
    assert fake.max_concurrency == 2
    assert client.stats.in_flight == 0


async def test_concurrency_cap_for_whole_audio(start_fake: StartFake, make_client: MakeClient) -> None:
    fake = await start_fake(json_audio="data-pcm")
    client = make_client(fake, max_concurrent_requests=2)
    fake.faults.extend(["stall-first:0.02"] * 10)  # keep each request open a moment
    texts = [f"Message number {i}." for i in range(10)]
    results = await asyncio.gather(*(client.synthesize(SpeechRequest(t)) for t in texts))
    assert [a.pcm for a in results] == [fake.expected_pcm(t) for t in texts]
    assert fake.max_concurrency == 2


async def test_closing_a_stream_early_drops_the_connection(
    start_fake: StartFake, make_client: MakeClient
) -> None:
    fake = await start_fake(realtime_factor=2.0)
    client = make_client(fake)
    stream = client.stream(SpeechRequest("x" * 100))
    assert await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    for _ in range(100):
        if fake.disconnects:
            break
        await asyncio.sleep(0.01)
    assert fake.disconnects == 1 and fake.completed_streams == 0
    assert client.stats.in_flight == 0
    # The client is still usable.
    assert b"".join(await collect(client, SpeechRequest(TEXT))) == fake.expected_pcm(TEXT)


async def test_aclose_releases_the_connection_at_once(start_fake: StartFake, make_client: MakeClient) -> None:
    fake = await start_fake(realtime_factor=2.0)
    client = make_client(fake, max_concurrent_requests=1)
    stream = client.stream(SpeechRequest("x" * 100))
    assert await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert client.stats.in_flight == 0
    assert not client._limit.locked()
