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
