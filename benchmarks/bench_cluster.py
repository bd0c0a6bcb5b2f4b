"""Cluster figures against the Redis on 127.0.0.1:6379 (REDIS_URL to override):

- a hit in each tier of the audio cache (memory, disk, shared Redis tier) -> the audio, p50/p99;
- what the cluster primitives cost per request (rolling window, leased semaphore, lease lock),
  and the admission of one request (lock + window + slot) with the window and slot as separate
  round trips and as one Lua script (`bot.cluster.admission`), measured side by side;
- the whole per-request cost of a miss as it is paid now (the shared tier's lookup that claims
  the single-flight lock in the same script + admission + releases) next to the old way
  (lookup, lock, lookup again + admission + releases), p50/p99, once the premise holds (every
  lookup claimed its lock, every admission is in the window);
- requests admitted per second by the cluster's rolling window with 1, 2 and 4 processes
  (the total should stay at the cap, not multiply);
- API calls on bench_cache's chat replay when the same traffic is spread over 4 processes, with
  the shared tier and without it.

    python -m benchmarks.bench_cluster [--primitives]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from benchmarks.bench_cache import MIB, StandIn, generate_traffic, replay
from benchmarks.premise import premise
from bot.audio.clip import Audio
from bot.cluster.admission import admit
from bot.cluster.connection import ClusterLink
from bot.cluster.lease_lock import LeaseLock
from bot.cluster.semaphore import LeasedSemaphore, Slot
from bot.cluster.window import RollingWindow
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.cached_engine import CachedEngine
from bot.speech.cache.cluster_flight import ClusterFlights
from bot.speech.cache.key import cache_key
from bot.speech.cache.shared import SharedTier

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ENTRIES = 200
AUDIO = Audio(pcm=b"\x11\x22" * 24_000, rate=24_000, channels=1)  # one second at 24 kHz
CAP, WINDOW, SECONDS = 100, 1.0, 3.0
ROUNDS = 2000
PROCESSES, REPLAY_MESSAGES, REPLAY_SEED = 4, 8000, 1  # the chat day of bench_cache
T = TypeVar("T")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def show(name: str, ms: list[float]) -> None:
    print(f"{name:<40} p50 {statistics.median(ms):7.3f} ms   p99 {pct(ms, 99):7.3f} ms   (n={len(ms)})")


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


async def _timed(ms: list[float], step: Awaitable[T]) -> T:
    started = time.perf_counter()
    result = await step
    ms.append((time.perf_counter() - started) * 1000)
    return result


async def primitives() -> None:
    """Each Redis step a request pays, timed one after the other in the same loop (so the
    old and the new ways are measured in the same conditions).

    A request that misses memory and disk pays, before it is sent: the shared tier's lookup and
    the single-flight lock, then the endpoint's window + slot (`admit`); after it, the slot's
    and the lock's release. Before, the lookup, the lock and a second lookup under the lock
    were three round trips (6 in all); now the lookup claims the lock on a miss in the same
    script (`SharedTier.read_or_claim`: 4 in all)."""
    link = await _link(f"parla-bench-{uuid.uuid4().hex[:8]}:")
    try:
        window = RollingWindow(link, "w", 1_000_000)
        sem = LeasedSemaphore(link, "s", 1_000_000)
        tier = SharedTier(link, 64 * MIB)
        names = (
            "window",
            "slot",
            "slot_release",
            "lock",
            "lock_release",
            "admit",
            "admit_release",
            "lookup",
            "relookup",
            "old_lock",
            "old_admit",
            "old_admit_release",
            "old_lock_release",
            "claim",
            "new_admit",
            "new_admit_release",
            "new_lock_release",
        )
        steps: dict[str, list[float]] = {name: [] for name in names}
        claimed = admitted = 0
        for i in range(ROUNDS):
            assert await _timed(steps["window"], window.try_take()) == 0
            slot = await _timed(steps["slot"], sem.try_acquire())
            assert isinstance(slot, Slot)
            await _timed(steps["slot_release"], slot.release())
            lock = LeaseLock(link, link.key("lock", str(i)))
            assert await _timed(steps["lock"], lock.acquire())
            await _timed(steps["lock_release"], lock.release())
            both = await _timed(steps["admit"], admit(window, sem))
            assert isinstance(both, Slot)
            await _timed(steps["admit_release"], both.release())
            # One request's cluster cost, the old way: lookup, lock, lookup again, admission.
            name = f"{i:064x}"
            assert await _timed(steps["lookup"], tier.read("pcm", name)) is None
            old = LeaseLock(link, link.key("flight", "old", name))
            assert await _timed(steps["old_lock"], old.acquire())
            assert await _timed(steps["relookup"], tier.read("pcm", name)) is None
            both = await _timed(steps["old_admit"], admit(window, sem))
            assert isinstance(both, Slot)
            admitted += 1
            await _timed(steps["old_admit_release"], both.release())
            await _timed(steps["old_lock_release"], old.release())
            # The same, now: the lookup claims the lock in the same round trip.
            new = LeaseLock(link, link.key("flight", "new", name))
            found = await _timed(
                steps["claim"], tier.read_or_claim("pcm", name, new.key, new.token, new.lease_ms)
            )
            if found == (None, new.token) and await link.client.get(new.key) == new.token.encode():
                claimed += 1  # (checked outside the timed step)
            new.adopt()
            both = await _timed(steps["new_admit"], admit(window, sem))
            assert isinstance(both, Slot)
            admitted += 1
            await _timed(steps["new_admit_release"], both.release())
            await _timed(steps["new_lock_release"], new.release())
        in_window = await window.count()
        held = await sem.holders()
        left = [key async for key in link.client.scan_iter(match=link.key("flight", "*"), count=500)]
        premise(
            claimed == ROUNDS
            and admitted == 2 * ROUNDS
            and in_window == 4 * ROUNDS
            and held == 0
            and not left,
            f"{claimed} of {ROUNDS} lookups claimed their lock; {admitted} admissions, {in_window} events "
            f"in the window (expected {4 * ROUNDS}), {held} slots still held, {len(left)} locks left",
        )

        def total(*names: str) -> list[float]:
            return [sum(values) for values in zip(*(steps[n] for n in names), strict=True)]

        show("rolling window take", steps["window"])
        show("semaphore acquire + release", total("slot", "slot_release"))
        show("lease lock acquire + release", total("lock", "lock_release"))
        show("window + slot, one script", steps["admit"])
        show("admission, separate (3 trips)", total("lock", "window", "slot"))
        show("admission, one script (2 trips)", total("lock", "admit"))
        show("all, separate (5 trips)", total("window", "slot", "slot_release", "lock", "lock_release"))
        show("all, one script (4 trips)", total("lock", "admit", "admit_release", "lock_release"))
        print(
            f"per request on a miss: lookup + lock + admission + releases ({ROUNDS} requests, premise held)"
        )
        show(
            "  before: lookup, lock, lookup (6 trips)",
            total("lookup", "old_lock", "relookup", "old_admit", "old_admit_release", "old_lock_release"),
        )
        show(
            "  now: lookup-or-claim (4 trips)",
            total("claim", "new_admit", "new_admit_release", "new_lock_release"),
        )
        show("  before: up to the send (4 trips)", total("lookup", "old_lock", "relookup", "old_admit"))
        show("  now: up to the send (2 trips)", total("claim", "new_admit"))
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


async def replay_worker(prefix: str, index: int, start: float, shared: bool, data_dir: str) -> None:
    """Replay this process's share of the chat day (every PROCESSES-th message) through a
    CachedEngine with the default local tiers (memory 64 MB + disk 512 MB, its own DATA_DIR)
    and, when `shared`, the Redis tier and the cross-process single flight."""
    traffic = generate_traffic(REPLAY_SEED, REPLAY_MESSAGES)
    mine = traffic.messages[index::PROCESSES]
    link = await _link(prefix) if shared else None
    inner = StandIn()
    tier = SharedTier(link, 256 * MIB) if link is not None else None
    cache = AudioCache(64 * MIB, Path(data_dir), 512 * MIB, shared=tier)
    flights = ClusterFlights(link, sample_rate=inner.sample_rate) if link is not None else None
    engine = CachedEngine(inner, cache, cluster=flights)
    await asyncio.sleep(max(0.0, start - time.time()))
    await replay(engine, mine)
    await engine.close()
    await cache.close()
    s = cache.stats
    report = {
        "messages": len(mine),
        "calls": inner.calls,
        "saved": s.api_calls_saved,
        "hits": s.hits,
        "misses": s.misses,
        "hits_shared": s.hits_shared,
        "joined": s.flights_joined,
    }
    print(json.dumps(report), flush=True)
    if link is not None:
        await link.close()


def chat_replay() -> None:
    """The chat day of `bench_cache` spread over 4 processes: API calls with the shared tier
    (and the cross-process single flight) and without it (each process caches alone)."""
    n = REPLAY_MESSAGES
    keys = {cache_key(m, StandIn.name) for m in generate_traffic(REPLAY_SEED, n).messages}
    print(
        f"chat replay: {n} messages over {PROCESSES} processes (message i to process i mod {PROCESSES}); "
        f"{len(keys)} distinct sounds, so at best {n - len(keys)} calls saved ({(n - len(keys)) / n:.1%})"
    )
    for shared in (False, True):
        prefix = f"parla-bench-{uuid.uuid4().hex[:8]}:"
        with tempfile.TemporaryDirectory() as tmp:
            start = time.time() + 3.0  # every process starts replaying at the same moment
            procs = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.bench_cluster",
                        "--replay-worker",
                        prefix,
                        str(i),
                        str(start),
                        "1" if shared else "0",
                        str(Path(tmp) / f"p{i}"),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for i in range(PROCESSES)
            ]
            reports = [json.loads(p.communicate()[0]) for p in procs]
        if shared:
            asyncio.run(_wipe_prefix(prefix))
        calls = sum(r["calls"] for r in reports)
        saved = sum(r["saved"] for r in reports)
        premise(
            sum(r["messages"] for r in reports) == n
            and all(r["hits"] + r["misses"] == r["messages"] for r in reports)
            and calls + saved == n,
            f"chat replay (shared={shared}): {calls} calls + {saved} saved for {n} messages; {reports}",
        )
        label = "with the shared tier   " if shared else "without (each alone)   "
        print(
            f"  {label} API calls {calls:5d} of {n}  saved {saved:5d} ({saved / n:5.1%})  "
            f"shared-tier hits {sum(r['hits_shared'] for r in reports):5d}  "
            f"joined flights {sum(r['joined'] for r in reports):4d}"
        )


async def _wipe_prefix(prefix: str) -> None:
    link = await _link(prefix)
    await _wipe(link)
    await link.close()


def main() -> None:
    if "--replay-worker" in sys.argv:
        i = sys.argv.index("--replay-worker")
        args = sys.argv[i + 1 : i + 6]
        asyncio.run(replay_worker(args[0], int(args[1]), float(args[2]), args[3] == "1", args[4]))
        return
    if "--pace-worker" in sys.argv:
        i = sys.argv.index("--pace-worker")
        asyncio.run(pace_worker(sys.argv[i + 1], float(sys.argv[i + 2]), float(sys.argv[i + 3])))
        return
    if "--primitives" in sys.argv:  # only the per-request costs
        asyncio.run(primitives())
        return
    asyncio.run(tiers())
    asyncio.run(primitives())
    throughput()
    chat_replay()


if __name__ == "__main__":
    main()
