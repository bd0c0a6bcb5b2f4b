"""Discord messages as the core's text cleaner sees them (shared by read-aloud and "Read aloud")."""

from __future__ import annotations

from collections.abc import Mapping

import discord

from bot.text_clean import Attachment, MessageInfo


def _name_of(user: discord.abc.User, nicknames: Mapping[int, str]) -> str:
    return nicknames.get(user.id) or user.display_name


def message_info(message: discord.Message, nicknames: Mapping[int, str]) -> MessageInfo:
    """The message as the cleaner needs it: mentions resolved to display names (the server's
    spoken nicknames passed separately: they win), attachments, stickers, embeds, the author
    and the member replied to."""
    guild = message.guild
    channel_names = {c.id: c.name for c in message.channel_mentions}
    if guild is not None:
        for channel_id in message.raw_channel_mentions:
            if channel_id not in channel_names:
                found = guild.get_channel_or_thread(channel_id)
                if found is not None:
                    channel_names[channel_id] = found.name
    reply_to: str | None = None
    if message.type is discord.MessageType.reply and message.reference is not None:
        resolved = message.reference.resolved
        if isinstance(resolved, discord.Message):
            reply_to = _name_of(resolved.author, nicknames)
    return MessageInfo(
        content=message.content,
        author_name=_name_of(message.author, nicknames),
        user_names={u.id: u.display_name for u in message.mentions},
        spoken_names=nicknames,
        role_names={r.id: r.name for r in message.role_mentions},
        channel_names=channel_names,
        attachments=tuple(
            Attachment(a.filename, a.content_type, bool(a.is_voice_message())) for a in message.attachments
        ),
        stickers=tuple(s.name for s in message.stickers),
        embeds=len(message.embeds),
        reply_to_name=reply_to,
        created_at=message.created_at.timestamp(),
    )
