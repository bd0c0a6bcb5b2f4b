"""Tier 3 of the audio cache: shared by every process of a cluster, in Redis.

Same keys as the other tiers (the cache key, never a URL), under `REDIS_PREFIX`:
`audio:<kind>:<name>` holds one value,

    magic "PRLR" | version u8 | kind u8 | channels u8 | reserved u8 | rate u32 |
    payload length u64 | CRC32 of header+payload u32 | payload

so a torn or foreign value (wrong magic, length or CRC) is a miss, and is deleted. The tier is
bounded by `CACHE_REDIS_MB` with its own least-recently-used eviction, independent of the
server's `maxmemory`: a sorted set `audio:lru` (member: `<kind>:<name>`, score: last use) and
a byte total `audio:bytes`, kept by Lua scripts that store and evict atomically. Every call
goes through the `ClusterLink`: with Redis down, reads miss and writes are skipped.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from bot.cluster.connection import ClusterLink

__all__ = ["SharedRecord", "SharedTier", "decode_value", "encode_value"]

Kind = Literal["pcm", "opus"]

MAGIC = b"PRLR"
VERSION = 1
_KINDS: dict[str, int] = {"pcm": 1, "opus": 2}
_HEAD = struct.Struct("<4sBBBBIQ")
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEAD.size + _CRC.size

# KEYS: value key, lru zset, bytes counter. ARGV: value, member, now, max_bytes, prefix.
# Stores the value, counts it, then evicts least recently used entries until under the bound.
_PUT = """
local old = redis.call('STRLEN', KEYS[1])
local size = string.len(ARGV[1])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
local total = redis.call('INCRBY', KEYS[3], size - old)
local max = tonumber(ARGV[4])
local evicted = 0
while total > max do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  if #oldest == 0 then break end
  local key = ARGV[5] .. oldest[1]
  local n = redis.call('STRLEN', key)
  redis.call('DEL', key)
  total = redis.call('DECRBY', KEYS[3], n)
  evicted = evicted + 1
end
if total < 0 then redis.call('SET', KEYS[3], 0) end
return evicted
"""
# KEYS: value key, lru zset, lock key. ARGV: now, member, token, lease_ms, look (1/0).
# {1, value}: the value is there (its recency refreshed); else the flight lock `KEYS[3]` is
# claimed for `token` with a lease (SET NX PX): {2, token} if that worked, {3, holder} if
# another process holds it. One round trip for a miss's lookup and its single-flight lock.
_READ_OR_CLAIM = """
if ARGV[5] == '1' then
  local v = redis.call('GET', KEYS[1])
  if v then
    redis.call('ZADD', KEYS[2], 'XX', ARGV[1], ARGV[2])
    return {1, v}
  end
