"""Every fault of the fake maps to the right exception, retry decision and user sentence;
retry count, backoff and Retry-After are checked with the fake clock (no real sleeping)."""

from __future__ import annotations

import uuid

import pytest

from bot.speech.endpoint.client import EndpointClient
from bot.speech.errors import (
    AccessDeniedError,
    AuthError,
    BadRequestError,
    BadResponseError,
    BillingError,
    ContentRefusedError,
    FirstByteTimeoutError,
    ModelNotFoundError,
    NetworkError,
    QuotaExhaustedError,
    ServerError,
    StreamIncompleteError,
    StreamStalledError,
    ThrottledError,
    TTSError,
)
from bot.speech.request import SpeechRequest
from tests.standins.clock import ManualClock
from tests.standins.fake_api import ERRORS, FakeEndpoint
from tests.standins.settings import MakeClient, StartFake

TEXT = "Hello there, this is Parla speaking."
MODES = ["json", "sse"]
STYLES = ["relay", "dashscope"]
# With rand() = 0.5 the jittered delay is 3/4 of min(8, 0.5 * 2**attempt).
BACKOFF = [0.375, 0.75, 1.5, 3.0, 6.0, 6.0, 6.0]

# code -> (exception class, retryable)
EXPECTED: dict[str, tuple[type[TTSError], bool]] = {
    "InvalidApiKey": (AuthError, False),
    "AccessDenied": (AccessDeniedError, False),
    "AccessDenied.Unpurchased": (AccessDeniedError, False),
    "Model.AccessDenied": (AccessDeniedError, False),
    "ModelNotFound": (ModelNotFoundError, False),
    "InvalidParameter": (BadRequestError, False),
    "BadRequest.EmptyInput": (BadRequestError, False),
    "BadRequest.EmptyModel": (BadRequestError, False),
    "BadRequest.EmptyParameters": (BadRequestError, False),
    "DataInspectionFailed": (ContentRefusedError, False),
    "Arrearage": (BillingError, False),
    "Throttling": (ThrottledError, True),
    "Throttling.RateQuota": (ThrottledError, True),
    "Throttling.AllocationQuota": (QuotaExhaustedError, False),
    "InternalError": (ServerError, True),
    "InternalError.Timeout": (ServerError, True),
    "InternalError.Algo": (ServerError, True),
}


async def speak(
    client: EndpointClient, mode: str, text: str = TEXT, into: list[bytes] | None = None
) -> bytes:
    """Synthesize (json) or stream (sse); streamed chunks are also appended to `into`."""
    request = SpeechRequest(text)
    if mode == "json":
        return (await client.synthesize(request)).pcm
    chunks = into if into is not None else []
    async for chunk in client.stream(request):
        chunks.append(chunk)
    return b"".join(chunks)


async def fail(
    client: EndpointClient, mode: str, into: list[bytes] | None = None, text: str = TEXT
) -> TTSError:
    with pytest.raises(TTSError) as info:
        await speak(client, mode, text=text, into=into)
    return info.value


def assert_user_sentence(err: TTSError, *, code: str | None, request_id: bool) -> None:
    message = err.user_message()
    assert message.startswith(type(err).sentence)
    assert "\n" not in message and "Traceback" not in message
    if code:
        assert f"code {code}" in message
    if request_id:
        assert err.request_id is not None
        uuid.UUID(err.request_id)  # the fake's real request id, not a placeholder
        assert err.request_id in message
    assert type(err).__name__ in err.log_form()


# -- every API error code, both modes, both styles -------------------------------------------
def test_the_table_covers_every_code_of_the_fake() -> None:
    assert set(EXPECTED) == set(ERRORS)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("code", list(ERRORS))
