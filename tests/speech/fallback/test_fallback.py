"""The fallback from the endpoint to the local engine, and TTS_ENGINE selection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from bot.audio.clip import Audio
from bot.base.config import ConfigError, Settings
from bot.base.errors import InputError
from bot.base.secrets import Secret
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.cached_engine import CachedEngine
from bot.speech.endpoint.client import EndpointClient
from bot.speech.engine import SpeechEngine
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
from bot.speech.fallback.engine import FallbackEngine, should_fall_back
from bot.speech.fallback.plan import EnginePlan, plan_engines, select_engine
from bot.speech.local.engine import LocalEngine
from bot.speech.request import SpeechRequest
from tests.standins.audio_checks import dominant_hz
from tests.standins.clock import ManualClock
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import API_KEY, make_settings

REQ = SpeechRequest("Hello there, general Kenobi.", "Ethan")


def tone(hz: float, seconds: float, rate: int) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16).tobytes()


class StandIn:
    """A SpeechEngine that plays a tone, or fails with `error` after `fail_after` chunks."""

    def __init__(
        self,
        name: str,
        rate: int,
        hz: float,
        *,
        error: BaseException | None = None,
        fail_after: int = 0,
        chunks: int = 10,
    ) -> None:
        self._name, self._rate, self.hz = name, rate, hz
        self.error, self.fail_after, self.chunks = error, fail_after, chunks
        self.calls = 0
        self.closed_streams = 0
        self.finished_streams = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def sample_rate(self) -> int:
        return self._rate

    def pcm(self) -> bytes:
        return tone(self.hz, 0.1 * self.chunks, self._rate)

    async def synthesize(self, request: SpeechRequest) -> Audio:
        self.calls += 1
        request.validated()
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        return Audio(self.pcm(), self._rate)

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        self.calls += 1
        request.validated()
        pcm = self.pcm()
        step = len(pcm) // self.chunks // 2 * 2
        try:
            for i in range(self.chunks):
                if self.error is not None and i == self.fail_after:
                    raise self.error
                await asyncio.sleep(0)
                yield pcm[i * step : (i + 1) * step]
            self.finished_streams += 1
        finally:
            self.closed_streams += 1


def primary_failing(error: BaseException | None, fail_after: int = 0) -> StandIn:
    return StandIn("api:relay:qwen3-tts-instruct-flash", 24000, 440.0, error=error, fail_after=fail_after)


def local_backup() -> StandIn:
    return StandIn("local:espeak-ng", 22050, 330.0)


FALLS_BACK = [
    ServerError("boom", status=500, code="InternalError"),
    BadResponseError("html", status=502),
    NetworkError("refused"),
    FirstByteTimeoutError("slow"),
    StreamStalledError("stalled"),
    StreamIncompleteError("cut before audio"),
    ThrottledError("busy", status=429, code="Throttling.RateQuota"),
    QuotaExhaustedError("quota", status=429, code="Throttling.AllocationQuota"),
    BillingError("credit", status=400, code="Arrearage"),
    AuthError("key", status=401, code="InvalidApiKey"),
    AccessDeniedError("denied", status=403),
    ModelNotFoundError("model", status=404),
]
USER_ERRORS: list[BaseException] = [
    ContentRefusedError("refused", status=400, code="DataInspectionFailed"),
    BadRequestError("bad", status=400, code="InvalidParameter"),
    InputError("empty"),
]


class Told:
    def __init__(self) -> None:
        self.errors: list[TTSError] = []

    def __call__(self, error: TTSError) -> None:
        self.errors.append(error)


@pytest.fixture
def told() -> Told:
    return Told()


# -- the rules --------------------------------------------------------------------------------
@pytest.mark.parametrize("error", FALLS_BACK, ids=lambda e: type(e).__name__)
async def test_synthesize_falls_back_on_service_failures(error: TTSError, told: Told) -> None:
    primary, backup = primary_failing(error), local_backup()
    engine = FallbackEngine(primary, backup, on_fallback=told)
    audio = await engine.synthesize(REQ)
    assert audio.rate == 22050  # Audio tells which rate it is in
    assert dominant_hz(audio.pcm, audio.rate) == pytest.approx(330, abs=3)  # the backup spoke
    assert told.errors == [error]
    assert (primary.calls, backup.calls) == (1, 1)
    assert should_fall_back(error)


@pytest.mark.parametrize("error", USER_ERRORS, ids=lambda e: type(e).__name__)
async def test_never_falls_back_on_the_users_errors(error: BaseException, told: Told) -> None:
    primary, backup = primary_failing(error), local_backup()
    engine = FallbackEngine(primary, backup, on_fallback=told)
    with pytest.raises(type(error)):
        await engine.synthesize(REQ)
    with pytest.raises(type(error)):
        async for _ in engine.stream(REQ):
            pass
    assert backup.calls == 0 and told.errors == []
    assert not should_fall_back(error)


@pytest.mark.parametrize("error", [RuntimeError("bug"), asyncio.CancelledError()])
async def test_bugs_and_cancellation_are_not_hidden(error: BaseException, told: Told) -> None:
    primary, backup = primary_failing(error), local_backup()
    engine = FallbackEngine(primary, backup, on_fallback=told)
    with pytest.raises(type(error)):
        await engine.synthesize(REQ)
    assert backup.calls == 0 and told.errors == []


async def test_no_fallback_when_the_primary_works(told: Told) -> None:
    primary, backup = primary_failing(None), local_backup()
    engine = FallbackEngine(primary, backup, on_fallback=told)
    audio = await engine.synthesize(REQ)
    assert audio.rate == 24000 and dominant_hz(audio.pcm, 24000) == pytest.approx(440, abs=3)
    chunks = [c async for c in engine.stream(REQ)]
    assert b"".join(chunks) == primary.pcm()[: len(b"".join(chunks))]
    assert backup.calls == 0 and told.errors == []
    assert engine.stats.primary_served == 2


async def test_backup_failing_too_reports_the_primary_error(told: Told) -> None:
    error = ServerError("boom", status=500)
    backup = StandIn("local:espeak-ng", 22050, 330.0, error=TTSError("local broke"))
    engine = FallbackEngine(primary_failing(error), backup, on_fallback=told)
    with pytest.raises(ServerError):
        await engine.synthesize(REQ)
    with pytest.raises(ServerError):
        async for _ in engine.stream(REQ):
            pass
    assert told.errors == []  # nobody is told a backup voice is in use when none spoke


async def test_a_failing_callback_does_not_cost_the_audio() -> None:
    def broken(error: TTSError) -> None:
        raise ValueError("oops")

    engine = FallbackEngine(primary_failing(ServerError("x")), local_backup(), on_fallback=broken)
    assert (await engine.synthesize(REQ)).rate == 22050


async def test_without_a_backup_errors_pass_through() -> None:
    primary = primary_failing(ServerError("x"))
    engine = FallbackEngine(primary, None)
    assert engine.name == primary.name and engine.sample_rate == 24000
    with pytest.raises(ServerError):
        await engine.synthesize(REQ)
    with pytest.raises(ServerError):
        async for _ in engine.stream(REQ):
            pass


def test_identity() -> None:
    primary, backup = primary_failing(None), local_backup()
    engine = FallbackEngine(primary, backup)
    assert isinstance(engine, SpeechEngine)
    assert engine.sample_rate == 24000
    assert engine.name == "api:relay:qwen3-tts-instruct-flash|fallback:local:espeak-ng"
    assert engine.primary is primary and engine.backup is backup


# -- streams ----------------------------------------------------------------------------------
@pytest.mark.parametrize("error", FALLS_BACK[:6], ids=lambda e: type(e).__name__)
async def test_stream_falls_back_before_the_first_audio(error: TTSError, told: Told) -> None:
    primary, backup = primary_failing(error, fail_after=0), local_backup()
    engine = FallbackEngine(primary, backup, on_fallback=told)
    chunks = [c async for c in engine.stream(REQ)]
    pcm = b"".join(chunks)
    assert all(len(c) % 2 == 0 for c in chunks)
    # Resampled from 22.05 kHz to the primary's 24 kHz: same duration, same pitch.
    assert len(pcm) // 2 == pytest.approx(len(backup.pcm()) // 2 * 24000 / 22050, abs=5)
    assert dominant_hz(pcm, engine.sample_rate) == pytest.approx(330, abs=3)
    assert told.errors == [error]
    assert primary.closed_streams == 1 and backup.finished_streams == 1


async def test_stream_never_restarts_after_audio_was_delivered(told: Told) -> None:
    error = StreamIncompleteError("cut", audio_delivered=True)
    primary, backup = primary_failing(error, fail_after=3), local_backup()
    engine = FallbackEngine(primary, backup, on_fallback=told)
    received: list[bytes] = []
    with pytest.raises(StreamIncompleteError):
        async for chunk in engine.stream(REQ):
            received.append(chunk)
    assert len(received) == 3
    assert backup.calls == 0 and told.errors == []


async def test_stream_trusts_the_clients_audio_delivered_flag(told: Told) -> None:
    error = StreamStalledError("stalled", audio_delivered=True)
    engine = FallbackEngine(primary_failing(error, fail_after=0), local_backup(), on_fallback=told)
    with pytest.raises(StreamStalledError):
        async for _ in engine.stream(REQ):
            pass
    assert told.errors == []


async def test_closing_the_stream_early_closes_the_engine_streams() -> None:
    primary, backup = primary_failing(None), local_backup()
    engine = FallbackEngine(primary, backup)
    stream = engine.stream(REQ)
    await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert primary.closed_streams == 1 and primary.finished_streams == 0

    primary = primary_failing(ServerError("x"))
    engine = FallbackEngine(primary, backup, cooldown=0)
    stream = engine.stream(REQ)
    await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert backup.closed_streams == 1 and backup.finished_streams == 0


async def test_same_rate_backup_is_not_resampled() -> None:
    backup = StandIn("other", 24000, 330.0)
    engine = FallbackEngine(primary_failing(ServerError("x")), backup)
    pcm = b"".join([c async for c in engine.stream(REQ)])
    assert pcm == backup.pcm()[: len(pcm)] and len(pcm) >= len(backup.pcm()) - 20


# -- circuit breaker --------------------------------------------------------------------------
async def test_account_failures_skip_the_primary_for_the_cooldown(told: Told) -> None:
    clock = ManualClock(100.0)
    error = BillingError("credit", code="Arrearage")
    primary, backup = primary_failing(error), local_backup()
    engine = FallbackEngine(primary, backup, on_fallback=told, cooldown=30, clock=clock)
    await engine.synthesize(REQ)
    assert engine.primary_down
    await engine.synthesize(REQ)
    _ = [c async for c in engine.stream(REQ)]
    assert primary.calls == 1 and backup.calls == 3  # no waiting on a broken primary
    assert told.errors == [error, error, error]  # the caller dedups per requester
    assert engine.stats.primary_skipped == 2
    clock.advance(31)
    primary.error = None  # topped up
    audio = await engine.synthesize(REQ)
    assert audio.rate == 24000 and primary.calls == 2 and not engine.primary_down


async def test_transient_failures_open_the_breaker_only_when_repeated() -> None:
    clock = ManualClock(100.0)
    primary, backup = primary_failing(ServerError("x")), local_backup()
    engine = FallbackEngine(primary, backup, cooldown=30, failure_threshold=2, clock=clock)
    await engine.synthesize(REQ)
    assert not engine.primary_down  # one 5xx is a blip
    primary.error = None
    await engine.synthesize(REQ)  # a success resets the count
    primary.error = ServerError("x")
    await engine.synthesize(REQ)
    assert not engine.primary_down
    await engine.synthesize(REQ)
    assert engine.primary_down
    primary.error = None
    await engine.synthesize(REQ)
    assert primary.calls == 4  # skipped while open


async def test_retry_after_extends_the_cooldown() -> None:
    clock = ManualClock(100.0)
    primary = primary_failing(QuotaExhaustedError("q", retry_after=120))
    engine = FallbackEngine(primary, local_backup(), cooldown=30, clock=clock)
    await engine.synthesize(REQ)
    clock.advance(100)
    assert engine.primary_down
    clock.advance(21)
    assert not engine.primary_down


async def test_cooldown_zero_disables_the_breaker() -> None:
    primary = primary_failing(BillingError("credit"))
    engine = FallbackEngine(primary, local_backup(), cooldown=0)
    for _ in range(3):
        await engine.synthesize(REQ)
    assert primary.calls == 3 and not engine.primary_down


# -- selection --------------------------------------------------------------------------------
def settings_for(engine: str, key: bool) -> Settings:
    return Settings(engine=engine, api_key=Secret(API_KEY) if key else None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("engine", "key", "local", "expected"),
    [
        ("api", True, True, EnginePlan("api")),
        ("api", True, False, EnginePlan("api")),
        ("api", False, True, "TTS_API_KEY"),
        ("local", False, True, EnginePlan("local")),
        ("local", True, True, EnginePlan("local")),
        ("local", True, False, "TTS_ENGINE"),
        ("auto", True, True, EnginePlan("api", "local")),
        ("auto", True, False, EnginePlan("api")),
        ("auto", False, True, EnginePlan("local")),
        ("auto", False, False, "TTS_API_KEY"),
    ],
)
def test_plan_engines(engine: str, key: bool, local: bool, expected: EnginePlan | str) -> None:
    settings = settings_for(engine, key)
    if isinstance(expected, str):
        with pytest.raises(ConfigError) as info:
            plan_engines(settings, local_available=local)
        assert info.value.variable == expected
        assert "pip install" in str(info.value) or expected == "TTS_API_KEY"
    else:
        assert plan_engines(settings, local_available=local) == expected


def test_select_engine_builds_only_what_is_needed(told: Told) -> None:
    built: list[str] = []

    def api() -> SpeechEngine:
        built.append("api")
        return primary_failing(None)

    def local() -> SpeechEngine:
        built.append("local")
        return local_backup()

    engine = select_engine(settings_for("auto", True), api, local, local_available=True, on_fallback=told)
    assert isinstance(engine, FallbackEngine) and built == ["api", "local"]
    assert engine.backup is not None and engine.backup.name == "local:espeak-ng"
    built.clear()
    engine = select_engine(settings_for("api", True), api, local, local_available=True)
    assert not isinstance(engine, FallbackEngine) and built == ["api"]
    built.clear()
    engine = select_engine(settings_for("auto", False), api, local, local_available=True)
    assert engine.name == "local:espeak-ng" and built == ["local"]
    built.clear()
    engine = select_engine(settings_for("local", False), api, local)  # the extra is installed here
    assert built == ["local"]


# -- against the fake endpoint, with the real local engine and the cache ----------------------
@pytest.fixture(scope="module")
def local() -> Iterator[LocalEngine]:
    eng = LocalEngine()
    yield eng
    eng.close()


@pytest.fixture
async def stack(
    fake_endpoint: FakeEndpoint,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    local: LocalEngine,
    told: Told,
) -> AsyncIterator[FallbackEngine]:
    async def no_sleep(_: float) -> None:
        return None

    settings = make_settings(fake_endpoint, tmp_path, first_byte_timeout=0.1, retry_attempts=2)
    client = EndpointClient(settings, session, sleep=no_sleep, rand=lambda: 0.5)
    cache = AudioCache(16 * 1024 * 1024, None, 0)
    engine = FallbackEngine(
        CachedEngine(client, cache), CachedEngine(local, cache), on_fallback=told, cooldown=0
    )
    try:
        yield engine
    finally:
        await cache.close()


FAULTS_FALLING_BACK = [
    ("error:InternalError", ServerError),
    ("html502", BadResponseError),
    ("stall-first:0.3", FirstByteTimeoutError),
    ("error:Arrearage", BillingError),
    ("error:Throttling.RateQuota", ThrottledError),
    ("error:Throttling.AllocationQuota", QuotaExhaustedError),
    ("reset", NetworkError),
]


@pytest.mark.parametrize(("fault", "kind"), FAULTS_FALLING_BACK, ids=[f for f, _ in FAULTS_FALLING_BACK])
async def test_endpoint_faults_fall_back_to_the_local_voice(
    fault: str,
    kind: type[TTSError],
    fake_endpoint: FakeEndpoint,
    stack: FallbackEngine,
    told: Told,
) -> None:
    engine = stack
    fake_endpoint.fault = fault
    req = SpeechRequest("The endpoint is down, the bot still talks.", "Cherry", "English")
    audio = await engine.synthesize(req)
    assert audio.rate == 22050 and audio.duration > 1.0
    assert len(told.errors) == 1 and isinstance(told.errors[0], kind)
    streamed = b"".join([c async for c in engine.stream(req.with_text("And it streams too."))])
    assert len(streamed) / 2 / engine.sample_rate > 0.8  # 24 kHz PCM of real speech
    assert len(told.errors) == 2


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("error:DataInspectionFailed", ContentRefusedError), ("error:InvalidParameter", BadRequestError)],
)
async def test_endpoint_user_errors_do_not_fall_back(
    fault: str,
    kind: type[TTSError],
    fake_endpoint: FakeEndpoint,
    stack: FallbackEngine,
    told: Told,
) -> None:
    engine = stack
    fake_endpoint.fault = fault
    with pytest.raises(kind):
        await engine.synthesize(SpeechRequest("Something the moderation dislikes.", "Cherry"))
    with pytest.raises(kind):
        async for _ in engine.stream(SpeechRequest("Something else it dislikes.", "Cherry")):
            pass
    assert told.errors == []


async def test_endpoint_stream_cut_after_audio_is_not_restarted(
    fake_endpoint: FakeEndpoint, stack: FallbackEngine, told: Told
) -> None:
    engine = stack
    fake_endpoint.fault = "cut-after:2"
    received = 0
    with pytest.raises(StreamIncompleteError):
        async for chunk in engine.stream(SpeechRequest("A sentence that gets cut. " * 4, "Cherry")):
            received += len(chunk)
    assert received > 0 and told.errors == []


async def test_endpoint_stream_error_before_audio_falls_back(
    fake_endpoint: FakeEndpoint, stack: FallbackEngine, told: Told
) -> None:
    engine = stack
    fake_endpoint.fault = "sse-error-after:0"
    pcm = b"".join([c async for c in engine.stream(SpeechRequest("Broken before it starts.", "Kai"))])
    assert len(pcm) / 2 / 24000 > 0.8
    assert len(told.errors) == 1 and isinstance(told.errors[0], ServerError)


async def test_a_fallback_utterance_never_shadows_the_real_voice(
    fake_endpoint: FakeEndpoint, stack: FallbackEngine, told: Told
) -> None:
    engine = stack
    req = SpeechRequest("Cache me if you can.", "Cherry", "English")
    fake_endpoint.fault = "error:InternalError"
    during = await engine.synthesize(req)
    assert during.rate == 22050 and len(told.errors) == 1
    assert isinstance(engine.primary, CachedEngine) and isinstance(engine.backup, CachedEngine)
    assert engine.primary.key_for(req) != engine.backup.key_for(req)
    assert await engine.backup.lookup(req) is not None  # the local rendition is cached...
    assert await engine.primary.lookup(req) is None  # ...under the local engine's key only
    fake_endpoint.fault = None
    after = await engine.synthesize(req)
    assert after.rate == 24000 and after.pcm == fake_endpoint.expected_pcm(req.text, "Cherry")
    streamed = b"".join([c async for c in engine.stream(req)])
    assert streamed == after.pcm  # now a cache hit of the real voice
    assert len(told.errors) == 1


class KeyedStandIn(StandIn):
    def key_for(self, request: SpeechRequest) -> str:
        return f"{self.name}:{request.validated().text}"


async def test_key_for_is_withheld_while_the_backup_speaks_a_request() -> None:
    """The player stores Opus packets under `key_for`: audio the backup made must never be
    filed under the primary's key, and the primary's key comes back once it speaks again."""
    primary = KeyedStandIn("api:relay:m", 24000, 440.0, error=ServerError("boom", status=500))
    engine = FallbackEngine(primary, local_backup(), cooldown=0)
    request = SpeechRequest("hello there")
    assert engine.key_for(request) == "api:relay:m:hello there"
    chunks = [c async for c in engine.stream(request)]
    assert chunks
    assert engine.key_for(request) is None  # this request's audio came from the backup
    assert engine.key_for(SpeechRequest("another")) == "api:relay:m:another"
    # Even after the primary speaks the same request again, the backup's playback of it may
    # still be finishing somewhere: its packets are never filed under the primary's key.
    primary.error = None
    [c async for c in engine.stream(request)]
    assert engine.key_for(request) is None


async def test_key_for_is_withheld_while_the_breaker_is_open() -> None:
    clock = ManualClock(100.0)
    primary = KeyedStandIn("api:relay:m", 24000, 440.0, error=BillingError("credit", code="Arrearage"))
    engine = FallbackEngine(primary, local_backup(), cooldown=30, clock=clock)
    await engine.synthesize(SpeechRequest("one"))
    assert engine.primary_down
    assert engine.key_for(SpeechRequest("two")) is None


class CachedPrimary(KeyedStandIn):
    """A primary whose cache holds audio it made before the outage."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.cached: dict[str, Audio] = {}

    async def lookup(self, request: SpeechRequest) -> Audio | None:
        return self.cached.get(request.validated().text)


