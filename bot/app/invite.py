"""The invite link: the scopes and the permissions the bot asks for when a server adds it.

`BOT_PERMISSIONS` is what README.md and docs/commands.md state (tests/system/
test_documented_numbers.py pins the number): seeing and writing in channels, files, voice, slash
commands, and Send Voice Messages (1 << 46), since `/speak` and Read aloud answer with a voice
message (without it Discord refuses one with 50013 and the bot sends a file instead).
"""

from __future__ import annotations

from typing import Final

import discord

__all__ = ["BOT_PERMISSIONS", "SCOPES", "invite_url"]

SCOPES: Final = ("bot", "applications.commands")
BOT_PERMISSIONS: Final = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    connect=True,
    speak=True,
    use_application_commands=True,
    send_voice_messages=True,
)


def invite_url(application_id: int | str) -> str:
    """The link that adds the bot to a server with `SCOPES` and `BOT_PERMISSIONS`."""
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope={'+'.join(SCOPES)}&permissions={BOT_PERMISSIONS.value}"
    )
