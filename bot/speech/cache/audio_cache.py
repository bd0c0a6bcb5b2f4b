"""The two-tier audio cache: never pay twice for the same sound.

- `cache_key()` (`key`) names the sound of a request.
- `AudioCache` stores audio (PCM with its rate) and the Opus packets of an utterance per encoder
  profile, in memory (`memory`, LRU bounded by bytes) and on disk (`disk`, content-addressed
  files, LRU bounded by bytes, survives restarts) and, in a cluster, in Redis (`shared`, one
  tier for every process, LRU bounded by bytes), and counts hits and misses (`CacheStats`).
- `CachedEngine` (`cached_engine`) puts it in front of a SpeechEngine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from bot.audio.clip import Audio
from bot.speech.cache.disk import DiskTier, pack_packets, unpack_packets
from bot.speech.cache.key import opus_key
from bot.speech.cache.memory import MemoryTier
from bot.speech.cache.shared import SharedTier

if TYPE_CHECKING:
    from bot.base.config import Settings

__all__ = ["AudioCache", "CacheStats"]

log = logging.getLogger(__name__)

MIB = 1024 * 1024

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
    hits_shared: int = 0
    opus_hits_shared: int = 0
    shared_enabled: bool = False
    corrupt_removed_shared: int = 0

    @property
    def hits(self) -> int:
        return self.hits_memory + self.hits_disk + self.hits_shared

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

    def __init__(
        self, memory_bytes: int, disk_dir: Path | None, disk_bytes: int, *, shared: SharedTier | None = None
    ) -> None:
        self._memory = MemoryTier(memory_bytes)
        self._shared = shared
        self._hits_shared = 0
        self._opus_hits_shared = 0
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
    def from_settings(cls, settings: Settings, *, shared: SharedTier | None = None) -> AudioCache:
        """CACHE_MEMORY_MB and CACHE_DISK_MB (MiB) under `settings.cache_dir`; disk off at 0.
        `shared`: the cluster's Redis tier (bounded by CACHE_REDIS_MB), if any."""
        disk_bytes = int(settings.cache_disk_mb * MIB)
        return cls(
            memory_bytes=int(settings.cache_memory_mb * MIB),
            disk_dir=settings.cache_dir if disk_bytes > 0 else None,
            disk_bytes=disk_bytes,
            shared=shared,
        )

    @property
    def shared(self) -> SharedTier | None:
        return self._shared

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
        audio = self.get_memory(key)
        if audio is None:
            audio, _ = await self.get_stored(key)
        if audio is None:
            self._misses += 1
        return audio

    async def get_stored(
        self, key: str, *, count: bool = True
    ) -> tuple[Audio | None, Literal["hit_disk", "hit_shared", "miss"]]:
        """The audio under `key` from the disk tier, else the shared tier (promoted to memory
        and disk), with where it was found; hits counted unless `count=False`."""
        audio = await self.get_disk(key, count=count)
        if audio is not None:
            return audio, "hit_disk"
        audio = await self.get_shared(key, count=count)
        return audio, ("hit_shared" if audio is not None else "miss")

    async def get_shared(self, key: str, *, count: bool = True) -> Audio | None:
        """The audio under `key` from the cluster's shared tier (copied to memory and disk)."""
        shared = self._shared
        if shared is None:
            return None
        record = await shared.read("pcm", key)
        if record is None:
            return None
        audio = Audio(pcm=record.payload, rate=record.rate, channels=record.channels)
        self._memory.put("pcm", key, audio)
        disk = self._disk_on()
        if disk is not None:
            await self._io(disk.write, "pcm", key, audio.pcm, rate=audio.rate, channels=audio.channels)
        if count:
            self._hits_shared += 1
        return audio

    async def claim_shared(
        self, key: str, lock_key: str, token: str, lease_ms: int
    ) -> tuple[Audio | None, str] | None:
        """`SharedTier.read_or_claim` for the audio under `key`: (audio, "") on a hit (neither
        counted nor copied to memory and disk here: the flight does both), (None, holder of
        the flight lock `lock_key`) on a miss; None without a shared tier or Redis."""
        shared = self._shared
        if shared is None:
            return None
        found = await shared.read_or_claim("pcm", key, lock_key, token, lease_ms)
        if found is None:
            return None
        record, holder = found
        if record is None:
            return None, holder
        return Audio(pcm=record.payload, rate=record.rate, channels=record.channels), ""

    def get_memory(self, key: str) -> Audio | None:
        """The audio under `key` if it is in memory, counted as a memory hit (refreshes recency)."""
        audio = self._memory.get_audio(key)
        if audio is not None:
            self._hits_memory += 1
        return audio

    async def get_disk(self, key: str, *, count: bool = True) -> Audio | None:
        """The audio under `key` from the disk tier (promoted to memory), or None; a hit is
        counted unless `count=False`. A miss is never counted here."""
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

    def record_lookup(self, outcome: Literal["hit_disk", "hit_shared", "miss"]) -> None:
        """Count the outcome of a lookup made with `count=False` (by the cached engine's flights)."""
        if outcome == "hit_disk":
            self._hits_disk += 1
        elif outcome == "hit_shared":
            self._hits_shared += 1
        else:
            self._misses += 1

    def peek(self, key: str) -> Audio | None:
        """The audio under `key` if it is in memory; no I/O, no counters."""
        return self._memory.get_audio(key)

    async def put(self, key: str, audio: Audio, *, shared: bool = True) -> None:
        """Store `audio` under `key` in every tier (the shared one unless `shared=False`: it
        came from there); empty audio is not stored."""
        if not audio.pcm:
            return
        self._puts += 1
        self._memory.put("pcm", key, audio)
        await self.load()
        disk = self._disk_on()
        if disk is not None:
            await self._io(disk.write, "pcm", key, audio.pcm, rate=audio.rate, channels=audio.channels)
        if self._shared is not None and shared:
            await self._shared.write("pcm", key, audio.pcm, rate=audio.rate, channels=audio.channels)

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
        if self._shared is not None:
            shared = await self._shared.read("opus", name)
            unpacked = unpack_packets(shared.payload) if shared is not None else None
            if unpacked is not None:
                self._memory.put("opus", name, tuple(unpacked))
                self._opus_hits_shared += 1
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
        if self._shared is not None:
            await self._shared.write("opus", name, pack_packets(packets))

    # ----- maintenance -----

    async def clear(self) -> None:
        """Forget everything, in memory and on disk (counters are kept)."""
        self._memory.clear()
        disk = self._disk
        if disk is not None and not self._closed:
            await self.load()
            if disk.enabled:
                await self._io(disk.clear)
        if self._shared is not None:
            await self._shared.clear()

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
            hits_shared=self._hits_shared,
            opus_hits_shared=self._opus_hits_shared,
            shared_enabled=self._shared is not None and self._shared.available,
            corrupt_removed_shared=self._shared.corrupt_removed if self._shared is not None else 0,
        )

    async def close(self) -> None:
        """Wait for disk writes in progress; afterwards the cache is memory-only."""
        while self._pending:
            await asyncio.wait(set(self._pending))
        self._closed = True
