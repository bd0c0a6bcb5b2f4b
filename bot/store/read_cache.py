"""The settings caches: a small LRU map, and `ReadThrough`, the one read-through step the storage
uses for every cached read (look in the LRU, else load under the guard, store, return) with
its invalidation on write.

With `max_age` (PostgreSQL: other processes write too) an entry older than that is loaded
again. An invalidated entry is always loaded again; with `stale_on` its value is kept: if a load fails
with one of `stale_on` (the database is unreachable), the last known value is served instead, so
speaking goes on with the last known settings."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A small LRU map (values are never None)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = max(1, maxsize)
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        self._data.pop(key, None)

    def replace_where(self, predicate: Callable[[K], bool], change: Callable[[V], V]) -> None:
        for key in [k for k in self._data if predicate(k)]:
            self._data[key] = change(self._data[key])

    def drop_where(self, predicate: Callable[[K], bool]) -> None:
        for key in [k for k in self._data if predicate(k)]:
            del self._data[key]

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class ReadThrough(Generic[K, V]):
    """An LRU in front of `load`: `get(key)` returns the cached value, or enters `guard()`
    (the storage's "open, and holding the connection" step), loads the value, caches it and
    returns it. Writers call `invalidate` (inside their transaction and after it ends) and the
    next `get` reads the database again; a load that overlapped an invalidation is returned
    but not cached, so a fill never stores a value older than a write."""

    def __init__(
        self,
        maxsize: int,
        guard: Callable[[], AbstractAsyncContextManager[object]],
        load: Callable[[K], Awaitable[V]],
        *,
        max_age: float | None = None,
        stale_on: tuple[type[BaseException], ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lru: LRU[K, tuple[V, float | None]] = LRU(maxsize)  # (value, loaded at; None: invalid)
        self._guard = guard
        self._load = load
        self._max_age = max_age
        self._stale_on = stale_on
        self._clock = clock
        self._generation = 0

    async def get(self, key: K) -> V:
        cached = self._lru.get(key)
        if cached is not None and cached[1] is not None:
            if self._max_age is None or self._clock() - cached[1] < self._max_age:
                return cached[0]
        generation = self._generation
        try:
            async with self._guard():
                value = await self._load(key)
        except self._stale_on:
            if cached is None:
                raise
            return cached[0]
        if generation == self._generation:
            self._lru.put(key, (value, self._clock()))
        return value

    def invalidate(self, key: K) -> None:
        self.invalidate_where(lambda k: k == key)

    def invalidate_where(self, predicate: Callable[[K], bool]) -> None:
        self._generation += 1
        if self._stale_on:  # keep the last known value, for when the database is away
            self._lru.replace_where(predicate, lambda entry: (entry[0], None))
        else:
            self._lru.drop_where(predicate)

    def clear(self) -> None:
        self._generation += 1
        self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru)