async def test_api_error(
    code: str,
    mode: str,
    style: str,
    fake_endpoint: FakeEndpoint,
    make_client: MakeClient,
    fake_clock: ManualClock,
) -> None:
    cls, retryable = EXPECTED[code]
    fake_endpoint.fault = f"error:{code}"
    err = await fail(make_client(fake_endpoint, style), mode)
    assert type(err) is cls
    assert err.retryable is retryable
    assert (err.status, err.code) == (ERRORS[code][0], code)
    assert ERRORS[code][1] in err.log_form()  # the API's own message is kept for the logs
    assert_user_sentence(err, code=code, request_id=True)
    # The retry decision, seen at the fake and on the clock.
    attempts = 3 if retryable else 1
    assert fake_endpoint.request_count == attempts
    assert fake_clock.sleeps == BACKOFF[: attempts - 1]
    assert {rec.style for rec in fake_endpoint.requests} == {style}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "code",
    ["InvalidApiKey", "InvalidParameter", "DataInspectionFailed", "Arrearage", "Throttling.AllocationQuota"],
)
async def test_never_retried(code: str, mode: str, fake_endpoint: FakeEndpoint, client: EndpointClient,
                             fake_clock: ManualClock) -> None:  # fmt: skip
    fake_endpoint.fault = f"error:{code}"
    await fail(client, mode)
    assert fake_endpoint.request_count == 1 and fake_clock.sleeps == []
    assert client.stats.retries == 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", ["error:Throttling.RateQuota", "error:InternalError", "html502", "reset"])
async def test_transient_fault_is_retried_and_the_audio_arrives(
    fault: str, mode: str, fake_endpoint: FakeEndpoint, client: EndpointClient, fake_clock: ManualClock
) -> None:
    fake_endpoint.faults.append(fault)
    assert await speak(client, mode) == fake_endpoint.expected_pcm(TEXT)
    assert fake_endpoint.request_count == 2
    assert fake_clock.sleeps == [0.375]
    assert client.stats.retries == 1


# -- backoff, Retry-After and the budget -----------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
async def test_backoff_sequence(
    mode: str, fake_endpoint: FakeEndpoint, make_client: MakeClient, fake_clock: ManualClock
) -> None:
    fake_endpoint.fault = "error:InternalError"
    client = make_client(fake_endpoint, retry_attempts=7, retry_budget=100.0)
    await fail(client, mode)
    assert fake_endpoint.request_count == 7
    assert fake_clock.sleeps == BACKOFF[:6]


@pytest.mark.parametrize(("rand", "expected"), [(0.0, [0.25, 0.5, 1.0, 2.0, 4.0]), (0.999, None)])
async def test_backoff_jitter_bounds(
    rand: float,
    expected: list[float] | None,
    fake_endpoint: FakeEndpoint,
    make_client: MakeClient,
    fake_clock: ManualClock,
) -> None:
    fake_endpoint.fault = "error:InternalError"
    client = make_client(fake_endpoint, rand=rand, retry_attempts=6, retry_budget=100.0)
    await fail(client, "json")
    ceilings = [0.5, 1.0, 2.0, 4.0, 8.0]
    assert all(c / 2 <= s <= c for s, c in zip(fake_clock.sleeps, ceilings, strict=True))
    if expected is not None:
        assert fake_clock.sleeps == expected


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seconds", [0, 2, 5])
async def test_retry_after_is_honoured(
    seconds: int, mode: str, fake_endpoint: FakeEndpoint, client: EndpointClient, fake_clock: ManualClock
) -> None:
    fake_endpoint.faults.append(f"retry-after:{seconds}")
    assert await speak(client, mode) == fake_endpoint.expected_pcm(TEXT)
    assert fake_clock.sleeps == [seconds]
    assert fake_endpoint.request_count == 2


@pytest.mark.parametrize("mode", MODES)
async def test_retry_after_every_time_then_give_up(
    mode: str, fake_endpoint: FakeEndpoint, client: EndpointClient, fake_clock: ManualClock
) -> None:
    fake_endpoint.fault = "retry-after:3"
    err = await fail(client, mode)
    assert type(err) is ThrottledError and err.retry_after == 3
    assert_user_sentence(err, code="Throttling.RateQuota", request_id=True)
    assert fake_clock.sleeps == [3, 3]
    assert fake_endpoint.request_count == 3


@pytest.mark.parametrize("mode", MODES)
async def test_retry_budget_is_exhausted(
    mode: str, fake_endpoint: FakeEndpoint, client: EndpointClient, fake_clock: ManualClock
) -> None:
    # Budget 10 s: a first wait of 7 s fits, a second (14 s in all) does not.
    fake_endpoint.fault = "retry-after:7"
    await fail(client, mode)
    assert fake_clock.sleeps == [7]
    assert fake_endpoint.request_count == 2


