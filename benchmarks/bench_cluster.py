"""Cluster figures against the Redis on 127.0.0.1:6379 (REDIS_URL to override):

- a hit in each tier of the audio cache (memory, disk, shared Redis tier) -> the audio, p50/p99;
- what the cluster primitives cost per request (rolling window, leased semaphore, lease lock);
- requests admitted per second by the cluster's rolling window with 1, 2 and 4 processes
  (the total should stay at the cap, not multiply).

    python -m benchmarks.bench_cluster
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bot.audio.clip import Audio
from bot.cluster.connection import ClusterLink
from bot.cluster.lease_lock import LeaseLock
from bot.cluster.semaphore import LeasedSemaphore, Slot
from bot.cluster.window import RollingWindow
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.shared import SharedTier

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ENTRIES = 200
AUDIO = Audio(pcm=b"\x11\x22" * 24_000, rate=24_000, channels=1)  # one second at 24 kHz
CAP, WINDOW, SECONDS = 100, 1.0, 3.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def show(name: str, ms: list[float]) -> None:
    print(f"{name:<34} p50 {statistics.median(ms):7.3f} ms   p99 {pct(ms, 99):7.3f} ms   (n={len(ms)})")


async def _link(prefix: str) -> ClusterLink:
    link = ClusterLink.from_url(URL, prefix=prefix)
    await link.start()
    if not link.available:
        raise SystemExit(f"redis not reachable at {URL}")
    return link


async def _wipe(link: ClusterLink) -> None:
    async for key in link.client.scan_iter(match=link.prefix + "*", count=500):
        await link.client.delete(key)


async def tiers() -> None:
    keys = [f"{i:064x}" for i in range(ENTRIES)]
    link = await _link(f"parla-bench-{uuid.uuid4().hex[:8]}:")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            memory = AudioCache(512 * 1024 * 1024, None, 0)
            disk = AudioCache(0, Path(tmp), 512 * 1024 * 1024)
            shared = AudioCache(0, None, 0, shared=SharedTier(link, 512 * 1024 * 1024))
            for cache in (memory, disk, shared):
                for key in keys:
                    await cache.put(key, AUDIO)
            for name, cache in (
                ("memory tier hit", memory),
                ("disk tier hit", disk),
                ("shared (Redis) tier hit", shared),
            ):
                ms = []
                for key in keys:
                    started = time.perf_counter()
                    audio = await cache.get(key)
                    ms.append((time.perf_counter() - started) * 1000)
                    assert audio is not None and len(audio.pcm) == len(AUDIO.pcm)
                show(name + " (1 s of audio)", ms)
            await disk.close()
    finally:
        await _wipe(link)
        await link.close()


async def primitives() -> None:
    link = await _link(f"parla-bench-{uuid.uuid4().hex[:8]}:")
    try:
        window = RollingWindow(link, "w", 1_000_000)
        sem = LeasedSemaphore(link, "s", 1_000_000)
        window_ms, slot_ms, lock_ms = [], [], []
        for i in range(500):
            started = time.perf_counter()
            assert await window.try_take() == 0
            window_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            slot = await sem.try_acquire()
            assert isinstance(slot, Slot)
            await slot.release()
            slot_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            lock = LeaseLock(link, link.key("lock", str(i)))
            assert await lock.acquire()
            await lock.release()
            lock_ms.append((time.perf_counter() - started) * 1000)
        show("rolling window take", window_ms)
        show("semaphore acquire + release", slot_ms)
        show("lease lock acquire + release", lock_ms)
        show(
            "all three (one request)",
            [a + b + c for a, b, c in zip(window_ms, slot_ms, lock_ms, strict=True)],
        )
    finally:
        await _wipe(link)
        await link.close()


async def pace_worker(prefix: str, start: float, seconds: float) -> None:
    """Take events from the shared window between `start` and `start + seconds` (wall clock,
    the same span in every process)."""
    link = await _link(prefix)
    window = RollingWindow(link, "rpm", CAP, per=WINDOW)
    await asyncio.sleep(max(0.0, start - time.time()))
    admitted, deadline = 0, start + seconds
    while time.time() < deadline:
        wait = await window.try_take()
        if wait == 0:
            admitted += 1
        else:
            await asyncio.sleep(max(0.0, min(wait or 0.01, deadline - time.time(), 0.05)))
    print(admitted, flush=True)
    await link.close()


def throughput() -> None:
    for processes in (1, 2, 4):
        prefix = f"parla-bench-{uuid.uuid4().hex[:8]}:"
        start = time.time() + 2.0  # every process starts taking at the same moment
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.bench_cluster",
                    "--pace-worker",
                    prefix,
                    str(start),
                    str(SECONDS),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        total = sum(int(p.communicate()[0].strip() or 0) for p in procs)
        per_second = total / SECONDS
        print(
            f"{processes} process(es): {total} admitted in {SECONDS:g} s = {per_second:.0f}/s "
            f"(cap {CAP} per {WINDOW:g} s window, at most {CAP * SECONDS / WINDOW:.0f} in {SECONDS:g} s)"
        )


def main() -> None:
    if "--pace-worker" in sys.argv:
        i = sys.argv.index("--pace-worker")
        asyncio.run(pace_worker(sys.argv[i + 1], float(sys.argv[i + 2]), float(sys.argv[i + 3])))
        return
    asyncio.run(tiers())
    asyncio.run(primitives())
    throughput()


if __name__ == "__main__":
    main()
