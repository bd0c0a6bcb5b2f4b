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


async def run_workers(jobs: list[dict[str, Any]], envs: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Run one worker per job (with its env), start them together, return their reports."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.standins.cluster_worker",
            json.dumps(job),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            cwd=str(ROOT),
        )
        for job, env in zip(jobs, envs, strict=True)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line.strip() == b"ready", line
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        reports = []
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            reports.append(json.loads(line))
        for proc in procs:
            await asyncio.wait_for(proc.wait(), 30)
        return reports
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
