"""`parla db copy`: a SQLite database filled through the real slash commands is copied to
PostgreSQL and read back field by field; copying again changes nothing; a target holding other
data is refused unless --replace; and back from PostgreSQL to SQLite. Plus a member's command
while PostgreSQL is unreachable: the ephemeral "try again" sentence."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import discord
import pytest

from bot.app.db_cli import run_db
from bot.base.config import Settings
from bot.base.secrets import Secret
from bot.store.copy import CopyRefused, read_rows
from bot.store.postgres import PostgresStorage
from bot.store.sql_storage import SqlStorage
from bot.store.sqlite import SqliteStorage
from cogs import dictionary, readaloud
from tests.standins.databases import Proxy, fresh_schema
from tests.standins.discord_objects import BotRig, open_bot_rig, run_command
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import make_settings

MANAGE = discord.Permissions(manage_guild=True, send_messages=True)
LEFT, LEFT_DUE = 555_555_555_555_555_555, datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def pg_target() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


@pytest.fixture
async def rig(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[BotRig]:
    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1)
    async with open_bot_rig(settings, session) as r:
        await dictionary.setup(r.bot)
        await readaloud.setup(r.bot)
        yield r


async def fill_through_commands(rig: BotRig) -> tuple[int, int]:
    prefs, server = rig.cog("PreferencesCog"), rig.cog("ServerCog")
    words, reading = rig.cog("DictionaryCog"), rig.cog("ReadAloudCog")
    ann, bob = rig.member("ann"), rig.member("bob")
    admin = rig.interaction(perms=MANAGE)
    await run_command(rig.bot, prefs.voice_set, rig.interaction(ann), voice="serena")
    await run_command(rig.bot, prefs.voice_set, rig.interaction(ann), voice="Ethan", this_server_only=True)
    await run_command(rig.bot, prefs.style_set, rig.interaction(bob), instructions="calm, a little slower")
    await run_command(rig.bot, server.server_voice, admin, voice="Kai")
    for word, said in (("GIF", "jif"), ("SQL", "sequel")):
        admin = rig.interaction(perms=MANAGE)
        await run_command(rig.bot, words.dictionary_add, admin, word=word, reading=said)
    await run_command(rig.bot, reading.channel_add, rig.interaction(perms=MANAGE))
    for option, value in (("xsaid", "off"), ("max_length", "120")):
        admin = rig.interaction(perms=MANAGE)
        await run_command(rig.bot, reading.settings_set, admin, option=option, value=value)
    await run_command(rig.bot, reading.me, rig.interaction(ann), mode="auto")
    await run_command(rig.bot, reading.nickname, rig.interaction(bob), name="Bobby")
    speak = rig.interaction(ann)
    speaking = rig.cog("SpeechCog").speak
    await run_command(rig.bot, speaking, speak, checks=False, text="Hello there", attach=True)
    assert speak.log.last.files  # spoken: its usage is charged
    return ann.id, bob.id


async def snapshot(store: SqlStorage, guild: int, ann: int, bob: int) -> tuple[object, ...]:
    """Every setting, as the bot reads it."""
    return (
        await store.get_user_prefs(ann, None),
        await store.get_user_prefs(ann, guild),
        await store.get_user_prefs(bob, None),
        await store.get_guild_defaults(guild),
        await store.resolve_voice_settings(ann, guild),
        await store.resolve_voice_settings(bob, guild),
        await store.get_read_aloud(guild),
        await store.get_member(guild, ann),
        await store.get_member(guild, bob),
        dict(await store.get_nicknames(guild)),
        dict(await store.list_dictionary(guild)),
        await store.get_usage(guild),
        await store.usage_history(guild, 3),
    )


def copy_args(source: str, target: str, *, replace: bool = False) -> argparse.Namespace:
    return argparse.Namespace(db_action="copy", source=source, target=target, replace=replace)


async def test_copy_sqlite_filled_by_commands_to_postgres_and_back(
    rig: BotRig, pg_target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, bob = await fill_through_commands(rig)
    guild = rig.guild.id
    settings: Settings = rig.bot.settings
    sqlite_url = f"sqlite:///{settings.database_path}"
    await rig.bot.close_services()
    async with SqliteStorage.open(settings.database_path) as source:  # a server the bot left
        await source.schedule_guild_deletion(LEFT, LEFT_DUE)

    assert await run_db(settings, copy_args(sqlite_url, pg_target)) == 0
    line = capsys.readouterr().out.strip()
    assert line == (
        "copied: guilds 1, user_prefs 3, guild_read_aloud 1, bound_channels 1, members 2, "
        "dictionary 2, usage_guild 1, usage_global 1, guild_deletions 1 (13 rows)"
    )
    source_opening = SqliteStorage.open(settings.database_path)
    async with source_opening as source, PostgresStorage.open(pg_target) as target:
        expected = await snapshot(source, guild, ann, bob)
        assert await snapshot(target, guild, ann, bob) == expected  # field by field, as the bot reads them
        assert await read_rows(target) == await read_rows(source)
        rows_before = await read_rows(target)
        assert await target.due_guild_deletions(LEFT_DUE) == [LEFT]  # still forgotten on time
    # What the commands stored, seen on PostgreSQL.
    voice_ann, voice_here, _, defaults, resolved, _, read_aloud, member, _, names, words, usage, _ = expected
    voices = (voice_ann.voice, voice_here.voice, defaults.voice, resolved.voice)  # type: ignore[attr-defined]
    assert voices == ("Serena", "Ethan", "Kai", "Ethan")
    assert (read_aloud.xsaid, read_aloud.max_length) == (False, 120)  # type: ignore[attr-defined]
    assert len(read_aloud.channel_ids) == 1  # type: ignore[attr-defined]
    assert member.mode == "auto" and names == {bob: "Bobby"}  # type: ignore[attr-defined]
    assert words == {"gif": "jif", "sql": "sequel"}
    assert usage.guild_characters == len("Hello there") and usage.guild_requests == 1  # type: ignore[attr-defined]

    # Again: nothing changes.
    assert await run_db(settings, copy_args(sqlite_url, pg_target)) == 0
    assert capsys.readouterr().out.startswith("already identical, nothing changed: guilds 1,")
    async with PostgresStorage.open(pg_target) as target:
        assert await read_rows(target) == rows_before
        await target.add_dictionary_entry(guild, "tts", "text to speech")  # now it differs
    with pytest.raises(CopyRefused, match="--replace"):
        await run_db(settings, copy_args(sqlite_url, pg_target))
    async with PostgresStorage.open(pg_target) as target:
        assert len(await target.list_dictionary(guild)) == 3  # refused: untouched
    assert await run_db(settings, copy_args(sqlite_url, pg_target, replace=True)) == 0
    async with PostgresStorage.open(pg_target) as target:
        assert await read_rows(target) == rows_before

    # And back, into a new SQLite file.
    back = tmp_path / "back" / "parla.sqlite3"
    assert await run_db(settings, copy_args(pg_target, str(back))) == 0
    async with SqliteStorage.open(back) as copy:
        assert await snapshot(copy, guild, ann, bob) == expected


async def test_a_command_while_postgres_is_unreachable_answers_try_again(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path, pg_target: str
) -> None:
    proxy = Proxy(pg_target)
    await proxy.start()
    settings = replace(
        make_settings(fake_endpoint, tmp_path, engine="api"), database_url=Secret(proxy.url(pg_target))
    )
    try:
        async with open_bot_rig(settings, session) as rig:
            assert isinstance(rig.bot.storage, PostgresStorage)
            prefs = rig.cog("PreferencesCog")
            ann = rig.member("ann")
            await run_command(rig.bot, prefs.voice_set, rig.interaction(ann), voice="serena")
            speak = rig.interaction(ann)
            speaking = rig.cog("SpeechCog").speak
            await run_command(rig.bot, speaking, speak, checks=False, text="Hi", attach=True)
            assert speak.log.last.files
            await proxy.cut()  # the database goes away mid-run
            interaction = rig.interaction(ann)
            await run_command(rig.bot, prefs.voice_set, interaction, voice="Ethan")
            reply = interaction.log.last
            assert reply.content == "Settings can't be saved right now; try again in a minute"
            assert reply.ephemeral
            # Speaking goes on with the last known settings.
            speak = rig.interaction(ann)
            await run_command(rig.bot, speaking, speak, checks=False, text="Again", attach=True)
            assert speak.log.last.files
            assert fake_endpoint.requests[-1].body["voice"] == "Serena"  # type: ignore[index]
    finally:
        await proxy.cut()


def test_the_bot_exits_2_when_postgres_is_unreachable_at_start(
    fake_endpoint: FakeEndpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.app import bot as bot_module
    from bot.app.launcher import run_bot

    async def login_without_discord(self: bot_module.ParlaBot, token: str) -> None:
        await self.setup_hook()  # what login() runs, besides asking Discord who the bot is

    monkeypatch.setattr(bot_module.ParlaBot, "login", login_without_discord)
    settings = replace(
        make_settings(fake_endpoint, tmp_path, engine="api"),
        discord_token=Secret("MTIz.token-for-the-start-test.xyz"),
        database_url=Secret("postgresql://parla:start-pw-77@127.0.0.1:1/parla"),
    )
    assert run_bot(settings) == 2
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if line.startswith("parla: ")]  # besides the log lines
    assert len(said) == 1, err
    assert said[0].startswith("parla: DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:1/parla (")
    assert "start-pw-77" not in err and "Traceback" not in err
