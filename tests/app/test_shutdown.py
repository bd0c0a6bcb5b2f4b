"""Graceful shutdown: closing the bot stops every player, closes every endpoint stream and the
database, quickly, and leaves no task behind."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from tests.standins.discord_objects import open_bot_rig, run_command
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import make_settings


async def test_close_cuts_current_utterances_closes_streams_and_storage(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # A slow endpoint: each utterance streams for seconds, so shutdown finds them mid-way.
    fake = FakeEndpoint(realtime_factor=0.5, chunk_bytes=2400)
    await fake.start()
    try:
        settings = make_settings(fake, tmp_path, engine="api", retry_attempts=1)
        before = asyncio.all_tasks()
        async with open_bot_rig(settings, session) as rig:
            cog = rig.cog("SpeechCog")
            for name, text in (("ann", "A long first message to read aloud"), ("bob", "And a second")):
                member = rig.member(name, in_voice=True)
                await run_command(rig.bot, cog.speak, rig.interaction(member), text=text)
            await rig.bot.storage.set_user_pref(1234, None, "voice", "Kai")
            # Wait until the endpoint is streaming both (look-ahead 2).
            for _ in range(200):
                if fake.active >= 2:
                    break
                await asyncio.sleep(0.01)
            assert fake.active >= 2
            started = time.monotonic()
            await rig.bot.close_services()
            elapsed = time.monotonic() - started
        assert elapsed < 1.0  # README: "exits 0 within 10 s" is the cap; this shutdown takes milliseconds
        for _ in range(100):  # the server notices the closed connections
            if fake.active == 0:
                break
            await asyncio.sleep(0.01)
        assert fake.active == 0
        assert fake.disconnects >= 2
        assert fake.completed_streams == 0
        leaked = {t for t in asyncio.all_tasks() - before if not t.done()} - {asyncio.current_task()}
        assert not leaked, leaked
    finally:
        await fake.stop()
    # The settings written before shutdown are on disk.
    from bot.store.sqlite import SqliteStorage

    async with SqliteStorage.open(settings.database_path) as storage:
        assert (await storage.get_user_prefs(1234, None)).voice == "Kai"


async def test_usage_charges_in_flight_at_shutdown_are_recorded(
    fake_endpoint: FakeEndpoint,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from discord.ext import commands

    from bot.store.limits import current_guild
    from bot.store.sqlite import SqliteStorage

    async def gateway_closed(self: commands.AutoShardedBot) -> None:  # no gateway in tests
        return None

    monkeypatch.setattr(commands.AutoShardedBot, "close", gateway_closed)

    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1)
    async with open_bot_rig(settings, session) as rig:
        guild_id = rig.guild.id
        token = current_guild.set(guild_id)
        try:
            # What the endpoint client reports as each answer completes, just before shutdown.
            for _ in range(3):
                rig.bot._on_usage(40)
        finally:
            current_guild.reset(token)
        await rig.bot.close()  # cancels the bot's tasks, then closes the services
    async with SqliteStorage.open(settings.database_path) as storage:
        usage = await storage.get_usage(guild_id)
    assert (usage.guild_characters, usage.global_characters) == (120, 120)
