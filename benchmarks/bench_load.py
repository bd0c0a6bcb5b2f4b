"""Load benchmark: `.venv/bin/python -m benchmarks.bench_load [--requests 400] [--quick]`.

The fake endpoint runs in its own process (`python -m tests.standins.fake_api`), answering streams after
a 300 ms first-chunk delay and then 4x faster than real time, like the real service. This process
runs the bot's real speech path: EndpointClient (TTS_MAX_CONCURRENT=8) -> CachedEngine ->
AudioCache (memory and disk tiers), consuming every stream to its end. All requests are
distinct (cache misses), about 60 characters each (1.2 s of audio).

Runs:
1. burst: every request submitted at once (a raid). Throughput at the cap, and the time to
   first audio from submission (includes waiting for a slot) and from the moment the request
   left for the endpoint (the endpoint's 300 ms plus our overhead).
2. steady: 8 callers at a time (exactly the cap, so no queueing), back to back: throughput
   and time to first audio as a member in a busy bot sees it.
3. memory: peak RSS (sampled, and ru_maxrss) for the runs above; the Python heap peak
   (tracemalloc) during a burst of the same size, measured in a separate run because
   tracemalloc slows everything down.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp

from bot.base.config import Settings
from bot.base.secrets import Secret
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.cached_engine import CachedEngine
from bot.speech.endpoint.client import EndpointClient
from bot.speech.request import SpeechRequest

API_KEY = "bench-key-0123456789"
CAP = 8
FIRST_CHUNK = 0.3
REALTIME_FACTOR = 4.0
TEXT_CHARS = 60
BYTES_PER_SECOND = 24_000 * 2
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the endpoint
@contextlib.asynccontextmanager
async def fake_endpoint() -> AsyncIterator[str]:
    """Start `python -m tests.standins.fake_api` on a free port; yields its relay URL."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.standins.fake_api",
        "--port",
        str(port),
        "--api-key",
        API_KEY,
        "--first-chunk-delay",
        str(FIRST_CHUNK),
        "--realtime-factor",
        str(REALTIME_FACTOR),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            line = await proc.stdout.readline()
        if not line.startswith(b"fake endpoint"):
            raise RuntimeError(f"the fake endpoint did not start: {line!r}")
        yield f"http://127.0.0.1:{port}/v1/audio/speech"
    finally:
        proc.terminate()
        await proc.wait()


# --------------------------------------------------------------------------- measuring
class RssSampler:
    """Peak resident memory of this process, sampled every 10 ms."""

    def __init__(self) -> None:
        self.start = self.now()
        self.peak = self.start
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def now() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.now())
            await asyncio.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, self.now())


@dataclass
class Sample:
    submitted: float
    sent: float | None = None  # the request body left for the endpoint
    first: float | None = None
    done: float | None = None
    audio_bytes: int = 0
    error: str | None = None


def texts(n: int, tag: str) -> list[str]:
    out = []
    for i in range(n):
        base = f"Load benchmark {tag} message number {i}, "
        out.append((base + "la " * TEXT_CHARS)[:TEXT_CHARS].rstrip() + ".")
    return out


@dataclass
class Stack:
    engine: CachedEngine
    client: EndpointClient
    cache: AudioCache
    sent: dict[str, float]


@contextlib.asynccontextmanager
async def open_stack(url: str, data_dir: Path) -> AsyncIterator[Stack]:
    settings = Settings(
        api_key=Secret(API_KEY),
        api_url=url,
        data_dir=data_dir,
        max_concurrent_requests=CAP,
        max_requests_per_minute=1_000_000,
    )
    sent: dict[str, float] = {}

    async def on_chunk_sent(
        session: Any, ctx: SimpleNamespace, params: aiohttp.TraceRequestChunkSentParams
    ) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            sent.setdefault(json.loads(params.chunk)["input"], time.perf_counter())

    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(on_chunk_sent)
    connector = aiohttp.TCPConnector(limit=max(16, CAP * 2))  # as the bot opens it
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as session:
        client = EndpointClient(settings, session)
        cache = AudioCache.from_settings(settings)
        engine = CachedEngine(client, cache)
        try:
            yield Stack(engine, client, cache, sent)
        finally:
            await engine.close()
            await cache.close()


