"""bot.store.read_cache: the LRU and the one read-through step every cached storage read uses."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from bot.store.read_cache import LRU, ReadThrough


class Source:
    """A loader that counts its calls, behind a guard that can be closed."""

    def __init__(self) -> None:
        self.values: dict[int, str] = {1: "one", 2: "two", 3: "three"}
        self.loads: list[int] = []
        self.guarded = 0
        self.closed = False

    @contextlib.asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        if self.closed:
            raise RuntimeError("closed")
        self.guarded += 1
        yield

    async def load(self, key: int) -> str:
        self.loads.append(key)
        await asyncio.sleep(0)
        return self.values[key]


async def test_a_miss_loads_under_the_guard_then_hits_are_served_from_memory() -> None:
    source = Source()
    cache = ReadThrough(10, source.guard, source.load)
    assert await cache.get(1) == "one"
    assert await cache.get(1) == "one"
    assert source.loads == [1] and source.guarded == 1 and len(cache) == 1


async def test_invalidate_makes_the_next_read_load_again() -> None:
    source = Source()
    cache = ReadThrough(10, source.guard, source.load)
    await cache.get(1)
    source.values[1] = "uno"
    assert await cache.get(1) == "one"  # still cached
    cache.invalidate(1)
    assert await cache.get(1) == "uno"
    cache.invalidate(99)  # unknown keys are fine
    assert source.loads == [1, 1]


async def test_invalidate_where_and_clear() -> None:
    source = Source()
    cache = ReadThrough(10, source.guard, source.load)
    for key in (1, 2, 3):
        await cache.get(key)
    cache.invalidate_where(lambda key: key % 2 == 1)
    assert len(cache) == 1
    await cache.get(2)
    assert source.loads == [1, 2, 3]
    cache.clear()
    assert len(cache) == 0
    await cache.get(2)
    assert source.loads == [1, 2, 3, 2]


async def test_a_failing_guard_or_load_caches_nothing() -> None:
    source = Source()
    cache = ReadThrough(10, source.guard, source.load)
    with pytest.raises(KeyError):
        await cache.get(42)
    source.closed = True
    with pytest.raises(RuntimeError, match="closed"):
        await cache.get(1)
    assert len(cache) == 0


async def test_the_least_recently_used_entry_is_evicted() -> None:
    source = Source()
    cache = ReadThrough(2, source.guard, source.load)
    await cache.get(1)
    await cache.get(2)
    await cache.get(1)  # 1 is now the most recent
    await cache.get(3)  # evicts 2
    assert len(cache) == 2
    await cache.get(1)
    await cache.get(2)
    assert source.loads == [1, 2, 3, 2]


def test_lru_map() -> None:
    lru: LRU[str, int] = LRU(0)  # at least one entry
    assert lru.maxsize == 1
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") is None and lru.get("b") == 2 and len(lru) == 1
    lru.pop("b")
    lru.pop("b")
    assert len(lru) == 0


class Away(Exception):
    """The database is unreachable."""


async def test_max_age_reloads_and_a_failed_reload_serves_the_last_known_value() -> None:
    source = Source()
    now = [0.0]
    cache = ReadThrough(10, source.guard, source.load, max_age=5.0, stale_on=(Away,), clock=lambda: now[0])
    assert await cache.get(1) == "one"
    now[0] = 4.9
    assert await cache.get(1) == "one" and source.loads == [1]  # young enough: from memory
    now[0] = 5.0
    source.values[1] = "uno"
    assert await cache.get(1) == "uno" and source.loads == [1, 1]  # 5 s old: read again

    async def away(key: int) -> str:
        raise Away

    cache._load = away  # the database goes away
    now[0] = 20.0
    assert await cache.get(1) == "uno"  # stale, but the last known value
    cache.invalidate(1)
    assert await cache.get(1) == "uno"  # invalidated by a write that may not have committed
    with pytest.raises(Away):
        await cache.get(2)  # never known: nothing to serve


async def test_a_load_overlapping_an_invalidation_is_not_cached() -> None:
    source = Source()
    cache = ReadThrough(10, source.guard, source.load)
    reading = asyncio.create_task(cache.get(1))
    await asyncio.sleep(0)  # the load has started (it yields once)
    source.values[1] = "uno"
    cache.invalidate(1)  # a write committed meanwhile
    await reading
    assert await cache.get(1) == "uno"
    assert source.loads == [1, 1]  # the overlapping load was not kept
