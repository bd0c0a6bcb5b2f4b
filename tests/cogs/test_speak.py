"""/speak and "Read aloud", through the real bot, storage, speech stack (against the fake
endpoint) and voice service, with stand-in Discord objects.

What a member would notice: the defer, the ephemeral flag, the confirmation or the file (whose
audio must be the endpoint's), what reached the endpoint and the player, and that every failure
is answered with the right sentence (code and request id for endpoint errors).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.audio.clip import Audio
from bot.audio.ogg_opus import read_ogg_opus
from bot.audio.wav import parse_wav
from bot.speech.request import SpeechRequest
from tests.standins.audio_checks import decode, dominant_hz
from tests.standins.clock import ManualClock
from tests.standins.discord_objects import BotRig, MockMessage, open_bot_rig, permissions, run_command
from tests.standins.fake_api import ERRORS, FakeEndpoint
from tests.standins.gated_engine import GatedEngine
from tests.standins.settings import make_settings

REQUEST_ID = re.compile(r"request id [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# What the member must read for each endpoint error code (written from the API's meaning of
# each code, not from the code under test).
CODE_SENTENCES: dict[str, str] = {
    "InvalidApiKey": "rejected the bot's API key",
    "AccessDenied": "no access to this voice model",
    "AccessDenied.Unpurchased": "no access to this voice model",
    "Model.AccessDenied": "no access to this voice model",
    "ModelNotFound": "model was not found",
    "InvalidParameter": "refused this request as invalid",
    "BadRequest.EmptyInput": "refused this request as invalid",
    "BadRequest.EmptyModel": "refused this request as invalid",
    "BadRequest.EmptyParameters": "refused this request as invalid",
    "DataInspectionFailed": "content moderation",
    "Arrearage": "out of credit",
    "Throttling": "busy (rate limit)",
    "Throttling.RateQuota": "busy (rate limit)",
    "Throttling.AllocationQuota": "quota is used up",
    "InternalError": "internal error",
    "InternalError.Timeout": "internal error",
    "InternalError.Algo": "internal error",
}


def test_every_code_of_the_fake_has_an_expected_sentence() -> None:
    assert set(CODE_SENTENCES) == set(ERRORS)


@pytest.fixture(params=["classic", "shared"])
async def rig(
    request: pytest.FixtureRequest,
    fake_endpoint: FakeEndpoint,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> AsyncIterator[BotRig]:
    """On either voice path: discord.py's `play()` (held until drained) or the shared sender."""
    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1, first_byte_timeout=0.5)
    async with open_bot_rig(settings, session, shared_sender=request.param == "shared") as r:
        yield r


def wav_of(reply_data: bytes) -> Audio:
    return parse_wav(reply_data)