async def one(stack: Stack, text: str, sample: Sample) -> None:
    try:
        async for chunk in stack.engine.stream(SpeechRequest(text)):
            if sample.first is None:
                sample.first = time.perf_counter()
            sample.audio_bytes += len(chunk)
    except Exception as exc:  # reported in the figures
        sample.error = type(exc).__name__
    sample.done = time.perf_counter()
    sample.sent = stack.sent.get(text)


async def burst(stack: Stack, batch: list[str]) -> tuple[list[Sample], float]:
    start = time.perf_counter()
    samples = [Sample(start) for _ in batch]
    await asyncio.gather(*(one(stack, t, s) for t, s in zip(batch, samples, strict=True)))
    return samples, time.perf_counter() - start


async def steady(stack: Stack, batch: list[str], callers: int) -> tuple[list[Sample], float]:
    queue: Iterator[str] = iter(batch)
    samples: list[Sample] = []

    async def caller() -> None:
        for text in queue:
            sample = Sample(time.perf_counter())
            samples.append(sample)
            await one(stack, text, sample)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return samples, time.perf_counter() - start


# --------------------------------------------------------------------------- report
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(name: str, samples: list[Sample], wall: float) -> None:
    ok = [s for s in samples if s.error is None and s.first is not None]
    errors = len(samples) - len(ok)
    audio_s = sum(s.audio_bytes for s in ok) / BYTES_PER_SECOND
    ttfa = [1000 * (s.first - s.submitted) for s in ok if s.first is not None]
    from_send = [1000 * (s.first - s.sent) for s in ok if s.first is not None and s.sent is not None]
    print(f"\n{name}: {len(samples)} requests in {wall:.2f} s, {errors} errors")
    print(f"  throughput           {len(ok) / wall:7.2f} requests/s   {audio_s / wall:7.2f} audio-seconds/s")
    print(
        f"  first audio (submit) p50 {pct(ttfa, 50):7.1f} ms   p95 {pct(ttfa, 95):7.1f} ms"
        f"   max {max(ttfa):7.1f} ms"
    )
    if from_send:
        print(
            f"  first audio (sent)   p50 {pct(from_send, 50):7.1f} ms   p95 {pct(from_send, 95):7.1f} ms"
            f"   (the endpoint's first chunk: {1000 * FIRST_CHUNK:.0f} ms)"
        )


# Peak RSS growth over the burst and steady runs (moved here from tests/system/test_load_faults.py,
# where it was measured at 35-126 MiB): growth with the load, not allocator noise.
RSS_GROWTH_TARGET = 256 * 2**20


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="100 requests per run")
    args = parser.parse_args()
    n = 100 if args.quick else args.requests
    ideal = CAP / (FIRST_CHUNK + TEXT_CHARS * 0.02 / REALTIME_FACTOR)
    print(
        f"fake endpoint: first chunk {1000 * FIRST_CHUNK:.0f} ms, {REALTIME_FACTOR:g}x real time; "
        f"cap {CAP}; {n} distinct requests of {TEXT_CHARS} characters ({TEXT_CHARS * 0.02:.1f} s audio); "
        f"ideal throughput at the cap {ideal:.1f} requests/s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with fake_endpoint() as url, open_stack(url, Path(tmp) / "data") as stack:
            await burst(stack, texts(CAP, "warm-up"))  # connections, imports, disk scan
            with RssSampler() as rss:
                samples, wall = await burst(stack, texts(n, "burst"))
                report(f"burst ({n} at once)", samples, wall)
                assert stack.client.stats.in_flight == 0
                samples, wall = await steady(stack, texts(n, "steady"), CAP)
                report(f"steady ({CAP} callers, back to back)", samples, wall)
            print(
                f"\nmemory: RSS {rss.start / 2**20:.0f} MiB before, peak {rss.peak / 2**20:.0f} MiB "
                f"(+{(rss.peak - rss.start) / 2**20:.0f} MiB); ru_maxrss "
                f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
                f"cache {stack.cache.stats.bytes_memory / 2**20:.1f} MiB in memory, "
                f"{stack.cache.stats.bytes_disk / 2**20:.1f} MiB on disk"
            )
            growth = rss.peak - rss.start
            if growth > RSS_GROWTH_TARGET:  # a target, not a premise: print the figure, then fail
                raise SystemExit(f"target missed: RSS grew {growth / 2**20:.0f} MiB (target < 256 MiB)")
            tracemalloc.start()
            await burst(stack, texts(n, "traced"))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"python heap peak during a {n}-request burst (tracemalloc): {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
