"""AudioCache.stats answers at once: a metrics scrape never waits on the disk tier's start-up
scan, and an entry in both tiers counts once."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from bot.audio.clip import Audio
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.disk import DiskTier


async def test_stats_do_not_wait_for_the_disk_scan(tmp_path: Path, monkeypatch: Any) -> None:
    # A cache directory with a few entries, from a previous run.
    first = AudioCache(1 << 20, tmp_path, 64 << 20)
    for i in range(3):
        await first.put(f"{i:064x}", Audio(b"\x01\x00" * 100, rate=24_000))
    await first.close()
    assert len(os.listdir(tmp_path)) >= 1

    scanning, release, scan_done = threading.Event(), threading.Event(), threading.Event()
    real_scandir = DiskTier._scandir

    def slow_scandir(path: Path) -> list[os.DirEntry[str]]:
        scanning.set()
        release.wait(2)  # a slow disk: the scan holds the tier's lock meanwhile
        scan_done.set()
        return real_scandir(path)

    monkeypatch.setattr(DiskTier, "_scandir", staticmethod(slow_scandir))
    cache = AudioCache(1 << 20, tmp_path, 64 << 20)
    load = asyncio.create_task(cache.load())
    try:
        assert await asyncio.to_thread(scanning.wait, 5)
        stats = cache.stats  # a metrics scrape, on the event loop
        assert not scan_done.is_set(), "stats waited for the disk scan"
        assert stats.disk_enabled and stats.entries_disk == 0  # nothing indexed yet
        # Memory entries count while the disk is still being scanned.
        await asyncio.sleep(0)
        cache._memory.put("pcm", "f" * 64, Audio(b"\x01\x00" * 10, rate=24_000))
        assert cache.stats.entries == 1
    finally:
        release.set()
        await load
    # Once scanned, a memory entry that is also on disk counts once.
    stats = cache.stats
    assert stats.entries_disk == 3 and stats.entries == 4
    cache._memory.put("pcm", f"{0:064x}", Audio(b"\x01\x00" * 100, rate=24_000))
    assert cache.stats.entries == 4
    await cache.close()