async def test_while_the_breaker_is_open_cached_real_voice_audio_still_plays() -> None:
    clock = ManualClock(100.0)
    primary = CachedPrimary("api:relay:m", 24000, 440.0, error=BillingError("credit", code="Arrearage"))
    primary.cached["gg"] = Audio(tone(440.0, 0.3, 24000), 24000)
    engine = FallbackEngine(primary, local_backup(), cooldown=30, clock=clock)
    await engine.synthesize(SpeechRequest("first"))  # opens the breaker
    assert engine.primary_down
    calls = primary.calls
    audio = b"".join([c async for c in engine.stream(SpeechRequest("gg"))])
    assert audio == primary.cached["gg"].pcm  # the real voice, from the cache
    assert (await engine.synthesize(SpeechRequest("gg"))).pcm == primary.cached["gg"].pcm
    assert primary.calls == calls  # the failing endpoint was not called
    other = b"".join([c async for c in engine.stream(SpeechRequest("not cached"))])
    assert abs(dominant_hz(other, 24000) - 330.0) < 15  # the backup speaks what is not cached


async def test_account_failures_are_logged_at_error_once_per_cooldown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(100.0)
    error = AuthError("key", status=401, code="InvalidApiKey", request_id="rid-401")
    primary = primary_failing(error)
    engine = FallbackEngine(primary, local_backup(), cooldown=30, clock=clock)
    caplog.set_level("WARNING", logger="bot.speech.fallback.breaker")
    for _ in range(3):
        await engine.synthesize(REQ)
    clock.advance(31)  # the probe fails again: a new cooldown, logged again
    await engine.synthesize(REQ)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2
    assert "InvalidApiKey" in errors[0].getMessage() and "rid-401" in errors[0].getMessage()


