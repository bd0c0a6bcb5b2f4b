"""The usage limits held by the whole cluster, in Redis, each checked and counted atomically
by one Lua script:

- per member per minute (requests and characters): a sorted set per member of
  `<id>:<characters>` scored by Redis server time;
- per server and global characters per UTC day: one counter per day and scope. Admission
  reserves the request's length (check and add in one step, so processes admitting at once
  never pass the budget together); the endpoint's own count settles the reservation
  (`settle`), and a reservation never settled (a failure, a late cache hit) is given back
  after `RESERVATION_TTL`. Each counter is seeded, once a day, from the settings store.

Every call answers None when Redis is unavailable: `UsageLimiter` then uses its local state.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import date

from bot.cluster.connection import ClusterLink

__all__ = ["RESERVATION_TTL", "ClusterBudget", "MemberVerdict"]

RESERVATION_TTL = 300.0  # seconds before an unsettled reservation is given back
DAY_TTL = 2 * 86_400

# KEYS: member zset. ARGV: rpm, cpm, chars, per_ms, member-token.
# {0} admitted; {1, wait_ms} requests per minute; {2, wait_ms} characters per minute.
_MEMBER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local per = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)
local events = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local count = #events / 2
if count >= tonumber(ARGV[1]) then
  return {1, tonumber(events[2]) + per - now}
end
local used = 0
for i = 1, #events, 2 do
  used = used + tonumber(string.match(events[i], ':(%d+)$'))
end
local chars = tonumber(ARGV[3])
local cpm = tonumber(ARGV[2])
if used + chars > cpm and count > 0 then
  local freed = 0
  for i = 1, #events, 2 do
    freed = freed + tonumber(string.match(events[i], ':(%d+)$'))
    if used - freed + chars <= cpm then return {2, tonumber(events[i + 1]) + per - now} end
  end
  return {2, per}
end
redis.call('ZADD', KEYS[1], now, ARGV[5] .. ':' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], per + 1000)
return {0}
"""
# KEYS: global counter [, server counter]. ARGV: chars, global budget, server budget,
# global seed, server seed, ttl. {0, global, server} reserved; {1, ...} global; {2, ...} server.
_RESERVE = """
redis.call('SET', KEYS[1], ARGV[4], 'NX', 'EX', ARGV[6])
local g = tonumber(redis.call('GET', KEYS[1]))
local s = 0
if #KEYS > 1 then
  redis.call('SET', KEYS[2], ARGV[5], 'NX', 'EX', ARGV[6])
  s = tonumber(redis.call('GET', KEYS[2]))
end
local chars = tonumber(ARGV[1])
if g + chars > tonumber(ARGV[2]) then return {1, g, s} end
if #KEYS > 1 and s + chars > tonumber(ARGV[3]) then return {2, g, s} end
g = redis.call('INCRBY', KEYS[1], chars)
if #KEYS > 1 then s = redis.call('INCRBY', KEYS[2], chars) end
return {0, g, s}
"""
# KEYS: global counter [, server counter]. ARGV: delta, global seed, server seed, ttl.
_SETTLE = """
redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[4])
local g = redis.call('INCRBY', KEYS[1], ARGV[1])
local s = 0
if #KEYS > 1 then
  redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[4])
  s = redis.call('INCRBY', KEYS[2], ARGV[1])
end
return {g, s}
"""


@dataclass(frozen=True, slots=True)
class MemberVerdict:
    refused: str | None  # None, "requests" or "characters"
    retry_after: float = 0.0


@dataclass
class _Reservation:
    day: date
    characters: int
    at: float


class ClusterBudget:
    def __init__(self, link: ClusterLink) -> None:
        self._link = link
        self._pending: dict[int | None, deque[_Reservation]] = {}

    @property
    def available(self) -> bool:
        return self._link.available

    def _day_keys(self, day: date, guild_id: int | None) -> list[str]:
        keys = [self._link.key("usage", day.isoformat(), "global")]
        if guild_id is not None:
            keys.append(self._link.key("usage", day.isoformat(), "guild", str(guild_id)))
        return keys

    async def check_member(
        self, user_id: int, characters: int, *, rpm: int, cpm: int, per: float
    ) -> MemberVerdict | None:
        key = self._link.key("limits", "member", str(user_id))
        token = secrets.token_hex(6)
        reply = await self._link.call(
            lambda r: r.eval(_MEMBER, 1, key, rpm, cpm, characters, int(per * 1000), token), None
        )
        if reply is None:
            return None
        if int(reply[0]) == 0:
            return MemberVerdict(None)
        what = "requests" if int(reply[0]) == 1 else "characters"
        return MemberVerdict(what, max(0.0, int(reply[1]) / 1000))

    async def reserve(
        self,
        day: date,
        guild_id: int | None,
        characters: int,
        *,
        budgets: tuple[int, int],
        seeds: tuple[int, int],
    ) -> tuple[str | None, int, int] | None:
        """Reserve `characters` of today's budgets: (None, global, server) when reserved, else
        ("global" | "server", global, server) with nothing reserved; None without Redis."""
        keys = self._day_keys(day, guild_id)
        reply = await self._link.call(
            lambda r: r.eval(_RESERVE, len(keys), *keys, characters, budgets[0], budgets[1], *seeds, DAY_TTL),
            None,
        )
        if reply is None:
            return None
        code, used_global, used_guild = (int(x) for x in reply)
        if code == 0:
            self._pending.setdefault(guild_id, deque()).append(
                _Reservation(day, characters, time.monotonic())
            )
            return None, used_global, used_guild
        return ("global" if code == 1 else "server"), used_global, used_guild

    async def settle(
        self, day: date, guild_id: int | None, characters: int, *, seeds: tuple[int, int]
    ) -> tuple[int, int] | None:
        """Count `characters` the endpoint spoke, against this process's oldest reservation for
        `guild_id` (only the difference is added); None without Redis."""
        await self.expire_reservations()
        pending = self._pending.get(guild_id)
        reserved = 0
        if pending:
            held = pending.popleft()
            if held.day == day:
                reserved = held.characters
        return await self._add(day, guild_id, characters - reserved, seeds)

    async def expire_reservations(self) -> None:
        """Give back reservations older than RESERVATION_TTL (their request never spoke)."""
        cutoff = time.monotonic() - RESERVATION_TTL
        for guild_id, pending in list(self._pending.items()):
            while pending and pending[0].at < cutoff:
                held = pending.popleft()
                await self._add(held.day, guild_id, -held.characters, (0, 0))
            if not pending:
                del self._pending[guild_id]

    async def _add(
        self, day: date, guild_id: int | None, delta: int, seeds: tuple[int, int]
    ) -> tuple[int, int] | None:
        keys = self._day_keys(day, guild_id)
        reply = await self._link.call(
            lambda r: r.eval(_SETTLE, len(keys), *keys, delta, *seeds, DAY_TTL), None
        )
        if reply is None:
            return None
        return int(reply[0]), int(reply[1])
