"""The fallback from the endpoint to the local engine (`FallbackEngine`).

`FallbackEngine(primary, backup)` speaks with `primary` and, when it fails with an error that
is not the user's to fix, speaks the same utterance with `backup` and calls `on_fallback(error)`
so the caller can tell the requester (once) that the backup voice is in use.

Which failures fall back (`should_fall_back`): every `TTSError` whose class does not have
`user_fault = True`, i.e.
- outages: ServerError (5xx), NetworkError, FirstByteTimeoutError, StreamStalledError,
  StreamIncompleteError, BadResponseError (the endpoint sent garbage);
- ThrottledError (reaching us only after the client spent its retry budget), QuotaExhaustedError;
- the account: BillingError (out of credit), AuthError, AccessDeniedError, ModelNotFoundError.
  These are the operator's to fix, not the member's; the community should not go silent
  meanwhile. The client logs them, and `on_fallback` receives the error to report it.
Never: ContentRefusedError and BadRequestError (`user_fault`), InputError (the request itself is
invalid), cancellation, or unexpected non-TTS exceptions (bugs are not hidden behind the backup).

Streams: if the primary fails before yielding any audio, the backup's stream takes over; once
audio was delivered, the error is re-raised (an utterance is never restarted half-way).

Sample rates: `FallbackEngine.sample_rate` is the primary's (24 kHz for the endpoint) and
`stream()` always yields PCM at that rate: the backup's audio (22.05 kHz from espeak) is
resampled with soxr's streaming resampler, in a worker thread. `synthesize()` returns the
backup's `Audio` at its own rate; `Audio.rate` says which.

Caching: `FallbackEngine` must NOT be wrapped in the cache itself. Wrap `primary` and `backup`
separately (`CachedEngine(EndpointClient(...))`, `CachedEngine(LocalEngine())`) and put the
`FallbackEngine` above them: each cache keys on its own engine's `name` ("api:...",
"local:espeak-ng"), so an utterance the backup spoke during an outage never shadows the real
voice later. `select_engine()` takes factories for the (already wrapped) engines for this reason.

Circuit breaker (`breaker.CircuitBreaker`): an outage makes every request wait for timeouts
and retries before falling back. After an account-level failure (billing, quota, auth, access,
model), or after `failure_threshold` consecutive other failures, requests skip the primary for
`cooldown` seconds (at least the server's Retry-After, at most 5 minutes) and go straight to the
backup; `on_fallback` then receives the error that opened the breaker. The first request after
the cooldown tries the primary again. `cooldown=0` disables it.

Account failures (`error_log.AccountAlarm`) are logged at ERROR once per cooldown, with code and
request id: by the breaker when the backup takes over, and, without a backup voice
(`FallbackEngine(primary, None)`, as `TTS_ENGINE=api` builds it), when a request fails.

Engine selection (`TTS_ENGINE`: `plan_engines`, `select_engine`) is in `plan`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np
import soxr
from cachetools import LRUCache

from bot.audio.clip import Audio
from bot.speech.engine import SpeechEngine, opened_stream
from bot.speech.errors import TTSError
from bot.speech.fallback.breaker import CircuitBreaker
from bot.speech.request import SpeechRequest

log = logging.getLogger(__name__)
_CACHED_CHUNK = 4800  # bytes of 24 kHz PCM per chunk (100 ms) when replaying cached audio

FallbackCallback = Callable[[TTSError], None]


def should_fall_back(error: BaseException) -> bool:
    """Whether a primary failure may be answered with the backup engine."""
    return isinstance(error, TTSError) and not error.user_fault


@dataclass
class FallbackStats:
    primary_served: int = 0
    backup_served: int = 0
    primary_failures: int = 0
    primary_skipped: int = 0  # requests sent straight to the backup by the open breaker


class FallbackEngine:
    """`SpeechEngine` that falls back from `primary` to `backup` (see the module docstring)."""

    def __init__(
        self,
        primary: SpeechEngine,
        backup: SpeechEngine | None,
        *,
        on_fallback: FallbackCallback | None = None,
        cooldown: float = 30.0,
        failure_threshold: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._backup = backup
        self._on_fallback = on_fallback
        self._breaker = CircuitBreaker(cooldown=cooldown, failure_threshold=failure_threshold, clock=clock)
        # Requests the backup spoke (recently): Opus packets played for them may be the
        # backup's, so they are never filed under the primary's cache key (see key_for). An
        # entry stays until evicted, even if the primary later speaks the same request: a
        # playback of the backup's audio may still be finishing elsewhere.
        self._backup_spoke: LRUCache[SpeechRequest, bool] = LRUCache(maxsize=1024)
        self.stats = FallbackStats()

    @property
    def primary(self) -> SpeechEngine:
        return self._primary

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    @property
    def backup(self) -> SpeechEngine | None:
        return self._backup

    @property
    def name(self) -> str:
        """Descriptive only: this engine is never cached itself (see the module docstring)."""
        if self._backup is None:
            return self._primary.name
        return f"{self._primary.name}|fallback:{self._backup.name}"

    @property
    def sample_rate(self) -> int:
        return self._primary.sample_rate

    def key_for(self, request: SpeechRequest) -> str | None:
        """The primary's cache key for `request` while the primary serves it; None when the
        audio may come (or came) from the backup, so that nothing made by the backup is ever
        stored under the primary's key. The player asks before and after playback."""
        key_for = getattr(self._primary, "key_for", None)
        if key_for is None or self._breaker.skip_reason() is not None:
            return None
        if self._backup_spoke.get(request.validated()) is not None:
            return None
        key: str = key_for(request)
        return key

    @property
    def primary_down(self) -> bool:
        """Whether the breaker is open (requests go straight to the backup)."""
        return self._breaker.skip_reason() is not None

    # -- SpeechEngine -------------------------------------------------------------------------
    async def synthesize(self, request: SpeechRequest) -> Audio:
        backup = self._backup
        if backup is None:
            try:
                return await self._primary.synthesize(request)
            except TTSError as err:
                self._alarm_without_backup(err)
                raise
        reason, probe = self._breaker.enter()
        if reason is None:
            try:
                audio = await self._primary.synthesize(request)
            except TTSError as err:
                if not should_fall_back(err):
                    raise
                self._record_failure(err)
                reason = err
            else:
                self._record_success()
                return audio
            finally:
                if probe:
                    self._breaker.end_probe()
        else:
            self.stats.primary_skipped += 1
            cached = await self._primary_cached(request)
            if cached is not None:
                return cached
        try:
            audio = await backup.synthesize(request)
        except TTSError as backup_err:
            log.error("backup engine failed too: %s", backup_err.log_form())
            raise reason from None
        self.stats.backup_served += 1
        self._backup_spoke[request.validated()] = True
        self._notify(reason)
        return audio

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        backup = self._backup
        if backup is None:
            try:
                async with opened_stream(self._primary.stream(request)) as chunks:
                    async for chunk in chunks:
                        yield chunk
            except TTSError as err:
                self._alarm_without_backup(err)
                raise
            return
        reason, probe = self._breaker.enter()
        if reason is None:
            delivered = False
            try:
                async with opened_stream(self._primary.stream(request)) as chunks:
                    async for chunk in chunks:
                        if chunk:
                            delivered = True
                            yield chunk
            except TTSError as err:
                if not should_fall_back(err):
                    raise
                self._record_failure(err)
                if delivered or err.audio_delivered:
                    raise
                reason = err
            else:
                self._record_success()
                return
            finally:
                if probe:
                    self._breaker.end_probe()
        else:
            self.stats.primary_skipped += 1
            cached = await self._primary_cached(request)
            if cached is not None and cached.rate == self.sample_rate:
                for start in range(0, len(cached.pcm), _CACHED_CHUNK):
                    yield cached.pcm[start : start + _CACHED_CHUNK]
                return
        async with opened_stream(self._backup_stream(backup, request, reason)) as chunks:
            async for chunk in chunks:
                yield chunk

    # -- internals ----------------------------------------------------------------------------
    async def _primary_cached(self, request: SpeechRequest) -> Audio | None:
        """While the primary is skipped, audio it made earlier (its cache) still speaks in the
        real voice, at no cost."""
        lookup = getattr(self._primary, "lookup", None)
        if lookup is None:
            return None
        try:
            audio: Audio | None = await lookup(request)
        except Exception:
            log.exception("looking up the primary's cache failed")
            return None
        return audio

    async def _backup_stream(
        self, backup: SpeechEngine, request: SpeechRequest, reason: TTSError
    ) -> AsyncIterator[bytes]:
        resampler = _Resampler(backup.sample_rate, self.sample_rate)
        announced = False
        try:
            async with opened_stream(backup.stream(request)) as chunks:
                async for chunk in chunks:
                    out = await resampler.feed(chunk)
                    if not out:
                        continue
                    if not announced:
                        announced = True
                        self._backup_spoke[request.validated()] = True
                        self.stats.backup_served += 1
                        self._notify(reason)
                    yield out
            tail = await resampler.flush()
            if tail:
                yield tail
        except TTSError as backup_err:
            if announced:
                raise
            log.error("backup engine failed too: %s", backup_err.log_form())
            raise reason from None

    def _record_success(self) -> None:
        self.stats.primary_served += 1
        self._breaker.record_success()

    def _record_failure(self, err: TTSError) -> None:
        self.stats.primary_failures += 1
        self._breaker.record_failure(err)

    def _alarm_without_backup(self, err: TTSError) -> None:
        """No backup voice (`TTS_ENGINE=api`): an account failure silences the bot until the
        operator fixes it, so it is logged at ERROR once per cooldown, as with a backup."""
        self.stats.primary_failures += 1
        wait = self._breaker.wait_for(err)
        consequence = "no backup voice: requests fail until it is fixed"
        self._breaker.alarm.report(err, quiet_for=wait, consequence=consequence)

    def _notify(self, reason: TTSError) -> None:
        if self._on_fallback is None:
            return
        try:
            self._on_fallback(reason)
        except Exception:
            log.exception("on_fallback callback failed")


class _Resampler:
    """Streaming mono s16le resampling in a worker thread (identity when the rates match)."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self._stream = (
            soxr.ResampleStream(rate_in, rate_out, 1, dtype="int16", quality="HQ")
            if rate_in != rate_out
            else None
        )
        self._carry = b""

    async def feed(self, chunk: bytes) -> bytes:
        data = self._carry + chunk
        cut = len(data) - (len(data) & 1)
        self._carry = data[cut:]
        if self._stream is None or not cut:
            return data[:cut]
        return await asyncio.to_thread(self._run, data[:cut], False)

    async def flush(self) -> bytes:
        if self._stream is None:
            return b""
        return await asyncio.to_thread(self._run, b"", True)

    def _run(self, pcm: bytes, last: bool) -> bytes:
        assert self._stream is not None
        samples = np.frombuffer(pcm, dtype=np.int16)
        return bytes(self._stream.resample_chunk(samples, last=last).astype(np.int16).tobytes())
