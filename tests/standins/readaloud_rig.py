"""Stand-ins for the read-aloud listener tests (in addition to tests/standins/discord_objects.py).

- `open_readaloud_rig`: the real bot rig (storage, speech stack against the fake endpoint,
  voice service with stand-in voice clients) plus the read-aloud cog on a fake clock.
- `chat_message`: a spec'd `discord.Message` with everything the listener reads.
- `MockUser` (webhook authors), `MockRole`, raw edit/delete payloads.
"""

from __future__ import annotations

import contextlib
import unittest.mock
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import discord

from bot.app.bot import ParlaBot
from bot.base.config import Settings
from bot.voice.utterance import Utterance
from cogs.dictionary import DictionaryCog
from cogs.readaloud import ReadAloudCog
from tests.standins.clock import ManualClock
from tests.standins.discord_objects import (
    BotRig,
    CustomMockMixin,
    MockGuild,
    MockMember,
    MockMessage,
    MockTextChannel,
    MockVoiceChannel,
    next_id,
    open_bot_rig,
)


class MockUser(CustomMockMixin, unittest.mock.Mock):
    """A `discord.User` (not a member): webhook authors, users who left."""

    spec_set = discord.User

    def __init__(self, **kwargs: Any) -> None:
        name = kwargs.get("name", "hook")
        user_id = kwargs.pop("id", None) or next_id()
        defaults: dict[str, Any] = {
            "id": user_id,
            "name": name,
            "display_name": kwargs.get("display_name", name.capitalize()),
            "mention": f"<@{user_id}>",
            "bot": True,
        }
        super().__init__(**{**defaults, **kwargs})


class MockRole(CustomMockMixin, unittest.mock.Mock):
    spec_set = discord.Role

    def __init__(self, **kwargs: Any) -> None:
        role_id = kwargs.pop("id", None) or next_id()
        defaults: dict[str, Any] = {"id": role_id, "name": "role", "mention": f"<@&{role_id}>"}
        super().__init__(**{**defaults, **kwargs})
        self.is_default.return_value = False


def chat_message(
    channel: MockTextChannel | MockVoiceChannel,
    author: MockMember | MockUser,
    content: str = "",
    *,
    silent: bool = False,
    webhook: bool = False,
    system: bool = False,
    mentions: list[Any] | None = None,
    role_mentions: list[Any] | None = None,
    channel_mentions: list[Any] | None = None,
    attachments: list[Any] | None = None,
    stickers: list[Any] | None = None,
    reply_to: MockMessage | None = None,
    **kwargs: Any,
) -> MockMessage:
    """A message posted in `channel` (a text channel or a voice channel's chat)."""
    flags = discord.MessageFlags()
    flags.suppress_notifications = silent
    reference = None
    if reply_to is not None:
        reference = unittest.mock.Mock(spec_set=discord.MessageReference, resolved=reply_to)
    message = MockMessage(
        content=content,
        author=author,
        channel=channel,
        guild=channel.guild,
        flags=flags,
        webhook_id=next_id() if webhook else None,
        type=discord.MessageType.reply if reply_to is not None else discord.MessageType.default,
        reference=reference,
        mentions=mentions or [],
        role_mentions=role_mentions or [],
        channel_mentions=channel_mentions or [],
        raw_channel_mentions=[c.id for c in channel_mentions or []],
        stickers=stickers or [],
        attachments=attachments or [],
        embeds=[],
        created_at=datetime.now(UTC),
        **kwargs,
    )
    message.is_system.return_value = system
    return message


def attachment(filename: str, content_type: str | None = None, *, voice: bool = False) -> Any:
    a = unittest.mock.Mock(spec_set=discord.Attachment, filename=filename, content_type=content_type)
    a.is_voice_message.return_value = voice
    return a


def raw_delete(message: MockMessage) -> Any:
    return unittest.mock.Mock(
        spec_set=discord.RawMessageDeleteEvent,
        message_id=message.id,
        channel_id=message.channel.id,
        guild_id=message.guild.id,
        cached_message=message,
    )


def raw_bulk_delete(*messages: MockMessage) -> Any:
    first = messages[0]
    return unittest.mock.Mock(
        spec_set=discord.RawBulkMessageDeleteEvent,
        message_ids={m.id for m in messages},
        channel_id=first.channel.id,
        guild_id=first.guild.id,
        cached_messages=list(messages),
    )


def raw_edit(message: MockMessage, new_content: str) -> Any:
    edited = chat_message(message.channel, message.author, new_content, id=message.id)
    return unittest.mock.Mock(
        spec_set=discord.RawMessageUpdateEvent,
        message_id=message.id,
        channel_id=message.channel.id,
        guild_id=message.guild.id,
        data={"id": str(message.id), "content": new_content},
        cached_message=message,
        message=edited,
    )


@dataclass
class ReadRig:
    rig: BotRig
    cog: ReadAloudCog
    clock: ManualClock
    dictionary: DictionaryCog

    @property
    def bot(self) -> ParlaBot:
        return self.rig.bot

    @property
    def guild(self) -> MockGuild:
        return self.rig.guild

    @property
    def text(self) -> MockTextChannel:
        return self.rig.text_channel

    @property
    def voice(self) -> MockVoiceChannel:
        return self.rig.voice_channel

    def member(self, name: str = "ann", *, in_voice: bool = True, **kwargs: Any) -> MockMember:
        return self.rig.member(name, in_voice=in_voice, **kwargs)

    async def bind(self, channel: Any = None) -> None:
        await self.bot.storage.add_bound_channel(self.guild.id, (channel or self.text).id)

    async def configure(self, **changes: Any) -> None:
        await self.bot.storage.update_read_aloud(self.guild.id, **changes)

    async def bring_bot(self, channel: MockVoiceChannel | None = None) -> None:
        """Connect the bot to `channel` (default: the rig's voice channel)."""
        target = channel or self.voice
        listener = MockMember(name="listener", guild=self.guild)  # stays: the bot is not alone
        listener.join_voice(target)
        await self.bot.voice.join(listener)

    def pending(self) -> list[Utterance]:
        """What the server's player will say: the current utterance, then the queue."""
        player = self.bot.voice.manager.get(self.guild.id)
        if player is None:
            return []
        current = [player.current] if player.current is not None else []
        return current + player.queue()

    def texts(self) -> list[str]:
        return [u.text for u in self.pending()]


@contextlib.asynccontextmanager
async def open_readaloud_rig(
    settings: Settings, session: aiohttp.ClientSession, *, clock: ManualClock | None = None
) -> AsyncIterator[ReadRig]:
    clock = clock or ManualClock(1000.0)
    async with open_bot_rig(settings, session) as rig:
        cog = ReadAloudCog(rig.bot, clock=clock)
        await rig.bot.add_cog(cog)
        dictionary = DictionaryCog(rig.bot)
        await rig.bot.add_cog(dictionary)
        yield ReadRig(rig, cog, clock, dictionary)
