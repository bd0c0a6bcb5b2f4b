"""`RollingWindow`: at most `limit` events per rolling `per` seconds, across the cluster.

One sorted set per window (members: unique event ids, scores: Redis server time in ms), checked
and added to by one Lua script, so several processes never admit more than `limit` together.
The script reads the clock with Redis's TIME, so processes need not agree on the time. A
cluster-wide pause (`pause(seconds)`, e.g. from a 429's Retry-After) makes every `take()`
wait until it ends.
"""

from __future__ import annotations

import secrets

from bot.cluster.connection import ClusterLink

__all__ = ["RollingWindow"]

# KEYS: window zset, pause key. ARGV: limit, per_ms, member.
# Returns 0 when the event was admitted, else the milliseconds to wait before trying again.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return paused end
local per = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], per + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + per - now)
"""
# KEYS: pause key. ARGV: ms. Extends the pause, never shortens it.
_PAUSE = """
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
"""


class RollingWindow:
    def __init__(self, link: ClusterLink, name: str, limit: int, per: float = 60.0) -> None:
        self._link = link
        self.key = link.key("window", name)
        self.pause_key = link.key("window", name, "pause")
        self.limit = limit
        self.per_ms = int(per * 1000)

    async def try_take(self) -> float | None:
        """0.0 if an event was admitted, else seconds to wait; None if Redis is unavailable."""
        member = secrets.token_hex(8)
        wait = await self._link.call(
            lambda r: r.eval(_TAKE, 2, self.key, self.pause_key, self.limit, self.per_ms, member), None
        )
        return None if wait is None else int(wait) / 1000

    async def pause(self, seconds: float) -> None:
        """Make every process wait `seconds` before its next event (no-op without Redis)."""
        ms = max(1, int(seconds * 1000))
        await self._link.call(lambda r: r.eval(_PAUSE, 1, self.pause_key, ms), None)

    async def count(self) -> int | None:
        return await self._link.call(lambda r: r.zcard(self.key), None)
