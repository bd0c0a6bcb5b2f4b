"""/tts join|leave|skip|stop|pause|resume|queue|settings through the real VoiceService and
player, with stand-in channels and a stand-in voice client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest

from tests.standins.discord_objects import (
    BotRig,
    MockMember,
    MockVoiceChannel,
    open_bot_rig,
    permissions,
    run_command,
)
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import make_settings


@pytest.fixture(params=["classic", "shared"])
async def rig(
    request: pytest.FixtureRequest,
    fake_endpoint: FakeEndpoint,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> AsyncIterator[BotRig]:
    """On either voice path: discord.py's `play()` (held until drained) or the shared sender."""
    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1)
    async with open_bot_rig(settings, session, shared_sender=request.param == "shared") as r:
        yield r


async def tts(rig: BotRig, name: str, member: MockMember | None = None, **kwargs: Any) -> str:
    """Run /tts <name>; return what the member saw last (checked ephemeral)."""
    perms = kwargs.pop("perms", None)
    interaction = rig.interaction(member, perms=perms) if perms else rig.interaction(member)
    await run_command(rig.bot, getattr(rig.cog("PlaybackCog"), name), interaction, **kwargs)
    reply = interaction.log.last
    assert reply.ephemeral, reply
    return reply.text()


async def speak(rig: BotRig, member: MockMember, text: str) -> None:
    interaction = rig.interaction(member)
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, checks=False, text=text)
    assert "🔊" in (interaction.log.last.content or ""), interaction.log.last


# ----------------------------------------------------------------------------- join / leave
async def test_join_needs_the_member_in_voice(rig: BotRig) -> None:
    assert await tts(rig, "join", rig.member()) == "Join a voice channel first, then ask again."
    assert rig.guild.voice_client is None


async def test_join_connects_to_the_members_channel(rig: BotRig) -> None:
    member = rig.member(in_voice=True)
    interaction = rig.interaction(member)
    await run_command(rig.bot, rig.cog("PlaybackCog").join, interaction)
    assert interaction.log.deferred == {"ephemeral": True, "thinking": True}
    assert (
        interaction.log.last.content
        == f"🔊 Joined {rig.voice_channel.mention}. Use /speak, or Read aloud on a message."
    )
    assert rig.vc.is_connected() and rig.vc.channel is rig.voice_channel
    assert rig.bot.voice.connected_channel(rig.guild) is rig.voice_channel


async def test_join_names_the_missing_permissions(rig: BotRig) -> None:
    rig.voice_channel.__dict__["bot_permissions"] = permissions(view_channel=True, connect=True)
    text = await tts(rig, "join", rig.member(in_voice=True))
    assert text == "I need the Connect and Speak permissions in #General."
    assert rig.guild.voice_client is None


async def test_join_does_not_steal_the_bot_from_listeners_without_move_members(rig: BotRig) -> None:
    await speak(rig, rig.member("ann", in_voice=True), "Keep me busy here")
    other = MockVoiceChannel(rig.guild, name="Other")
    bob = rig.member("bob")
    bob.join_voice(other)
    text = await tts(rig, "join", bob)
    assert text.startswith(f"I'm busy speaking in {rig.voice_channel.mention}.")
    assert rig.vc.channel is rig.voice_channel
    mod = rig.member("mod")
    mod.join_voice(other)
    text = await tts(rig, "join", mod, perms=permissions(move_members=True))
    assert text.startswith(f"🔊 Joined {other.mention}")
    assert rig.vc.channel is other


async def test_leave_disconnects_and_clears(rig: BotRig) -> None:
    member = rig.member(in_voice=True)
    await speak(rig, member, "Something to say")
    vc = rig.vc
    assert await tts(rig, "leave", member) == f"👋 Left {rig.voice_channel.mention}."
    assert vc.disconnected and rig.guild.voice_client is None
    assert rig.bot.voice.queue(rig.guild.id) == [] and rig.bot.voice.now_playing(rig.guild.id) is None
    assert await tts(rig, "leave", member) == "I'm not in a voice channel."


