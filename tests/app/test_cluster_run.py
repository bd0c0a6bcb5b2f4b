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


SHARD_TOKEN = "cluster-shard-token-0123456789"


async def test_without_shard_count_the_shards_are_discords_recommendation_in_contiguous_slices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import discord.http

    from bot.app.cluster_run import plan_cluster
    from bot.base.config import Settings
    from bot.base.secrets import Secret
    from tests.standins.discord_gateway import DiscordStandin
    from tests.standins.redis_server import REDIS_URL

    standin = await DiscordStandin(SHARD_TOKEN, shards=6).start()
    try:
        monkeypatch.setattr(discord.http.Route, "BASE", standin.api_base)
        settings = Settings(discord_token=Secret(SHARD_TOKEN), redis_url=Secret(REDIS_URL))
        workers = await plan_cluster(settings, 4)
    finally:
        await standin.stop()
    assert standin.gateway_asked == [f"Bot {SHARD_TOKEN}"]  # asked once, with the bot's token
    assert [w.shards for w in workers] == [[0, 1], [2, 3], [4], [5]]
    assert [w.env["SHARD_IDS"] for w in workers] == ["0,1", "2,3", "4", "5"]
    assert {w.env["SHARD_COUNT"] for w in workers} == {"6"}
    assert {w.env["CLUSTER_PROCESSES"] for w in workers} == {"4"}


async def test_when_discord_cannot_say_the_reason_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import discord.http

    from bot.app.cluster_run import ShardCountUnknown, recommended_shards
    from bot.base.config import Settings
    from bot.base.secrets import Secret
    from tests.standins.discord_gateway import DiscordStandin
    from tests.standins.redis_server import free_port

    settings = Settings(discord_token=Secret(SHARD_TOKEN))
    standin = await DiscordStandin(SHARD_TOKEN, gateway_status=503).start()
    try:
        monkeypatch.setattr(discord.http.Route, "BASE", standin.api_base)
        with pytest.raises(ShardCountUnknown, match=r"HTTP 503.*Set SHARD_COUNT"):
            await recommended_shards(settings)
    finally:
        await standin.stop()
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{free_port()}/api/v10")
    with pytest.raises(ShardCountUnknown, match="could not be reached") as info:
        await recommended_shards(settings)
    assert SHARD_TOKEN not in str(info.value)


async def test_run_without_shard_count_and_a_refused_token_exits_1_with_one_line(tmp_path: Path) -> None:
    from tests.standins.discord_gateway import DiscordStandin, sitecustomize_dir
    from tests.standins.redis_server import REDIS_URL

    standin = await DiscordStandin("the-token-discord-knows-0000", shards=4).start()
    wrong = "a-token-discord-refuses-1111"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHARD_", "DISCORD_", "REDIS_"))}
    env.update(
        PYTHONPATH=f"{sitecustomize_dir(tmp_path)}{os.pathsep}{ROOT}",
        PARLA_TEST_DISCORD_API=standin.api_base,
        DISCORD_TOKEN=wrong,
        REDIS_URL=REDIS_URL,
        DATA_DIR=str(tmp_path / "data"),
    )
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--processes",
            "2",
            env=env,
            cwd=str(tmp_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await standin.stop()
    assert proc.returncode == 1
    assert standin.gateway_asked == [f"Bot {wrong}"]
    lines = [line for line in err.decode().splitlines() if line.startswith("parla:")]
    assert len(lines) == 1 and "SHARD_COUNT" in lines[0] and "401" in lines[0], err.decode()
    assert wrong not in (out + err).decode()  # the token is never printed
    assert "worker" not in err.decode()  # nothing was started
