"""Start N `cluster_worker` processes against one fake endpoint and one Redis prefix, release
them at once, and collect what each heard and how many endpoint calls each made."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.standins.settings import API_KEY

ROOT = Path(__file__).resolve().parents[2]


def worker_env(
    api_url: str, data_dir: Path, redis_url: str | None, prefix: str, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTS_", "REDIS_", "CACHE_", "LIMIT_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        TTS_API_KEY=API_KEY,
        TTS_API_URL=api_url,
        TTS_ENGINE="api",
        DATA_DIR=str(data_dir),
        REDIS_PREFIX=prefix,
        TTS_FIRST_BYTE_TIMEOUT="5",
        TTS_STALL_TIMEOUT="5",
    )
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


async def start_worker(job: dict[str, Any], env: dict[str, str]) -> asyncio.subprocess.Process:
    """One worker, started and ready (its stack open), already told to go."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.standins.cluster_worker",
        json.dumps(job),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
        cwd=str(ROOT),
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert line.strip() == b"ready", line
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    return proc


async def spawn_ready(job: dict[str, Any], env: dict[str, str]) -> asyncio.subprocess.Process:
    """One worker, started, its stack open (it printed `ready`), not yet told to go."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.standins.cluster_worker",
        json.dumps(job),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
        cwd=str(ROOT),
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert line.strip() == b"ready", line
    return proc


async def spawn_all(
    jobs: list[dict[str, Any]], envs: list[dict[str, str]]
) -> list[asyncio.subprocess.Process]:
    """One worker per job (with its env), started together; all ready when this returns."""
    started = await asyncio.gather(
        *(spawn_ready(job, env) for job, env in zip(jobs, envs, strict=True)), return_exceptions=True
    )
    procs = [p for p in started if isinstance(p, asyncio.subprocess.Process)]
    if len(procs) < len(started):
        await stop_workers(procs, kill=True)
        raise next(e for e in started if isinstance(e, BaseException))
    return procs


async def go(proc: asyncio.subprocess.Process) -> None:
    """Start the worker's (next) phase."""
    assert proc.stdin is not None
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()


async def report(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    """The worker's report of its (latest) phase."""
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    result: dict[str, Any] = json.loads(line)
    return result


async def stop_workers(procs: list[asyncio.subprocess.Process], *, kill: bool = False) -> None:
    """Close the workers' stdin and wait for them to exit (killed if they do not, or at once
    with `kill`)."""
    for proc in procs:
        if kill and proc.returncode is None:
            proc.kill()
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def run_workers(jobs: list[dict[str, Any]], envs: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Run one worker per job (with its env), start them together, return their reports."""
    procs = await spawn_all(jobs, envs)
    ok = False
    try:
        for proc in procs:
            await go(proc)
        reports = [await report(proc) for proc in procs]
        ok = True
        return reports
    finally:
        await stop_workers(procs, kill=not ok)
