"""`admit`: a rolling window's event and a leased semaphore's slot taken together, in one Lua
script (one round trip), for the endpoint's per-request admission across the cluster.

The script checks the window's pause, then frees expired slots and looks for a free one, then
drops events older than the window and looks for room; only when there is a slot and room (and
no pause) does it take both. So a request never holds a slot while it waits for the window, and
the window counts a request only when it is about to be sent. Each piece keeps its own keys and
meaning (`RollingWindow`, `LeasedSemaphore`): counts, pauses and lease expiry are unchanged.
"""

from __future__ import annotations

import secrets

from bot.cluster.semaphore import LeasedSemaphore, Slot
from bot.cluster.window import RollingWindow

__all__ = ["admit"]

# KEYS: window zset, pause key, semaphore zset.
# ARGV: window limit, window per_ms, event id, slot limit, lease_ms, slot token.
# 0: both taken; -1: no free slot; > 0: milliseconds to wait (pause, or the window is full).
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return paused end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then return -1 end
local per = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + per - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], per + 1000)
local lease = tonumber(ARGV[5])
redis.call('ZADD', KEYS[3], now + lease, ARGV[6])
redis.call('PEXPIRE', KEYS[3], lease * 2)
return 0
"""


async def admit(window: RollingWindow, slots: LeasedSemaphore) -> Slot | float | bool | None:
    """A held Slot (and the window's event taken); seconds to wait for the window (or its
    pause); False if every slot is taken; None if Redis is unavailable."""
    event, token = secrets.token_hex(8), secrets.token_hex(8)
    lease_ms = int(slots.lease * 1000)
    got = await slots.link.call(
        lambda r: r.eval(
            _ADMIT,
            3,
            window.key,
            window.pause_key,
            slots.key,
            window.limit,
            window.per_ms,
            event,
            slots.limit,
            lease_ms,
            token,
        ),
        None,
    )
    if got is None:
        return None
    answer = int(got)
    if answer == 0:
        return Slot(slots, token)
    if answer < 0:
        return False
    return answer / 1000