# ----------------------------------------------------------------------------- queue control
async def test_queue_skip_stop_pause_resume(rig: BotRig) -> None:
    ann = rig.member("ann", in_voice=True)
    bob = rig.member("bob", in_voice=True)
    await speak(rig, ann, "The first message")
    await speak(rig, bob, "The second message")
    await speak(rig, bob, "The third message")
    await rig.vc.wait_playing()

    text = await tts(rig, "queue", ann)
    assert f"Voice channel\n{rig.voice_channel.mention}" in text
    assert "Now\n**Ann**: The first message" in text
    assert "Next (2)\n1. **Bob**: The second message\n2. **Bob**: The third message" in text

    first_source = rig.vc.source
    assert await tts(rig, "skip", ann) == "⏭️ Skipped **Ann**: The first message."
    await rig.vc.wait_playing(not_this=first_source)  # the next one, not the skipped one
    now = rig.bot.voice.now_playing(rig.guild.id)
    assert now is not None and now.text == "The second message"

    assert await tts(rig, "pause", bob) == "⏸️ Paused. /tts resume to continue."
    assert rig.vc.paused
    assert await tts(rig, "pause", bob) == "Already paused (or nothing to pause)."
    assert await tts(rig, "resume", bob) == "▶️ Resumed."
    assert not rig.vc.paused
    assert await tts(rig, "resume", bob) == "I was not paused."

    assert await tts(rig, "stop", ann) == "⏹️ Stopped; 2 messages dropped."
    assert rig.bot.voice.queue(rig.guild.id) == []
    player = rig.bot.voice.manager.get(rig.guild.id)
    assert player is not None
    async with asyncio.timeout(2):  # the stopped playback ends on the next loop turns
        while not player.is_idle:  # noqa: ASYNC110 - no event to wait for: poll each loop turn
            await asyncio.sleep(0)
    assert await tts(rig, "stop", ann) == "Nothing to stop: the queue is empty."
    assert await tts(rig, "skip", ann) == "Nothing is being said right now."
    assert "Now\nnothing" in await tts(rig, "queue", ann) and "nothing queued" in await tts(rig, "queue", ann)


async def test_only_listeners_moderators_or_the_requester_control_playback(rig: BotRig) -> None:
    ann = rig.member("ann", in_voice=True)
    await speak(rig, ann, "Mine to skip")
    await rig.vc.wait_playing()
    outsider = rig.member("zed")
    refused = (
        f"Join {rig.voice_channel.mention} to control what I say there "
        "(or ask someone with the Move Members permission)."
    )
    for command in ("skip", "stop", "pause", "resume", "leave"):
        assert await tts(rig, command, outsider) == refused
    assert rig.bot.voice.now_playing(rig.guild.id) is not None
    # the requester may skip their own message from anywhere
    ann.join_voice(None)
    assert (await tts(rig, "skip", ann)).startswith("⏭️ Skipped **Ann**")
    # a moderator may stop from outside the channel
    await speak(rig, rig.member("bob", in_voice=True), "Another one")
    assert (await tts(rig, "stop", outsider, perms=permissions(move_members=True))).startswith("⏹️ Stopped")


async def test_queued_texts_are_private_to_listeners_who_can_see_the_source(rig: BotRig) -> None:
    ann = rig.member("ann", in_voice=True)
    bob = rig.member("bob", in_voice=True)  # in voice, but cannot see the text channel
    outsider = rig.member("zed")  # not in voice
    rig.guild.get_channel_or_thread.side_effect = {rig.text_channel.id: rig.text_channel}.get
    rig.text_channel.permissions_for.side_effect = lambda m: permissions(view_channel=m is not bob)
    await speak(rig, ann, "A secret plan")
    await speak(rig, ann, "Another secret")
    await rig.vc.wait_playing()
    assert "Now\n**Ann**: A secret plan" in await tts(rig, "queue", ann)
    for viewer in (bob, outsider):
        text = await tts(rig, "queue", viewer)
        assert "secret" not in text
        assert "Now\n**Ann**" in text and "Next (1)\n1. **Ann**" in text
    # Moderators see the texts from anywhere.
    assert "Another secret" in await tts(rig, "queue", outsider, perms=permissions(move_members=True))


