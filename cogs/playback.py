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
from bot.commands.choices import shorten
from bot.commands.control import ControlFacts, QueueViewer, control_refusal, may_read_queued_text
from bot.commands.settings_view import FIELD_LABELS, describe_settings, display_value, local_style_note
from bot.store.models import PREF_FIELDS, VoiceSettings
from bot.voice.errors import VoiceBusyError, VoiceError
from bot.voice.utterance import Utterance

from ._common import channel_mention

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
            raise VoiceError(
                f"I'm busy speaking in {channel_mention(busy)}. Wait until the queue is done, "
                "or ask someone with the Move Members permission to bring me over."
            ) from None
        await interaction.edit_original_response(
            content=f"🔊 Joined {channel_mention(channel)}. Use /speak, or Read aloud on a message."
        )

    @tts.command(name="leave", description="Disconnect the bot (the queue is cleared)")
    async def leave(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        self._check_control(interaction)
        channel = self.bot.voice.connected_channel(member.guild)
        await interaction.response.defer(thinking=True, ephemeral=True)
        was_connected = await self.bot.voice.leave(member.guild.id)
        content = f"👋 Left {channel_mention(channel)}." if was_connected else "I'm not in a voice channel."
        await interaction.edit_original_response(content=content)

    # ------------------------------------------------------------------ queue control
    @tts.command(name="skip", description="Skip what is being said now")
    async def skip(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        current = self.bot.voice.now_playing(member.guild.id)
        self._check_control(interaction, requester_id=current.requester_id if current else None)
        skipped = self.bot.voice.skip(member.guild.id)
        content = (
            f"⏭️ Skipped {_item(skipped)}." if skipped is not None else "Nothing is being said right now."
        )
        await interaction.response.send_message(content, ephemeral=True)

    @tts.command(name="stop", description="Stop speaking and clear the queue")
    async def stop(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        self._check_control(interaction)
        dropped = self.bot.voice.stop(member.guild.id)
        if dropped:
            noun = "message" if dropped == 1 else "messages"
            content = f"⏹️ Stopped; {dropped} {noun} dropped."
        else:
            content = "Nothing to stop: the queue is empty."
        await interaction.response.send_message(content, ephemeral=True)

    @tts.command(name="pause", description="Pause speaking (the queue is kept)")
    async def pause(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        self._check_control(interaction)
        paused = self.bot.voice.pause(member.guild.id)
        content = "⏸️ Paused. /tts resume to continue." if paused else "Already paused (or nothing to pause)."
        await interaction.response.send_message(content, ephemeral=True)

    @tts.command(name="resume", description="Resume speaking")
    async def resume(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        self._check_control(interaction)
        resumed = self.bot.voice.resume(member.guild.id)
        content = "▶️ Resumed." if resumed else "I was not paused."
        await interaction.response.send_message(content, ephemeral=True)

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

        embed = discord.Embed(title="Speech queue")
        embed.add_field(name="Voice channel", value=channel_mention(channel) if channel else "not connected")
        embed.add_field(name="Now", value=item(current) if current else "nothing", inline=False)
        if waiting:
            lines = [f"{i}. {item(u)}" for i, u in enumerate(waiting[:QUEUE_SHOWN], start=1)]
            if len(waiting) > QUEUE_SHOWN:
                lines.append(f"… and {len(waiting) - QUEUE_SHOWN} more")
            embed.add_field(name=f"Next ({len(waiting)})", value="\n".join(lines), inline=False)
        else:
            embed.add_field(name="Next", value="nothing queued", inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    # ------------------------------------------------------------------ settings
    @tts.command(name="settings", description="Your effective voice settings and where each comes from")
    async def settings(self, interaction: discord.Interaction) -> None:
        member = _member(interaction)
        storage = self.bot.storage
        effective = await storage.resolve_voice_settings(member.id, member.guild.id)
        defaults = await storage.get_guild_defaults(member.guild.id)
        embed = discord.Embed(title=f"Voice settings for {member.display_name}")
        for line in describe_settings(effective):
            embed.add_field(name=line.label, value=f"{line.value}\n*{line.source_label}*", inline=True)
        server_lines = []
        for field in PREF_FIELDS:
            value = defaults.value(field)
            shown = "not set" if value is None else display_value(field, value)
            server_lines.append(f"{FIELD_LABELS[field]}: {shown}")
        embed.add_field(name="Server defaults", value="\n".join(server_lines), inline=False)
        embed.add_field(name="Speech engine", value=self._engine_text(effective), inline=False)
        embed.set_footer(
            text="Order: your choice in this server → your choice everywhere → server default → built-in"
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    def _engine_text(self, settings: VoiceSettings) -> str:
        stack = self.bot.stack
        if stack.client is None:
            return "Local voice (espeak-ng). " + local_style_note(settings.instructions)
        text = "The speech service"
        if stack.backup is not None:
            text += ", with the local voice as backup when it fails"
            if settings.instructions:
                text += f". Backup: {local_style_note(settings.instructions)}"
        return text + ("" if text.endswith(".") else ".")


async def setup(bot: ParlaBot) -> None:
    await bot.add_cog(PlaybackCog(bot))
