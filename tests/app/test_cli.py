"""The `parla` command as an admin meets it: what is missing, synth against the fake, errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app.launcher import missing_settings
from bot.audio.wav import parse_wav
from bot.base.config import Settings
from bot.speech.stack import local_engine_available
from tests.standins.fake_api import FakeEndpoint

ROOT = Path(__file__).resolve().parents[2]


def run_parla(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TTS_", "DISCORD_", "DATA_DIR"))}
    base.update(env)
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=base, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_missing_token_is_named_with_what_to_set() -> None:
    lines = missing_settings(Settings())
    assert any(line.startswith("DISCORD_TOKEN: not set") for line in lines)
    api_only = missing_settings(Settings(engine="api"))
    assert any(line.startswith("TTS_API_KEY: not set") for line in api_only)


def test_run_without_credentials_explains_and_exits_2(tmp_path: Path) -> None:
    result = run_parla("run", env={"DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN: not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_setting_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run_parla("voices", env={"TTS_FIRST_BYTE_TIMEOUT": "soon"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "TTS_FIRST_BYTE_TIMEOUT" in result.stderr


@pytest.mark.skipif(not local_engine_available(), reason="local engine not installed")
def test_synth_with_nothing_set_writes_real_speech(tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    result = run_parla("synth", "hello", "--out", str(out), env={"DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    audio = parse_wav(out.read_bytes())
    assert audio.duration > 0.2
    assert (
        max(
            abs(int.from_bytes(audio.pcm[i : i + 2], "little", signed=True))
            for i in range(0, len(audio.pcm), 2)
        )
        > 1000
    )


async def test_synth_against_the_fake_twice_second_from_cache_and_errors_are_one_line(tmp_path: Path) -> None:
    import asyncio

    fake = FakeEndpoint()
    await fake.start()
    try:
        env = {
            "TTS_API_KEY": fake.api_key,
            "TTS_API_URL": fake.url,
            "DATA_DIR": str(tmp_path),
            "TTS_ENGINE": "api",
        }
        out = tmp_path / "a.wav"

        def synth(*extra: str) -> subprocess.CompletedProcess[str]:
            return run_parla(
                "synth", "Hello there", "--voice", "Kai", "--out", str(out), *extra, env=env, cwd=tmp_path
            )

        first = await asyncio.to_thread(synth)
        assert first.returncode == 0, first.stderr
        assert "time to first audio" in first.stdout and "source=endpoint" in first.stdout
        assert parse_wav(out.read_bytes()).pcm == fake.expected_pcm("Hello there", "Kai")
        second = await asyncio.to_thread(synth)
        assert "cache (no API call)" in second.stdout
        assert fake.request_count == 1
        fake.fault = "error:Arrearage"
        failed = await asyncio.to_thread(synth, "--no-cache")
        assert failed.returncode == 1
        assert failed.stderr.count("\n") == 1
        assert "code Arrearage" in failed.stderr and "request id" in failed.stderr
        assert fake.api_key not in failed.stderr + failed.stdout
        bad = await asyncio.to_thread(synth, "--language", "Klingon")
        assert bad.returncode == 2 and "Valid languages" in bad.stderr
    finally:
        await fake.stop()


@pytest.mark.skipif(not local_engine_available(), reason="local engine not installed")
async def test_synth_on_the_backup_voice_names_the_endpoint_code_and_request_id(tmp_path: Path) -> None:
    import asyncio

    fake = FakeEndpoint()
    await fake.start()
    try:
        fake.fault = "error:InvalidApiKey"  # a mistyped key, as a new user would meet it
        env = {
            "TTS_API_KEY": fake.api_key,
            "TTS_API_URL": fake.url,
            "DATA_DIR": str(tmp_path),
            "TTS_ENGINE": "auto",
        }
        out = tmp_path / "k.wav"
        result = await asyncio.to_thread(
            run_parla, "synth", "Key check", "--no-stream", "--out", str(out), env=env, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert re.search(
            r"source=local engine \(endpoint: InvalidApiKey, request id [0-9a-f-]{36}\)", result.stdout
        ), result.stdout
        assert fake.api_key not in result.stdout + result.stderr
    finally:
        await fake.stop()


def test_db_prune_deletes_usage_older_than_90_days(tmp_path: Path) -> None:
    import asyncio
    from datetime import date, timedelta

    from bot.store.sqlite import SqliteStorage

    path = tmp_path / "parla.sqlite3"
    today = date.today()

    async def fill() -> None:
        async with SqliteStorage.open(path) as storage:
            await storage.add_usage(42, 5, day=today - timedelta(days=120))
            await storage.add_usage(42, 7, day=today - timedelta(days=10))

    async def remaining() -> int:
        async with SqliteStorage.open(path) as storage:
            return sum(d.characters for d in await storage.usage_history(42, 200))

    asyncio.run(fill())
    result = run_parla("db", "prune", env={"DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "deleted 2 usage rows older than 90 days" in result.stdout  # the server's and the global row
    assert asyncio.run(remaining()) == 7