async def test_control_while_reconnecting_needs_a_moderator(rig: BotRig) -> None:
    ann = rig.member("ann", in_voice=True)
    await speak(rig, ann, "Still queued")
    await rig.vc.wait_playing()
    rig.vc.connected = False  # the voice connection dropped; discord.py is reconnecting
    refused = (
        "I'm reconnecting to voice. Until I'm back, only members with the Move Members or "
        "Manage Server permission can control me."
    )
    for command in ("skip", "stop", "pause", "resume", "leave"):
        assert await tts(rig, command, rig.member("zed")) == refused
    assert rig.bot.voice.queue(rig.guild.id) == [] and rig.bot.voice.now_playing(rig.guild.id) is not None
    assert (await tts(rig, "stop", ann, perms=permissions(manage_guild=True))).startswith("⏹️ Stopped")


async def test_long_queues_are_summarised(rig: BotRig) -> None:
    members = [rig.member(f"m{i}", in_voice=True) for i in range(13)]
    for i, member in enumerate(members):
        await speak(rig, member, f"Message number {i} " + "word " * 30)
    text = await tts(rig, "queue", members[0])
    assert "Next (12)" in text and "… and 2 more" in text
    assert "10. **M10**" in text and "11. " not in text
    line = next(li for li in text.splitlines() if li.startswith("1. "))
    assert len(line) < 110 and line.endswith("…")


# ----------------------------------------------------------------------------- settings
async def test_settings_show_values_sources_server_defaults_and_engine(rig: BotRig) -> None:
    member = rig.member("ann")
    storage = rig.bot.storage
    await storage.set_guild_default(rig.guild.id, "language", "Japanese")
    await storage.set_user_pref(member.id, None, "instructions", "Cheerful")
    await storage.set_user_pref(member.id, rig.guild.id, "voice", "Momo")
    interaction = rig.interaction(member)
    await run_command(rig.bot, rig.cog("PlaybackCog").settings, interaction)
    embed = interaction.log.last.embed
    assert embed is not None and interaction.log.last.ephemeral
    assert embed.title == "Voice settings for Ann"
    fields = {str(f.name): str(f.value) for f in embed.fields}
    assert fields["Voice"] == "Momo (female, playful and cutesy)\n*your choice in this server*"
    assert fields["Style"] == "“Cheerful”\n*your choice everywhere*"
    assert fields["Language"] == "Japanese\n*this server's default*"
    assert fields["Optimize style"] == "service default\n*built-in default*"
    assert (
        fields["Server defaults"]
        == "Voice: not set\nStyle: not set\nLanguage: Japanese\nOptimize style: not set"
    )
    assert fields["Speech engine"].startswith("The speech service")
    assert (embed.footer.text or "").startswith("Order: your choice in this server")


async def test_tts_commands_need_a_server(rig: BotRig) -> None:
    cog = rig.cog("PlaybackCog")
    assert cog.tts.guild_only
    for name in ("join", "leave", "skip", "stop", "queue", "settings"):
        interaction = rig.interaction(dm=True)
        await run_command(rig.bot, getattr(cog, name), interaction)
        assert interaction.log.last.content == "This command only works in a server."
        assert interaction.log.last.ephemeral


def test_group_payload_is_guild_only() -> None:
    from cogs.playback import PlaybackCog

    assert PlaybackCog.tts.guild_only
    assert isinstance(PlaybackCog.tts, discord.app_commands.Group)
