"""Slash commands in the member's language: every command string has a translation in every
shipped catalogue, each translation passes Discord's rules, and the payload discord.py syncs
carries the localized names and descriptions."""

from __future__ import annotations

import unittest.mock
from pathlib import Path
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.app.command_text import CommandString, Rule, breaks_rule, command_strings
from bot.app.translator import CatalogueTranslator
from bot.base.i18n import command_catalogues
from cogs import dictionary, playback, preferences, readaloud, server, speech

SHIPPED = ("de", "es-ES", "fr", "it", "ja", "ko", "pt-BR", "ru", "zh-CN", "zh-TW")


def all_commands() -> list[Any]:
    commands: list[Any] = []
    for module in (speech, preferences, playback, server, readaloud, dictionary):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, discord.ext.commands.Cog):
                commands += value.__cog_app_commands__
    commands.append(speech.SpeechCog(unittest.mock.MagicMock()).read_aloud_menu)
    return commands


STRINGS = command_strings(all_commands())
CATALOGUES = command_catalogues()


def test_the_shipped_catalogues() -> None:
    assert sorted(CATALOGUES) == sorted(SHIPPED)
    assert len(STRINGS) > 100 and CommandString("Read aloud", Rule.MENU) in STRINGS


@pytest.mark.parametrize("locale", SHIPPED)
def test_every_message_id_is_in_every_catalogue(locale: str) -> None:
    ids = {s.text for s in STRINGS}
    catalogue = CATALOGUES[locale]
    assert sorted(ids - catalogue.keys()) == [], "missing"
    assert sorted(catalogue.keys() - ids) == [], "stale"


@pytest.mark.parametrize("locale", SHIPPED)
def test_every_translation_meets_discords_rules(locale: str) -> None:
    problems = {s.text: breaks_rule(CATALOGUES[locale][s.text], s.rule) for s in STRINGS}
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_rules() -> None:
    assert breaks_rule("sprechen", Rule.NAME) is None
    assert breaks_rule("nur_dieser_server", Rule.NAME) is None
    assert breaks_rule("Sprechen", Rule.NAME) == "a name is lowercase"
    assert breaks_rule("zwei worte", Rule.NAME) is not None
    assert breaks_rule("x" * 32, Rule.NAME) is None and breaks_rule("x" * 33, Rule.NAME) is not None
    assert breaks_rule("Lire à voix haute", Rule.MENU) is None
    assert breaks_rule("d" * 100, Rule.TEXT) is None and breaks_rule("d" * 101, Rule.TEXT) is not None
    assert breaks_rule("", Rule.TEXT) is not None


async def test_the_synced_payload_is_localized_and_names_stay_unique() -> None:
    translator = CatalogueTranslator(CATALOGUES)
    tree = unittest.mock.MagicMock()
    payloads = [await c.get_translated_payload(tree, translator) for c in all_commands()]
    speak = next(p for p in payloads if p["name"] == "speak")
    assert speak["name_localizations"]["de"] == "sprechen"
    assert speak["name_localizations"]["fr"] == "parler"
    assert speak["name_localizations"]["es-ES"] == speak["name_localizations"]["es-419"] == "hablar"
    assert speak["name_localizations"]["ja"] == "話す"
    assert "en-US" not in speak["name_localizations"]  # English: Discord shows the name itself
    assert "hi" not in speak["name_localizations"]  # no catalogue: Discord shows English
    assert speak["description_localizations"]["de"] == "Etwas mit deinen Stimmeinstellungen sagen"
    language = next(o for o in speak["options"] if o["name"] == "language")
    german = next(c for c in language["choices"] if c["value"] == "German")
    assert german["name_localizations"]["fr"] == "Allemand"
    menu = next(p for p in payloads if p["name"] == "Read aloud")
    assert menu["name_localizations"]["de"] == "Vorlesen"

    def check_unique(options: list[dict[str, Any]]) -> None:
        for locale in SHIPPED:
            names = [o.get("name_localizations", {}).get(locale, o["name"]) for o in options]
            assert len(names) == len(set(names)), (locale, names)
        for option in options:
            check_unique(option.get("options", []))

    check_unique(payloads)


def test_a_translation_discord_would_refuse_falls_back_to_english(caplog: pytest.LogCaptureFixture) -> None:
    translator = CatalogueTranslator({"de": {"speak": "Sprich Jetzt", "What to say": "Was"}})
    assert translator.lookup("speak", "de", Rule.NAME) is None
    assert translator.lookup("speak", "de", Rule.NAME) is None
    assert len([r for r in caplog.records if "ignored" in r.getMessage()]) == 1  # logged once
    assert translator.lookup("What to say", "de", Rule.TEXT) == "Was"
    assert translator.lookup("What to say", "hi", Rule.TEXT) is None


async def test_the_catalogues_load_from_the_package() -> None:
    translator = CatalogueTranslator()
    await translator.load()
    assert translator.locales == sorted(SHIPPED)
    assert isinstance(translator, app_commands.Translator)


def test_the_readme_command_list_is_what_the_catalogues_give() -> None:
    """The README's localized command list is the catalogues' names, row by row."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    header = next(line for line in readme.splitlines() if line.startswith("| locale | `/speak`"))
    english = [cell.strip().strip("`/") for cell in header.strip("|").split("|")[1:-1]]
    rows = [line for line in readme.splitlines() if line.startswith("| ") and "| /" in line]
    assert len(rows) == 10
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    shown = {first: [c.lstrip("/") for c in rest] for first, *rest in cells}
    by_name = {"German": "de", "Japanese": "ja", "Russian": "ru", "Chinese (Traditional)": "zh-TW"}
    for name, locale in by_name.items():
        commands = CATALOGUES[locale]
        assert shown[name] == [*(commands[c] for c in english), commands["Read aloud"]], name
