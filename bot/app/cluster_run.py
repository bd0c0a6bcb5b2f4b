"""`parla run --processes N`: one supervisor and N worker processes, each running the bot on a
contiguous slice of the shards.

`SHARD_COUNT` comes from the settings, else from Discord's recommendation (GET /gateway/bot);
if Discord cannot be asked (unreachable, token refused, no answer in 10 s) the supervisor says
so in one line and exits 1 without starting anything: running a guessed number of shards could
be fewer than Discord requires, and workers with a refused token would only crash-loop.
Each worker is `python -m bot run` with `SHARD_COUNT`, `SHARD_IDS` and `CLUSTER_PROCESSES` set.
A worker that dies is restarted with the same shards after a backoff; after more than
`MAX_RESTARTS` restarts in a minute the supervisor stops every worker and exits 1. SIGTERM (or
SIGINT) is forwarded to every worker, and the supervisor waits for them to stop (exit 0).
More than one process needs `REDIS_URL`: the processes share the endpoint's limits, the
budgets and the cache only through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from bot.base.config import ConfigError, Settings

__all__ = [
    "MAX_RESTARTS",
    "ShardCountUnknown",
    "Worker",
    "plan_cluster",
    "plan_shards",
    "recommended_shards",
    "run_cluster",
    "supervise",
]

log = logging.getLogger("parla.cluster")

MAX_RESTARTS = 5  # per rolling minute, across all workers
STOP_GRACE = 15.0  # seconds a worker gets to stop after SIGTERM before it is killed
GATEWAY_TIMEOUT = 10.0  # seconds for Discord's shard recommendation


def plan_shards(shard_count: int, processes: int) -> list[list[int]]:
    """Contiguous slices of `range(shard_count)`, as even as possible, one per process."""
    if processes < 1 or shard_count < processes:
        raise ConfigError("SHARD_COUNT", f"{shard_count} shards cannot be split over {processes} processes.")
    base, extra = divmod(shard_count, processes)
    slices, start = [], 0
    for i in range(processes):
        size = base + (1 if i < extra else 0)
        slices.append(list(range(start, start + size)))
        start += size
    return slices


def refuse_without_redis(settings: Settings, processes: int) -> str | None:
    if processes > 1 and settings.redis_url is None:
        return (
            f"--processes {processes} needs REDIS_URL: without a shared Redis every process would "
            "pace itself to the whole TTS_MAX_RPM, spend the whole daily budget and buy every phrase "
            "again, so together they would pass the endpoint's limits. Set REDIS_URL (e.g. "
            "redis://127.0.0.1:6379/0) or run one process."
        )
    return None


@dataclass
class Worker:
    """One worker: its command, its environment and the shards it runs."""

    argv: list[str]
    env: dict[str, str]
    shards: list[int]
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0
    history: list[int] = field(default_factory=list)  # pids, oldest first

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(*self.argv, env=self.env)
        self.starts += 1
        self.history.append(self.proc.pid)
        log.info("worker for shards %s started (pid %d)", self.shards, self.proc.pid)


async def supervise(
    workers: Sequence[Worker], *, backoff: float = 1.0, max_restarts: int = MAX_RESTARTS
) -> int:
    """Run `workers`, restarting the ones that die, until SIGTERM/SIGINT (0) or too many
    restarts (1)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    restarts: deque[float] = deque()
    code = 0
    try:
        for worker in workers:
            await worker.start()
        waits = {asyncio.ensure_future(w.proc.wait()): w for w in workers if w.proc is not None}
        stop_wait = asyncio.ensure_future(stopping.wait())
        while True:
            done, _ = await asyncio.wait({stop_wait, *waits}, return_when=asyncio.FIRST_COMPLETED)
            if stop_wait in done:
                for fut in waits:
                    fut.cancel()
                break
            for fut in done:
                worker = waits.pop(fut)
                log.warning("worker for shards %s exited with %s", worker.shards, fut.result())
                now = time.monotonic()
                while restarts and restarts[0] <= now - 60:
                    restarts.popleft()
                if len(restarts) >= max_restarts:
                    log.error("more than %d worker restarts in a minute; stopping", max_restarts)
                    code = 1
                    break
                restarts.append(now)
                await asyncio.sleep(backoff * 2 ** min(len(restarts) - 1, 4))
                await worker.start()
                assert worker.proc is not None
                waits[asyncio.ensure_future(worker.proc.wait())] = worker
            if code:
                for fut in waits:
                    fut.cancel()
                break
        stop_wait.cancel()
    finally:
        await _stop_all(workers)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return code


async def _stop_all(workers: Sequence[Worker]) -> None:
    running = [w.proc for w in workers if w.proc is not None and w.proc.returncode is None]
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    for proc in running:
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


class ShardCountUnknown(Exception):
    """Discord could not be asked how many shards to run (the one line says why)."""


async def recommended_shards(settings: Settings) -> int:
    """SHARD_COUNT, else the number Discord recommends for this bot (`GET /gateway/bot`, at
    discord.py's API base, with the token from the settings and a 10 s timeout). Raises
    `ShardCountUnknown` with a sentence (never the token) when Discord does not say."""
    if settings.shard_count is not None:
        return settings.shard_count
    from discord.http import Route

    token = settings.require_discord_token()
    url = Route.BASE + "/gateway/bot"
    why = ""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=GATEWAY_TIMEOUT)) as session:
            async with session.get(url, headers={"Authorization": f"Bot {token.reveal()}"}) as resp:
                if resp.status == 401:
                    why = "Discord refused DISCORD_TOKEN (HTTP 401)"
                elif resp.status != 200:
                    why = f"Discord answered HTTP {resp.status}"
                else:
                    data = await resp.json(content_type=None)
                    shards = data.get("shards") if isinstance(data, dict) else None
                    if isinstance(shards, int) and not isinstance(shards, bool) and shards >= 1:
                        return shards
                    why = "Discord's answer had no shard count"
    except TimeoutError:
        why = f"Discord did not answer within {GATEWAY_TIMEOUT:g} s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        why = f"Discord could not be reached ({type(exc).__name__})"
    raise ShardCountUnknown(
        f"cannot tell how many shards to run: {why}. Set SHARD_COUNT (at least --processes), "
        "or fix the connection to Discord and start again."
    )


def worker_specs(settings: Settings, processes: int, shard_count: int) -> list[Worker]:
    specs = []
    for shards in plan_shards(shard_count, processes):
        env = dict(os.environ)
        env.update(
            SHARD_COUNT=str(shard_count),
            SHARD_IDS=",".join(map(str, shards)),
            CLUSTER_PROCESSES=str(processes),
        )
        specs.append(Worker([sys.executable, "-m", "bot", "run"], env, shards))
    return specs


async def plan_cluster(settings: Settings, processes: int) -> list[Worker]:
    """The workers for `parla run --processes N`: SHARD_COUNT (else Discord's recommendation,
    raised to N if it is smaller) split in contiguous slices."""
    shard_count = max(await recommended_shards(settings), processes)
    log.info("starting %d workers over %d shards", processes, shard_count)
    return worker_specs(settings, processes, shard_count)


def run_cluster(settings: Settings, processes: int) -> int:
    """`parla run --processes N` (N > 1)."""
    from bot.app.logging_setup import setup_logging

    refusal = refuse_without_redis(settings, processes)
    if refusal is not None:
        print(f"parla: {refusal}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)

    async def main() -> int:
        try:
            workers = await plan_cluster(settings, processes)
        except ShardCountUnknown as exc:
            print(f"parla: {exc}", file=sys.stderr)
            return 1
        return await supervise(workers)

    return asyncio.run(main())
