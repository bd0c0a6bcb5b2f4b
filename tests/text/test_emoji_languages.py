"""Emoji and links read in the message's language: Unicode emoji by their CLDR names (the
`emoji` package), custom emoji by their own names, bare domains and invites as links."""

from __future__ import annotations

import emoji
import pytest

from bot.speech.voices import LANGUAGES
from bot.text.clean import CleanOptions, MessageInfo, clean_message
from bot.text.emoji import CLDR_LANGUAGES


def clean(text: str, language: str) -> str:
    return clean_message(MessageInfo(text), CleanOptions(language=language))


@pytest.mark.parametrize(
    "language,expected",
    [
        ("English", "Super thumbs up, fire, pepe happy"),
        ("German", "Super daumen hoch, feuer, pepe happy"),
        ("French", "Super pouce vers le haut, feu, pepe happy"),
        ("Spanish", "Super pulgar hacia arriba, fuego, pepe happy"),
        ("Italian", "Super pollice in su, fuoco, pepe happy"),
        ("Portuguese", "Super polegar para cima, fogo, pepe happy"),
        ("Russian", "Super большой палец вверх, огонь, pepe happy"),
        ("Japanese", "Super サムズアップ, 火, pepe happy"),
        ("Korean", "Super 올린 엄지, 불, pepe happy"),
        ("Chinese", "Super 拇指向上, 火焰, pepe happy"),
    ],
)
def test_unicode_emoji_in_the_message_language_custom_emoji_keep_their_names(
    language: str, expected: str
) -> None:
    assert clean("Super 👍🔥 <:pepe_happy:123456789012345678>", language) == expected


@pytest.mark.parametrize(
    "language,expected",
    [
        ("English", "flag of France, 1"),
        ("German", "flagge frankreich, 1"),
        ("Spanish", "bandera francia, 1"),
        ("French", "drapeau france, 1"),
        ("Korean", "깃발 프랑스, 1"),
    ],
)
def test_flags_and_keycaps(language: str, expected: str) -> None:
    assert clean("🇫🇷 1️⃣", language) == expected


def test_skin_tones_are_not_read() -> None:
    assert clean("👍🏽", "German") == clean("👍", "German") == "daumen hoch"


def test_every_endpoint_language_reads_cldr_names_from_the_package() -> None:
    spoken = [x for x in LANGUAGES if x != "Auto"]
    assert sorted(CLDR_LANGUAGES) == sorted(spoken)
    for code in CLDR_LANGUAGES.values():
        emoji.config.load_language(code)
        name = emoji.EMOJI_DATA["\U0001f525"][code]  # 🔥
        assert name.strip(":").replace("_", " ").lower() in clean("🔥", _LANGUAGE[code]).lower()


_LANGUAGE = {code: language for language, code in CLDR_LANGUAGES.items()}


@pytest.mark.parametrize(
    "text,expected",
    [
        # CLDR names the old hand-written English table said otherwise
        ("🤗", "smiling face with open hands"),
        ("😁", "beaming face with smiling eyes"),
        ("👉", "backhand index pointing right"),
        ("❓", "red question mark"),
        # every emoji the package knows, not only the common ones
        ("🪿", "goose"),
        ("🫎", "moose"),
        ("🐦‍🔥", "phoenix"),
        ("🇺🇳", "flag of United Nations"),
        ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", "flag of Scotland"),
        ("🏴‍☠️", "pirate flag"),
        ("👩🏽‍💻", "woman technologist"),
        ("🏽", ""),  # a skin tone alone
        ("🇦🇦", ""),  # letters that name no region
        ("✓ ★ ♪", ""),  # text symbols with no emoji name: decoration, dropped
    ],
)
def test_english_reads_the_package_cldr_names(text: str, expected: str) -> None:
    assert clean(text, "English") == expected


@pytest.mark.parametrize(
    "language,expected",
    [("English", "family"), ("German", "familie"), ("Japanese", "家族"), ("French", "famille")],
)
def test_a_family_sequence_cldr_does_not_list_reads_family_in_the_language(
    language: str, expected: str
) -> None:
    assert clean("👨‍👨‍👨", language) == expected


def test_auto_reads_emoji_in_the_detected_language() -> None:
    assert clean("Das ist wirklich toll, danke schön 👍", "Auto").endswith("daumen hoch")


@pytest.mark.parametrize(
    "language,text,expected",
    [
        ("English", "join discord.gg/abc now", "join a link to discord.gg now"),
        ("English", "see example.com/page.", "see a link to example.com."),
        ("English", "(see discord.gg/abc)", "(see a link to discord.gg)"),
        ("German", "komm auf discord.gg/abc", "komm auf ein Link zu discord.gg"),
        ("French", "va sur example.com/page", "va sur un lien vers example.com"),
        ("Japanese", "discord.gg/abc", "discord.ggへのリンク"),
        ("Spanish", "mira example.com/pagina", "mira un enlace a example.com"),
    ],
)
def test_bare_domains_and_invites_are_links(language: str, text: str, expected: str) -> None:
    assert clean(text, language) == expected


@pytest.mark.parametrize(
    "text",
    ["visit example.com today", "file.txt and v1.2", "e.g. this", "bob@example.com/x", "x/y.com/z", "a.b/c"],
)
def test_what_is_not_a_link_stays_text(text: str) -> None:
    assert clean(text, "English") == text
