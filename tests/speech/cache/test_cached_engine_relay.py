"""CachedEngine over a relay-style engine whose synthesize() answers at 16 kHz and stream() at
24 kHz: a stream meeting a finished synthesize() flight at the other rate makes progress (no
event-loop spin), and `lookup(count=False)` leaves the hit and miss counters alone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.audio.clip import Audio
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.cached_engine import CachedEngine
from bot.speech.request import SpeechRequest

REQ = SpeechRequest("hello there", voice="Cherry")
STREAM_PCM = b"\x00\x01" * 2400  # 0.1 s at 24 kHz


class RelayAtOtherRate:
    """synthesize() returns 16 kHz audio (a relay WAV); stream() yields at 24 kHz."""

    name = "api:test"
    sample_rate = 24_000

    def __init__(self) -> None:
        self.synth_calls = 0
        self.stream_calls = 0

    async def synthesize(self, request: SpeechRequest) -> Audio:
        self.synth_calls += 1
        return Audio(b"\x00\x01" * 16_000, rate=16_000)

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        self.stream_calls += 1
        yield STREAM_PCM


def gate_disk_writes(cache: AudioCache) -> tuple[threading.Event, threading.Event]:
    """Make the disk tier's writes wait for `release` (set `started` when one begins)."""
    disk = cache._disk
    assert disk is not None
    started, release = threading.Event(), threading.Event()
    real_write = disk.write

    def slow_write(*args: Any, **kwargs: Any) -> bool:
        started.set()
        release.wait(10)
        return real_write(*args, **kwargs)

    disk.write = slow_write  # type: ignore[method-assign]
    return started, release


async def test_stream_joining_a_finished_synth_flight_at_another_rate_makes_progress(tmp_path: Path) -> None:
    inner = RelayAtOtherRate()
    cache = AudioCache(64 << 20, tmp_path, 64 << 20)
    engine = CachedEngine(inner, cache)  # type: ignore[arg-type]
    started, release = gate_disk_writes(cache)

    # Should the event loop spin (no await between rejoins), asyncio.timeout cannot fire:
    # a watchdog thread closes the engine, so the stream fails instead of hanging the run.
    watchdog = threading.Timer(3.0, lambda: setattr(engine, "_closed", True))
    watchdog.start()
    try:
        assert (await engine.synthesize(REQ)).rate == 16_000
        # The synth flight has its audio and is still writing it to disk: it is still joinable.
        assert await asyncio.to_thread(started.wait, 5)
        assert engine.flights_in_progress == 1

        async def consume() -> bytes:
            return b"".join([chunk async for chunk in engine.stream(REQ)])

        async with asyncio.timeout(5):
            got = await consume()
        assert got == STREAM_PCM  # streamed by the engine itself, at the stream's rate
        assert inner.stream_calls == 1 and inner.synth_calls == 1
    finally:
        watchdog.cancel()
        release.set()
        await engine.close()
        await cache.close()


async def test_lookup_without_counting_leaves_the_counters_alone(tmp_path: Path) -> None:
    inner = RelayAtOtherRate()
    cache = AudioCache(64 << 20, tmp_path, 64 << 20)
    engine = CachedEngine(inner, cache)  # type: ignore[arg-type]
    try:
        key = engine.key_for(REQ)
        audio = Audio(STREAM_PCM, rate=24_000)
        await cache.put(key, audio)
        before = cache.stats
        # Admission asks first (not counted), then playback serves it (counted once).
        assert await engine.lookup(REQ, count=False) == audio
        assert cache.stats == before
        # On disk only: still found, still not counted.
        cache._memory.clear()
        assert await engine.lookup(REQ, count=False) == audio
        after = cache.stats
        assert (after.hits, after.misses, after.api_calls_saved) == (before.hits, before.misses, 0)
        # A miss is not counted either way.
        assert await engine.lookup(SpeechRequest("never said"), count=False) is None
        assert cache.stats.misses == before.misses
        # The default still counts a hit and a saved call.
        assert await engine.lookup(REQ) == audio
        counted = cache.stats
        assert counted.hits == before.hits + 1 and counted.api_calls_saved == 1
    finally:
        await engine.close()
        await cache.close()