end
if redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[4]) then return {2, ARGV[3]} end
return {3, redis.call('GET', KEYS[3]) or ''}
"""
# KEYS: value key, lru zset, bytes counter. ARGV: member. Removes one entry and its bytes.
_DROP = """
local n = redis.call('STRLEN', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if n > 0 then redis.call('DECRBY', KEYS[3], n) end
return n
"""


@dataclass(frozen=True, slots=True)
class SharedRecord:
    payload: bytes
    rate: int
    channels: int


def encode_value(kind: Kind, payload: bytes, *, rate: int = 0, channels: int = 1) -> bytes:
    head = _HEAD.pack(MAGIC, VERSION, _KINDS[kind], channels, 0, rate, len(payload))
    return head + _CRC.pack(zlib.crc32(payload, zlib.crc32(head))) + payload


def decode_value(kind: Kind, value: bytes) -> SharedRecord | None:
    """The record in `value`, or None if it is not a whole, intact value of `kind`."""
    if len(value) < HEADER_SIZE:
        return None
    magic, version, code, channels, _, rate, length = _HEAD.unpack_from(value)
    if magic != MAGIC or version != VERSION or code != _KINDS[kind] or length != len(value) - HEADER_SIZE:
        return None
    (crc,) = _CRC.unpack_from(value, _HEAD.size)
    payload = value[HEADER_SIZE:]
    if zlib.crc32(payload, zlib.crc32(value[: _HEAD.size])) != crc:
        return None
    return SharedRecord(payload=payload, rate=rate, channels=channels)


class SharedTier:
    """Audio and Opus packets in Redis, bounded by `max_bytes`, least recently used evicted."""

    def __init__(self, link: ClusterLink, max_bytes: int) -> None:
        self._link = link
        self.max_bytes = max(0, int(max_bytes))
        self._lru = link.key("audio", "lru")
        self._bytes = link.key("audio", "bytes")
        self.corrupt_removed = 0
        self.evictions = 0
        self._read_or_claim = link.client.register_script(_READ_OR_CLAIM)  # EVALSHA, loaded once

    @property
    def available(self) -> bool:
        return self._link.available and self.max_bytes > 0

    def _key(self, kind: Kind, name: str) -> tuple[str, str]:
        member = f"{kind}:{name}"
        return self._link.key("audio", member), member

    async def read(self, kind: Kind, name: str) -> SharedRecord | None:
        """The record under `name`, refreshing its recency; None on a miss (a bad value is
        deleted and is a miss)."""
        if not self.available:
            return None
        key, member = self._key(kind, name)

        async def get(r: object) -> bytes | None:
            async with self._link.client.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.zadd(self._lru, {member: time.time()}, xx=True)
                value, _ = await pipe.execute()
            return value if isinstance(value, bytes) else None

        value = await self._link.call(get, None)
        if value is None:
            return None
        record = decode_value(kind, value)
        if record is None:
            self.corrupt_removed += 1
            await self._link.call(lambda r: r.eval(_DROP, 3, key, self._lru, self._bytes, member), None)
        return record

    async def read_or_claim(
        self, kind: Kind, name: str, lock_key: str, token: str, lease_ms: int
    ) -> tuple[SharedRecord | None, str] | None:
        """One round trip: the record under `name` (recency refreshed), or, if there is none,
        the flight lock `lock_key` claimed for `token` with a `lease_ms` lease. Answers
        (record, "") on a hit; (None, holder) on a miss, where holder == token means the lock
        is now ours (the caller renews it: `LeaseLock.adopt`); None if Redis is unavailable.
        A bad value is deleted and the claim tried again (it was a miss)."""
        key, member = self._key(kind, name)
        look = self.max_bytes > 0
        while True:
            args: list[str | int | float] = [time.time(), member, token, lease_ms, "1" if look else "0"]
            reply: Any = await self._link.call(
                lambda r, a=args: self._read_or_claim(keys=[key, self._lru, lock_key], args=a),  # type: ignore[misc]
                None,
            )
            if reply is None:
                return None
            code, value = int(reply[0]), reply[1]
            if code != 1:
                holder = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
                return None, holder
            record = decode_value(kind, value) if isinstance(value, bytes) else None
            if record is not None:
                return record, ""
            self.corrupt_removed += 1
            await self._link.call(lambda r: r.eval(_DROP, 3, key, self._lru, self._bytes, member), None)
            look = False  # deleted: now claim

    async def write(self, kind: Kind, name: str, payload: bytes, *, rate: int = 0, channels: int = 1) -> bool:
        """Store `payload` (False if Redis is unavailable or it is larger than the bound)."""
        value = encode_value(kind, payload, rate=rate, channels=channels)
        if not self.available or len(value) > self.max_bytes:
            return False
        key, member = self._key(kind, name)
        evicted = await self._link.call(
            lambda r: r.eval(
                _PUT,
                3,
                key,
                self._lru,
                self._bytes,
                value,
                member,
                time.time(),
                self.max_bytes,
                self._link.prefix + "audio:",
            ),
            None,
        )
        if evicted is None:
            return False
        self.evictions += int(evicted)
        return True

    async def total_bytes(self) -> int:
        value = await self._link.call(lambda r: r.get(self._bytes), None)
        return int(value) if value is not None else 0

    async def clear(self) -> None:
        """Forget every entry of this tier (this prefix only)."""

        async def wipe(r: object) -> None:
            client = self._link.client
            async for key in client.scan_iter(match=self._link.key("audio", "*"), count=500):
                await client.delete(key)

        await self._link.call(wipe, None, within=30.0)
