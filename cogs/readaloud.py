"""Read-aloud mode: the message listeners and `/readaloud …` (`/dictionary …` is cogs/dictionary.py).

Thin: the rules, the text and the read-aloud flow are in bot.readaloud.flow (and bot.text.clean);
this module translates a `discord.Message` into plain data (`incoming`: `message_facts`,
`message_info`), implements the flow's ports over the bot (`ServerVoiceAdapter`, the storage,
the usage limits, the channel), sends the notices, and holds the listeners and commands.

- `on_message`: accepted messages are queued in arrival order per server (an `OrderedLine`
  ticket is taken before the first await), in the author's voice, style and language.
- `on_raw_message_edit`: a message whose content changed before it was spoken is dropped from
  the queue (not re-read: that would repeat it out of order); one already playing finishes.
- `on_raw_message_delete` / `on_raw_bulk_message_delete`: a deleted message is never read —
  dropped from the queue, or stopped if it is playing (its endpoint stream is closed).
- Notices (too fast, queue full, could not join, usage limits) are plain channel messages that
  delete themselves after `NOTICE_LIFETIME` seconds, at most one per window; endpoint errors
  are reported once per error code per server per 5 minutes, with the code and request id.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.bot import ParlaBot
from bot.base.errors import InputError, ParlaError
from bot.base.i18n import join, say
from bot.readaloud.flow import NOTICE_LIFETIME, IncomingMessage, Outcome, ReadAloudCore, ReadAloudPorts
from bot.readaloud.rules import MessageFacts, Verdict
from bot.readaloud.settings import (
    SETTING_OPTIONS,
    describe_read_aloud,
    display_setting,
    parse_setting,
    setting_option,
    value_hints,
)
from bot.readaloud.tags import deleted_predicate, edited_predicate
from bot.store.models import MAX_NICKNAME_CHARS, READ_MODES, ReadMode
from bot.voice.errors import VoiceError
from bot.voice.service import VoiceService
from bot.voice.utterance import Utterance

from ._common import channel_mention, guild_id_of, message_info, reply_text, server_text

__all__ = ["Outcome", "ReadAloudCog", "ServerVoiceAdapter", "incoming", "message_facts", "setup"]

log = logging.getLogger(__name__)

BindableChannel = discord.TextChannel | discord.VoiceChannel | discord.StageChannel
_ROLE_MENTION = re.compile(r"<@&(\d{15,25})>")

SETTING_CHOICES = [
    app_commands.Choice(name=f"{o.name} — {o.description}"[:100], value=o.name) for o in SETTING_OPTIONS
]
MODE_CHOICES = [
    app_commands.Choice(name="on — read my messages (the server's rules apply)", value="on"),
    app_commands.Choice(name="off — never read my messages", value="off"),
    app_commands.Choice(name="auto — read me in every channel while I'm in voice with the bot", value="auto"),
]


# --------------------------------------------------------------------------------------------
# discord.Message → plain data
# --------------------------------------------------------------------------------------------


def message_facts(message: discord.Message, bot_voice_id: int | None) -> MessageFacts:
    """What the acceptance rules need, read from `message` and the voice states now
    (`bot_voice_id`: the voice channel the bot is connected to in the server)."""
    author = message.author
    role_ids: frozenset[int] = frozenset()
    author_voice_id: int | None = None
    if isinstance(author, discord.Member):
        role_ids = frozenset(r.id for r in author.roles)
        state = author.voice
        if state is not None and state.channel is not None:
            author_voice_id = state.channel.id
    return MessageFacts(
        channel_id=message.channel.id,
        author_id=author.id,
        content=message.content,
        author_is_bot=bool(author.bot),
        webhook=message.webhook_id is not None,
        system=bool(message.is_system()),
        silent=bool(message.flags.suppress_notifications),
        role_ids=role_ids,
        author_voice_id=author_voice_id,
        bot_voice_id=bot_voice_id,
    )


def incoming(message: discord.Message, guild: discord.Guild) -> IncomingMessage:
    """`message` as the read-aloud flow takes it: ids now, facts and cleaner view on demand."""
    return IncomingMessage(
        guild_id=guild.id,
        message_id=message.id,
        channel_id=message.channel.id,
        author_id=message.author.id,
        author_mention=message.author.mention,
        content=message.content,
        facts=lambda bot_voice_id: message_facts(message, bot_voice_id),
        info=lambda nicknames: message_info(message, nicknames),
    )


class ServerVoiceAdapter:
    """`bot.readaloud.flow.ServerVoice` over the bot's voice service, for one message's server
    and author."""

    def __init__(self, voice: VoiceService, guild: discord.Guild, author: discord.abc.User) -> None:
        self._voice = voice
        self._guild = guild
        self._author = author

    def connected_channel_id(self) -> int | None:
        channel = self._voice.connected_channel(self._guild)
        return channel.id if channel is not None else None

    def queue_full(self) -> int | None:
        return self._voice.queue_full(self._guild.id)

    async def join_author(self) -> ParlaError | None:
        if not isinstance(self._author, discord.Member):
            return None
        try:
            await self._voice.join(self._author)
        except VoiceError as exc:
            return exc
        return None

    def enqueue(self, utterance: Utterance) -> int:
        return self._voice.enqueue(self._guild.id, utterance)


def role_finder(guild: discord.Guild) -> Callable[[str], int | None]:
    """Find a role by mention, id or name (case-insensitive)."""

    def find(text: str) -> int | None:
        mention = _ROLE_MENTION.fullmatch(text.strip())
        wanted = mention.group(1) if mention else text.strip()
        if wanted.isdigit():
            role = guild.get_role(int(wanted))
            return role.id if role is not None else None
        folded = wanted.removeprefix("@").casefold()
        for role in guild.roles:
            if role.name.casefold() == folded:
                return role.id
        return None

    return find


def role_label(guild: discord.Guild) -> Callable[[int], str]:
    def label(role_id: int) -> str:
        role = guild.get_role(role_id)
        return role.mention if role is not None else say("readaloud.deleted_role", id=role_id)

    return label


def channel_label(guild: discord.Guild) -> Callable[[int], str]:
    def label(channel_id: int) -> str:
        channel = guild.get_channel(channel_id)
        return channel.mention if channel is not None else say("readaloud.deleted_channel", id=channel_id)

    return label


# --------------------------------------------------------------------------------------------
# The cog
# --------------------------------------------------------------------------------------------


class ReadAloudCog(commands.Cog):
    readaloud = app_commands.Group(
        name="readaloud", description="Read messages aloud in the voice channel", guild_only=True
    )
    channel = app_commands.Group(
        name="channel", description="Which text channels are read aloud (Manage Server)", parent=readaloud
    )

    def __init__(self, bot: ParlaBot, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.bot = bot
        self.core = ReadAloudCore(clock=clock)
        self.notice_lifetime: float | None = NOTICE_LIFETIME

    # ------------------------------------------------------------------ listeners
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        await self.handle_message(message)

    async def handle_message(self, message: discord.Message) -> Outcome:
        """Read `message` aloud if the server's rules accept it; see bot.readaloud.flow."""
        guild = message.guild
        if guild is None:
            return Outcome(Verdict.CHANNEL)
        me = self.bot.user
        if me is not None and message.author.id == me.id:
            return Outcome(Verdict.SELF)
        # No await before the core's: its ticket keeps the order of arrival.
        outcome = await self.core.handle(incoming(message, guild), self._ports(message, guild))
        if outcome.notice:
            mention = outcome.notice.startswith(message.author.mention)
            notice = server_text(guild, outcome.notice)  # read by the channel: the server's language
            await self._send(message.channel, notice, mention=message.author if mention else None)
        return outcome

    def _ports(self, message: discord.Message, guild: discord.Guild) -> ReadAloudPorts:
        channel = message.channel

        async def report(notice: str) -> None:
            await self._send(channel, server_text(guild, notice), temporary=False)

        return ReadAloudPorts(
            storage=self.bot.storage,
            voice=ServerVoiceAdapter(self.bot.voice, guild, message.author),
            admit=self.bot.admission.admit,
            backup_notice=self.bot.backup_notice,
            report=report,
            note_error=self.bot.note_endpoint_error,
        )

    async def _send(
        self,
        channel: Any,
        content: str,
        *,
        mention: discord.abc.User | None = None,
        temporary: bool = True,
    ) -> None:
        """A notice in `channel`; a temporary one deletes itself after `notice_lifetime`."""
        delete_after = self.notice_lifetime if temporary else None
        allowed = (
            discord.AllowedMentions(users=[mention])
            if mention is not None
            else discord.AllowedMentions.none()
        )
        try:
            if delete_after is not None:
                await channel.send(content, delete_after=delete_after, allowed_mentions=allowed)
            else:
                await channel.send(content, allowed_mentions=allowed)
        except discord.HTTPException as exc:
            log.info("could not send a read-aloud notice: %r", exc)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if payload.guild_id is not None:
            content = payload.message.content if payload.message is not None else None
            self.drop_edited(payload.guild_id, payload.message_id, content)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            self.drop_deleted(payload.guild_id, frozenset({payload.message_id}))

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            self.drop_deleted(payload.guild_id, frozenset(payload.message_ids))

    def drop_edited(self, guild_id: int, message_id: int, content: str | None) -> list[Utterance]:
        """An edited message that has not started playing is dropped (its content changed)."""
        self.core.inflight.edited(message_id, content)
        predicate = edited_predicate(message_id, content)
        removed = self.bot.voice.remove_unplayed(guild_id, lambda u: predicate(u.tag))
        if removed:
            self.core.forget_speaker(guild_id)
        return removed

    def drop_deleted(self, guild_id: int, message_ids: frozenset[int]) -> list[Utterance]:
        """Deleted messages are never read: dropped from the queue, or stopped while playing."""
        self.core.inflight.deleted(message_ids)
        predicate = deleted_predicate(message_ids)
        removed = self.bot.voice.remove(guild_id, lambda u: predicate(u.tag), include_current=True)
        if removed:
            self.core.forget_speaker(guild_id)
        return removed

    # ------------------------------------------------------------------ /readaloud channel
    @channel.command(name="add", description="Read this channel (or another) aloud")
    @app_commands.describe(channel="The channel to read (default: this one)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def channel_add(
        self, interaction: discord.Interaction, channel: BindableChannel | None = None
    ) -> None:
        guild_id = guild_id_of(interaction)
        target = channel or interaction.channel
        if target is None:
            raise InputError(say("readaloud.channel.pick"))
        added = await self.bot.storage.add_bound_channel(guild_id, target.id)
        where = channel_mention(target)
        if not added:
            content = say("readaloud.channel.already", channel=where)
        else:
            content = say("readaloud.channel.added", channel=where)
            if interaction.guild is not None and self.bot.voice.connected_channel(interaction.guild) is None:
                content = join(" ", (content, say("readaloud.channel.join_hint")))
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)

    @channel.command(name="remove", description="Stop reading a channel aloud")
    @app_commands.describe(channel="The channel to stop reading (default: this one)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def channel_remove(
        self, interaction: discord.Interaction, channel: BindableChannel | None = None
    ) -> None:
        guild_id = guild_id_of(interaction)
        target = channel or interaction.channel
        if target is None:
            raise InputError(say("readaloud.channel.pick_one"))
        removed = await self.bot.storage.remove_bound_channel(guild_id, target.id)
        where = channel_mention(target)
        content = say("readaloud.channel.removed" if removed else "readaloud.channel.not_read", channel=where)
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)

    # ------------------------------------------------------------------ /readaloud settings|set
    @readaloud.command(name="settings", description="Show this server's read-aloud settings")
    async def settings_show(self, interaction: discord.Interaction) -> None:
        guild_id = guild_id_of(interaction)
        guild = interaction.guild
        assert guild is not None
        settings = await self.bot.storage.get_read_aloud(guild_id)
        lines = describe_read_aloud(settings, role_name=role_label(guild), channel_name=channel_label(guild))
        embed = discord.Embed(title=reply_text(interaction, say("readaloud.settings.title")))
        for index, (label, value) in enumerate(lines):
            embed.add_field(
                name=reply_text(interaction, label),
                value=reply_text(interaction, value)[:1024],
                inline=index > 0,
            )
        embed.set_footer(text=reply_text(interaction, say("readaloud.settings.footer")))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @readaloud.command(name="set", description="Change a read-aloud setting (Manage Server)")
    @app_commands.describe(option="The setting", value="on/off, a role, a prefix, a number…")
    @app_commands.choices(option=SETTING_CHOICES)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def settings_set(self, interaction: discord.Interaction, option: str, value: str) -> None:
        guild_id = guild_id_of(interaction)
        guild = interaction.guild
        assert guild is not None
        chosen = setting_option(option)
        parsed = parse_setting(chosen, value, role_finder(guild))
        settings = await self.bot.storage.update_read_aloud(guild_id, **{chosen.field: parsed})
        shown = display_setting(chosen, getattr(settings, chosen.field), role_label(guild))
        content = say("readaloud.set.done", name=chosen.name, value=shown)
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)

    @settings_set.autocomplete("value")
    async def settings_set_value_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        name = getattr(interaction.namespace, "option", None)
        try:
            chosen = setting_option(str(name or ""))
        except InputError:
            return []
        hints = value_hints(chosen)
        if chosen.field.endswith("_role_id") and interaction.guild is not None:
            hints += [r.name for r in interaction.guild.roles if not r.is_default()]
        typed = current.casefold()
        return [app_commands.Choice(name=h[:100], value=h[:100]) for h in hints if typed in h.casefold()][:25]

    # ------------------------------------------------------------------ /readaloud me|nickname
    @readaloud.command(name="me", description="Whether your messages are read aloud")
    @app_commands.describe(mode="on, off, or auto (read in every channel while you are in voice)")
    @app_commands.choices(mode=MODE_CHOICES)
    async def me(self, interaction: discord.Interaction, mode: str) -> None:
        guild_id = guild_id_of(interaction)
        if mode not in READ_MODES:
            raise InputError(say("readaloud.me.modes", modes=", ".join(READ_MODES)))
        read_mode: ReadMode = mode
        await self.bot.storage.set_read_mode(guild_id, interaction.user.id, read_mode)
        content = say(f"readaloud.me.{mode}")
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)

    @readaloud.command(name="nickname", description="The name I say for you (“NAME said”)")
    @app_commands.describe(
        name=f"At most {MAX_NICKNAME_CHARS} characters; leave empty to use your display name",
        member="Someone else's spoken name (Manage Server)",
    )
    async def nickname(
        self,
        interaction: discord.Interaction,
        name: str | None = None,
        member: discord.Member | None = None,
    ) -> None:
        guild_id = guild_id_of(interaction)
        target: discord.abc.User = member or interaction.user
        other = target.id != interaction.user.id
        if other and not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        saved = await self.bot.storage.set_nickname(guild_id, target.id, name)
        whose = "other" if other else "own"
        if saved.nickname is None:
            content = say(f"readaloud.nickname.cleared.{whose}", name=target.display_name)
        else:
            content = say(
                f"readaloud.nickname.set.{whose}", name=target.display_name, nickname=saved.nickname
            )
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)


async def setup(bot: ParlaBot) -> None:
    await bot.add_cog(ReadAloudCog(bot))
