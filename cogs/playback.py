"""`/tts join|leave|skip|stop|pause|resume|queue|settings`: the server's voice player.

Controlling playback (leave, skip, stop, pause, resume) needs being in the bot's voice channel,
or the Move Members permission (moderators), or — for skip — having asked for what is playing;
while the bot is reconnecting, Move Members or Manage Server. `/tts queue` shows the queued
texts only to whom `bot.commands.control.may_read_queued_text` allows; others see speakers.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.bot import ParlaBot
from bot.base.i18n import Text, join, lines, say
from bot.commands.choices import shorten
from bot.commands.control import ControlFacts, QueueViewer, control_refusal, may_read_queued_text
from bot.commands.settings_view import FIELD_LABELS, describe_settings, display_value, local_style_note
from bot.store.models import PREF_FIELDS, VoiceSettings
from bot.voice.errors import VoiceBusyError, VoiceError
from bot.voice.utterance import Utterance

from ._common import channel_mention, reply_text

QUEUE_SHOWN = 10


def _member(interaction: discord.Interaction) -> discord.Member:
    user = interaction.user
    if not isinstance(user, discord.Member) or interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    return user


def _item(utterance: Utterance, width: int = 80, *, shown: bool = True) -> str:
    if not shown:
        return f"**{utterance.requester_name}**"
    return f"**{utterance.requester_name}**: {shorten(utterance.text, width)}"


def _dropped(count: int) -> Text:
    return say("tts.stop.done.one") if count == 1 else say("tts.stop.done.other", count=count)


def _in_channel(member: discord.Member, channel: object) -> bool:
    state = member.voice
    return (
        channel is not None
        and state is not None
        and state.channel is not None
        and state.channel.id == getattr(channel, "id", None)
    )


def _sees_source(member: discord.Member, utterance: Utterance) -> bool:
    """Whether `member` can see the text channel `utterance` comes from."""
    if utterance.source_channel_id is None:
        return False
    channel = member.guild.get_channel_or_thread(utterance.source_channel_id)
    return channel is not None and bool(channel.permissions_for(member).view_channel)


class PlaybackCog(commands.Cog):
    tts = app_commands.Group(name="tts", description="The voice player of this server", guild_only=True)

    def __init__(self, bot: ParlaBot) -> None:
        self.bot = bot

    def _check_control(self, interaction: discord.Interaction, *, requester_id: int | None = None) -> None:
        """Raise unless the member may control the bot's playback here (bot.commands.control)."""
        member = _member(interaction)
        channel = self.bot.voice.connected_channel(member.guild)
        perms = interaction.permissions
        refusal = control_refusal(
            ControlFacts(
                member_id=member.id,
                bot_channel=channel_mention(channel) if channel is not None else None,
                in_bot_channel=_in_channel(member, channel),
                move_members=perms.move_members,
                manage_guild=perms.manage_guild,
                requester_id=requester_id,
                player_exists=self.bot.voice.manager.get(member.guild.id) is not None,
            )
        )
        if refusal is not None:
            raise VoiceError(refusal)

    # ------------------------------------------------------------------ connection
    @tts.command(name="join", description="Bring the bot into your voice channel")
    async def join(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        await interaction.response.defer(thinking=True, ephemeral=True)
        move = interaction.permissions.move_members
        try:
            channel = await self.bot.voice.join(member, move=move)
        except VoiceBusyError:
            busy = self.bot.voice.connected_channel(member.guild)
            raise VoiceError(say("tts.join.busy", channel=channel_mention(busy))) from None
        await interaction.edit_original_response(
            content=reply_text(interaction, say("tts.join.done", channel=channel_mention(channel)))
        )

    @tts.command(name="leave", description="Disconnect the bot (the queue is cleared)")
    async def leave(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        self._check_control(interaction)
        channel = self.bot.voice.connected_channel(member.guild)
        await interaction.response.defer(thinking=True, ephemeral=True)
        was_connected = await self.bot.voice.leave(member.guild.id)
        content = (
            say("tts.leave.done", channel=channel_mention(channel))
            if was_connected
            else say("tts.leave.not_in")
        )
        await interaction.edit_original_response(content=reply_text(interaction, content))

    # ------------------------------------------------------------------ queue control
    @tts.command(name="skip", description="Skip what is being said now")
    async def skip(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        current = self.bot.voice.now_playing(member.guild.id)
        self._check_control(interaction, requester_id=current.requester_id if current else None)
        skipped = self.bot.voice.skip(member.guild.id)
        content = (
            say("tts.skip.done", item=_item(skipped)) if skipped is not None else say("tts.skip.nothing")
        )
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)

    @tts.command(name="stop", description="Stop speaking and clear the queue")
    async def stop(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        self._check_control(interaction)
        dropped = self.bot.voice.stop(member.guild.id)
        content = _dropped(dropped) if dropped else say("tts.stop.nothing")
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)

    @tts.command(name="pause", description="Pause speaking (the queue is kept)")
    async def pause(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        self._check_control(interaction)
        paused = self.bot.voice.pause(member.guild.id)
        content = say("tts.pause.done") if paused else say("tts.pause.already")
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)

    @tts.command(name="resume", description="Resume speaking")
    async def resume(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        self._check_control(interaction)
        resumed = self.bot.voice.resume(member.guild.id)
        content = say("tts.resume.done") if resumed else say("tts.resume.not_paused")
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)

    @tts.command(name="queue", description="What is being said and what comes next")
    async def queue(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        guild_id = member.guild.id
        current = self.bot.voice.now_playing(guild_id)
        waiting = self.bot.voice.queue(guild_id)
        channel = self.bot.voice.connected_channel(member.guild)
        viewer = QueueViewer(_in_channel(member, channel), interaction.permissions.move_members)

        def item(u: Utterance) -> str:
            return _item(u, shown=may_read_queued_text(viewer, sees_source=_sees_source(member, u)))

        def t(value: str) -> str:
            return reply_text(interaction, value)

        embed = discord.Embed(title=t(say("tts.queue.title")))
        embed.add_field(
            name=t(say("tts.queue.channel")),
            value=t(channel_mention(channel) if channel else say("tts.queue.not_connected")),
        )
        embed.add_field(
            name=t(say("tts.queue.now")),
            value=t(item(current) if current else say("tts.queue.nothing")),
            inline=False,
        )
        if waiting:
            rows = [f"{i}. {item(u)}" for i, u in enumerate(waiting[:QUEUE_SHOWN], start=1)]
            more = say("list.more", count=len(waiting) - QUEUE_SHOWN) if len(waiting) > QUEUE_SHOWN else None
            embed.add_field(
                name=t(say("tts.queue.next.count", count=len(waiting))),
                value=t(lines(*rows, more)),
                inline=False,
            )
        else:
            embed.add_field(name=t(say("tts.queue.next")), value=t(say("tts.queue.empty")), inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    # ------------------------------------------------------------------ settings
    @tts.command(name="settings", description="Your effective voice settings and where each comes from")
    async def settings(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        storage = self.bot.storage
        effective = await storage.resolve_voice_settings(member.id, member.guild.id)
        defaults = await storage.get_guild_defaults(member.guild.id)

        def t(value: str) -> str:
            return reply_text(interaction, value)

        embed = discord.Embed(title=t(say("tts.settings.title", name=member.display_name)))
        for line in describe_settings(effective):
            value = say("tts.settings.value", value=line.value, source=line.source_label)
            embed.add_field(name=t(line.label), value=t(value), inline=True)
        server_lines = []
        for field in PREF_FIELDS:
            default = defaults.value(field)
            shown = say("settings.not_set") if default is None else display_value(field, default)
            server_lines.append(say("tts.settings.default", setting=FIELD_LABELS[field], value=shown))
        embed.add_field(name=t(say("tts.settings.defaults")), value=t(lines(*server_lines)), inline=False)
        embed.add_field(
            name=t(say("tts.settings.engine")), value=t(self._engine_text(effective)), inline=False
        )
        embed.set_footer(text=t(say("tts.settings.order")))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    def _engine_text(self, settings: VoiceSettings) -> Text:
        stack = self.bot.stack
        if stack.client is None:
            return join(" ", (say("tts.engine.local"), local_style_note(settings.instructions)))
        if stack.backup is None:
            return say("tts.engine.service")
        if settings.instructions:
            return say("tts.engine.with_backup.style", note=local_style_note(settings.instructions))
        return say("tts.engine.with_backup")


async def setup(bot: ParlaBot) -> None:
    await bot.add_cog(PlaybackCog(bot))
