"""The Bot wires every extension: all cogs load and register the commands members use."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import discord

from bot.app.bot import EXTENSIONS, ParlaBot, make_intents
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import make_settings


async def test_every_extension_loads_and_registers_its_commands(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    bot = ParlaBot(make_settings(fake_endpoint, tmp_path))
    await bot.open_services(session=session)
    try:
        for extension in EXTENSIONS:
            await bot.load_extension(extension)
        names = {command.name for command in bot.tree.get_commands()}
        assert {"speak", "voice", "style", "language", "tts", "server", "readaloud", "dictionary"} <= names
        menus = {c.name for c in bot.tree.get_commands(type=discord.AppCommandType.message)}
        assert "Read aloud" in menus
    finally:
        await bot.close_services()


def test_intents_include_message_content_and_voice_states() -> None:
    intents = make_intents()
    assert intents.message_content and intents.voice_states and intents.guild_messages and intents.guilds
    assert not intents.members and not intents.presences  # no other privileged intent
