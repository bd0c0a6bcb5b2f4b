"""What Discord refuses in one interaction reply, for the interaction stand-in: content over
2,000 characters, more than 10 embeds, a file over the upload limit (`filesize_limit`), more than
25 autocomplete choices. (A second initial response is refused by `ReplyLog` itself.)"""

from __future__ import annotations

import unittest.mock
from typing import Any

import discord

# Discord's limits for one message (https://discord.com/developers/docs/resources/message):
MAX_CONTENT_CHARS = 2000
MAX_EMBEDS = 10
MAX_CHOICES = 25  # autocomplete answers


def discord_refuses(status: int, code: int, message: str) -> discord.HTTPException:
    """The exception discord.py raises when Discord answers `status` with error `code`."""
    response = unittest.mock.Mock(status=status, reason=message)
    return discord.HTTPException(response, {"code": code, "message": message})


def check_message(content: str | None, embeds: list[Any], files: list[Any], filesize_limit: int) -> None:
    """Refuse what Discord refuses: content over 2000 characters, more than 10 embeds, a file
    over the upload limit."""
    if content is not None and len(content) > MAX_CONTENT_CHARS:
        raise discord_refuses(400, 50035, "Invalid Form Body: content: Must be 2000 or fewer in length.")
    if len(embeds) > MAX_EMBEDS:
        raise discord_refuses(400, 50035, "Invalid Form Body: embeds: Must be 10 or fewer in length.")
    for f in files:
        fp = f.fp
        position = fp.tell()
        fp.seek(0, 2)
        size = fp.tell()
        fp.seek(position)
        if size > filesize_limit:
            raise discord_refuses(413, 40005, "Request entity too large")


# A voice message (https://discord.com/developers/docs/resources/message, IS_VOICE_MESSAGE):
IS_VOICE_MESSAGE = 8192
MAX_WAVEFORM_POINTS = 256


def check_voice_message(payload: dict[str, Any], files: list[tuple[str, bytes]], filesize_limit: int) -> None:
    """Refuse a voice message as Discord does (50160): the flag, no content or embeds, exactly one
    attachment, an Ogg file, `duration_secs` and a base64 `waveform` of at most 256 points."""
    import base64
    import binascii

    def refuse(why: str) -> discord.HTTPException:
        return discord_refuses(400, 50160, f"Cannot send voice message: {why}")

    if not int(payload.get("flags", 0)) & IS_VOICE_MESSAGE:
        raise refuse("the IS_VOICE_MESSAGE flag is missing")
    if payload.get("content") or payload.get("embeds") or payload.get("components"):
        raise refuse("a voice message has no other content")
    attachments = payload.get("attachments") or []
    if len(attachments) != 1 or len(files) != 1:
        raise refuse("exactly one attachment")
    meta = attachments[0]
    name, data = files[0]
    if name != f"files[{meta.get('id')}]":
        raise refuse("the attachment id does not match the file field")
    if len(data) > filesize_limit:
        raise discord_refuses(413, 40005, "Request entity too large")
    if not data.startswith(b"OggS"):
        raise refuse("the file is not Ogg")
    duration = meta.get("duration_secs")
    if not isinstance(duration, (int, float)) or duration <= 0:
        raise refuse("duration_secs is missing")
    try:
        points = base64.b64decode(str(meta.get("waveform", "")), validate=True)
    except binascii.Error:
        raise refuse("the waveform is not base64") from None
    if not 1 <= len(points) <= MAX_WAVEFORM_POINTS:
        raise refuse("the waveform has more than 256 points")
