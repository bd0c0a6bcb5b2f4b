"""The API key never shows: not in logs (even at DEBUG, through many faults), exceptions,
reprs or user messages, and not when the server echoes it back."""

from __future__ import annotations

import io
import logging
import pickle
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.base.errors import InputError
from bot.base.secrets import MASK, RedactingFilter, Secret, redact
from bot.speech.endpoint.client import EndpointClient
from bot.speech.errors import TTSError, error_for
from bot.speech.request import SpeechRequest
from tests.standins import fake_api
from tests.standins.clock import ManualClock
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import API_KEY, make_settings

TEXT = "Hello there, this is Parla speaking."


def unique(prefix: str) -> str:
    # Registered secrets are process-wide: use values no other test could contain.
    return f"{prefix}-{uuid.uuid4().hex}"


# -- Secret and redact -----------------------------------------------------------------------
def test_secret_never_prints_its_value() -> None:
    value = unique("sk-print")
    secret = Secret(value)
    for text in (str(secret), repr(secret), f"{secret}", f"{secret!s} {secret!r}", str([secret])):
        assert value not in text
        assert "***" in text
    assert secret.reveal() == value


def test_secret_equality_and_hash() -> None:
    value = unique("sk-eq")
    assert Secret(value) == Secret(value) and hash(Secret(value)) == hash(Secret(value))
    assert Secret(value) != Secret(value + "x")
    assert Secret(value) != value


def test_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret(unique("sk-pickle")))


def test_redact_scrubs_registered_secrets() -> None:
    value = unique("sk-redact")
    Secret(value)
    assert redact(f"key={value}; again {value}.") == f"key={MASK}; again {MASK}."
    assert redact("nothing secret here") == "nothing secret here"


def test_redact_prefers_the_longest_secret() -> None:
    short = unique("sk-overlap")
    long = short + "-and-more"
    Secret(short)
    Secret(long)
    assert redact(f"[{long}]") == f"[{MASK}]"


def test_very_short_values_are_not_registered() -> None:
    Secret("ab")
    assert redact("a cab is not a secret") == "a cab is not a secret"


def test_redacting_filter_scrubs_message_args_and_traceback() -> None:
    value = unique("sk-filter")
    Secret(value)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.secrets.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("plain %s", value)
        logger.warning(f"inline {value}")
        try:
            raise RuntimeError(f"boom with {value}")
        except RuntimeError:
            logger.exception("failed for %r", {"key": value})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    output = stream.getvalue()
    assert value not in output
    assert output.count(MASK) >= 4
    assert "RuntimeError: boom with ***" in output


def test_errors_scrub_their_messages() -> None:
    value = unique("sk-error")
    Secret(value)
    err = error_for(401, "InvalidApiKey", f"Invalid API-key provided: {value}", "rid-1")
    for text in (str(err), repr(err), err.log_form(), err.user_message(), err.message):
        assert value not in text
    assert MASK in err.log_form()
    assert value not in str(InputError(f"bad {value}"))


# -- end to end through the client -----------------------------------------------------------
def texts_of(exc: BaseException) -> Iterator[str]:
    """Every text an exception can end up in: str, repr, user sentence, log form, the full
    formatted traceback, and the same for every chained exception."""
    yield "".join(traceback.format_exception(exc))
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        if isinstance(current, TTSError):
            yield current.user_message()
            yield current.log_form()
        current = current.__cause__ or current.__context__


def record_texts(record: logging.LogRecord) -> Iterator[str]:
    yield record.getMessage()
    yield repr(record.args)
    yield repr(record.msg)
    yield logging.Formatter().format(record)
    if record.exc_info and record.exc_info[1] is not None:
        yield from texts_of(record.exc_info[1])


FAULTS_JSON = ["error:InvalidApiKey", "error:InternalError", "retry-after:1", "html502", "badjson", "reset",
               "url-expired", "stall-first:0.3"]  # fmt: skip
FAULTS_SSE = ["error:Arrearage", "reset", "sse-error-after:1", "sse-error-after:0", "cut-after:1", "no-stop",
              "stall-after:1:0.3", "stall-first:0.3"]  # fmt: skip


async def run_faults(client: EndpointClient, fake: FakeEndpoint) -> list[BaseException]:
    errors: list[BaseException] = []
    for mode, faults in (("json", FAULTS_JSON), ("sse", FAULTS_SSE)):
        for fault in faults:
            fake.fault = fault
            try:
                if mode == "json":
                    await client.synthesize(SpeechRequest(TEXT))
                else:
                    async for _ in client.stream(SpeechRequest(TEXT)):
                        pass
            except TTSError as err:
                errors.append(err)
    fake.fault = None
    # The user pasting the key where a voice goes.
    try:
        await client.synthesize(SpeechRequest(TEXT, voice=API_KEY))
    except InputError as err:
        errors.append(err)
    return errors


async def test_api_key_absent_from_logs_errors_and_reprs(
    caplog: pytest.LogCaptureFixture,
    fake_endpoint: FakeEndpoint,
    session: aiohttp.ClientSession,
    fake_clock: ManualClock,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(
        fake_endpoint, tmp_path, first_byte_timeout=0.15, stall_timeout=0.15, retry_attempts=2
    )
    client = EndpointClient(settings, session, sleep=fake_clock.sleep, clock=fake_clock, rand=lambda: 0.5)
    errors = await run_faults(client, fake_endpoint)

    # Not vacuous: the key was really sent, failures really happened and were logged.
    assert {rec.headers["Authorization"] for rec in fake_endpoint.requests} == {f"Bearer {API_KEY}"}
    assert len(errors) == len(FAULTS_JSON) + len(FAULTS_SSE) + 1  # every fault persists: all fail
    assert any(r.name == "bot.speech.endpoint.client" for r in caplog.records)

    leaks = [text for record in caplog.records for text in record_texts(record) if API_KEY in text]
    leaks += [text for err in errors for text in texts_of(err) if API_KEY in text]
    leaks += [
        text for text in (repr(settings), str(settings), repr(client.stats.as_dict())) if API_KEY in text
    ]
    assert leaks == []
    assert API_KEY not in caplog.text


async def test_key_echoed_by_the_server_is_redacted(
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    fake_endpoint: FakeEndpoint,
    client: EndpointClient,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setitem(fake_api.ERRORS, "InvalidApiKey", (401, f"Invalid API-key provided: {API_KEY}."))
    monkeypatch.setitem(fake_api.ERRORS, "InternalError", (500, f"Internal error for key {API_KEY}."))
    errors: list[TTSError] = []
    fake_endpoint.fault = "error:InvalidApiKey"
    with pytest.raises(TTSError) as info:
        await client.synthesize(SpeechRequest(TEXT))
    errors.append(info.value)
    fake_endpoint.fault = "sse-error-after:1"
    with pytest.raises(TTSError) as info:
        async for _ in client.stream(SpeechRequest(TEXT)):
            pass
    errors.append(info.value)

    for err in errors:
        assert f"{MASK}." in err.message, "the server's message is kept, with the key masked"
        assert not [text for text in texts_of(err) if API_KEY in text]
    assert not [text for record in caplog.records for text in record_texts(record) if API_KEY in text]
