"""/server voice|style|language|usage (Manage Server), and the sweep over every command:
no interaction is left unanswered when the core raises."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest

from bot.app.bot import EXTENSIONS
from bot.store.models import utc_today
from tests.standins.command_sweep import all_commands, open_sweep_rig, options_for
from tests.standins.discord_objects import (
    BotRig,
    MockInteraction,
    permissions,
    run_command,
)
from tests.standins.fake_api import FakeEndpoint

MANAGE = permissions(manage_guild=True)


@pytest.fixture
async def rig(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[BotRig]:
    async with open_sweep_rig(fake_endpoint, session, tmp_path) as r:
        yield r


async def server(
    rig: BotRig, name: str, perms: discord.Permissions = MANAGE, **options: Any
) -> MockInteraction:
    interaction = rig.interaction(perms=perms)
    await run_command(rig.bot, getattr(rig.cog("ServerCog"), name), interaction, **options)
    assert interaction.log.last.ephemeral
    return interaction


# ----------------------------------------------------------------------------- defaults
async def test_set_and_clear_each_default(rig: BotRig) -> None:
    storage = rig.bot.storage
    member = rig.member()
    reply = await server(rig, "server_voice", voice="neil")
    assert reply.log.last.content == (
        "Server default voice set to **Neil (male, news anchor)**. Members who chose their own voice keep it."
    )
    await server(rig, "server_style", instructions="  Calm   narrator  ")
    await server(rig, "server_language", language="Korean")
    effective = await storage.resolve_voice_settings(member.id, rig.guild.id)
    assert (effective.voice, effective.instructions, effective.language) == (
        "Neil",
        "Calm narrator",
        "Korean",
    )
    assert {effective.source(f) for f in ("voice", "instructions", "language")} == {"server"}

    cleared = await server(rig, "server_voice")
    assert cleared.log.last.content == (
        "Server default voice cleared: the built-in default (Cherry (female, sunny and friendly)) applies."
    )
    await server(rig, "server_style", instructions="   ")
    await server(rig, "server_language")
    assert (await storage.get_guild_defaults(rig.guild.id)).is_empty


async def test_bad_defaults_are_refused(rig: BotRig) -> None:
    reply = await server(rig, "server_voice", voice="Nobody")
    assert "Unknown voice 'Nobody'" in (reply.log.last.content or "")
    reply = await server(rig, "server_style", instructions="s" * 600)
    assert "too long (600 characters; at most 500)" in (reply.log.last.content or "")
    assert (await rig.bot.storage.get_guild_defaults(rig.guild.id)).is_empty


@pytest.mark.parametrize("name", ["server_voice", "server_style", "server_language", "server_usage"])
async def test_server_commands_need_manage_server(rig: BotRig, name: str) -> None:
    options = {"server_voice": {"voice": "Kai"}, "server_style": {"instructions": "loud"}}.get(name, {})
    reply = await server(rig, name, perms=permissions(send_messages=True), **options)
    assert re.fullmatch(
        r"You need the Manage (Guild|Server) permission for this command\.", reply.log.last.content or ""
    )
    assert (await rig.bot.storage.get_guild_defaults(rig.guild.id)).is_empty


def test_server_group_is_hidden_from_members_without_manage_server() -> None:
    from cogs.server import ServerCog

    group = ServerCog.server
    assert group.guild_only
    assert group.default_permissions == discord.Permissions(manage_guild=True)


# ----------------------------------------------------------------------------- usage
async def test_usage_reads_the_counters(rig: BotRig) -> None:
    storage = rig.bot.storage
    today = utc_today()
    await storage.add_usage(rig.guild.id, 2_500, requests=4)
    await storage.add_usage(rig.guild.id, 1_000, requests=1, day=today - timedelta(days=2))
    await storage.add_usage(
        rig.guild.id, 9_999, requests=9, day=today - timedelta(days=30)
    )  # out of the week
    await storage.add_usage(rig.add_guild().id, 7_777, requests=7)  # another server
    reply = await server(rig, "server_usage")
    embed = reply.log.last.embed
    assert embed is not None
    fields = {str(f.name): str(f.value) for f in embed.fields}
    assert fields["Today"] == "2,500 characters in 4 requests\n25% of the daily limit (10,000 characters)"
    week = fields["Last 7 days: 3,500 characters, 5 requests"]
    lines = week.splitlines()
    assert len(lines) == 7 and lines[-1].startswith(f"`{today.isoformat()}`") and "2,500 chars" in lines[-1]
    assert "1,000 chars" in lines[-3]


# ----------------------------------------------------------------------------- forgetting
async def test_server_forget_deletes_everything_after_the_confirmation(rig: BotRig) -> None:
    storage = rig.bot.storage
    gid = rig.guild.id
    await storage.set_guild_default(gid, "voice", "Kai")
    await storage.add_dictionary_entry(gid, "gif", "jif")
    await storage.add_usage(gid, 10)
    interaction = await server(rig, "server_forget")
    assert interaction.log.last.content is not None
    assert interaction.log.last.content.startswith("This deletes everything I keep for this server")
    view = interaction.response.send_message.call_args.kwargs["view"]
    confirm = next(b for b in view.children if b.label == "Delete everything")
    # Only the member who asked, with Manage Server, may press it.
    other = rig.interaction(perms=MANAGE)
    assert not await view.interaction_check(other)
    click = rig.interaction(interaction.user, perms=MANAGE)
    assert await view.interaction_check(click)
    assert (await storage.get_guild_defaults(gid)).voice == "Kai"  # nothing deleted before the click
    await confirm.callback(click)
    assert click.response.edit_message.call_args.kwargs["content"] == (
        "Done: everything I kept for this server is deleted."
    )
    storage.clear_cache()
    assert (await storage.get_guild_defaults(gid)).voice is None
    assert dict(await storage.list_dictionary(gid)) == {}
    assert (await storage.get_usage(gid)).guild_characters == 0


async def test_server_forget_cancel_keeps_everything(rig: BotRig) -> None:
    await rig.bot.storage.set_guild_default(rig.guild.id, "voice", "Kai")
    interaction = await server(rig, "server_forget")
    view = interaction.response.send_message.call_args.kwargs["view"]
    cancel = next(b for b in view.children if b.label == "Cancel")
    click = rig.interaction(interaction.user, perms=MANAGE)
    await cancel.callback(click)
    assert click.response.edit_message.call_args.kwargs["content"] == "Cancelled: nothing was deleted."
    assert (await rig.bot.storage.get_guild_defaults(rig.guild.id)).voice == "Kai"


async def test_removal_schedules_deletion_in_30_days_and_rejoining_cancels_it(rig: BotRig) -> None:
    from datetime import UTC, datetime

    storage = rig.bot.storage
    gid = rig.guild.id
    await rig.bot.on_guild_remove(rig.guild)
    now = datetime.now(UTC)
    assert await storage.due_guild_deletions(now + timedelta(days=29, hours=23)) == []
    assert await storage.due_guild_deletions(now + timedelta(days=30, minutes=1)) == [gid]
    await rig.bot.on_guild_join(rig.guild)
    assert await storage.due_guild_deletions(now + timedelta(days=31)) == []


# ----------------------------------------------------------------------------- the sweep
class Exploding:
    """Any use of this core service raises an unexpected error."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"{self.what}.{name} exploded")


