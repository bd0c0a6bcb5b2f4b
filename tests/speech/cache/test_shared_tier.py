"""The shared (Redis) tier of the audio cache: a phrase stored by one process is a hit in
another; LRU bounded by its own byte budget; a value that is not ours is a miss and deleted."""

from __future__ import annotations

import struct

from bot.audio.clip import Audio
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.shared import HEADER_SIZE, SharedTier, encode_value
from tests.standins.redis_server import open_link

KEY = "ab" * 32


def _cache(tier: SharedTier) -> AudioCache:
    return AudioCache(memory_bytes=10_000_000, disk_dir=None, disk_bytes=0, shared=tier)


async def test_audio_and_opus_stored_by_one_process_are_hits_in_another() -> None:
    async with open_link() as link_a, open_link(link_a.prefix) as link_b:
        a = _cache(SharedTier(link_a, 1_000_000))
        b = _cache(SharedTier(link_b, 1_000_000))
        audio = Audio(pcm=b"\x01\x02" * 2400, rate=24000, channels=1)
        await a.put(KEY, audio)
        await a.put_opus(KEY, "opus:audio:128k:fec:15", [b"p1", b"packet-2", b""])
        got = await b.get(KEY)
        assert got == audio
        assert b.stats.hits_shared == 1 and b.stats.misses == 0
        assert await b.get_opus(KEY, "opus:audio:128k:fec:15") == [b"p1", b"packet-2", b""]
        assert b.stats.opus_hits_shared == 1
        assert b.peek(KEY) == audio  # promoted to memory


async def test_the_tier_stays_within_its_bytes_and_evicts_the_least_recently_used() -> None:
    async with open_link() as link:
        entry = HEADER_SIZE + 1000
        tier = SharedTier(link, 3 * entry)
        for name in ("a", "b", "c"):
            assert await tier.write("pcm", name * 64, b"x" * 1000, rate=24000)
        assert await tier.read("pcm", "a" * 64) is not None  # "a" is now the most recent
        assert await tier.write("pcm", "d" * 64, b"y" * 1000, rate=24000)
        assert await tier.total_bytes() == 3 * entry
        assert await tier.read("pcm", "b" * 64) is None  # the least recently used went
        for name in ("a", "c", "d"):
            assert await tier.read("pcm", name * 64) is not None
        assert tier.evictions == 1
        assert not await tier.write("pcm", "e" * 64, b"z" * (3 * entry))  # larger than the bound


async def test_values_that_are_not_ours_are_misses_and_deleted() -> None:
    async with open_link() as link:
        tier = SharedTier(link, 1_000_000)
        good = encode_value("pcm", b"\x05\x00" * 500, rate=24000)
        flipped = bytearray(good)
        flipped[-1] ^= 0xFF
        wrong_length = good[:-10]
        foreign_magic = b"XXXX" + good[4:]
        planted = {
            "garbage": b"hello, not audio",
            "crc": bytes(flipped),
            "length": wrong_length,
            "magic": foreign_magic,
            "kind": encode_value("opus", b"abc"),
            "empty": b"",
        }
        cache = _cache(tier)
        for i, value in enumerate(planted.values()):
            name = f"{i:064x}"
            await link.client.set(link.key("audio", "pcm", name), value)
            assert await cache.get(name) is None
            assert await link.client.exists(link.key("audio", "pcm", name)) == 0
        assert tier.corrupt_removed == len(planted)
        assert struct.unpack_from("<4s", good)[0] == b"PRLR"


async def test_lookup_or_claim_answers_the_value_or_takes_the_flight_lock_in_one_step() -> None:
    async with open_link() as link:
        tier = SharedTier(link, 1_000_000)
        lock = link.key("flight", KEY)
        # A miss: the lock is now ours, with the lease.
        assert await tier.read_or_claim("pcm", KEY, lock, "tok-a", 5000) == (None, "tok-a")
        assert await link.client.get(lock) == b"tok-a"
        assert 0 < await link.client.pttl(lock) <= 5000
        # Another process: a miss too, and told who holds the lock (it stays ours).
        assert await tier.read_or_claim("pcm", KEY, lock, "tok-b", 5000) == (None, "tok-a")
        assert await link.client.get(lock) == b"tok-a"
        # Once the audio is stored: a hit, the lock untouched and unclaimed.
        await tier.write("pcm", KEY, b"\x07\x00" * 100, rate=24000)
        await link.client.delete(lock)
        record, holder = await tier.read_or_claim("pcm", KEY, lock, "tok-c", 5000) or (None, None)
        assert record is not None and record.payload == b"\x07\x00" * 100 and holder == ""
        assert await link.client.exists(lock) == 0
        # A value that is not ours: deleted, and the lookup is a miss that claims the lock.
        await link.client.set(link.key("audio", "pcm", KEY), b"not audio")
        assert await tier.read_or_claim("pcm", KEY, lock, "tok-d", 5000) == (None, "tok-d")
        assert await link.client.exists(link.key("audio", "pcm", KEY)) == 0
        assert tier.corrupt_removed == 1
