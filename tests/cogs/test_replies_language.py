"""Replies in the member's language: every command answered for a `ja` interaction is Japanese
(the sweep over every command, on the voice path and the file path, and its apologies when the
core fails), endpoint errors keep their code and request id in Japanese, the /server forget
buttons follow the member, and read-aloud notices follow the server's preferred locale."""

from __future__ import annotations

import asyncio
import json
import re
import string
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest

from bot.base.i18n import LOCALES_DIR
from tests.standins.command_sweep import all_commands, open_sweep_rig, options_for
from tests.standins.discord_objects import (
    BotRig,
    MockInteraction,
    Reply,
    permissions,
    run_command,
)
from tests.standins.fake_api import FakeEndpoint
from tests.standins.readaloud_rig import ReadRig, chat_message, open_readaloud_rig
from tests.standins.settings import make_settings

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
EN = json.loads((LOCALES_DIR / "en.json").read_text(encoding="utf-8"))["replies"]
JA = json.loads((LOCALES_DIR / "ja.json").read_text(encoding="utf-8"))["replies"]


def literal_chunks(template: str) -> list[str]:
    return [text.strip() for text, _, _, _ in string.Formatter().parse(template) if text.strip()]


def english_fragments(catalogue: dict[str, str] = JA) -> list[re.Pattern[str]]:
    """The English words of every template (each literal piece with a word of 3+ letters),
    except pieces the translated template keeps as they are (e.g. "HTTP")."""
    found: set[str] = set()
    for key, template in EN.items():
        kept = set(literal_chunks(catalogue[key]))
        for chunk in literal_chunks(template):
            if re.search(r"[A-Za-z]{3}", chunk) and chunk not in kept:
                found.add(chunk)
    # a word of a command name ("/voice set") is not English left over
    return [re.compile(r"(?<![A-Za-z/_])" + re.escape(c) + r"(?![A-Za-z_])") for c in sorted(found)]


FRAGMENTS = english_fragments()


def english_in(text: str) -> list[str]:
    return [p.pattern for p in FRAGMENTS if p.search(text)]


def assert_japanese(what: str, reply: Reply) -> None:
    text = reply.text()
    assert JAPANESE.search(text), f"{what}: not Japanese: {text!r}"
    assert english_in(text) == [], f"{what}: English left in {text!r}"


def test_the_english_check_catches_english() -> None:
    assert len(FRAGMENTS) > 200
    assert english_in("🔊 Queued in #general: 2 messages ahead of yours.")
    assert english_in("Voice settings for ann")
    assert english_in("**Cherry** — 女性・明るく親しみやすい ← yours")
    assert english_in("🔊 #general で今から読み上げます。") == []
    assert english_in("音声サービスでエラーが発生しました。（コード X、リクエスト ID y）") == []


