"""`LeasedSemaphore`: at most `limit` holders across the cluster, each slot on a lease.

A sorted set holds one member per slot (a random token) scored with its lease's end (Redis
TIME, ms). Acquiring (a Lua script) first drops expired slots, so a process killed while
holding slots gives them back within the lease. A holder renews its slot every third of the
lease until it releases it.
"""

from __future__ import annotations

import asyncio
import secrets

from bot.cluster.connection import ClusterLink, stop_task

__all__ = ["LeasedSemaphore", "Slot"]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
# KEYS: zset. ARGV: limit, lease_ms, token. 1 if acquired, else 0.
_ACQUIRE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
"""
)
_RENEW = (
    _NOW
    + """
local ok = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return ok
"""
)


class Slot:
    """One held slot; renewed until `release()`."""

    def __init__(self, sem: LeasedSemaphore, token: str) -> None:
        self._sem = sem
        self.token = token
        self._task = asyncio.create_task(self._renew(), name="parla-slot-renew")

    async def _renew(self) -> None:
        link, ms = self._sem.link, int(self._sem.lease * 1000)
        while True:
            await asyncio.sleep(self._sem.lease / 3)
            await link.call(lambda r: r.eval(_RENEW, 1, self._sem.key, ms, self.token), None)

    async def release(self) -> None:
        await stop_task(self._task)
        await self._sem.link.call(lambda r: r.zrem(self._sem.key, self.token), None)


class LeasedSemaphore:
    def __init__(self, link: ClusterLink, name: str, limit: int, *, lease: float | None = None) -> None:
        self.link = link
        self.key = link.key("sem", name)
        self.limit = limit
        self.lease = min(10.0, lease if lease is not None else link.lease_seconds)

    async def try_acquire(self) -> Slot | bool | None:
        """A held Slot, False if all slots are taken, None if Redis is unavailable."""
        token = secrets.token_hex(8)
        ms = int(self.lease * 1000)
        got = await self.link.call(lambda r: r.eval(_ACQUIRE, 1, self.key, self.limit, ms, token), None)
        if got is None:
            return None
        return Slot(self, token) if int(got) == 1 else False

    async def holders(self) -> int | None:
        return await self.link.call(lambda r: r.zcard(self.key), None)