async def test_retry_after_longer_than_the_budget_gives_up_at_once(
    fake_endpoint: FakeEndpoint, client: EndpointClient, fake_clock: ManualClock
) -> None:
    fake_endpoint.fault = "retry-after:30"
    err = await fail(client, "json")
    assert err.retry_after == 30
    assert fake_clock.sleeps == [] and fake_endpoint.request_count == 1


async def test_backoff_within_the_budget(
    fake_endpoint: FakeEndpoint, make_client: MakeClient, fake_clock: ManualClock
) -> None:
    # 0.375 + 0.75 + 1.5 = 2.625 s fits in 5 s; the next wait (3 s) would not.
    fake_endpoint.fault = "error:InternalError"
    await fail(make_client(fake_endpoint, retry_attempts=10, retry_budget=5.0), "json")
    assert fake_clock.sleeps == [0.375, 0.75, 1.5]
    assert fake_endpoint.request_count == 4


async def test_single_attempt_setting(fake_endpoint: FakeEndpoint, make_client: MakeClient) -> None:
    fake_endpoint.fault = "error:InternalError"
    await fail(make_client(fake_endpoint, retry_attempts=1), "json")
    assert fake_endpoint.request_count == 1


# -- answers that are not the API's JSON -----------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
async def test_html_502(
    mode: str, fake_endpoint: FakeEndpoint, client: EndpointClient, fake_clock: ManualClock
) -> None:
    fake_endpoint.fault = "html502"
    err = await fail(client, mode)
    assert type(err) is BadResponseError and err.retryable and err.status == 502
    assert "HTTP 502" in err.user_message()
    assert "<html>" not in err.user_message() and "<html>" not in err.log_form()
    assert fake_endpoint.request_count == 3 and fake_clock.sleeps == BACKOFF[:2]


@pytest.mark.parametrize("mode", MODES)
async def test_malformed_json(mode: str, fake_endpoint: FakeEndpoint, client: EndpointClient) -> None:
    fake_endpoint.fault = "badjson"
    err = await fail(client, mode)
    assert type(err) is BadResponseError and not err.retryable and err.status == 200
    assert_user_sentence(err, code=None, request_id=False)
    assert fake_endpoint.request_count == 1


@pytest.mark.parametrize("mode", MODES)
async def test_connection_reset(mode: str, fake_endpoint: FakeEndpoint, client: EndpointClient) -> None:
    fake_endpoint.fault = "reset"
    err = await fail(client, mode)
    assert type(err) is NetworkError and err.retryable
    assert err.user_message() == NetworkError.sentence
    assert fake_endpoint.request_count == 3


# -- timeouts (small real timeouts; the fake stalls a little longer) -------------------------
@pytest.mark.parametrize("mode", MODES)
async def test_stall_before_the_first_byte_is_retried(
    mode: str, fake_endpoint: FakeEndpoint, make_client: MakeClient, fake_clock: ManualClock
) -> None:
    fake_endpoint.faults.append("stall-first:0.5")
    client = make_client(fake_endpoint, first_byte_timeout=0.2)
    assert await speak(client, mode) == fake_endpoint.expected_pcm(TEXT)
    assert fake_endpoint.request_count == 2 and fake_clock.sleeps == [0.375]
    assert client.stats.errors["FirstByteTimeoutError"] == 1


async def test_stall_before_the_first_byte_every_time(
    fake_endpoint: FakeEndpoint, make_client: MakeClient
) -> None:
    fake_endpoint.fault = "stall-first:0.4"
    err = await fail(make_client(fake_endpoint, first_byte_timeout=0.15, retry_attempts=2), "sse")
    assert type(err) is FirstByteTimeoutError and err.retryable and not err.audio_delivered
    assert err.user_message() == FirstByteTimeoutError.sentence
    assert fake_endpoint.request_count == 2


async def test_headers_but_no_audio_before_the_first_byte_timeout(
    start_fake: StartFake, make_client: MakeClient
) -> None:
    fake = await start_fake(first_chunk_delay=0.4)
    err = await fail(make_client(fake, first_byte_timeout=0.15, retry_attempts=2), "sse")
    assert type(err) is FirstByteTimeoutError and err.retryable and not err.audio_delivered
    assert fake.request_count == 2