async def test_outages_are_logged_as_warnings_not_errors(caplog: pytest.LogCaptureFixture) -> None:
    primary = primary_failing(ServerError("x", status=500, code="InternalError"))
    engine = FallbackEngine(primary, local_backup(), cooldown=30, failure_threshold=1, clock=ManualClock(0.0))
    caplog.set_level("WARNING", logger="bot.speech.fallback.breaker")
    await engine.synthesize(REQ)
    assert [r.levelname for r in caplog.records] == ["WARNING"]


# --------------------------------------------------------------------- account errors, no backup
ACCOUNT_FAULTS = ["InvalidApiKey", "AccessDenied", "Arrearage", "Throttling.AllocationQuota", "ModelNotFound"]


async def test_without_a_backup_account_failures_are_logged_at_error_once_per_cooldown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(100.0)
    error = AuthError("key", status=401, code="InvalidApiKey", request_id="rid-401")
    engine = FallbackEngine(primary_failing(error), None, cooldown=30, clock=clock)
    caplog.set_level("WARNING")
    for _ in range(3):
        with pytest.raises(AuthError):
            await engine.synthesize(REQ)
        with pytest.raises(AuthError):
            async for _chunk in engine.stream(REQ):
                pass
    clock.advance(31)  # the next cooldown: logged again
    with pytest.raises(AuthError):
        await engine.synthesize(REQ)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2
    assert all("InvalidApiKey" in m and "rid-401" in m and "no backup voice" in m for m in errors)
    # an outage is not the account's: not at ERROR
    caplog.clear()
    outage = FallbackEngine(primary_failing(ServerError("x", status=500, code="InternalError")), None)
    with pytest.raises(ServerError):
        await outage.synthesize(REQ)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.parametrize("code", ACCOUNT_FAULTS)
