"""/readaloud channel|settings|set|me|nickname and /dictionary add|remove|list: what a member
sees, what is stored, who may do what, and that the listener follows the stored settings."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from bot.readaloud.rules import Verdict
from bot.store.models import GuildReadAloud
from tests.standins.discord_objects import MockInteraction, MockTextChannel, permissions, run_command
from tests.standins.fake_api import FakeEndpoint
from tests.standins.readaloud_rig import MockRole, ReadRig, chat_message, open_readaloud_rig
from tests.standins.settings import make_settings

MANAGE = permissions(manage_guild=True)
MEMBER = permissions(send_messages=True)
NEEDS_MANAGE = re.compile(r"You need the Manage (Guild|Server) permission for this command\.")


@pytest.fixture
async def rr(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[ReadRig]:
    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1)
    async with open_readaloud_rig(settings, session) as r:
        roles = [MockRole(name="Muted"), MockRole(name="Readers")]
        r.guild.roles = roles
        r.guild.get_role.side_effect = lambda role_id: next((x for x in roles if x.id == role_id), None)
        channels = [r.text, r.voice]
        r.guild.get_channel.side_effect = lambda cid: next((c for c in channels if c.id == cid), None)
        yield r


async def run(
    rr: ReadRig, command: str, /, *, perms: discord.Permissions = MANAGE, user: Any = None, **options: Any
) -> MockInteraction:
    interaction = rr.rig.interaction(user, perms=perms)
    cog = rr.dictionary if command.startswith("dictionary_") else rr.cog
    await run_command(rr.bot, getattr(cog, command), interaction, **options)
    assert interaction.log.answered and interaction.log.last.ephemeral
    return interaction


def said(interaction: MockInteraction) -> str:
    return interaction.log.last.text()


# ----------------------------------------------------------------------------- channels
async def test_channel_add_and_remove(rr: ReadRig) -> None:
    storage = rr.bot.storage
    reply = await run(rr, "channel_add")  # default: the channel the command is used in
    assert said(reply) == (
        f"I will read messages in {rr.text.mention} aloud while I'm in a voice channel. "
        "Bring me into your voice channel with /tts join."
    )
    assert (await storage.get_read_aloud(rr.guild.id)).channel_ids == {rr.text.id}
    assert said(await run(rr, "channel_add", channel=rr.text)) == f"{rr.text.mention} is already read aloud."
    await rr.bring_bot()
    reply = await run(rr, "channel_add", channel=rr.voice)
    assert "/tts join" not in said(reply)
    assert (await storage.get_read_aloud(rr.guild.id)).channel_ids == {rr.text.id, rr.voice.id}
    assert said(await run(rr, "channel_remove")) == f"I no longer read {rr.text.mention} aloud."
    assert said(await run(rr, "channel_remove")) == f"{rr.text.mention} was not read aloud."
    assert (await storage.get_read_aloud(rr.guild.id)).channel_ids == {rr.voice.id}


async def test_a_bound_channel_is_read_and_an_unbound_one_no_longer(rr: ReadRig) -> None:
    await rr.bring_bot()
    alice = rr.member("alice")
    assert (await rr.cog.handle_message(chat_message(rr.text, alice, "a"))).verdict is Verdict.CHANNEL
    await run(rr, "channel_add")
    assert (await rr.cog.handle_message(chat_message(rr.text, alice, "b"))).verdict is Verdict.READ
    await run(rr, "channel_remove")
    assert (await rr.cog.handle_message(chat_message(rr.text, alice, "c"))).verdict is Verdict.CHANNEL


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("channel_add", {}),
        ("channel_remove", {}),
        ("settings_set", {"option": "xsaid", "value": "off"}),
        ("dictionary_add", {"word": "gg", "reading": "good game"}),
        ("dictionary_remove", {"word": "gg"}),
    ],
)
async def test_server_settings_need_manage_server(rr: ReadRig, name: str, options: dict[str, Any]) -> None:
    await rr.bot.storage.add_dictionary_entry(rr.guild.id, "gg", "good game")
    reply = await run(rr, name, perms=MEMBER, **options)
    assert NEEDS_MANAGE.fullmatch(reply.log.last.content or "")
    settings = await rr.bot.storage.get_read_aloud(rr.guild.id)
    assert settings.channel_ids == frozenset() and settings.xsaid
    assert dict(await rr.bot.storage.list_dictionary(rr.guild.id)) == {"gg": "good game"}


# ----------------------------------------------------------------------------- settings
async def test_settings_shows_the_defaults(rr: ReadRig) -> None:
    await rr.bot.storage.add_bound_channel(rr.guild.id, rr.text.id)
    reply = await run(rr, "settings_show", perms=MEMBER)  # anyone may look
    embed = reply.log.last.embed
    assert embed is not None
    fields = {f.name: f.value for f in embed.fields}
    assert fields == {
        "channels": rr.text.mention,
        "text_in_voice": "on",
        "require_voice": "on",
        "read_bots": "off",
        "skip_silent": "on",
        "deny_role": "none",
        "required_role": "none",
        "ignore_prefix": "`!`",
        "autojoin": "off",
        "xsaid": "on",
        "emoji": "read their names",
        "max_length": "300 characters",
    }


@pytest.mark.parametrize(
    ("option", "value", "field", "stored", "shown"),
    [
        ("xsaid", "off", "xsaid", False, "off"),
        ("autojoin", "yes", "autojoin", True, "on"),
        ("text_in_voice", "false", "text_in_voice", False, "off"),
        ("require_voice", "OFF", "require_voice", False, "off"),
        ("read_bots", "on", "read_bots", True, "on"),
        ("skip_silent", "off", "skip_silent", False, "off"),
        ("ignore_prefix", "?", "ignore_prefix", "?", "`?`"),
        ("ignore_prefix", "none", "ignore_prefix", "", "none"),
        ("emoji", "none", "emoji_mode", "none", "skipped"),
        ("max_length", "150", "max_length", 150, "150 characters"),
        ("deny_role", "muted", "deny_role_id", 0, "<@&ROLE0>"),
        ("required_role", "<@&ROLE1>", "required_role_id", 1, "<@&ROLE1>"),
        ("required_role", "ROLE1", "required_role_id", 1, "<@&ROLE1>"),
    ],
)
async def test_set_each_option(
    rr: ReadRig, option: str, value: str, field: str, stored: Any, shown: str
) -> None:
    roles = rr.guild.roles

    def fill(text: str) -> str:
        for i, role in enumerate(roles):
            text = text.replace(f"ROLE{i}", str(role.id))
        return text

    if field.endswith("_role_id"):
        stored = roles[stored].id
    reply = await run(rr, "settings_set", option=option, value=fill(value))
    assert said(reply) == f"{option} set to **{fill(shown)}**."
    assert getattr(await rr.bot.storage.get_read_aloud(rr.guild.id), field) == stored


async def test_clearing_a_role(rr: ReadRig) -> None:
    await run(rr, "settings_set", option="deny_role", value="Muted")
    reply = await run(rr, "settings_set", option="deny_role", value="none")
    assert said(reply) == "deny_role set to **none**."
    assert (await rr.bot.storage.get_read_aloud(rr.guild.id)).deny_role_id is None


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("xsaid", "maybe", "Xsaid must be on or off."),
        ("max_length", "5", "The length limit must be a whole number from 20 to 2000."),
        ("max_length", "lots", "The length limit must be a whole number from 20 to 2000."),
        ("deny_role", "Nobody", "I can't find the role 'Nobody' in this server."),
        ("ignore_prefix", "!!!!!!!!!", "The ignore prefix is too long (at most 8 characters)."),
        ("emoji", "loud", "Emoji must be name (read their names) or none (skip them)."),
        ("volume", "on", "Unknown setting 'volume'."),
    ],
)
async def test_bad_values_are_refused(rr: ReadRig, option: str, value: str, message: str) -> None:
    reply = await run(rr, "settings_set", option=option, value=value)
    assert said(reply).startswith(message)
    assert await rr.bot.storage.get_read_aloud(rr.guild.id) == GuildReadAloud()


async def test_value_autocomplete_follows_the_option(rr: ReadRig) -> None:
    cog: Any = rr.cog  # the decorated autocomplete callback, called as discord.py does
    interaction = rr.rig.interaction(perms=MANAGE)
    interaction.namespace = SimpleNamespace(option="xsaid")
    assert [c.value for c in await cog.settings_set_value_autocomplete(interaction, "")] == ["on", "off"]
    interaction.namespace = SimpleNamespace(option="required_role")
    assert [c.value for c in await cog.settings_set_value_autocomplete(interaction, "")] == [
        "none",
        "Muted",
        "Readers",
    ]
    assert [c.value for c in await cog.settings_set_value_autocomplete(interaction, "rea")] == ["Readers"]
    interaction.namespace = SimpleNamespace(option=None)
    assert await cog.settings_set_value_autocomplete(interaction, "") == []


# ----------------------------------------------------------------------------- members
@pytest.mark.parametrize("mode", ["on", "off", "auto"])
async def test_me_sets_the_members_mode(rr: ReadRig, mode: str) -> None:
    alice = rr.member("alice")
    reply = await run(rr, "me", perms=MEMBER, user=alice, mode=mode)
    assert (await rr.bot.storage.get_member(rr.guild.id, alice.id)).mode == mode
    expected = {"on": "read-aloud channels", "off": "I will not read", "auto": "every channel"}[mode]
    assert expected in said(reply)
    await rr.bring_bot()
    verdict = (
        await rr.cog.handle_message(chat_message(MockTextChannel(rr.guild), alice, "hi there"))
    ).verdict
    assert verdict is {"on": Verdict.CHANNEL, "off": Verdict.OPTED_OUT, "auto": Verdict.READ}[mode]


async def test_nickname_for_oneself_and_for_others(rr: ReadRig) -> None:
    storage = rr.bot.storage
    alice = rr.member("alice")
    bob = rr.member("bob")
    reply = await run(rr, "nickname", perms=MEMBER, user=alice, name="  Ally  ")
    assert said(reply) == "Your spoken name is now **Ally**."
    assert (await storage.get_member(rr.guild.id, alice.id)).nickname == "Ally"
    reply = await run(rr, "nickname", perms=MEMBER, user=alice, name="Bobby", member=bob)
    assert NEEDS_MANAGE.fullmatch(reply.log.last.content or "")
    assert (await storage.get_member(rr.guild.id, bob.id)).nickname is None
    reply = await run(rr, "nickname", perms=MANAGE, user=alice, name="Bobby", member=bob)
    assert said(reply) == "Bob's spoken name is now **Bobby**."
    reply = await run(rr, "nickname", perms=MEMBER, user=alice)
    assert said(reply) == "Your spoken name is cleared: I say the display name (Alice)."
    assert (await storage.get_member(rr.guild.id, alice.id)).nickname is None
    reply = await run(rr, "nickname", perms=MEMBER, user=alice, name="x" * 40)
    assert said(reply) == "The spoken nickname is too long (at most 32 characters)."
    # The listener uses it.
    await rr.bind()
    await rr.bring_bot()
    bob.join_voice(rr.voice)
    await rr.cog.handle_message(chat_message(rr.text, bob, "hello"))
    assert rr.texts() == ["Bobby said, hello"]


# ----------------------------------------------------------------------------- dictionary
async def test_dictionary_add_list_remove(rr: ReadRig) -> None:
    reply = await run(rr, "dictionary_list", perms=MEMBER)
    assert said(reply) == "The dictionary is empty. Add words with /dictionary add."
    assert said(await run(rr, "dictionary_add", word="GG", reading="good game")) == (
        "Added: **GG** is read as “good game”."
    )
    assert said(await run(rr, "dictionary_add", word="gg", reading="well played")) == (
        "Updated: **gg** is read as “well played”."
    )
    await run(rr, "dictionary_add", word="afk", reading="away from keyboard")
    reply = await run(rr, "dictionary_list", perms=MEMBER)
    embed = reply.log.last.embed
    assert embed is not None and embed.title == "Pronunciation dictionary (2)"
    assert embed.description == "**afk** → away from keyboard\n**gg** → well played"
    await rr.bind()
    await rr.bring_bot()
    await rr.cog.handle_message(chat_message(rr.text, rr.member("alice"), "GG, brb afk"))
    assert rr.texts() == ["Alice said, well played, brb away from keyboard"]
    assert said(await run(rr, "dictionary_remove", word="GG")) == "Removed **GG**."
    assert said(await run(rr, "dictionary_remove", word="gg")) == "**gg** is not in the dictionary."
    assert said(await run(rr, "dictionary_add", word="  ", reading="x")) == "The dictionary word is empty."


async def test_a_long_dictionary_is_listed_in_part(rr: ReadRig) -> None:
    for i in range(75):
        await rr.bot.storage.add_dictionary_entry(rr.guild.id, f"word{i:02d}", f"reading {i}")
    embed = (await run(rr, "dictionary_list", perms=MEMBER)).log.last.embed
    assert embed is not None and embed.description is not None
    lines = embed.description.splitlines()
    assert len(lines) == 61 and lines[-1] == "… and 15 more"


# ----------------------------------------------------------------------------- registration
def walk(command: Any) -> list[Any]:
    if isinstance(command, app_commands.Group):
        return [c for sub in command.commands for c in walk(sub)]
    return [command]


async def test_commands_are_registered_and_valid_for_discord(rr: ReadRig) -> None:
    tree = rr.bot.tree
    names = sorted(
        c.qualified_name
        for top in (tree.get_command("readaloud"), tree.get_command("dictionary"))
        for c in walk(top)
    )
    assert names == [
        "dictionary add",
        "dictionary list",
        "dictionary remove",
        "readaloud channel add",
        "readaloud channel remove",
        "readaloud me",
        "readaloud nickname",
        "readaloud set",
        "readaloud settings",
    ]
    for name in ("readaloud", "dictionary"):
        command = tree.get_command(name)
        assert isinstance(command, app_commands.Group) and command.guild_only
        payload = command.to_dict(tree)
        assert len(payload["description"]) <= 100
    set_command = rr.cog.settings_set
    choices = next(p for p in set_command.parameters if p.name == "option").choices
    assert len(choices) == 11 and all(len(c.name) <= 100 for c in choices)


async def test_the_extension_loads_as_the_bot_loads_it(rr: ReadRig) -> None:
    from bot.app.bot import EXTENSIONS

    assert "cogs.readaloud" in EXTENSIONS
    await rr.bot.remove_cog("ReadAloudCog")
    await rr.bot.load_extension("cogs.readaloud")
    cog = rr.bot.get_cog("ReadAloudCog")
    assert cog is not None
    listeners = {name for name, _ in cog.get_listeners()}
    assert listeners == {
        "on_message",
        "on_raw_message_edit",
        "on_raw_message_delete",
        "on_raw_bulk_message_delete",
    }
    await rr.bot.unload_extension("cogs.readaloud")
