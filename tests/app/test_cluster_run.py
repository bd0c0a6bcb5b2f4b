"""`parla run --processes N`: shards split in contiguous slices, a killed worker restarted on
its shards, SIGTERM stops everything with exit 0, a crash loop ends with exit 1, and more than
one process without REDIS_URL is refused with the reason."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.app.cli import main
from bot.app.cluster_run import MAX_RESTARTS, plan_shards
from tests.standins.cluster_rig import ROOT


def test_shards_are_split_in_contiguous_slices() -> None:
    assert plan_shards(4, 2) == [[0, 1], [2, 3]]
    assert plan_shards(5, 2) == [[0, 1, 2], [3, 4]]
    assert plan_shards(3, 3) == [[0], [1], [2]]


def test_more_than_one_process_without_redis_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["run", "--processes", "2"]) == 2
    err = capsys.readouterr().err
    assert "REDIS_URL" in err and "--processes 2" in err


def _read(report: Path) -> list[tuple[int, str]]:
    text = report.read_text() if report.exists() else ""
    return [(int(pid), shards) for pid, shards in (line.split() for line in text.splitlines())]


async def _lines(report: Path, n: int) -> list[tuple[int, str]]:
    """The first `n` worker starts (workers report by appending to a file: polled)."""
    for _ in range(500):
        lines = await asyncio.to_thread(_read, report)
        if len(lines) >= n:
            return lines
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {n} worker starts")


async def _supervisor(report: Path, *extra: str) -> asyncio.subprocess.Process:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.standins.supervisor_rig", str(report), *extra, env=env, cwd=str(ROOT)
    )


async def test_a_killed_worker_is_restarted_on_its_shards_and_sigterm_stops_all(tmp_path: Path) -> None:
    report = tmp_path / "starts.txt"
    supervisor = await _supervisor(report)
    try:
        first = await _lines(report, 2)
        assert sorted(shards for _, shards in first) == ["0,1", "2,3"]
        victim_pid, victim_shards = first[0]
        os.kill(victim_pid, signal.SIGKILL)
        third = (await _lines(report, 3))[2]
        assert third[1] == victim_shards and third[0] != victim_pid
        supervisor.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(supervisor.wait(), 20) == 0
        for pid, _ in [first[1], third]:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if supervisor.returncode is None:
            supervisor.kill()
            await supervisor.wait()


async def test_a_crash_loop_ends_the_cluster_with_exit_1(tmp_path: Path) -> None:
    report = tmp_path / "starts.txt"
    supervisor = await _supervisor(report, "--crash")
    assert await asyncio.wait_for(supervisor.wait(), 30) == 1
    # Restarted (with backoff), but never more than MAX_RESTARTS (5) times in the minute; the
    # last one started may be stopped before it writes its line.
    assert 2 + MAX_RESTARTS - 1 <= len(await asyncio.to_thread(_read, report)) <= 2 + MAX_RESTARTS
    assert MAX_RESTARTS == 5


async def test_doctor_checks_redis_when_set() -> None:
    from bot.app.doctor import check_redis
    from bot.base.config import Settings
    from bot.base.secrets import Secret
    from tests.standins.redis_server import REDIS_URL, free_port

    assert (await check_redis(Settings())).ok  # not used
    ok = await check_redis(Settings(redis_url=Secret(REDIS_URL)))
    assert ok.ok and "version" in ok.detail and "round trip" in ok.detail
    down = await check_redis(Settings(redis_url=Secret(f"redis://127.0.0.1:{free_port()}/0")))
    assert not down.ok and "REDIS_URL" in down.fix