async def test_tts_engine_api_logs_account_failures_at_error_once_per_cooldown(
    code: str, fake_endpoint: FakeEndpoint, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.speech.stack import open_speech_stack

    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1)
    fake_endpoint.fault = f"error:{code}"
    caplog.set_level("WARNING")
    async with open_speech_stack(settings) as stack:
        assert stack.backup is None
        seen: list[TTSError] = []
        for n in range(3):
            with pytest.raises(TTSError) as raised:
                await stack.engine.synthesize(REQ.with_text(f"Try number {n}."))
            seen.append(raised.value)
            with pytest.raises(TTSError):
                async for _chunk in stack.engine.stream(REQ.with_text(f"Stream number {n}.")):
                    pass
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, errors  # once per cooldown, not once per request
    first = seen[0]
    assert first.request_id and f"code {code}" in errors[0] and f"request id {first.request_id}" in errors[0]
    assert API_KEY not in errors[0]


async def test_the_fallback_and_no_backup_paths_share_one_account_alarm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The breaker and the no-backup path raise the same `AccountAlarm` (one message)."""
    error = AuthError("key", status=401, code="InvalidApiKey", request_id="rid-1")
    caplog.set_level("WARNING")
    with_backup = FallbackEngine(primary_failing(error), local_backup(), cooldown=30, clock=ManualClock(0.0))
    await with_backup.synthesize(REQ)
    without = FallbackEngine(primary_failing(error), None, cooldown=30, clock=ManualClock(0.0))
    with pytest.raises(AuthError):
        await without.synthesize(REQ)
    loggers = {r.name for r in caplog.records if r.levelname == "ERROR"}
    assert loggers == {"bot.speech.error_log"}
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 2
