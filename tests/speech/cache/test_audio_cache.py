"""AudioCache: memory and disk tiers, byte bounds, persistence, corruption, crashes, Opus packets."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.audio.clip import Audio
from bot.base.config import Settings
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.disk import HEADER_SIZE, TEMP_MAX_AGE, DiskTier
from bot.speech.cache.key import opus_key

ROOT = Path(__file__).resolve().parents[3]


def key(i: int | str) -> str:
    return hashlib.sha256(f"key-{i}".encode()).hexdigest()


def audio(n: int, seed: int = 0, rate: int = 24000) -> Audio:
    block = hashlib.sha256(f"audio-{seed}".encode()).digest()
    pcm = (block * (n // len(block) + 1))[:n]
    return Audio(pcm, rate=rate)


def pcm_file(root: Path, k: str) -> Path:
    return root / k[:2] / f"{k}.pcm"


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def bytes_on_disk(root: Path) -> int:
    return sum(p.stat().st_size for p in files_under(root)) if root.exists() else 0


def truncate(path: Path, size: int) -> None:
    os.truncate(path, size)


def temp_files(root: Path) -> list[Path]:
    return [p for p in files_under(root) if p.name.endswith(".tmp")]


# ----- memory tier -----


async def test_memory_round_trip_and_counters() -> None:
    cache = AudioCache(memory_bytes=10_000, disk_dir=None, disk_bytes=0)
    assert await cache.get(key(1)) is None
    a = audio(2000, rate=22050)
    await cache.put(key(1), a)
    got = await cache.get(key(1))
    assert got == a and got is not None and got.rate == 22050
    s = cache.stats
    assert (s.hits_memory, s.hits_disk, s.misses) == (1, 0, 1)
    assert s.bytes_memory == 2000 and s.entries == 1 and not s.disk_enabled
    d = s.as_dict()
    assert d["hits"] == 1 and d["hit_ratio"] == 0.5 and d["bytes_memory"] == 2000


async def test_memory_evicts_least_recently_used_by_bytes() -> None:
    cache = AudioCache(memory_bytes=3000, disk_dir=None, disk_bytes=0)
    await cache.put(key("a"), audio(1000, 1))
    await cache.put(key("b"), audio(1000, 2))
    await cache.put(key("c"), audio(1000, 3))
    assert await cache.get(key("a")) is not None  # a is now the most recent
    await cache.put(key("d"), audio(1000, 4))  # evicts b
    assert await cache.get(key("b")) is None
    for k in "acd":
        assert await cache.get(key(k)) is not None
    await cache.put(key("big"), audio(1500, 5))  # needs two evictions: a and c, the least recent
    assert cache.peek(key("a")) is None and cache.peek(key("c")) is None
    assert cache.peek(key("d")) is not None
    s = cache.stats
    assert s.bytes_memory == 2500 and s.evictions_memory == 3


async def test_entry_larger_than_memory_goes_to_disk_only(tmp_path: Path) -> None:
    cache = AudioCache(memory_bytes=1000, disk_dir=tmp_path, disk_bytes=100_000)
    big = audio(5000)
    await cache.put(key(1), big)
    assert cache.stats.bytes_memory == 0
    assert await cache.get(key(1)) == big
    assert cache.stats.hits_disk == 1


# ----- byte bounds under random load -----

OPS = st.lists(
    st.tuples(
        st.sampled_from(["put", "get", "put_opus", "get_opus"]),
        st.integers(0, 12),
        st.integers(1, 6000),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, memory_bytes=st.integers(0, 20_000), disk_bytes=st.integers(0, 40_000))
def test_byte_bounds_hold_under_random_load(
    ops: list[tuple[str, int, int]], memory_bytes: int, disk_bytes: int
) -> None:
    async def run(root: Path) -> None:
        cache = AudioCache(memory_bytes=memory_bytes, disk_dir=root, disk_bytes=disk_bytes)
        latest: dict[int, Audio] = {}
        latest_opus: dict[int, list[bytes]] = {}
        for n, (op, i, size) in enumerate(ops):
            if op == "put":
                latest[i] = audio(size, seed=n)
                await cache.put(key(i), latest[i])
            elif op == "get":
                got = await cache.get(key(i))
                assert got is None or got == latest.get(i)  # never stale or foreign data
            elif op == "put_opus":
                latest_opus[i] = [bytes([n % 256]) * (size % 400 + 1) for _ in range(size % 7 + 1)]
                await cache.put_opus(key(i), "opus:test", latest_opus[i])
            else:
                packets = await cache.get_opus(key(i), "opus:test")
                assert packets is None or packets == latest_opus.get(i)
            s = cache.stats
            assert s.bytes_memory <= memory_bytes
            assert s.bytes_disk <= disk_bytes
            assert bytes_on_disk(root) == s.bytes_disk  # the accounting matches the files
        await cache.close()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp) / "cache"))


# ----- disk tier -----


async def test_a_newer_value_too_big_for_the_disk_leaves_no_stale_one(tmp_path: Path) -> None:
    """Found by the random-load test: 1 byte stored, then 2 bytes under the same key that do
    not fit the disk bound; the 1-byte value must not come back."""
    one = audio(1, seed=0)
    two = Audio(b"\x01\x02", rate=one.rate, channels=one.channels)
    cache = AudioCache(memory_bytes=0, disk_dir=tmp_path, disk_bytes=HEADER_SIZE + 1)
    await cache.put(key(0), one)
    assert await cache.get(key(0)) == one
    await cache.put(key(0), two)
    assert await cache.get(key(0)) is None
    assert cache.stats.bytes_disk == 0 == bytes_on_disk(tmp_path)
    await cache.close()


async def test_disk_survives_a_new_instance(tmp_path: Path) -> None:
    first = AudioCache(memory_bytes=1_000_000, disk_dir=tmp_path, disk_bytes=1_000_000)
    a = audio(48_000, rate=24000)
    b = Audio(audio(9600).pcm, rate=48000, channels=2)
    await first.put(key(1), a)
    await first.put(key(2), b)
    await first.close()

    second = AudioCache(memory_bytes=1_000_000, disk_dir=tmp_path, disk_bytes=1_000_000)
    assert await second.get(key(1)) == a
    got_b = await second.get(key(2))
    assert got_b == b and got_b is not None and (got_b.rate, got_b.channels) == (48000, 2)
    s = second.stats
    assert s.hits_disk == 2 and s.entries_disk == 2
    assert s.bytes_disk == 2 * HEADER_SIZE + len(a.pcm) + len(b.pcm)
    # Promoted to memory: the next hit does not touch the disk.
    assert await second.get(key(1)) == a
    assert second.stats.hits_memory == 1
    assert pcm_file(tmp_path, key(1)).exists()


async def test_disk_evicts_least_recently_used_to_its_bound(tmp_path: Path) -> None:
    size = 1000
    bound = 3 * (HEADER_SIZE + size)
    cache = AudioCache(memory_bytes=0, disk_dir=tmp_path, disk_bytes=bound)  # every get reads the disk
    for k in "abc":
        await cache.put(key(k), audio(size, ord(k)))
    assert await cache.get(key("a")) is not None  # a becomes most recent
    await cache.put(key("d"), audio(size, 4))
    assert not pcm_file(tmp_path, key("b")).exists()
    assert await cache.get(key("b")) is None
    for k in "acd":
        assert await cache.get(key(k)) == audio(size, 4 if k == "d" else ord(k))
    s = cache.stats
    assert s.evictions_disk == 1 and s.bytes_disk == bound and s.entries_disk == 3
    # Too big for the whole disk budget: not stored, nothing else evicted.
    await cache.put(key("huge"), audio(bound, 9))
    assert await cache.get(key("huge")) is None
    assert cache.stats.entries_disk == 3


async def test_recency_is_rebuilt_from_mtimes_on_start(tmp_path: Path) -> None:
    size = 500
    cache = AudioCache(memory_bytes=0, disk_dir=tmp_path, disk_bytes=10**6)
    for k in "abc":
        await cache.put(key(k), audio(size, ord(k)))
    await cache.close()
    now = time.time()
    # As if b was used longest ago, then c, then a.
    for k, age in (("a", 100), ("b", 300), ("c", 200)):
        os.utime(pcm_file(tmp_path, key(k)), (now - age, now - age))

    smaller = AudioCache(memory_bytes=0, disk_dir=tmp_path, disk_bytes=2 * (HEADER_SIZE + size))
    await smaller.load()
    assert not pcm_file(tmp_path, key("b")).exists()
    assert smaller.stats.entries_disk == 2 and smaller.stats.evictions_disk == 1
    # A hit touches the file, so c (older than a on disk) becomes the most recent.
    assert await smaller.get(key("c")) is not None
    assert pcm_file(tmp_path, key("c")).stat().st_mtime > now - 10
    await smaller.put(key("d"), audio(size, 4))
    assert not pcm_file(tmp_path, key("a")).exists()
    assert pcm_file(tmp_path, key("c")).exists()


async def test_corrupted_file_is_removed_and_missed(tmp_path: Path) -> None:
    cache = AudioCache(memory_bytes=0, disk_dir=tmp_path, disk_bytes=10**6)
    a = audio(4800)
    await cache.put(key(1), a)
    path = pcm_file(tmp_path, key(1))
    data = bytearray(path.read_bytes())
    data[HEADER_SIZE + 100] ^= 0x01  # one flipped bit in the payload
    path.write_bytes(bytes(data))

    fresh = AudioCache(memory_bytes=10**6, disk_dir=tmp_path, disk_bytes=10**6)
    assert await fresh.get(key(1)) is None
    assert not path.exists()
    s = fresh.stats
    assert s.corrupt_removed == 1 and s.misses == 1 and s.entries_disk == 0 and s.bytes_disk == 0
    # The entry can be stored again and then served.
    await fresh.put(key(1), a)
    assert await AudioCache(0, tmp_path, 10**6).get(key(1)) == a


async def test_truncated_file_is_removed_and_missed(tmp_path: Path) -> None:
    cache = AudioCache(memory_bytes=0, disk_dir=tmp_path, disk_bytes=10**6)
    await cache.put(key(1), audio(4800))
    await cache.put(key(2), audio(4800, 2))
    path = pcm_file(tmp_path, key(1))
    truncate(path, HEADER_SIZE + 2000)
    pcm_file(tmp_path, key(2)).write_bytes(b"PRL")  # shorter than a header
    assert await cache.get(key(1)) is None
    assert await cache.get(key(2)) is None
    assert not path.exists() and not pcm_file(tmp_path, key(2)).exists()
    assert cache.stats.corrupt_removed == 2 and cache.stats.entries_disk == 0


async def test_file_under_the_wrong_name_is_not_served(tmp_path: Path) -> None:
    cache = AudioCache(memory_bytes=0, disk_dir=tmp_path, disk_bytes=10**6)
    await cache.put(key(1), audio(4800))
    target = pcm_file(tmp_path, key(2))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pcm_file(tmp_path, key(1)).read_bytes())
    assert await AudioCache(0, tmp_path, 10**6).get(key(2)) is None
    assert not target.exists()


_CRASH_SCRIPT = """
import asyncio, os, sys
from pathlib import Path
from bot.audio.clip import Audio
from bot.speech.cache.audio_cache import AudioCache

