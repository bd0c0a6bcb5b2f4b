"""When the endpoint fails for a reason that is not the member's, the local engine speaks and
the member is told once (not per message) that a backup voice is in use."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import discord
import pytest

from bot.app.bot import BACKUP_NOTICE
from bot.audio.wav import parse_wav
from bot.speech.stack import local_engine_available
from tests.standins.discord_objects import open_bot_rig, run_command
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import make_settings

pytestmark = pytest.mark.skipif(not local_engine_available(), reason="local engine not installed")


async def test_billing_failure_speaks_with_the_backup_and_tells_the_member_once(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    fake_endpoint.fault = "error:Arrearage"  # out of credit: every request fails
    settings = make_settings(fake_endpoint, tmp_path, engine="auto", retry_attempts=1)
    async with open_bot_rig(settings, session) as rig:
        cog = rig.cog("SpeechCog")
        member = rig.member()
        replies = []
        for text in ("First message", "Second message", "Third message"):
            interaction = rig.interaction(member)
            await run_command(rig.bot, cog.speak, interaction, text=text, attach=True, audio_format="file")
            reply = interaction.log.last
            audio = parse_wav(reply.file_data())
            assert audio.rate == 24000 and len(audio.pcm) > 0  # real speech, not an error
            replies.append(reply.text())
        # The breaker opened on the billing error: later messages do not call the endpoint.
        assert fake_endpoint.request_count == 1
        told = [BACKUP_NOTICE in text for text in replies]
        assert told == [True, False, False], replies  # told at once, then not again
        other = rig.interaction(rig.member("bob"))
        await run_command(rig.bot, cog.speak, other, text="Bob's message", attach=True, audio_format="file")
        assert BACKUP_NOTICE in other.log.last.text()  # each member is told once
        # The notice names the failure behind it, as every other API error does.
        assert re.search(r"speaking\. \(code Arrearage, request id [0-9a-f-]{36}\)", replies[0]), replies[0]
        # and /server usage shows it to the server's managers
        usage = rig.interaction(member, perms=discord.Permissions(manage_guild=True))
        await run_command(rig.bot, rig.cog("ServerCog").server_usage, usage)
        embed = usage.log.last.embed
        assert embed is not None
        fields = {str(f.name): str(f.value) for f in embed.fields}
        last = fields["Last speech service error members met"]
        assert re.fullmatch(r"Arrearage, request id [0-9a-f-]{36} · <t:\d+:R>", last), last
