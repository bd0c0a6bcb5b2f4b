"""Settings invalidation between two OS processes, each with its own storage on one database
(a SQLite file, or the PostgreSQL database `test` in a schema of its own) and its own Redis
link: a member's global voice set in process A is what process B resolves within 1 s."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standins.cluster_rig import ROOT
from tests.standins.databases import fresh_schema
from tests.standins.redis_server import REDIS_URL, delete_prefix, unique_prefix


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        return
    with fresh_schema() as url:
        yield url


class Process:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def ask(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        return (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode().strip()


async def _start(env: dict[str, str]) -> Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.standins.settings_worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
        cwd=str(ROOT),
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert line.strip() == b"ready", line
    return Process(proc)


async def test_a_global_voice_set_in_process_a_is_resolved_by_process_b_within_a_second(
    database_url: str, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_", "DATA_DIR"))}
    env.update(
        PYTHONPATH=str(ROOT),
        REDIS_URL=REDIS_URL,
        REDIS_PREFIX=prefix,
        DATABASE_URL=database_url,
        DATA_DIR=str(tmp_path / "data"),
    )
    a, b = await _start(env), await _start(env)
    try:
        assert await b.ask("resolve") == "Cherry"  # the default, now in B's read cache
        assert await a.ask("set Ethan") == "done"
        seen = json.loads(await b.ask("await Ethan 1.0"))
        assert seen["voice"] == "Ethan" and seen["after"] < 1.0
        assert await a.ask("set Serena") == "done"  # and again: not a one-off
        seen = json.loads(await b.ask("await Serena 1.0"))
        assert seen["voice"] == "Serena" and seen["after"] < 1.0
    finally:
        for p in (a, b):
            assert p.proc.stdin is not None
            p.proc.stdin.close()
        for p in (a, b):
            try:
                await asyncio.wait_for(p.proc.wait(), 30)
            finally:
                if p.proc.returncode is None:
                    p.proc.kill()
                    await p.proc.wait()
        await delete_prefix(prefix)