def crash(src, dst):  # the process dies after the temp file is written, before the rename
    os._exit(9)

os.replace = crash
asyncio.run(AudioCache(0, Path(sys.argv[1]), 10**6).put(sys.argv[2], Audio(b"\\x01\\x02" * 24000)))
"""


async def test_crash_between_write_and_rename_never_serves_a_partial_file(tmp_path: Path) -> None:
    k = key("crash")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CRASH_SCRIPT, str(tmp_path), k, cwd=ROOT
    )
    assert await proc.wait() == 9
    leftovers = temp_files(tmp_path)
    assert len(leftovers) == 1 and not pcm_file(tmp_path, k).exists()
    # And a temp file cut short mid-write, as a crash during write() would leave it.
    half = leftovers[0].with_name(f".{k[:16]}.half.tmp")
    half.write_bytes(leftovers[0].read_bytes()[: HEADER_SIZE + 10])

    # Fresh temp files are never read, but left alone: they may be another process's write.
    cache = AudioCache(memory_bytes=10**6, disk_dir=tmp_path, disk_bytes=10**6)
    assert await cache.get(k) is None
    assert len(temp_files(tmp_path)) == 2
    assert cache.stats.entries_disk == 0 and cache.stats.bytes_disk == 0

    # At a later start, once they are old, they are cleaned.
    old = time.time() - 2 * TEMP_MAX_AGE
    for path in temp_files(tmp_path):
        os.utime(path, (old, old))
    later = AudioCache(memory_bytes=10**6, disk_dir=tmp_path, disk_bytes=10**6)
    assert await later.get(k) is None
    assert temp_files(tmp_path) == []
    assert later.stats.entries_disk == 0 and later.stats.bytes_disk == 0


async def test_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    cache = AudioCache(memory_bytes=0, disk_dir=tmp_path, disk_bytes=10**6)
    await cache.load()
    monkeypatch.setattr(os, "replace", no_rename)
    await cache.put(key(1), audio(1000))
    monkeypatch.undo()
    assert temp_files(tmp_path) == []
    assert await cache.get(key(1)) is None
    assert cache.stats.disk_write_errors == 1


async def test_cancelled_put_finishes_its_write_and_close_waits(tmp_path: Path) -> None:
    cache = AudioCache(memory_bytes=0, disk_dir=tmp_path, disk_bytes=10**6)
    await cache.load()
    disk = cache._disk
    assert isinstance(disk, DiskTier)
    started, release = threading.Event(), threading.Event()
    real_write = disk.write

    def slow_write(*args: object, **kwargs: object) -> bool:
        started.set()
        release.wait(5)
        return real_write(*args, **kwargs)  # type: ignore[arg-type]

    disk.write = slow_write  # type: ignore[method-assign]
    put = asyncio.create_task(cache.put(key(1), audio(1000)))
    assert await asyncio.to_thread(started.wait, 5)
    put.cancel()
    await asyncio.wait({put})
    assert put.cancelled()
    release.set()
    await cache.close()
    assert pcm_file(tmp_path, key(1)).exists()
    assert temp_files(tmp_path) == []
    assert await AudioCache(0, tmp_path, 10**6).get(key(1)) == audio(1000)


async def test_clear_empties_both_tiers(tmp_path: Path) -> None:
    cache = AudioCache(memory_bytes=10**6, disk_dir=tmp_path, disk_bytes=10**6)
    for i in range(5):
        await cache.put(key(i), audio(1000, i))
        await cache.put_opus(key(i), "opus:test", [b"abc"])
    await cache.clear()
    s = cache.stats
    assert (s.bytes_memory, s.bytes_disk, s.entries) == (0, 0, 0)
    assert files_under(tmp_path) == []
    assert await cache.get(key(1)) is None
    assert await AudioCache(0, tmp_path, 10**6).get(key(1)) is None


# ----- Opus packets -----


async def test_opus_packets_round_trip_through_both_tiers(tmp_path: Path) -> None:
    profile = "opus:audio:128k:fec:15"
    packets = [bytes([i % 256]) * (60 + i * 7 % 300) for i in range(150)] + [b""]
    cache = AudioCache(memory_bytes=10**6, disk_dir=tmp_path, disk_bytes=10**6)
    assert await cache.get_opus(key(1), profile) is None
    await cache.put_opus(key(1), profile, packets)
    assert await cache.get_opus(key(1), profile) == packets  # memory
    assert await cache.get_opus(key(1), "opus:voip:64k") is None  # another profile
    assert await cache.get(key(1)) is None  # packets are not the audio
    await cache.close()
    assert (tmp_path / opus_key(key(1), profile)[:2] / f"{opus_key(key(1), profile)}.opus").exists()

    fresh = AudioCache(memory_bytes=10**6, disk_dir=tmp_path, disk_bytes=10**6)
    assert await fresh.get_opus(key(1), profile) == packets  # disk
    assert await fresh.get_opus(key(1), profile) == packets  # promoted to memory
    s = fresh.stats
    assert (s.opus_hits_disk, s.opus_hits_memory) == (1, 1)


async def test_opus_packets_count_against_the_byte_budgets(tmp_path: Path) -> None:
    cache = AudioCache(memory_bytes=5000, disk_dir=tmp_path, disk_bytes=8000)
    for i in range(10):
        await cache.put_opus(key(i), "opus:test", [bytes([i]) * 300] * 5)
        await cache.put(key(i), audio(1000, i))
        s = cache.stats
        assert s.bytes_memory <= 5000 and s.bytes_disk <= 8000
    assert cache.stats.evictions_memory > 0 and cache.stats.evictions_disk > 0
    assert await cache.get_opus(key(9), "opus:test") == [bytes([9]) * 300] * 5


async def test_corrupt_opus_file_is_removed(tmp_path: Path) -> None:
    cache = AudioCache(memory_bytes=0, disk_dir=tmp_path, disk_bytes=10**6)
    await cache.put_opus(key(1), "p", [b"x" * 100] * 3)
    name = opus_key(key(1), "p")
    path = tmp_path / name[:2] / f"{name}.opus"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert await cache.get_opus(key(1), "p") is None
    assert not path.exists()


# ----- settings -----


async def test_from_settings(tmp_path: Path) -> None:
    on = AudioCache.from_settings(Settings(data_dir=tmp_path / "d1", cache_memory_mb=1, cache_disk_mb=2))
    assert on.disk_dir == tmp_path / "d1" / "cache"
    s = on.stats
    assert (s.limit_memory, s.limit_disk, s.disk_enabled) == (1 << 20, 2 << 20, True)
    await on.put(key(1), audio(100))
    assert pcm_file(tmp_path / "d1" / "cache", key(1)).exists()

    off = AudioCache.from_settings(Settings(data_dir=tmp_path / "d2", cache_memory_mb=1, cache_disk_mb=0))
    assert off.disk_dir is None and not off.stats.disk_enabled
    await off.put(key(1), audio(100))
    assert await off.get(key(1)) == audio(100)
    assert not (tmp_path / "d2").exists()


async def test_unusable_disk_dir_leaves_memory_working(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    cache = AudioCache(memory_bytes=10**6, disk_dir=blocker / "cache", disk_bytes=10**6)
    await cache.put(key(1), audio(100))
    assert await cache.get(key(1)) == audio(100)
    assert not cache.stats.disk_enabled
