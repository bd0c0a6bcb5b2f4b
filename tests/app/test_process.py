"""The bot as a process: `python -m bot` against the local Discord stand-in
(`tests/standins/discord_gateway.py`). It logs in, gets READY, loads every extension (by its own
`setup_hook`), syncs the commands to `DEV_GUILD_ID`, writes its heartbeat, scrubs secrets from the
log it really writes, stops on SIGTERM within a second, and names a bad token or a missing
Message Content intent in one sentence."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.standins.discord_gateway import DiscordStandin, sitecustomize_dir

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMg.standin.token-value-0123456789"
DEV_GUILD_ID = 1300000000000000001
# README: "SIGTERM: stops, ... exits 0 within 10 s" is the launcher's hard cap; a quiet bot
# stops far faster, and this bound catches any added wait in shutdown.
SHUTDOWN_BOUND_S = 1.0
START_TIMEOUT_S = 30.0


@dataclass
class Started:
    process: asyncio.subprocess.Process
    data_dir: Path
    stderr_lines: list[str]
    new_line: asyncio.Event

    def stderr(self) -> str:
        return "".join(self.stderr_lines)


def child_env(standin: DiscordStandin, tmp_path: Path, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTS_", "DISCORD_", "DATA_DIR", "DEV_"))}
    env.update(
        {
            "PYTHONPATH": f"{sitecustomize_dir(tmp_path)}{os.pathsep}{ROOT}",
            "PARLA_TEST_DISCORD_API": standin.api_base,
            "DISCORD_TOKEN": token,
            "DEV_GUILD_ID": str(DEV_GUILD_ID),
            "DATA_DIR": str(tmp_path / "data"),
            "TTS_ENGINE": "api",
            "TTS_API_KEY": "sk-process-test-key-9876543210",
            "TTS_API_URL": "http://127.0.0.1:9/v1/audio/speech",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@asynccontextmanager
async def running_bot(standin: DiscordStandin, tmp_path: Path, token: str = TOKEN) -> AsyncIterator[Started]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        env=child_env(standin, tmp_path, token),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []

    async def pump() -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            lines.append(line.decode(errors="replace"))
            started.new_line.set()
        started.new_line.set()  # the end of the output: the process exited

    started = Started(process, tmp_path / "data", lines, asyncio.Event())
    reader = asyncio.create_task(pump())
    try:
        yield started
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await reader


async def parla(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


async def wait_for_line(started: Started, text: str) -> None:
    async with asyncio.timeout(START_TIMEOUT_S):
        while not any(text in line for line in started.stderr_lines):
            if started.process.returncode is not None:
                raise AssertionError(f"the bot exited early:\n{started.stderr()}")
            started.new_line.clear()
            await started.new_line.wait()


async def test_the_bot_starts_syncs_beats_scrubs_and_stops_on_sigterm(tmp_path: Path) -> None:
    # The bot's user name is its token: the "ready as NAME" line logs the secret through logging.
    standin = await DiscordStandin(TOKEN, bot_name=TOKEN).start()
    try:
        async with running_bot(standin, tmp_path) as bot:
            await wait_for_line(bot, "ready as")
            # Every extension was loaded by setup_hook: every command reached the dev server.
            synced = standin.synced.get(f"guild:{DEV_GUILD_ID}")
            assert synced is not None, standin.synced
            names = {command["name"] for command in synced}
            assert names == {
                "speak",
                "voice",
                "style",
                "language",
                "tts",
                "server",
                "readaloud",
                "dictionary",
                "Read aloud",
            }, names
            assert "global" not in standin.synced  # a normal start never syncs globally
            # Message Content was requested (intent bit 15).
            assert standin.identify is not None and standin.identify["intents"] & (1 << 15)
            # The heartbeat is written at start.
            beat = bot.data_dir / "heartbeat"
            for _ in range(250):  # touched by the heartbeat task's thread right after the sync
                if beat.exists():
                    break
                await asyncio.sleep(0.02)
            assert beat.exists()
            env = child_env(standin, tmp_path, TOKEN)
            code, out = await parla("health", env=env, cwd=tmp_path)
            assert code == 0 and out.startswith("healthy"), out
            # SIGTERM: exit 0 within the bound.
            bot.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            code = await asyncio.wait_for(bot.process.wait(), timeout=15)
            elapsed = time.monotonic() - signalled
        out = bot.stderr()
        assert code == 0, out
        assert elapsed < SHUTDOWN_BOUND_S, f"shutdown took {elapsed:.2f} s"
        assert "shutdown requested" in out
        assert "start-up objects set aside from garbage collection" in out  # bot.base.heap
        # The secret went through the running bot's handler and came out masked.
        assert "ready as ***" in out, out
        assert TOKEN not in out
        # A heartbeat that stopped (older than a few missed beats) makes `parla health` fail.
        stale = time.time() - 600
        os.utime(beat, (stale, stale))
        code, said = await parla("health", env=env, cwd=tmp_path)
        assert code == 1 and said.startswith("unhealthy: last heartbeat"), said
        beat.unlink()
        code, said = await parla("health", env=env, cwd=tmp_path)
        assert code == 1 and said.startswith("unhealthy: no heartbeat file"), said
    finally:
        await standin.stop()


async def test_a_rejected_token_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    standin = await DiscordStandin("the-right-token-0000").start()
    try:
        async with running_bot(standin, tmp_path, token="a-wrong-token-1111") as bot:
            code = await asyncio.wait_for(bot.process.wait(), timeout=START_TIMEOUT_S)
        out = bot.stderr()
        assert code == 2, out
        assert "parla: DISCORD_TOKEN was rejected by Discord. Reset the token and update .env." in out
        assert "Traceback" not in out and "a-wrong-token-1111" not in out
    finally:
        await standin.stop()


async def test_message_content_intent_not_enabled_is_named_and_exit_2(tmp_path: Path) -> None:
    standin = await DiscordStandin(TOKEN, refuse_intents=True).start()
    try:
        async with running_bot(standin, tmp_path) as bot:
            code = await asyncio.wait_for(bot.process.wait(), timeout=START_TIMEOUT_S)
        out = bot.stderr()
        assert standin.identified.is_set()
        assert code == 2, out
        assert "parla: enable the MESSAGE CONTENT intent for the bot in the developer portal" in out
        assert "Traceback" not in out
    finally:
        await standin.stop()


async def test_doctor_exits_non_zero_when_a_check_fails(tmp_path: Path) -> None:
    standin = await DiscordStandin(TOKEN).start()
    try:
        env = child_env(standin, tmp_path, TOKEN)
        code, out = await parla("doctor", "--offline", env=env, cwd=tmp_path)
        assert code == 0 and "[FAIL]" not in out, out
        blocked = tmp_path / "not-a-directory"
        blocked.write_text("a file where DATA_DIR should be")
        env["DATA_DIR"] = str(blocked)
        code, out = await parla("doctor", "--offline", env=env, cwd=tmp_path)
        assert "[FAIL] database" in out and "check(s) failed" in out, out
        assert code == 1, out
    finally:
        await standin.stop()


async def test_the_bot_settles_its_heap_between_logging_in_and_connecting() -> None:
    """`start_settled` is `Client.start` with the start-up heap frozen after `setup_hook` (run
    by `login`): objects made while logging in are set aside before the gateway connects."""
    import gc

    from bot.app.launcher import start_settled

    class Made:
        pass

    calls: list[str] = []
    made: list[object] = []

    class Bot:
        async def login(self, token: str) -> None:
            calls.append(f"login {token}")
            made.append(Made())

        async def connect(self) -> None:
            calls.append("connect")
            assert not any(o is made[0] for o in gc.get_objects())  # frozen by now

    try:
        await start_settled(Bot(), "token")
    finally:
        gc.unfreeze()
    assert calls == ["login token", "connect"]
