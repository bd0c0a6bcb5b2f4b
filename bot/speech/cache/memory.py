"""Tier 1 of the audio cache: an in-memory LRU bounded by bytes (cachetools)."""

from __future__ import annotations

from typing import Literal

from cachetools import LRUCache

from bot.audio.clip import Audio

Kind = Literal["pcm", "opus"]
MemoryKey = tuple[Kind, str]
OpusPackets = tuple[bytes, ...]
Entry = Audio | OpusPackets

# What a bytes object costs beyond its payload (CPython header + list slot), so that a few
# thousand small Opus packets are not counted as free.
PACKET_OVERHEAD = 41


def entry_size(value: Entry) -> int:
    """Bytes an entry occupies in memory, as counted against CACHE_MEMORY_MB."""
    if isinstance(value, Audio):
        return len(value.pcm)
    return sum(len(p) + PACKET_OVERHEAD for p in value)


class _CountingLRU(LRUCache[MemoryKey, Entry]):
    """cachetools' LRU, counting the entries it evicts to make room."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize=maxsize, getsizeof=entry_size)
        self.evictions = 0

    def popitem(self) -> tuple[MemoryKey, Entry]:
        item = super().popitem()
        self.evictions += 1
        return item


class MemoryTier:
    """Audio and Opus packets by key, least recently used evicted first.

    Not thread-safe: used from the event loop only. An entry larger than the whole budget
    is not stored (the disk tier may still keep it).
    """

    def __init__(self, max_bytes: int) -> None:
        self._lru = _CountingLRU(max(0, int(max_bytes)))

    @property
    def max_bytes(self) -> int:
        return int(self._lru.maxsize)

    @property
    def total_bytes(self) -> int:
        return int(self._lru.currsize)

    @property
    def entries(self) -> int:
        return len(self._lru)

    @property
    def evictions(self) -> int:
        return self._lru.evictions

    def keys(self) -> set[MemoryKey]:
        return set(self._lru)

    def get_audio(self, key: str) -> Audio | None:
        value = self._lru.get(("pcm", key))
        return value if isinstance(value, Audio) else None

    def get_opus(self, key: str) -> OpusPackets | None:
        value = self._lru.get(("opus", key))
        return value if isinstance(value, tuple) else None

    def put(self, kind: Kind, key: str, value: Entry) -> bool:
        """Store `value`; False if it is larger than the whole budget (nothing stored)."""
        if entry_size(value) > self._lru.maxsize:
            self._lru.pop((kind, key), None)
            return False
        self._lru[(kind, key)] = value
        return True

    def clear(self) -> None:
        self._lru.clear()
