"""The command sweep's pieces: every command of a tree (slash commands, subcommands and the
context menu), the sample options that make each one run, and the rig with every cog."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from discord import app_commands

from cogs.dictionary import DictionaryCog
from cogs.readaloud import ReadAloudCog
from tests.standins.discord_objects import BotRig, MockMessage, open_bot_rig
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import make_settings


@contextlib.asynccontextmanager
async def open_sweep_rig(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[BotRig]:
    """The bot rig with every extension loaded (the rig loads the four core cogs; the sweep needs
    every one of bot.app.bot.EXTENSIONS), the endpoint only (no backup voice), one attempt."""
    settings = make_settings(
        fake_endpoint, tmp_path, engine="api", retry_attempts=1, guild_chars_per_day=10_000
    )
    async with open_bot_rig(settings, session) as rig:
        await rig.bot.add_cog(ReadAloudCog(rig.bot))
        await rig.bot.add_cog(DictionaryCog(rig.bot))
        yield rig


def all_commands(
    tree: app_commands.CommandTree[Any],
) -> list[app_commands.Command[Any, ..., Any] | app_commands.ContextMenu]:
    found: list[Any] = []

    def walk(command: Any) -> None:
        if isinstance(command, app_commands.Group):
            for sub in command.commands:
                walk(sub)
        else:
            found.append(command)

    for command in tree.get_commands():  # every type: slash commands and the context menu
        walk(command)
    return found


SAMPLE_OPTIONS = {
    "text": "hello",
    "voice": "Cherry",
    "instructions": "calm",
    "language": "English",
    "mode": "on",
    "option": "xsaid",
    "value": "off",
    "word": "Parla",
    "reading": "par la",
}


def options_for(command: Any) -> dict[str, Any]:
    if isinstance(command, app_commands.ContextMenu):
        return {"message": MockMessage(content="hello there")}
    return {p.name: SAMPLE_OPTIONS[p.name] for p in command.parameters if p.required}
