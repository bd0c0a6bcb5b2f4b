"""The settings caches: a small LRU map, and `ReadThrough`, the one read-through step the storage
uses for every cached read (look in the LRU, else load under the guard, store, return) with
its invalidation on write."""

from __future__ import annotations

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
    returns it. Writers call `invalidate` (inside their transaction, so a fill never races
    the write) and the next `get` reads the database again."""

    def __init__(
        self,
        maxsize: int,
        guard: Callable[[], AbstractAsyncContextManager[object]],
        load: Callable[[K], Awaitable[V]],
    ) -> None:
        self._lru: LRU[K, V] = LRU(maxsize)
        self._guard = guard
        self._load = load
        # Told of every invalidation (the key, or None for several): the cluster's other
        # processes drop it too (`cluster_settings`).
        self.on_invalidate: Callable[[K | None], None] | None = None

    def guard(self) -> AbstractAsyncContextManager[object]:
        """The storage's guard (held by a write until it commits)."""
        return self._guard()

    async def get(self, key: K) -> V:
        cached = self._lru.get(key)
        if cached is not None:
            return cached
        async with self._guard():
            value = await self._load(key)
            self._lru.put(key, value)
        return value

    def invalidate(self, key: K) -> None:
        self._lru.pop(key)
        if self.on_invalidate is not None:
            self.on_invalidate(key)

    def invalidate_where(self, predicate: Callable[[K], bool]) -> None:
        self._lru.drop_where(predicate)
        if self.on_invalidate is not None:
            self.on_invalidate(None)

    def drop(self, key: K) -> None:
        """Forget `key` here only (another process changed it)."""
        self._lru.pop(key)

    def clear(self) -> None:
        self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru)
