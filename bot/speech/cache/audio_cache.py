"""The audio cache: never pay twice for the same sound.

- `cache_key()` (bot/cache_key.py) names the sound of a request.
- `AudioCache` stores audio (PCM with its rate) and the Opus packets of an utterance per encoder
  profile, in memory (bot/cache_memory.py, LRU bounded by bytes) and on disk
  (bot/cache_disk.py, content-addressed files, LRU bounded by bytes, survives restarts).
- `CachedEngine` wraps any SpeechEngine: hits are served from the cache, and concurrent
  requests for the same sound share one call to the engine (single flight), in both
  `synthesize()` and `stream()` mode.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from bot.audio.clip import SAMPLE_WIDTH, Audio
from bot.base.errors import ParlaError
from bot.speech.cache.disk import DiskTier, pack_packets, unpack_packets
from bot.speech.cache.key import DEFAULT_OUTPUT_FORMAT, cache_key, opus_key
from bot.speech.cache.memory import MemoryTier
from bot.speech.engine import SpeechEngine, opened_stream
from bot.speech.request import SpeechRequest

if TYPE_CHECKING:
    from bot.base.config import Settings

__all__ = [
    "AudioCache",
    "CacheStats",
    "CachedEngine",
    "EngineClosedError",
    "cache_key",
]

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# A cache hit in stream mode is yielded in chunks of this length (at once, without pacing).
HIT_CHUNK_MS = 100

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of the cache counters (since this process started) and sizes (now)."""

    hits_memory: int = 0
    hits_disk: int = 0
    misses: int = 0
    puts: int = 0
    opus_hits_memory: int = 0
    opus_hits_disk: int = 0
    opus_misses: int = 0
    opus_puts: int = 0
    bytes_memory: int = 0
    bytes_disk: int = 0
    limit_memory: int = 0
    limit_disk: int = 0
    entries_memory: int = 0
    entries_disk: int = 0
    entries: int = 0  # distinct entries (audio and Opus) in either tier
    evictions_memory: int = 0
    evictions_disk: int = 0
    corrupt_removed: int = 0
    disk_write_errors: int = 0
    api_calls_saved: int = 0  # engine calls avoided: cache hits served + requests that joined a flight
    flights_joined: int = 0
    disk_enabled: bool = False

    @property
    def hits(self) -> int:
        return self.hits_memory + self.hits_disk

    @property
    def evictions(self) -> int:
        return self.evictions_memory + self.evictions_disk

    @property
    def hit_ratio(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def as_dict(self) -> dict[str, int | float | bool]:
        data: dict[str, int | float | bool] = asdict(self)
        data["hits"] = self.hits
        data["evictions"] = self.evictions
        data["hit_ratio"] = round(self.hit_ratio, 4)
        return data


class AudioCache:
    """Two-tier cache of Audio and Opus packets by cache key.

    Memory tier: `memory_bytes` of PCM/packets, least recently used evicted first.
    Disk tier: files under `disk_dir`, at most `disk_bytes` (off when `disk_dir` is None or
    `disk_bytes` is 0). The directory is scanned once, on first use (or by `load()`); a key
    absent from that index is a miss without any I/O. All disk I/O runs in worker threads.
    A disk hit is promoted to memory. Sizes are in bytes; from_settings reads MiB.
    """

    def __init__(self, memory_bytes: int, disk_dir: Path | None, disk_bytes: int) -> None:
        self._memory = MemoryTier(memory_bytes)
        self._disk = DiskTier(disk_dir, disk_bytes) if disk_dir is not None and disk_bytes > 0 else None
        self._load_lock = asyncio.Lock()
        self._pending: set[asyncio.Future[Any]] = set()
        self._closed = False
        self._hits_memory = 0
        self._hits_disk = 0
        self._misses = 0
        self._puts = 0
        self._opus_hits_memory = 0
        self._opus_hits_disk = 0
        self._opus_misses = 0
        self._opus_puts = 0
        self._api_calls_saved = 0
        self._flights_joined = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> AudioCache:
        """CACHE_MEMORY_MB and CACHE_DISK_MB (MiB) under `settings.cache_dir`; disk off at 0."""
        disk_bytes = int(settings.cache_disk_mb * MIB)
        return cls(
            memory_bytes=int(settings.cache_memory_mb * MIB),
            disk_dir=settings.cache_dir if disk_bytes > 0 else None,
            disk_bytes=disk_bytes,
        )

    @property
    def disk_dir(self) -> Path | None:
        return self._disk.root if self._disk is not None else None

    # ----- disk plumbing -----

    def _disk_on(self) -> DiskTier | None:
        disk = self._disk
        return disk if disk is not None and disk.enabled and not self._closed else None

    async def _io(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run blocking disk work in a thread. Cancelling the caller does not abandon the work
        half-way: it finishes in the background and `close()` waits for it."""
        fut: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
        self._pending.add(fut)
        fut.add_done_callback(self._io_done)
        return await asyncio.shield(fut)

    def _io_done(self, fut: asyncio.Future[Any]) -> None:
        self._pending.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            log.warning("audio cache: disk operation failed: %r", fut.exception())

    async def load(self) -> None:
        """Scan the disk tier (once). Called implicitly by every other operation."""
        disk = self._disk
        if disk is None or self._closed:
            return
        if disk.loaded or not disk.enabled:
            return
        async with self._load_lock:
            await self._io(disk.load)

    # ----- audio -----

    async def get(self, key: str) -> Audio | None:
        """The audio stored under `key` (memory first, then disk), or None."""
        audio = self._get_memory(key)
        if audio is None:
            audio = await self._get_disk(key)
        if audio is None:
            self._misses += 1
        return audio

    def _get_memory(self, key: str) -> Audio | None:
        audio = self._memory.get_audio(key)
        if audio is not None:
            self._hits_memory += 1
        return audio

    async def _get_disk(self, key: str, *, count: bool = True) -> Audio | None:
        await self.load()
        disk = self._disk_on()
        if disk is None or not disk.has("pcm", key):
            return None
        record = await self._io(disk.read, "pcm", key)
        if record is None:
            return None
        audio = Audio(pcm=record.payload, rate=record.rate, channels=record.channels)
        self._memory.put("pcm", key, audio)
        if count:
            self._hits_disk += 1
        return audio

    def _count(self, outcome: Literal["hit_disk", "miss"]) -> None:
        if outcome == "hit_disk":
            self._hits_disk += 1
        else:
            self._misses += 1

    def peek(self, key: str) -> Audio | None:
        """The audio under `key` if it is in memory; no I/O, no counters."""
        return self._memory.get_audio(key)

    async def put(self, key: str, audio: Audio) -> None:
        """Store `audio` under `key` in both tiers (empty audio is not stored)."""
        if not audio.pcm:
            return
        self._puts += 1
        self._memory.put("pcm", key, audio)
        await self.load()
        disk = self._disk_on()
        if disk is not None:
            await self._io(disk.write, "pcm", key, audio.pcm, rate=audio.rate, channels=audio.channels)

    # ----- Opus packets -----

    async def get_opus(self, key: str, profile: str) -> list[bytes] | None:
        """The Opus packets stored for the audio `key` encoded with `profile`, or None."""
        name = opus_key(key, profile)
        packets = self._memory.get_opus(name)
        if packets is not None:
            self._opus_hits_memory += 1
            return list(packets)
        await self.load()
        disk = self._disk_on()
        if disk is not None and disk.has("opus", name):
            record = await self._io(disk.read, "opus", name)
            if record is not None:
                unpacked = unpack_packets(record.payload)
                if unpacked is not None:
                    self._memory.put("opus", name, tuple(unpacked))
                    self._opus_hits_disk += 1
                    return unpacked
        self._opus_misses += 1
        return None

    async def put_opus(self, key: str, profile: str, packets: list[bytes]) -> None:
        """Store the Opus packets of the audio `key` for one encoder profile
        (e.g. "opus:audio:128k:fec:15"), in both tiers, within the same byte budgets."""
        if not packets:
            return
        name = opus_key(key, profile)
        self._opus_puts += 1
        self._memory.put("opus", name, tuple(packets))
        await self.load()
        disk = self._disk_on()
        if disk is not None:
            await self._io(disk.write, "opus", name, pack_packets(packets))

    # ----- maintenance -----

    async def clear(self) -> None:
        """Forget everything, in memory and on disk (counters are kept)."""
        self._memory.clear()
        disk = self._disk
        if disk is not None and not self._closed:
            await self.load()
            if disk.enabled:
                await self._io(disk.clear)

    def record_saved(self, *, joined: bool = False) -> None:
        """Count one engine call avoided (by a hit, or by joining a flight)."""
        self._api_calls_saved += 1
        if joined:
            self._flights_joined += 1

    @property
    def stats(self) -> CacheStats:
        """Counters and sizes. Never waits on the disk tier's lock (held during its start-up
        scan): every disk figure is a lock-free read, so a metrics scrape cannot block the loop."""
        disk = self._disk
        distinct = self._memory.entries
        if disk is not None:
            # Distinct entries in either tier: the disk's, plus memory entries not on disk.
            distinct = disk.entries + sum(1 for kind, name in self._memory.keys() if not disk.has(kind, name))
        return CacheStats(
            hits_memory=self._hits_memory,
            hits_disk=self._hits_disk,
            misses=self._misses,
            puts=self._puts,
            opus_hits_memory=self._opus_hits_memory,
            opus_hits_disk=self._opus_hits_disk,
            opus_misses=self._opus_misses,
            opus_puts=self._opus_puts,
            bytes_memory=self._memory.total_bytes,
            bytes_disk=disk.total_bytes if disk is not None else 0,
            limit_memory=self._memory.max_bytes,
            limit_disk=disk.max_bytes if disk is not None else 0,
            entries_memory=self._memory.entries,
            entries_disk=disk.entries if disk is not None else 0,
            entries=distinct,
            evictions_memory=self._memory.evictions,
            evictions_disk=disk.evictions if disk is not None else 0,
            corrupt_removed=disk.corrupt_removed if disk is not None else 0,
            disk_write_errors=disk.write_errors if disk is not None else 0,
            api_calls_saved=self._api_calls_saved,
            flights_joined=self._flights_joined,
            disk_enabled=disk is not None and disk.enabled,
        )

    async def close(self) -> None:
        """Wait for disk writes in progress; afterwards the cache is memory-only."""
        while self._pending:
            await asyncio.wait(set(self._pending))
        self._closed = True


# ---------------------------------------------------------------------------------------
# Single flight


class EngineClosedError(ParlaError):
    """The cached engine was closed while a request was waiting for it."""

    sentence = "The bot is shutting down; the speech was cancelled."


FlightMode = Literal["stream", "synth"]


class _Flight:
    """One disk lookup and, on a miss, one call to the inner engine, shared by every
    request for the same key. Streamed chunks are kept from the first, so a late joiner
    replays them and then follows live."""

    def __init__(self, key: str, mode: FlightMode) -> None:
        self.key = key
        self.mode = mode
        self.chunks: list[bytes] = []  # live chunks of the inner stream (stream mode only)
        self.audio: Audio | None = None
        self.from_cache = False  # the result was found on disk: no engine call
        self.error: BaseException | None = None
        self.traceback: TracebackType | None = None
        self.finished = False
        self.consumers = 0
        self.task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.done = asyncio.Event()

    @property
    def live(self) -> bool:
        """Whether consumers get the audio as chunks (else whole, in `audio`, at the end)."""
        return bool(self.chunks)

    def publish(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self._wake()

    def finish(self, *, audio: Audio | None = None, error: BaseException | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        self.audio = audio
        self.error = error
        self.traceback = error.__traceback__ if error is not None else None
        self.done.set()
        self._wake()

    def _wake(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def changed(self) -> asyncio.Event:
        """An event set at the next chunk or at the end (capture it before checking state)."""
        return self._changed

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error.with_traceback(self.traceback)


class CachedEngine:
    """A SpeechEngine that serves repeated requests from an AudioCache.

    - synthesize(): hit -> cached Audio; miss -> one inner call shared by every concurrent
      request for the same key. A failure is not cached: every waiter gets the same exception.
    - stream(): hit -> the cached PCM at once, in 100 ms chunks; miss -> one inner stream,
      tailed by every concurrent request from its first chunk. The cache is filled only when
      the stream completes; if every consumer leaves early the inner stream is closed.
    A synthesize() and a stream() of the same key share one flight, and the flight starts
    with the disk lookup, so requests arriving during that lookup join it too.

    Counters (in `cache.stats`): each request counts one of hits_memory, hits_disk or misses
    (a request that joined an engine call is a miss), and api_calls_saved counts requests
    that got their audio without an engine call of their own.
    """

    def __init__(self, inner: SpeechEngine, cache: AudioCache) -> None:
        self._inner = inner
        self.cache = cache
        self._flights: dict[str, _Flight] = {}
        self._closed = False

    @property
    def inner(self) -> SpeechEngine:
        return self._inner

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def sample_rate(self) -> int:
        return self._inner.sample_rate

    def key_for(self, request: SpeechRequest) -> str:
        return cache_key(request, self.name, output_format=DEFAULT_OUTPUT_FORMAT)

    @property
    def flights_in_progress(self) -> int:
        return len(self._flights)

    async def lookup(self, request: SpeechRequest, *, count: bool = True) -> Audio | None:
        """The cached audio for `request`, without calling the engine (a miss is not counted;
        a hit counts as a hit and an API call saved: the caller is expected to use it).

        With `count=False` no counter is touched: for a caller that only asks whether the
        sound is cached (e.g. admission) and plays it through `stream()`, which counts it."""
        key = self.key_for(request)
        if not count:
            return self.cache.peek(key) or await self.cache._get_disk(key, count=False)
        audio = self.cache._get_memory(key) or await self.cache._get_disk(key)
        if audio is not None:
            self.cache.record_saved()
        return audio

    # ----- synthesize -----

    async def synthesize(self, request: SpeechRequest) -> Audio:
        req = request.validated()
        key = self.key_for(req)
        audio, flight, joined = self._acquire(key, req, "synth", streamable_only=False)
        if audio is not None:
            return audio
        assert flight is not None
        try:
            await flight.done.wait()
        finally:
            await self._leave(flight, joined)
        flight.raise_error()
        assert flight.audio is not None
        return flight.audio

    # ----- stream -----

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        req = request.validated()
        key = self.key_for(req)
        while True:
            audio, flight, joined = self._acquire(key, req, "stream", streamable_only=True)
            if audio is None:
                assert flight is not None
                try:
                    index = 0
                    while True:
                        if index < len(flight.chunks):
                            chunk = flight.chunks[index]
                            index += 1
                            yield chunk
                            continue
                        if flight.finished:
                            break
                        await flight.changed().wait()
                finally:
                    await self._leave(flight, joined)
                flight.raise_error()
                if flight.live:
                    return
                # The result came whole: from the disk, or from a synthesize() flight.
                audio = flight.audio
                assert audio is not None
                if not self._streamable(audio):
                    continue  # a rate this stream cannot yield: stream it ourselves
            for chunk in self._chunks_of(audio):
                yield chunk
            return

    def _streamable(self, audio: Audio) -> bool:
        return audio.channels == 1 and audio.rate == self.sample_rate

    def _chunks_of(self, audio: Audio) -> Iterator[bytes]:
        frame = SAMPLE_WIDTH * audio.channels
        step = max(frame, audio.rate * frame * HIT_CHUNK_MS // 1000 // frame * frame)
        pcm = audio.pcm
        for i in range(0, len(pcm), step):
            yield pcm[i : i + step]

    # ----- flights -----

    def _acquire(
        self, key: str, req: SpeechRequest, mode: FlightMode, *, streamable_only: bool
    ) -> tuple[Audio | None, _Flight | None, bool]:
        """A memory hit, or the flight for `key` (joined: True, or started) with this caller
        counted in. Synchronous: nothing can slip between the memory check and the flight."""
        if self._closed:
            raise EngineClosedError("The speech engine is closed.")
        audio = self.cache.peek(key)
        if audio is not None and (not streamable_only or self._streamable(audio)):
            self.cache._get_memory(key)  # count the hit, refresh recency
            self.cache.record_saved()
            return audio, None, False
        flight = self._flights.get(key)
        if flight is not None and not (streamable_only and self._unstreamable(flight)):
            flight.consumers += 1
            return None, flight, True
        # No flight, or one that already ended with audio this stream cannot yield (a
        # synthesize() flight at another rate, still writing to disk): rejoining it would give
        # the same audio again, forever, without awaiting. Start our own; the finished one
        # only drops itself from `_flights` (see `_drop`).
        flight = _Flight(key, mode)
        flight.consumers = 1
        self._flights[key] = flight
        flight.task = asyncio.create_task(
            self._fly(flight, req, use_disk=audio is None), name=f"parla-cache-flight-{key[:12]}"
        )
        return None, flight, False

    def _unstreamable(self, flight: _Flight) -> bool:
        """`flight` ended with whole audio that stream() cannot yield as is."""
        audio = flight.audio
        return flight.finished and not flight.live and audio is not None and not self._streamable(audio)

    async def _leave(self, flight: _Flight, joined: bool) -> None:
        """A consumer is done with `flight`: count its outcome; the last one to leave before
        the end stops the inner call."""
        flight.consumers -= 1
        ok = flight.finished and flight.error is None
        if ok and flight.from_cache:
            self.cache._count("hit_disk")
            self.cache.record_saved()
        else:
            self.cache._count("miss")
            if ok and joined:
                self.cache.record_saved(joined=True)
        if flight.consumers > 0 or flight.finished:
            return
        self._drop(flight)
        task = flight.task
        if task is not None and not task.done():
            task.cancel()
            # Wait for the inner stream to be closed (the endpoint sees the disconnect).
            await asyncio.wait({task})

    async def _fly(self, flight: _Flight, req: SpeechRequest, *, use_disk: bool) -> None:
        try:
            if use_disk:
                audio = await self.cache._get_disk(flight.key, count=False)
                if audio is not None and (flight.mode == "synth" or self._streamable(audio)):
                    flight.from_cache = True
                    flight.finish(audio=audio)
                    self._drop(flight)
                    return
            if flight.mode == "synth":
                audio = await self._inner.synthesize(req)
            else:
                async with opened_stream(self._inner.stream(req)) as iterator:
                    async for chunk in iterator:
                        if chunk:
                            flight.publish(chunk)
                audio = Audio(pcm=b"".join(flight.chunks), rate=self.sample_rate, channels=1)
        except asyncio.CancelledError:
            flight.finish(error=EngineClosedError("The speech request was cancelled."))
            self._drop(flight)
            raise
        except BaseException as exc:
            flight.finish(error=exc)
            self._drop(flight)
            if not isinstance(exc, Exception):
                raise
            return
        flight.finish(audio=audio)
        try:
            # Memory first (synchronously), then disk; the flight stays joinable meanwhile.
            await self.cache.put(flight.key, audio)
        except Exception:  # a cache failure must never fail the speech
            log.exception("audio cache: could not store %s", flight.key[:12])
        finally:
            self._drop(flight)

    def _drop(self, flight: _Flight) -> None:
        if self._flights.get(flight.key) is flight:
            del self._flights[flight.key]

    async def close(self) -> None:
        """Cancel every flight still waiting for the engine (its waiters get EngineClosedError)
        and let finished ones complete their cache write. Close the AudioCache afterwards
        (it may be shared by several engines) so that disk writes complete before exit."""
        self._closed = True
        tasks = {f.task for f in self._flights.values() if f.task is not None and not f.task.done()}
        for flight in self._flights.values():
            if flight.task is not None and not flight.finished:
                flight.task.cancel()
        if tasks:
            await asyncio.wait(tasks)
