"""/speak and "Read aloud" outside voice as a Discord voice message: the multipart request
built through discord.py's HTTP layer (flag, one attachment, its fields, an Ogg Opus that decodes
to the synthesized speech), and the file sent instead, with one note, when Discord refuses."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import discord
import numpy as np
import pytest

from bot.audio.clip import Audio
from bot.audio.ogg_opus import read_ogg_opus
from bot.audio.wav import parse_wav
from bot.commands.voice_message import FILE_INSTEAD_NOTE
from tests.standins.audio_checks import decode, needs_opus
from tests.standins.discord_objects import BotRig, ReplyLog, open_bot_rig, permissions, run_command
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import make_settings

pytestmark = needs_opus


@pytest.fixture
async def rig(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[BotRig]:
    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1)
    async with open_bot_rig(settings, session) as r:
        yield r


async def test_attach_sends_a_voice_message_through_discord_py_http(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    interaction = rig.interaction(rig.member(in_voice=True))
    await run_command(
        rig.bot, rig.cog("SpeechCog").speak, interaction, text="Hello voice message", attach=True
    )
    [sent] = rig.http.sent
    assert sent.route.method == "POST" and sent.route.path == "/webhooks/{webhook_id}/{webhook_token}"
    assert sent.route.webhook_id == 4242 and sent.route.webhook_token == interaction.token
    assert sent.payload["flags"] & 8192 and "content" not in sent.payload and "embeds" not in sent.payload
    [meta] = sent.payload["attachments"]
    [(field, data)] = sent.files
    assert field == "files[0]" and meta["filename"].endswith(".ogg")
    waveform = base64.b64decode(meta["waveform"], validate=True)
    assert 1 <= len(waveform) <= 256
    ogg = read_ogg_opus(data)  # a valid Ogg Opus file
    expected = Audio(fake_endpoint.expected_pcm("Hello voice message", "Cherry"), 24_000)
    assert abs(ogg.samples / 48_000 - expected.duration) <= 0.02
    assert abs(meta["duration_secs"] - expected.duration) <= 0.01
    decoded = decode(ogg.packets)[ogg.head.pre_skip : ogg.final_granule]
    assert abs(decoded.size / 48_000 - expected.duration) <= 0.02
    # it decodes to the synthesized speech: the same loudness envelope as the endpoint's PCM
    source = np.frombuffer(expected.pcm, dtype="<i2").astype(np.float64)
    ratio = np.sqrt(np.mean(decoded.astype(np.float64) ** 2)) / np.sqrt(np.mean(source**2))
    assert 0.5 < ratio < 2.0
    # "thinking…" is replaced first (a followup straight after the defer would only edit it,
    # and an edit is never a voice message), then the voice message is a new message and the
    # placeholder goes: the member is left with the voice message alone
    placeholder, reply = interaction.log.replies
    assert placeholder.via == "edit" and placeholder.content == "🔊" and not placeholder.files
    assert reply.via == "followup" and reply.voice_message and reply.content is None
    assert interaction.log.deleted_original and not interaction.log.original_exists
    assert not reply.ephemeral
    assert json.loads(json.dumps(sent.payload)) == sent.payload


async def test_outside_voice_the_default_is_a_voice_message_and_file_keeps_the_wav(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    cog = rig.cog("SpeechCog")
    member = rig.member()
    voice = rig.interaction(member)
    await run_command(rig.bot, cog.speak, voice, text="Default format", checks=False)
    assert voice.log.last.voice_message
    file = rig.interaction(member)
    await run_command(rig.bot, cog.speak, file, text="Default format", audio_format="file", checks=False)
    assert not file.log.last.voice_message
    assert parse_wav(file.log.last.file_data()).pcm == fake_endpoint.expected_pcm("Default format", "Cherry")
    assert len(rig.http.sent) == 1  # the file went the usual way


@pytest.mark.parametrize("code", [50013, 50160])
async def test_refused_voice_message_becomes_the_file_with_one_note(
    rig: BotRig, fake_endpoint: FakeEndpoint, code: int
) -> None:
    rig.http.refuse = code  # e.g. no Send Voice Messages permission
    cog = rig.cog("SpeechCog")
    member = rig.member()
    first = rig.interaction(member)
    await run_command(rig.bot, cog.speak, first, text="Refused please", checks=False)
    reply = first.log.last
    assert not reply.voice_message and FILE_INSTEAD_NOTE in (reply.content or "")
    assert parse_wav(reply.file_data()).pcm == fake_endpoint.expected_pcm("Refused please", "Cherry")
    second = rig.interaction(member)
    await run_command(rig.bot, cog.speak, second, text="Refused again", checks=False)
    assert second.log.last.files and FILE_INSTEAD_NOTE not in (second.log.last.content or "")  # said once


async def test_a_followup_straight_after_the_defer_is_never_a_voice_message() -> None:
    """The stand-in as Discord documents it: directly after a defer, the followup edits the
    "thinking…" message, and IS_VOICE_MESSAGE is ignored there (discord-api-docs #7158)."""
    log = ReplyLog()
    await log.defer(thinking=True)
    log.voice_message(discord.File(io.BytesIO(b"OggS"), filename="a.ogg"), ephemeral=False)
    assert log.last.via == "edit" and not log.last.voice_message
    log.voice_message(discord.File(io.BytesIO(b"OggS"), filename="b.ogg"), ephemeral=False)
    assert log.last.via == "followup" and log.last.voice_message  # a new message


async def test_notes_follow_the_voice_message_privately(rig: BotRig) -> None:
    rig.voice_channel.__dict__["bot_permissions"] = permissions(view_channel=True, connect=True)
    interaction = rig.interaction(rig.member(in_voice=True))
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, text="Can you hear me")
    placeholder, voice, note = interaction.log.replies
    assert placeholder.via == "edit" and interaction.log.deleted_original
    assert voice.voice_message and voice.content is None
    assert note.ephemeral and "I need the Connect and Speak permissions there" in (note.content or "")