# ----------------------------------------------------------------------------- the sweep
@pytest.fixture
async def rig(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[BotRig]:
    async with open_sweep_rig(fake_endpoint, session, tmp_path) as r:
        yield r


def japanese_interaction(
    rig: BotRig, *, in_voice: bool, locale: discord.Locale = discord.Locale.japanese
) -> MockInteraction:
    member = rig.member(in_voice=in_voice)
    return rig.interaction(member, perms=permissions(manage_guild=True, move_members=True), locale=locale)


async def sweep(
    rig: BotRig, check: Callable[[str, Reply], None], locale: discord.Locale = discord.Locale.japanese
) -> int:
    seen = 0
    for command in all_commands(rig.bot.tree):
        for in_voice in (True, False):  # the voice path and the file path
            interaction = japanese_interaction(rig, in_voice=in_voice, locale=locale)
            await run_command(rig.bot, command, interaction, checks=False, **options_for(command))
            await asyncio.sleep(0)  # followups of queued speech
            assert interaction.log.answered, command.qualified_name
            for reply in interaction.log.replies:
                if re.search(r"[^\W\d_]", reply.text()):  # a voice message, a file or "🔊" has no words
                    check(f"/{command.qualified_name} in_voice={in_voice}", reply)
                    seen += 1
    return seen


async def test_every_command_answers_a_japanese_member_in_japanese(rig: BotRig) -> None:
    await rig.bot.storage.set_guild_default(rig.guild.id, "instructions", "快一点")  # user data: not English
    await rig.bot.storage.add_dictionary_entry(rig.guild.id, "gg", "good game")
    seen = await sweep(rig, assert_japanese)
    assert seen >= 60  # 35 commands, twice (a voice message alone has no words)


OTHER_LOCALES = {
    discord.Locale.german: r"[äöüß]",
    discord.Locale.french: r"[éèàç]",
    discord.Locale.spain_spanish: r"[áéíóúñ¿]",
    discord.Locale.latin_american_spanish: r"[áéíóúñ¿]",
    discord.Locale.italian: r"[àèéìòù]",
    discord.Locale.brazil_portuguese: r"[ãõçáéêó]",
    discord.Locale.korean: r"[\uac00-\ud7a3]",
    discord.Locale.russian: r"[\u0400-\u04ff]",
    discord.Locale.chinese: r"[\u4e00-\u9fff]",
    discord.Locale.taiwan_chinese: r"[\u4e00-\u9fff]",
}


@pytest.mark.parametrize("locale", list(OTHER_LOCALES), ids=lambda x: x.value)
async def test_every_command_answers_in_each_shipped_language(rig: BotRig, locale: discord.Locale) -> None:
    """The sweep in every other shipped language: no reply keeps an English piece, and the
    replies are written in that language (its letters appear)."""
    script = OTHER_LOCALES[locale]
    # English phrases (two words or more): a single word may be a cognate the language uses too ("style")
    every_chunk = english_fragments({key: "" for key in EN})  # what a translation keeps counts too
    fragments = [f for f in every_chunk if re.search(r"[A-Za-z]{2,}\\? +\S*[A-Za-z]{2,}", f.pattern)]
    texts: list[str] = []

    def check(what: str, reply: Reply) -> None:
        text = reply.text()
        assert [p.pattern for p in fragments if p.search(text)] == [], f"{what}: English left in {text!r}"
        texts.append(text)

    assert await sweep(rig, check, locale) >= 60
    assert len([t for t in texts if re.search(script, t)]) >= len(texts) // 3


async def test_the_same_sweep_in_english_is_english(rig: BotRig) -> None:
    """The check is not vacuous: an en-US member gets English, which the check refuses."""
    interaction = rig.interaction(rig.member(), perms=permissions(manage_guild=True))
    await run_command(rig.bot, rig.cog("PreferencesCog").voice_list, interaction)
    text = interaction.log.last.text()
    assert english_in(text) and not JAPANESE.search(text.replace("Cherry", ""))


async def test_apologies_are_japanese_when_the_core_fails(rig: BotRig) -> None:
    class Exploding:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(f"storage.{name} exploded")

    rig.bot._storage = Exploding()  # type: ignore[assignment]
    apology = re.compile(
        r"申し訳ありません、こちら側で問題が発生しました（エラー ID `[0-9a-f]{8}`）。記録済みです。"
    )
    apologies = 0

    def check(what: str, reply: Reply) -> None:
        nonlocal apologies
        assert_japanese(what, reply)
        apologies += bool(apology.fullmatch(reply.content or ""))

    await sweep(rig, check)
    assert apologies >= 40


# ----------------------------------------------------------------------------- endpoint errors
async def test_a_speak_error_is_japanese_with_the_code_and_request_id(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    fake_endpoint.fault = "error:Throttling"
    interaction = rig.interaction(locale=discord.Locale.japanese)
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, text="Say this")
    text = interaction.log.last.content or ""
    assert re.fullmatch(
        r"音声サービスが混み合っています（レート制限）。少し待ってからもう一度お試しください。"
        rf"（コード Throttling、リクエスト ID {UUID}）",
        text,
    ), text


async def test_a_failed_utterance_in_voice_is_reported_in_japanese(
    rig: BotRig, fake_endpoint: FakeEndpoint
) -> None:
    fake_endpoint.fault = "error:DataInspectionFailed"
    interaction = rig.interaction(rig.member(in_voice=True), locale=discord.Locale.japanese)
    await run_command(rig.bot, rig.cog("SpeechCog").speak, interaction, text="Say this in voice")
    assert "で今から読み上げます" in (interaction.log.last.content or "")
    reply = await interaction.log.wait_for(lambda r: r.via == "followup")
    text = reply.content or ""
    assert "コンテンツ審査" in text and re.search(rf"コード DataInspectionFailed、リクエスト ID {UUID}", text)


async def test_the_forget_buttons_follow_the_member(rig: BotRig) -> None:
    interaction = rig.interaction(perms=permissions(manage_guild=True), locale=discord.Locale.japanese)
    await run_command(rig.bot, rig.cog("ServerCog").server_forget, interaction)
    view = interaction.response.send_message.call_args.kwargs["view"]
    assert [b.label for b in view.children] == ["すべて削除", "キャンセル"]
    assert "元に戻すことはできません" in (interaction.log.last.content or "")
    english = rig.interaction(perms=permissions(manage_guild=True))
    await run_command(rig.bot, rig.cog("ServerCog").server_forget, english)
    labels = [b.label for b in english.response.send_message.call_args.kwargs["view"].children]
    assert labels == ["Delete everything", "Cancel"]


# ----------------------------------------------------------------------------- read-aloud notices
@pytest.fixture
async def rr(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[ReadRig]:
    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1, first_byte_timeout=2.0)
    async with open_readaloud_rig(settings, session) as r:
        yield r


async def test_read_aloud_notices_use_the_servers_preferred_locale(rr: ReadRig) -> None:
    rr.guild.preferred_locale = discord.Locale.japanese
    await rr.bind()
    await rr.bring_bot()
    alice = rr.member("alice")
    for i in range(6):
        await rr.cog.handle_message(chat_message(rr.text, alice, f"message {i}"))
        rr.clock.advance(1)
    (call,) = rr.text.send.await_args_list
    content = call.args[0]
    assert content == (
        f"{alice.mention} 読み上げが追いつかない速さで入力されています（10 秒あたり最大 5 件）。"
        "いくつかのメッセージを読み飛ばしました。"
    )
    assert call.kwargs["allowed_mentions"].users == [alice]  # the mention still pings


async def test_read_aloud_error_notices_are_in_the_servers_language(
    rr: ReadRig, fake_endpoint: FakeEndpoint
) -> None:
    rr.guild.preferred_locale = discord.Locale.japanese
    await rr.bind()
    await rr.bring_bot()
    sent = asyncio.Event()
    rr.text.send.side_effect = lambda *args, **kwargs: sent.set()
    fake_endpoint.fault = "error:InternalError"
    await rr.cog.handle_message(chat_message(rr.text, rr.member("alice"), "one"))
    async with asyncio.timeout(5):
        await sent.wait()
    content = rr.text.send.await_args.args[0]
    assert content.startswith(
        "⚠️ メッセージを読み上げられませんでした：音声サービスで内部エラーが発生しました。"
    )
    assert re.search(rf"（コード InternalError、リクエスト ID {UUID}）$", content), content


async def test_autocomplete_describes_voices_in_the_members_language(rig: BotRig) -> None:
    cog = rig.cog("SpeechCog")
    ja = rig.interaction(locale=discord.Locale.japanese)
    (cherry,) = await cog.speak_voice_autocomplete(ja, "Cherr")
    assert (cherry.name, cherry.value) == ("Cherry — 女性・明るく親しみやすい", "Cherry")
    (english,) = await cog.speak_voice_autocomplete(rig.interaction(), "Cherr")
    assert english.name == "Cherry — female, sunny and friendly"
    too_long = (await cog.speak_style_autocomplete(ja, "x" * 600))[0]
    assert too_long.name.startswith("長すぎます：600 文字") and len(too_long.name) <= 100