async def test_stall_mid_stream_is_not_retried(fake_endpoint: FakeEndpoint, make_client: MakeClient) -> None:
    fake_endpoint.fault = "stall-after:2:0.4"
    chunks: list[bytes] = []
    err = await fail(make_client(fake_endpoint, stall_timeout=0.15), "sse", into=chunks)
    assert type(err) is StreamStalledError
    assert err.audio_delivered and not err.retryable
    assert_user_sentence(err, code=None, request_id=True)
    assert fake_endpoint.request_count == 1
    # What arrived before the stall was played, and is the start of the right audio.
    assert len(chunks) == 2
    assert fake_endpoint.expected_pcm(TEXT).startswith(b"".join(chunks))


# -- streams that end badly ------------------------------------------------------------------
async def test_cut_after_audio_is_not_restarted(
    fake_endpoint: FakeEndpoint, client: EndpointClient, fake_clock: ManualClock
) -> None:
    fake_endpoint.fault = "cut-after:2"
    chunks: list[bytes] = []
    err = await fail(client, "sse", into=chunks)
    assert type(err) is StreamIncompleteError
    assert err.audio_delivered and not err.retryable
    assert_user_sentence(err, code=None, request_id=True)
    assert fake_endpoint.request_count == 1 and fake_clock.sleeps == []
    assert b"".join(chunks) == fake_endpoint.expected_pcm(TEXT)[: 2 * fake_endpoint.chunk_bytes]


async def test_cut_before_audio_is_retried(
    fake_endpoint: FakeEndpoint, client: EndpointClient, fake_clock: ManualClock
) -> None:
    fake_endpoint.faults.append("cut-after:0")
    assert await speak(client, "sse") == fake_endpoint.expected_pcm(TEXT)  # not duplicated
    assert fake_endpoint.request_count == 2 and fake_clock.sleeps == [0.375]


async def test_cut_before_audio_every_time(fake_endpoint: FakeEndpoint, client: EndpointClient) -> None:
    fake_endpoint.fault = "cut-after:0"
    err = await fail(client, "sse")
    assert type(err) is StreamIncompleteError and not err.audio_delivered and err.retryable
    assert fake_endpoint.request_count == 3


async def test_sse_error_after_audio_is_not_retried(
    fake_endpoint: FakeEndpoint, client: EndpointClient, fake_clock: ManualClock
) -> None:
    fake_endpoint.fault = "sse-error-after:2"
    chunks: list[bytes] = []
    err = await fail(client, "sse", into=chunks)
    assert type(err) is ServerError and err.status == 500
    assert err.audio_delivered
    assert_user_sentence(err, code="InternalError", request_id=True)
    assert fake_endpoint.request_count == 1 and fake_clock.sleeps == []
    assert len(chunks) == 2


async def test_sse_error_before_audio_is_retried(
    fake_endpoint: FakeEndpoint, client: EndpointClient, fake_clock: ManualClock
) -> None:
    fake_endpoint.faults.append("sse-error-after:0")
    assert await speak(client, "sse") == fake_endpoint.expected_pcm(TEXT)
    assert fake_endpoint.request_count == 2 and fake_clock.sleeps == [0.375]


async def test_sse_error_before_audio_every_time(fake_endpoint: FakeEndpoint, client: EndpointClient) -> None:
    fake_endpoint.fault = "sse-error-after:0"
    err = await fail(client, "sse")
    assert type(err) is ServerError and not err.audio_delivered
    assert_user_sentence(err, code="InternalError", request_id=True)
    assert fake_endpoint.request_count == 3


async def test_stream_without_stop_is_an_error(fake_endpoint: FakeEndpoint, client: EndpointClient) -> None:
    fake_endpoint.fault = "no-stop"
    chunks: list[bytes] = []
    err = await fail(client, "sse", into=chunks)
    assert type(err) is StreamIncompleteError and err.audio_delivered
    assert fake_endpoint.request_count == 1
    assert b"".join(chunks) == fake_endpoint.expected_pcm(TEXT)