# ----------------------------------------------------------------------------- file replies
async def test_not_in_voice_replies_with_a_wav_of_the_endpoints_audio(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    cog = rig.cog("SpeechCog")
    interaction = rig.interaction()
    await run_command(rig.bot, cog.speak, interaction, text="Hello there, how are you?", audio_format="file")
    log = interaction.log
    assert log.deferred == {"ephemeral": False, "thinking": True}
    reply = log.last
    assert reply.via == "edit" and not reply.ephemeral  # the file is public
    assert reply.files[0].filename == "hello_there_how_are_you.wav"
    audio = wav_of(reply.file_data())
    assert audio.rate == 24_000
    assert audio.pcm == fake_endpoint.expected_pcm("Hello there, how are you?", "Cherry")
    assert "Cherry" in (reply.content or "")
    assert len(log.replies) == 1
    sent = fake_endpoint.requests[-1]
    assert (sent.text, sent.voice) == ("Hello there, how are you?", "Cherry")


async def test_overrides_reach_the_endpoint_for_this_message_only(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    cog = rig.cog("SpeechCog")
    member = rig.member()
    first = rig.interaction(member)
    await run_command(
        rig.bot,
        cog.speak,
        first,
        text="Good evening",
        voice="serena",
        style="Whisper softly",
        language="English",
        audio_format="file",
    )
    body = fake_endpoint.requests[-1].body
    assert body["voice"] == "Serena" and body["instructions"] == "Whisper softly"
    assert body["language_type"] == "English"
    assert wav_of(first.log.last.file_data()).pcm == fake_endpoint.expected_pcm("Good evening", "Serena")
    second = rig.interaction(member)
    await run_command(rig.bot, cog.speak, second, text="Good night", audio_format="file")
    body = fake_endpoint.requests[-1].body
    assert body["voice"] == "Cherry" and "instructions" not in body
    assert body.get("language_type", "Auto") == "Auto"


async def test_attach_gives_a_file_even_in_voice(rig: BotRig, fake_endpoint: FakeEndpoint) -> None:
    member = rig.member(in_voice=True)
    interaction = rig.interaction(member)
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, text="As a file please", attach=True)
    assert interaction.log.last.files
    assert rig.guild.voice_client is None
    assert rig.bot.voice.queue(rig.guild.id) == []


async def test_in_a_dm_the_reply_is_a_file_with_global_settings(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    interaction = rig.interaction(dm=True)
    await rig.bot.storage.set_user_pref(interaction.user.id, None, "voice", "Kai")
    await run_command(
        rig.bot, rig.cog("SpeechCog").speak, interaction, text="Hi from a DM", audio_format="file"
    )
    assert wav_of(interaction.log.last.file_data()).pcm == fake_endpoint.expected_pcm("Hi from a DM", "Kai")


async def test_long_audio_becomes_ogg_opus_under_the_upload_limit(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    text = "This is a rather long sentence that the bot reads for a listener who is not in voice. " * 2
    interaction = rig.interaction(filesize_limit=80_000)  # the WAV would be about 400 kB
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, text=text, audio_format="file")
    reply = interaction.log.last
    assert reply.files[0].filename == "this_is_a_rather_long_sentence.ogg"
    data = reply.file_data()
    assert len(data) <= 80_000
    ogg = read_ogg_opus(data)
    expected = fake_endpoint.expected_pcm(text.strip(), "Cherry")
    assert ogg.samples == len(expected) // 2 * 2  # 24 kHz → 48 kHz
    decoded = decode(ogg.packets)[ogg.head.pre_skip : ogg.final_granule]
    hz = FakeEndpoint.tone_hz(text.strip(), "Cherry")
    assert abs(dominant_hz(decoded) - hz) < 5
    assert "Ogg Opus" in (reply.content or "")


@pytest.mark.parametrize(("over", "suffix"), [(0, ".wav"), (1, ".ogg")])
async def test_the_wav_is_sent_up_to_the_upload_limit_and_ogg_one_byte_over(
    rig: BotRig, fake_endpoint: FakeEndpoint, over: int, suffix: str
) -> None:
    text = "Exactly at the upload limit."
    wav_size = 44 + len(fake_endpoint.expected_pcm(text, "Cherry"))  # RIFF header + PCM
    interaction = rig.interaction(filesize_limit=wav_size - over)
    await run_command(
        rig.bot, rig.cog("SpeechCog").speak, interaction, text=text, attach=True, audio_format="file"
    )
    reply = interaction.log.last
    assert reply.files and reply.files[0].filename.endswith(suffix), interaction.log.texts()
    assert len(reply.file_data()) <= wav_size - over


async def test_too_long_even_for_opus_is_a_clear_private_error(rig: BotRig) -> None:
    text = "A sentence that is long enough to need more than a few kilobytes of audio. " * 3
    interaction = rig.interaction(filesize_limit=4_000)
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, text=text, audio_format="file")
    log = interaction.log
    assert log.deleted_original  # the public "thinking…" message is removed
    assert log.last.ephemeral and "too long to send as a file" in (log.last.content or "")
    assert len(log.replies) == 1


async def test_progress_is_shown_by_editing_the_deferred_reply(rig: BotRig) -> None:
    engine = GatedEngine()
    clock = ManualClock()
    rig.bot.stack.engine = engine
    cog = rig.cog("SpeechCog")
    cog.speaker.sleep = clock.held_sleep
    interaction = rig.interaction()
    task = asyncio.create_task(
        run_command(rig.bot, cog.speak, interaction, text="A long read", audio_format="file")
    )
    await engine.first_sent.wait()
    clock.release()
    progress = await interaction.log.wait_for(lambda r: "Synthesizing" in (r.content or ""))
    assert progress.via == "edit" and progress.content == "⏳ Synthesizing… 1 s of audio so far."
    engine.gate.set()
    await task
    final = interaction.log.last
    assert final.files and wav_of(final.file_data()).duration == 1.5
    assert [r.via for r in interaction.log.replies] == ["edit", "edit"]


# ----------------------------------------------------------------------------- voice channel
async def test_in_voice_it_is_queued_on_the_player_and_played(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    cog = rig.cog("SpeechCog")
    ann = rig.member("ann", in_voice=True)
    bob = rig.member("bob", in_voice=True)
    await rig.bot.storage.set_user_pref(bob.id, None, "voice", "Ethan")
    first = rig.interaction(ann)
    await run_command(rig.bot, cog.speak, first, text="First in line")
    assert first.log.deferred == {"ephemeral": True, "thinking": True}
    assert first.log.last.ephemeral
    assert first.log.last.content == f"🔊 Speaking in {rig.voice_channel.mention} now."
    assert rig.vc.channel is rig.voice_channel

    second = rig.interaction(bob)
    await run_command(rig.bot, cog.speak, second, text="Second in line", style="Cheerful and bright")
    assert second.log.last.content == f"🔊 Queued in {rig.voice_channel.mention}: 1 message ahead of yours."
    queued = rig.bot.voice.queue(rig.guild.id)
    assert [(u.requester_id, u.requester_name) for u in queued] == [(bob.id, "Bob")]
    assert queued[0].request == SpeechRequest("Second in line", "Ethan", "Auto", "Cheerful and bright")

    for text, voice in (("First in line", "Cherry"), ("Second in line", "Ethan")):
        packets = await rig.vc.drain()
        assert abs(dominant_hz(decode(packets)) - FakeEndpoint.tone_hz(text, voice)) < 15
    assert [r.text for r in fake_endpoint.requests] == ["First in line", "Second in line"]


async def test_no_permission_to_speak_there_falls_back_to_a_file(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    rig.voice_channel.__dict__["bot_permissions"] = permissions(view_channel=True, connect=True)
    member = rig.member(in_voice=True)
    interaction = rig.interaction(member)
    await run_command(
        rig.bot, rig.cog("SpeechCog").speak, interaction, text="Can you hear me", audio_format="file"
    )
    reply = interaction.log.last
    assert "I need the Connect and Speak permissions there" in (reply.content or "")
    assert wav_of(reply.file_data()).pcm == fake_endpoint.expected_pcm("Can you hear me", "Cherry")
    assert rig.guild.voice_client is None


async def test_busy_in_another_channel_falls_back_to_a_private_file(rig: BotRig) -> None:
    from tests.standins.discord_objects import MockVoiceChannel

    cog = rig.cog("SpeechCog")
    await run_command(rig.bot, cog.speak, rig.interaction(rig.member(in_voice=True)), text="Keeps me busy")
    other = MockVoiceChannel(rig.guild, name="Other")
    member = rig.member("cat")
    member.join_voice(other)
    interaction = rig.interaction(member)
    await run_command(rig.bot, cog.speak, interaction, text="Over here", audio_format="file")
    reply = interaction.log.last
    assert reply.ephemeral and reply.files
    assert "I'm already speaking in #General" in (reply.content or "")


async def test_without_voice_support_the_audio_comes_as_a_file(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1)
    async with open_bot_rig(settings, session, voice_ok=False) as rig:
        interaction = rig.interaction(rig.member(in_voice=True))
        await run_command(
            rig.bot, rig.cog("SpeechCog").speak, interaction, text="No voice here", audio_format="file"
        )
        assert "Voice is not available" in (interaction.log.last.content or "")
        assert interaction.log.last.files


# ----------------------------------------------------------------------------- Read aloud
async def test_read_aloud_speaks_a_message_in_its_authors_voice(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    author = rig.member("dee")
    await rig.bot.storage.set_user_pref(author.id, rig.guild.id, "voice", "Maia")
    message = MockMessage(
        author=author,
        content=(
            "Look <:pepe_happy:123456789012345678> at https://www.example.com/page ||the ending|| **now**"
        ),
    )
    interaction = rig.interaction()
    cog = rig.cog("SpeechCog")
    await run_command(rig.bot, cog.read_aloud_menu, interaction, message=message)
    expected_text = "Look pepe happy at a link to example.com spoiler now"
    assert fake_endpoint.requests[-1].text == expected_text
    reply = interaction.log.last
    assert reply.ephemeral and interaction.log.deferred == {"ephemeral": True, "thinking": True}
    assert reply.voice_message and reply.content is None  # outside voice: a voice message
    ogg = read_ogg_opus(reply.file_data())
    expected = Audio(fake_endpoint.expected_pcm(expected_text, "Maia"), 24_000)
    assert abs(ogg.samples / 48_000 - expected.duration) <= 0.02


async def test_read_aloud_in_voice_is_queued_with_the_message_as_tag(rig: BotRig) -> None:
    message = MockMessage(author=rig.member("eve"), content="Read me out")
    interaction = rig.interaction(rig.member(in_voice=True))
    await run_command(rig.bot, rig.cog("SpeechCog").read_aloud_menu, interaction, message=message)
    await rig.vc.wait_playing()
    current = rig.bot.voice.now_playing(rig.guild.id)
    assert current is not None and current.tag == message.id and current.requester_name == "Eve"
    assert "Speaking in" in (interaction.log.last.content or "")


async def test_read_aloud_of_a_message_without_text(rig: BotRig) -> None:
    interaction = rig.interaction()
    await run_command(
        rig.bot, rig.cog("SpeechCog").read_aloud_menu, interaction, message=MockMessage(content="  ")
    )
    assert interaction.log.last.content == "That message has no text I can read."
    assert interaction.log.last.ephemeral and interaction.log.deferred is None


async def test_read_aloud_refuses_a_member_who_opted_out(rig: BotRig, fake_endpoint: FakeEndpoint) -> None:
    author = rig.member("fay")
    await rig.bot.storage.set_read_mode(rig.guild.id, author.id, "off")
    message = MockMessage(author=author, content="Please do not read me")
    interaction = rig.interaction(rig.member(in_voice=True))
    await run_command(rig.bot, rig.cog("SpeechCog").read_aloud_menu, interaction, message=message)
    assert interaction.log.last.content == "Fay opted out of having their messages read aloud."
    assert interaction.log.last.ephemeral
    assert fake_endpoint.request_count == 0 and rig.guild.voice_client is None
    # The author may still have their own message read.
    own = rig.interaction(author)
    await run_command(rig.bot, rig.cog("SpeechCog").read_aloud_menu, own, message=message)
    assert fake_endpoint.request_count == 1


# ----------------------------------------------------------------------------- bad input, limits
@pytest.mark.parametrize(
    ("options", "sentence"),
    [
        ({"text": "hi", "voice": "Robot"}, "Unknown voice 'Robot'"),
        ({"text": "hi", "language": "Klingon"}, "Unknown language 'Klingon'"),
        ({"text": "hi", "style": "x" * 501}, "That style is too long (501 characters; at most 500)"),
        ({"text": "   \u200b\x00 "}, "There is nothing to say"),
        ({"text": "y" * 2001}, "That text is too long (2001 characters; at most 2000)"),
    ],
)
async def test_bad_input_is_answered_privately_before_deferring(
    rig: BotRig, fake_endpoint: FakeEndpoint, options: dict[str, Any], sentence: str
) -> None:
    interaction = rig.interaction()
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, **options)
    log = interaction.log
    assert log.deferred is None
    assert log.last.via == "response" and log.last.ephemeral
    assert sentence in (log.last.content or "")
    assert fake_endpoint.request_count == 0


async def test_cooldown_answers_with_the_time_left(rig: BotRig) -> None:
    cog = rig.cog("SpeechCog")
    member = rig.member()
    for _ in range(3):
        await run_command(rig.bot, cog.speak, rig.interaction(member), text="hi", attach=True)
    interaction = rig.interaction(member)
    await run_command(rig.bot, cog.speak, interaction, text="hi", attach=True)
    assert re.fullmatch(r"Slow down a little: try again in \d+ s\.", interaction.log.last.content or "")
    assert interaction.log.last.ephemeral


# ----------------------------------------------------------------------------- endpoint faults
@pytest.mark.parametrize("code", sorted(ERRORS))
async def test_every_endpoint_error_reaches_the_member_as_a_file_request(
    rig: BotRig, fake_endpoint: FakeEndpoint, code: str
) -> None:
    fake_endpoint.fault = f"error:{code}"
    interaction = rig.interaction()
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, text="Say this")
    log = interaction.log
    assert len(log.replies) == 1
    reply = log.last
    assert reply.ephemeral and not reply.files
    text = reply.content or ""
    assert CODE_SENTENCES[code] in text
    assert f"code {code}," in text and REQUEST_ID.search(text), text


@pytest.mark.parametrize(
    "code", ["InvalidApiKey", "DataInspectionFailed", "Throttling.RateQuota", "InternalError"]
)
async def test_endpoint_errors_in_voice_reach_the_member_by_followup(
    rig: BotRig, fake_endpoint: FakeEndpoint, code: str
) -> None:
    fake_endpoint.fault = f"error:{code}"
    interaction = rig.interaction(rig.member(in_voice=True))
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, text="Say this in voice")
    assert "Speaking in" in (interaction.log.last.content or "")
    reply = await interaction.log.wait_for(lambda r: r.via == "followup")
    assert reply.ephemeral
    text = reply.content or ""
    assert CODE_SENTENCES[code] in text and f"code {code}," in text and REQUEST_ID.search(text)


async def test_an_expired_interaction_gets_the_error_in_the_channel(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    import discord

    fake_endpoint.fault = "error:DataInspectionFailed"
    member = rig.member(in_voice=True)
    interaction = rig.interaction(member)
    response = unittest_mock_response(404)
    interaction.followup.send.side_effect = discord.NotFound(response, "Unknown Webhook")
    sent = asyncio.Event()
    rig.text_channel.send.side_effect = lambda *args, **kwargs: sent.set()
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, text="Say this later")
    async with asyncio.timeout(5):
        await sent.wait()
    (content,), kwargs = rig.text_channel.send.await_args
    assert content.startswith(member.mention) and "content moderation" in content
    assert kwargs["allowed_mentions"].users == [member]


async def test_public_error_posts_are_gated_per_member(rig: BotRig, fake_endpoint: FakeEndpoint) -> None:
    import discord

    from bot.app.bot import PUBLIC_ERROR_SECONDS

    assert PUBLIC_ERROR_SECONDS == 300.0  # "at most one per member per 5 minutes"
    fake_endpoint.fault = "error:DataInspectionFailed"
    speaker = rig.cog("SpeechCog").speaker
    expired = discord.NotFound(unittest_mock_response(404), "Unknown Webhook")  # type: ignore[arg-type]
    members = [rig.member("ann", in_voice=True), rig.member("bob", in_voice=True)]
    error = TTSError_for_test()
    utterance = object()
    for member in (members[0], members[0], members[0], members[1]):
        interaction = rig.interaction(member)
        interaction.followup.send.side_effect = expired
        await speaker.error_reporter(interaction, member)(utterance, error)
    posted = [call.args[0] for call in rig.text_channel.send.await_args_list]
    assert len(posted) == 2  # Ann's first failure and Bob's: not every failure of Ann's
    assert posted[0].startswith(members[0].mention) and posted[1].startswith(members[1].mention)


def TTSError_for_test() -> Any:
    from bot.speech.errors import error_for

    return error_for(400, "DataInspectionFailed", "Input data may contain inappropriate content.", "req-1")


def unittest_mock_response(status: int) -> object:
    from unittest.mock import Mock

    return Mock(status=status, reason="Not Found")


@pytest.mark.parametrize(
    ("fault", "sentence", "detail"),
    [
        ("html502", "could not read", "HTTP 502"),
        ("badjson", "could not read", "HTTP 200"),
        ("reset", "could not reach the speech service", None),
        ("stall-first:0.7", "did not answer in time", None),
        ("cut-after:1", "ended the audio early", "request id"),
        ("sse-error-after:1", "internal error", "code InternalError"),
        ("no-stop", "ended the audio early", "request id"),
    ],
)
async def test_transport_faults_reach_the_member(
    rig: BotRig, fake_endpoint: FakeEndpoint, fault: str, sentence: str, detail: str | None
) -> None:
    fake_endpoint.fault = fault
    interaction = rig.interaction()
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, text="Say this")
    reply = interaction.log.last
    assert reply.ephemeral and not reply.files and len(interaction.log.replies) == 1
    assert sentence in (reply.content or "")
    if detail:
        assert detail in (reply.content or "")


async def test_an_unexpected_error_gets_an_apology_with_an_error_id(
    rig: BotRig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(user_id: int, guild_id: int | None) -> object:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(rig.bot.storage, "resolve_voice_settings", broken)
    interaction = rig.interaction()
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, text="hi")
    reply = interaction.log.last
    match = re.fullmatch(
        r"Sorry, something went wrong on my side \(error id `([0-9a-f]{8})`\)\. It has been logged\.",
        reply.content or "",
    )
    assert match and reply.ephemeral
    assert interaction.log.deleted_original  # the public "thinking…" message is not the error's
    assert any(match.group(1) in r.getMessage() and r.exc_info for r in caplog.records)
