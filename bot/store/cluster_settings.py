"""Settings invalidation across the cluster: a write in one process evicts that entry from
every process's read cache.

Each `ReadThrough` of the storage is registered under a name. Its invalidations are published
on the `settings` channel (`InvalidationChannel`) once the writing transaction has committed
(the publisher waits for the storage's guard, which the write holds until COMMIT), so another
process cannot re-read the old row after dropping it. A message from another process drops the
key (or, for a broad invalidation, that whole cache) locally; when the subscription is (re)made
after Redis was lost, every cache is cleared.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

from bot.base.errors import ParlaError
from bot.cluster.connection import ClusterLink
from bot.cluster.invalidation import InvalidationChannel
from bot.store.read_cache import ReadThrough

if TYPE_CHECKING:
    from bot.store.sql_storage import SqlStorage

__all__ = ["SettingsInvalidation", "share_settings"]

log = logging.getLogger(__name__)


def _encode(key: Hashable | None) -> Any:
    return list(key) if isinstance(key, tuple) else key


def _decode(value: Any) -> Hashable:
    return tuple(value) if isinstance(value, list) else value


def _every(_key: Hashable) -> bool:
    return True


class SettingsInvalidation:
    def __init__(self, channel: InvalidationChannel, caches: Mapping[str, ReadThrough[Any, Any]]) -> None:
        self._channel = channel
        self._caches = dict(caches)
        for name, cache in self._caches.items():
            cache.on_invalidate = self._publisher(name, cache)

    def _publisher(self, name: str, cache: ReadThrough[Any, Any]) -> Any:
        def on_invalidate(key: Hashable | None) -> None:
            self._channel.spawn(self._publish_after_commit(name, cache, key))

        return on_invalidate

    async def _publish_after_commit(
        self, name: str, cache: ReadThrough[Any, Any], key: Hashable | None
    ) -> None:
        try:
            async with cache.guard():
                pass
        except ParlaError:
            pass  # the storage is closing; tell the others anyway
        self._channel.publish({"c": name, "k": _encode(key), "all": key is None})

    @property
    def channel(self) -> InvalidationChannel:
        return self._channel

    def start(self) -> None:
        self._channel.start(self._on_message, self.drop_all)

    def _on_message(self, message: dict[str, Any]) -> None:
        cache = self._caches.get(str(message.get("c")))
        if cache is None:
            return
        if message.get("all"):
            cache.drop_where(_every)
        else:
            cache.drop(_decode(message.get("k")))

    def drop_all(self) -> None:
        for cache in self._caches.values():
            cache.drop_where(_every)

    async def close(self) -> None:
        for cache in self._caches.values():
            cache.on_invalidate = None
        await self._channel.close()


def share_settings(link: ClusterLink, storage: SqlStorage) -> SettingsInvalidation:
    """A process's settings invalidation in a cluster: every read cache of `storage` on the
    `settings` channel, started (close it before the storage)."""
    sync = SettingsInvalidation(InvalidationChannel(link, "settings"), storage.read_caches())
    sync.start()
    return sync