async def test_the_sweep_covers_every_command(rig: BotRig) -> None:
    assert {type(cog).__module__ for cog in rig.bot.cogs.values()} == set(EXTENSIONS)  # every cog
    names = sorted(c.qualified_name for c in all_commands(rig.bot.tree))
    assert names == sorted(
        [
            "speak",
            "Read aloud",
            "voice set",
            "voice list",
            "voice preview",
            "voice reset",
            "style set",
            "style show",
            "style clear",
            "style reset",
            "style optimize",
            "language set",
            "language reset",
            "tts join",
            "tts leave",
            "tts skip",
            "tts stop",
            "tts pause",
            "tts resume",
            "tts queue",
            "tts settings",
            "server voice",
            "server style",
            "server language",
            "server usage",
            "server forget",
            "readaloud channel add",
            "readaloud channel remove",
            "readaloud settings",
            "readaloud set",
            "readaloud me",
            "readaloud nickname",
            "dictionary add",
            "dictionary remove",
            "dictionary list",
        ]
    )


@pytest.mark.parametrize("broken", ["storage", "stack", "voice", "all"])
async def test_no_interaction_is_left_unanswered_when_the_core_raises(
    rig: BotRig, broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    bot = rig.bot
    for what in ("storage", "stack", "voice"):
        if broken in (what, "all"):
            setattr(bot, f"_{what}", Exploding(what))
    apology = re.compile(
        r"Sorry, something went wrong on my side \(error id `[0-9a-f]{8}`\)\. It has been logged\."
    )
    failed: set[str] = set()
    for command in all_commands(bot.tree):
        for in_voice in (True, False):  # the voice path and the file path
            member = rig.member(in_voice=in_voice)
            interaction = rig.interaction(member, perms=permissions(manage_guild=True, move_members=True))
            await run_command(bot, command, interaction, checks=False, **options_for(command))
            log = interaction.log
            assert log.answered, f"/{command.qualified_name} left the interaction unanswered"
            last = log.last
            if apology.fullmatch(last.content or ""):
                failed.add(command.qualified_name)
                assert last.ephemeral, f"/{command.qualified_name}: the apology is public"
                assert all(not r.files for r in log.replies)  # nothing claims success
    logged = sum("unexpected error id=" in r.getMessage() for r in caplog.records)
    assert logged >= len(failed)
    # the commands that need the broken service all apologised; the others answered normally
    uses_storage = {
        "speak",
        "Read aloud",
        "voice set",
        "voice list",
        "voice reset",
        "style set",
        "style show",
        "style clear",
        "style reset",
        "style optimize",
        "language set",
        "language reset",
        "tts settings",
        "server voice",
        "server style",
        "server language",
        "server usage",
        "readaloud channel add",
        "readaloud channel remove",
        "readaloud settings",
        "readaloud set",
        "readaloud me",
        "readaloud nickname",
        "dictionary add",
        "dictionary remove",
        "dictionary list",
    }
    uses_stack = {"speak", "Read aloud", "voice preview", "style show", "tts settings"}
    uses_voice = {
        "speak",
        "Read aloud",
        "voice preview",
        "tts join",
        "tts leave",
        "tts skip",
        "tts stop",
        "tts pause",
        "tts resume",
        "tts queue",
        "readaloud channel add",  # says whether the bot is in voice to read it
    }
    expected = {"storage": uses_storage, "stack": uses_stack, "voice": uses_voice}
    want = set().union(*expected.values()) if broken == "all" else expected[broken]
    assert failed == want


async def test_usage_shows_the_last_endpoint_error_members_met(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    fake_endpoint.fault = "error:InvalidApiKey"  # engine=api: no backup voice, the member sees it
    speak = rig.interaction()
    await run_command(rig.bot, rig.cog("SpeechCog").speak, speak, text="Hello", attach=True)
    assert "code InvalidApiKey" in speak.log.last.text()
    reply = await server(rig, "server_usage")
    embed = reply.log.last.embed
    assert embed is not None
    fields = {str(f.name): str(f.value) for f in embed.fields}
    value = fields["Last speech service error members met"]
    assert re.fullmatch(r"InvalidApiKey, request id [0-9a-f-]{36} · <t:\d+:R>", value), value
    other = rig.add_guild()
    assert rig.bot.last_endpoint_error(other.id) is None  # per server
