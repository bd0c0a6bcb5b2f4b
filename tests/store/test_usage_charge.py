"""The daily budgets are charged with what the endpoint reports it spoke, to the right server:
cache hits and failures cost nothing, and audio made by a server's player is that server's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.standins.discord_objects import BotRig, open_bot_rig, run_command
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import make_settings


async def usage_settles(rig: BotRig, expected: int) -> int:
    for _ in range(200):
        usage = await rig.bot.storage.get_usage(rig.guild.id)
        if usage.guild_characters == expected:
            return expected
        await asyncio.sleep(0.01)
    return (await rig.bot.storage.get_usage(rig.guild.id)).guild_characters


async def test_endpoint_characters_are_charged_to_the_server_once(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1)
    async with open_bot_rig(settings, session) as rig:
        cog = rig.cog("SpeechCog")
        text = "Charge me for this sentence"
        await run_command(rig.bot, cog.speak, rig.interaction(rig.member()), text=text, attach=True)
        assert await usage_settles(rig, len(text)) == len(text)
        # The same sentence again is a cache hit: no endpoint call, no charge.
        await run_command(rig.bot, cog.speak, rig.interaction(rig.member("bob")), text=text, attach=True)
        assert fake_endpoint.request_count == 1
        # A failed request costs nothing.
        fake_endpoint.fault = "error:InternalError"
        await run_command(
            rig.bot, cog.speak, rig.interaction(rig.member("cy")), text="This one fails", attach=True
        )
        fake_endpoint.fault = None
        # Audio made by the server's player (voice channel) is charged to the server too.
        member = rig.member("dee", in_voice=True)
        await run_command(rig.bot, cog.speak, rig.interaction(member), text="Spoken in voice")
        await rig.vc.drain()
        total = len(text) + len("Spoken in voice")
        assert await usage_settles(rig, total) == total
        usage = await rig.bot.storage.get_usage(rig.guild.id)
        assert usage.global_characters == total
