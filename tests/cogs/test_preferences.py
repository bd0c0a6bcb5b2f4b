"""/voice, /style, /language (and the settings they produce, seen through /tts settings and
/speak), autocomplete, /voice preview, and persistence across a restart."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.audio.wav import parse_wav
from bot.commands.choices import STYLE_PRESETS
from bot.commands.speak import PREVIEW_LINE
from bot.speech.local.engine import LocalEngine
from bot.speech.voices import VOICES, VOICES_BY_NAME
from tests.standins.discord_objects import BotRig, MockInteraction, MockMember, open_bot_rig, run_command
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import make_settings


@pytest.fixture
async def rig(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[BotRig]:
    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1)
    async with open_bot_rig(settings, session) as r:
        yield r


def settings_fields(interaction: MockInteraction) -> dict[str, str]:
    """/tts settings: field name → "value\n*source*"."""
    embed = interaction.log.last.embed
    assert embed is not None
    return {str(f.name): str(f.value) for f in embed.fields}


async def show_settings(rig: BotRig, member: MockMember) -> dict[str, str]:
    interaction = rig.interaction(member)
    await run_command(rig.bot, rig.cog("PlaybackCog").settings, interaction)
    assert interaction.log.last.ephemeral
    return settings_fields(interaction)


async def spoken_with(rig: BotRig, fake: FakeEndpoint, member: MockMember, text: str) -> dict[str, object]:
    """What /speak sends to the endpoint for `member` (as a file: attach; no cooldown)."""
    interaction = rig.interaction(member)
    count = fake.request_count
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, checks=False, text=text, attach=True)
    assert interaction.log.last.files, interaction.log.last
    assert fake.request_count == count + 1  # not served from the cache
    body = fake.requests[-1].body
    assert isinstance(body, dict)
    return body


# ----------------------------------------------------------------------------- resolution order
async def test_resolution_order_through_the_commands(rig: BotRig, fake_endpoint: FakeEndpoint) -> None:
    prefs, server = rig.cog("PreferencesCog"), rig.cog("ServerCog")
    admin = rig.interaction(perms=MockPermissions.manage)
    member = rig.member("ann")

    # built-in default
    fields = await show_settings(rig, member)
    assert fields["Voice"] == "Cherry (female, sunny and friendly)\n*built-in default*"
    assert (await spoken_with(rig, fake_endpoint, member, "one"))["voice"] == "Cherry"

    # server default
    await run_command(rig.bot, server.server_voice, admin, voice="Ethan")
    assert "Server default voice set to **Ethan" in (admin.log.last.content or "")
    fields = await show_settings(rig, member)
    assert fields["Voice"] == "Ethan (male, warm and energetic)\n*this server's default*"
    assert (await spoken_with(rig, fake_endpoint, member, "two"))["voice"] == "Ethan"

    # the member's global choice beats the server default
    interaction = rig.interaction(member)
    await run_command(rig.bot, prefs.voice_set, interaction, voice="serena")
    assert interaction.log.last.content == "Voice set to **Serena (female, gentle)** everywhere."
    assert interaction.log.last.ephemeral
    fields = await show_settings(rig, member)
    assert fields["Voice"].endswith("*your choice everywhere*")
    assert (await spoken_with(rig, fake_endpoint, member, "three"))["voice"] == "Serena"

    # the member's choice in this server beats their global choice
    await run_command(rig.bot, prefs.voice_set, rig.interaction(member), voice="Kai", this_server_only=True)
    fields = await show_settings(rig, member)
    assert fields["Voice"] == "Kai (male, soothing)\n*your choice in this server*"
    assert (await spoken_with(rig, fake_endpoint, member, "four"))["voice"] == "Kai"

    # a later global choice is hidden here by the server-only one, and the member is told
    interaction = rig.interaction(member)
    await run_command(rig.bot, prefs.voice_set, interaction, voice="Moon")
    assert "Your voice choice for this server (Kai (male, soothing)) still applies here" in (
        interaction.log.last.content or ""
    )
    # in a DM (no server) the global choice applies
    dm = rig.interaction(member, dm=True)
    await run_command(rig.bot, rig.cog("SpeechCog").speak, dm, text="five")
    assert fake_endpoint.requests[-1].body["voice"] == "Moon"

    # reset clears both of the member's choices: the server default is back
    interaction = rig.interaction(member)
    await run_command(rig.bot, prefs.voice_reset, interaction)
    assert (
        interaction.log.last.content
        == "Voice reset. Now: **Ethan (male, warm and energetic)** (this server's default)."
    )
    # the server default cleared: the built-in default is back
    await run_command(rig.bot, server.server_voice, rig.interaction(perms=MockPermissions.manage))
    assert (await spoken_with(rig, fake_endpoint, member, "six"))["voice"] == "Cherry"


class MockPermissions:
    import discord

    manage = discord.Permissions(manage_guild=True)


async def test_style_set_show_clear_reset_with_a_server_default(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    prefs, server = rig.cog("PreferencesCog"), rig.cog("ServerCog")
    member = rig.member()
    await run_command(
        rig.bot,
        server.server_style,
        rig.interaction(perms=MockPermissions.manage),
        instructions="Calm and slow",
    )
    assert (await spoken_with(rig, fake_endpoint, member, "a"))["instructions"] == "Calm and slow"

    preset = next(p for p in STYLE_PRESETS if p.name == "Cheerful")
    await run_command(rig.bot, prefs.style_set, rig.interaction(member), instructions=preset.instructions)
    show = rig.interaction(member)
    await run_command(rig.bot, prefs.style_show, show)
    expected = f"Style: **“{preset.instructions}”** (your choice everywhere)."
    assert (show.log.last.content or "").startswith(expected)
    assert (await spoken_with(rig, fake_endpoint, member, "b"))["instructions"] == preset.instructions

    # clear = explicitly no style, even though the server has one
    await run_command(rig.bot, prefs.style_clear, rig.interaction(member))
    assert "instructions" not in await spoken_with(rig, fake_endpoint, member, "c")
    show = rig.interaction(member)
    await run_command(rig.bot, prefs.style_show, show)
    assert (show.log.last.content or "").startswith("Style: **none** (your choice everywhere).")

    # reset = follow the server default again
    reset = rig.interaction(member)
    await run_command(rig.bot, prefs.style_reset, reset)
    assert reset.log.last.content == "Style reset. Now: **“Calm and slow”** (this server's default)."
    assert (await spoken_with(rig, fake_endpoint, member, "d"))["instructions"] == "Calm and slow"


async def test_style_optimize_and_language_reach_the_endpoint(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    prefs = rig.cog("PreferencesCog")
    member = rig.member()
    await run_command(rig.bot, prefs.style_set, rig.interaction(member), instructions="Speak like a pirate")
    await run_command(rig.bot, prefs.style_optimize, rig.interaction(member), mode="on")
    await run_command(
        rig.bot, prefs.language_set, rig.interaction(member), language="French", this_server_only=True
    )
    body = await spoken_with(rig, fake_endpoint, member, "Bonjour tout le monde")
    assert body["optimize_instructions"] is True and body["language_type"] == "French"
    fields = await show_settings(rig, member)
    assert fields["Language"] == "French\n*your choice in this server*"
    assert fields["Optimize style"] == "on\n*your choice everywhere*"
    await run_command(rig.bot, prefs.style_optimize, rig.interaction(member), mode="off")
    await run_command(rig.bot, prefs.language_reset, rig.interaction(member))
    body = await spoken_with(rig, fake_endpoint, member, "Hello again")
    assert body["optimize_instructions"] is False and body.get("language_type", "Auto") == "Auto"


@pytest.mark.parametrize(
    ("command", "options", "sentence"),
    [
        ("voice_set", {"voice": "Robot"}, "Unknown voice 'Robot'"),
        ("style_set", {"instructions": "z" * 501}, "That style is too long (501 characters; at most 500)."),
        ("style_set", {"instructions": "   "}, "The style is empty."),
        ("language_set", {"language": "Elvish"}, "Unknown language 'Elvish'"),
        ("style_optimize", {"mode": "maybe"}, "Optimize must be on or off."),
    ],
)
async def test_bad_values_are_refused_privately_and_nothing_is_stored(
    rig: BotRig, command: str, options: dict[str, Any], sentence: str
) -> None:
    member = rig.member()
    interaction = rig.interaction(member)
    await run_command(rig.bot, getattr(rig.cog("PreferencesCog"), command), interaction, **options)
    assert sentence in (interaction.log.last.content or "") and interaction.log.last.ephemeral
    assert (await rig.bot.storage.get_user_prefs(member.id, None)).is_empty


async def test_this_server_only_in_a_dm_is_explained(rig: BotRig) -> None:
    interaction = rig.interaction(dm=True)
    await run_command(
        rig.bot, rig.cog("PreferencesCog").voice_set, interaction, voice="Kai", this_server_only=True
    )
    assert "works in a server" in (interaction.log.last.content or "")


# ----------------------------------------------------------------------------- persistence
async def test_settings_survive_closing_and_reopening_the_database(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1)
    member_id = 424242424242424242
    async with open_bot_rig(settings, session) as rig:
        guild_id = rig.guild.id
        member = rig.member(id=member_id)
        prefs = rig.cog("PreferencesCog")
        await run_command(rig.bot, prefs.voice_set, rig.interaction(member), voice="Vincent")
        await run_command(
            rig.bot, prefs.language_set, rig.interaction(member), language="German", this_server_only=True
        )
        await run_command(rig.bot, prefs.style_set, rig.interaction(member), instructions="Slow and deep")
        await run_command(
            rig.bot,
            rig.cog("ServerCog").server_voice,
            rig.interaction(perms=MockPermissions.manage),
            voice="Neil",
        )
        before = await show_settings(rig, member)
    # a new process: new bot, new storage object, same data directory
    async with open_bot_rig(settings, session) as rig:
        rig.guild.id = guild_id
        member = rig.member(id=member_id)
        after = await show_settings(rig, member)
        assert after == before
        assert after["Voice"] == "Vincent (male, husky storyteller)\n*your choice everywhere*"
        assert after["Language"] == "German\n*your choice in this server*"
        assert "Voice: Neil" in after["Server defaults"]
        body = await spoken_with(rig, fake_endpoint, member, "Guten Tag")
        assert (body["voice"], body["language_type"], body["instructions"]) == (
            "Vincent",
            "German",
            "Slow and deep",
        )


# ----------------------------------------------------------------------------- list, preview
async def test_voice_list_is_an_embed_of_all_voices_marking_yours(rig: BotRig) -> None:
    member = rig.member()
    await rig.bot.storage.set_user_pref(member.id, None, "voice", "Pip")
    interaction = rig.interaction(member)
    await run_command(rig.bot, rig.cog("PreferencesCog").voice_list, interaction)
    embed = interaction.log.last.embed
    assert embed is not None and interaction.log.last.ephemeral
    lines = (embed.description or "").splitlines()
    assert len(lines) == len(VOICES) == 24
    assert "**Pip** — male, mischievous kid ← yours" in lines
    assert sum("← yours" in line for line in lines) == 1


async def test_voice_preview_as_a_file_is_cached(rig: BotRig, fake_endpoint: FakeEndpoint) -> None:
    prefs = rig.cog("PreferencesCog")
    first = rig.interaction()
    await run_command(rig.bot, prefs.voice_preview, first, voice="Bella")
    reply = first.log.last
    assert reply.ephemeral and first.log.deferred == {"ephemeral": True, "thinking": True}
    assert parse_wav(reply.file_data()).pcm == fake_endpoint.expected_pcm(PREVIEW_LINE, "Bella")
    assert fake_endpoint.requests[-1].text == PREVIEW_LINE
    count = fake_endpoint.request_count
    second = rig.interaction()
    await run_command(rig.bot, prefs.voice_preview, second, voice="bella")
    assert second.log.last.file_data() == reply.file_data()
    assert fake_endpoint.request_count == count  # served by the stack's cache


async def test_voice_preview_in_voice_is_spoken_there(rig: BotRig) -> None:
    interaction = rig.interaction(rig.member(in_voice=True))
    await run_command(rig.bot, rig.cog("PreferencesCog").voice_preview, interaction, voice="Arthur")
    assert "Speaking in" in (interaction.log.last.content or "")
    await rig.vc.wait_playing()
    current = rig.bot.voice.now_playing(rig.guild.id)
    assert current is not None and (current.text, current.voice) == (PREVIEW_LINE, "Arthur")


# ----------------------------------------------------------------------------- autocomplete
async def test_voice_autocomplete_filters_and_labels(rig: BotRig) -> None:
    prefs = rig.cog("PreferencesCog")
    interaction = rig.interaction()
    everything = await prefs.voice_set_autocomplete(interaction, "")
    assert len(everything) == 24 <= 25
    assert everything[0].name == "Cherry — female, sunny and friendly" and everything[0].value == "Cherry"
    names = [c.value for c in await prefs.voice_set_autocomplete(interaction, "ch")]
    assert names == ["Cherry", "Chelsie"]
    male = [c.value for c in await prefs.voice_set_autocomplete(interaction, "male")]
    assert male and all(VOICES_BY_NAME[v].gender == "male" for v in male)
    assert len(male) == sum(v.gender == "male" for v in VOICES)
    assert [c.value for c in await prefs.voice_set_autocomplete(interaction, "story")] == [
        "Vincent",
        "Arthur",
    ]
    assert [c.value for c in await prefs.voice_set_autocomplete(interaction, "eldric s")] == ["Eldric Sage"]
    assert await prefs.voice_set_autocomplete(interaction, "zzz") == []
    for choice in everything:
        assert len(choice.name) <= 100 and len(choice.value) <= 100


async def test_style_autocomplete_offers_what_is_typed_then_presets(rig: BotRig) -> None:
    prefs = rig.cog("PreferencesCog")
    interaction = rig.interaction()
    presets = await prefs.style_set_autocomplete(interaction, "")
    assert len(presets) == len(STYLE_PRESETS) <= 25
    assert {c.name.split(" — ")[0] for c in presets} >= {
        "Calm narrator",
        "Cheerful",
        "Whisper",
        "News anchor",
        "Slower and clearer",
    }
    typed = await prefs.style_set_autocomplete(interaction, "whisp")
    assert typed[0].value == "whisp" and typed[0].name == "“whisp”"
    assert [c.name.split(" — ")[0] for c in typed[1:]] == ["Whisper"]
    long = await prefs.style_set_autocomplete(interaction, "w" * 600)
    assert long[0].name == "Too long: 600 characters (at most 500)"
    for choice in presets + typed + long:
        assert len(choice.name) <= 100 and len(choice.value) <= 100


async def test_speak_autocompletes_too(rig: BotRig) -> None:
    speech = rig.cog("SpeechCog")
    interaction = rig.interaction()
    assert [c.value for c in await speech.speak_voice_autocomplete(interaction, "se")] == ["Serena", "Seren"]
    assert (await speech.speak_style_autocomplete(interaction, "news"))[1].value.startswith(
        "Speak like a professional"
    )


# ----------------------------------------------------------------------------- local engine
@pytest.mark.skipif(not LocalEngine.available(), reason="espeakng-loader is not installed")
async def test_style_show_says_what_the_local_voice_does(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    settings = make_settings(None, tmp_path, engine="local", api_key=None)
    async with open_bot_rig(settings, session) as rig:
        member = rig.member()
        prefs = rig.cog("PreferencesCog")
        await run_command(
            rig.bot, prefs.style_set, rig.interaction(member), instructions="Whisper, slower, very sad"
        )
        show = rig.interaction(member)
        await run_command(rig.bot, prefs.style_show, show)
        text = show.log.last.content or ""
        assert re.search(r"The local voice applies: .*whisper", text), text
        assert "slower" in text and "the rest of the style is ignored" in text
        fields = await show_settings(rig, member)
        assert fields["Speech engine"].startswith("Local voice (espeak-ng). The local voice applies:")