async def test_drip_with_odd_chunks_gives_exact_audio(start_fake: StartFake, make_client: MakeClient) -> None:
    # 7-byte events: half the samples straddle two events.
    fake = await start_fake(min_seconds=0.01, seconds_per_char=0.0005)
    fake.fault = "drip"
    chunks: list[bytes] = []
    assert await speak(make_client(fake), "sse", into=chunks) == fake.expected_pcm(TEXT)
    assert len(chunks) > 20
    assert all(len(c) % 2 == 0 for c in chunks)


# -- expiring URLs and relay variants --------------------------------------------------------
async def test_expired_url_is_fetched_again(
    fake_endpoint: FakeEndpoint, client: EndpointClient, fake_clock: ManualClock
) -> None:
    fake_endpoint.faults.append("url-expired")
    audio = await client.synthesize(SpeechRequest(TEXT))
    assert audio.pcm == fake_endpoint.expected_pcm(TEXT)
    assert fake_endpoint.request_count == 2 and fake_endpoint.downloads == 2
    assert fake_clock.sleeps == [0.375]


async def test_expired_url_every_time(fake_endpoint: FakeEndpoint, client: EndpointClient) -> None:
    fake_endpoint.fault = "url-expired"
    err = await fail(client, "json")
    assert type(err) is BadResponseError and err.status == 403
    assert "HTTP 403" in err.user_message()
    assert fake_endpoint.request_count == 3


@pytest.mark.parametrize("relay_mode", ["redirect", "audio"])
async def test_relay_variants_report_api_errors(
    relay_mode: str, start_fake: StartFake, make_client: MakeClient
) -> None:
    fake = await start_fake(relay_mode=relay_mode)
    fake.faults.append("error:InternalError")
    client = make_client(fake)
    assert (await client.synthesize(SpeechRequest(TEXT))).pcm == fake.expected_pcm(TEXT)
    fake.fault = "error:DataInspectionFailed"
    err = await fail(client, "json")
    assert type(err) is ContentRefusedError
    assert_user_sentence(err, code="DataInspectionFailed", request_id=True)


async def test_redirect_to_an_expired_url(start_fake: StartFake, make_client: MakeClient) -> None:
    fake = await start_fake(relay_mode="redirect")
    fake.faults.append("url-expired")
    audio = await make_client(fake).synthesize(SpeechRequest(TEXT))
    assert audio.pcm == fake.expected_pcm(TEXT)
    assert fake.request_count == 2


# -- long text: a failure in one piece -------------------------------------------------------
LONG = " ".join(f"Sentence number {i} of a long message that needs several requests." for i in range(12))


@pytest.mark.parametrize("mode", MODES)
async def test_a_retry_redoes_only_the_failed_piece(
    mode: str, fake_endpoint: FakeEndpoint, make_client: MakeClient, fake_clock: ManualClock
) -> None:
    client = make_client(fake_endpoint, max_input_chars=300)
    fake_endpoint.faults.extend(["none", "error:InternalError"])  # the 2nd request fails once
    pcm = await speak(client, mode, text=LONG)
    texts = [rec.text for rec in fake_endpoint.requests]
    assert texts[1] == texts[2] and len(set(texts)) == len(texts) - 1
    pieces = list(dict.fromkeys(texts))
    assert pcm == b"".join(fake_endpoint.expected_pcm(t) for t in pieces)
    assert fake_clock.sleeps == [0.375]


async def test_a_failed_piece_fails_the_whole_synthesis(
    fake_endpoint: FakeEndpoint, make_client: MakeClient
) -> None:
    client = make_client(fake_endpoint, max_input_chars=300)
    fake_endpoint.faults.extend(["none", "error:DataInspectionFailed"])
    with pytest.raises(ContentRefusedError):
        await client.synthesize(SpeechRequest(LONG))
    assert fake_endpoint.request_count == 2  # no further pieces are requested


async def test_error_after_an_earlier_piece_says_audio_was_delivered(
    fake_endpoint: FakeEndpoint, make_client: MakeClient
) -> None:
    client = make_client(fake_endpoint, max_input_chars=300)
    fake_endpoint.faults.extend(["none", "error:DataInspectionFailed"])
    chunks: list[bytes] = []
    err = await fail(client, "sse", into=chunks, text=LONG)
    assert type(err) is ContentRefusedError
    assert b"".join(chunks) == fake_endpoint.expected_pcm(fake_endpoint.requests[0].text)
    assert err.audio_delivered
