"""`LeaseLock`: a lock in Redis with a lease, renewed while it is held.

`acquire()` sets the key to a random token if it is free (SET NX PX) (or another script did so
with our `token` and `adopt()` takes it over); while held, a task renews
the lease every third of it; `release()` deletes the key only if it still holds our token (a
Lua script). A process killed while holding the lock stops renewing, and the lock is free
again within the lease, so nothing wedges. Every Redis call goes through the link: when Redis
is down, `acquire()` answers None (the caller proceeds locally).
"""

from __future__ import annotations

import asyncio
import secrets

from bot.cluster.connection import ClusterLink, stop_task

__all__ = ["LeaseLock"]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaseLock:
    """One held (or not yet held) lock on `key` (a full key: pass `link.key(...)`)."""

    def __init__(self, link: ClusterLink, key: str, *, lease: float | None = None) -> None:
        self._link = link
        self.key = key
        self.lease = min(10.0, lease if lease is not None else link.lease_seconds)
        self.token = secrets.token_hex(8)
        self._renewer: asyncio.Task[None] | None = None
        self.lost = False  # the lease could not be renewed (expired or Redis gone)

    async def acquire(self) -> bool | None:
        """True if we hold it now (and renew it until `release`), False if another holds it,
        None if Redis is unavailable."""
        ms = int(self.lease * 1000)
        got = await self._link.call(lambda r: r.set(self.key, self.token, nx=True, px=ms), None)
        if got is None and not self._link.available:
            return None
        if not got:
            return False
        self.adopt()
        return True

    @property
    def lease_ms(self) -> int:
        return int(self.lease * 1000)

    def adopt(self) -> None:
        """The key was set to our token by another script (e.g. the shared tier's lookup that
        claims the lock on a miss, in the same round trip): hold it and renew it from now."""
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew(), name=f"parla-lease-{self.key[-12:]}")

    async def holder(self) -> str | None:
        """The token of the current holder, or None (free, or Redis unavailable)."""
        value = await self._link.call(lambda r: r.get(self.key), None)
        return value.decode("ascii", "replace") if isinstance(value, bytes) else None

    async def _renew(self) -> None:
        ms = int(self.lease * 1000)
        while True:
            await asyncio.sleep(self.lease / 3)
            ok = await self._link.call(lambda r: r.eval(_RENEW, 1, self.key, self.token, ms), 0)
            if not ok:
                self.lost = True
                return

    async def release(self) -> None:
        task, self._renewer = self._renewer, None
        if task is not None:
            await stop_task(task)
            await self._link.call(lambda r: r.eval(_RELEASE, 1, self.key, self.token), 0)
