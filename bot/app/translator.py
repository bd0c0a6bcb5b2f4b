"""Slash commands in the member's language: a discord.py `app_commands.Translator` over one
catalogue per Discord locale: the "commands" section of `bot/base/locales/<locale>.json` (the
same file as the locale's replies, `bot.base.i18n`), mapping the English text (the message id)
to its translation. A locale whose "commands" section is empty is not listed.

Shipped: de, fr, es-ES (es-419 reads es-ES). A missing translation, or one that Discord would
refuse (`command_text.breaks_rule`: names 1-32 lowercase characters without spaces, descriptions
and choices 1-100), falls back to English (None) and is logged once. `ParlaBot.setup_hook`
installs it before syncing (`tree.set_translator`).
"""

from __future__ import annotations

import logging
from typing import Final

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.app.command_text import Rule, breaks_rule
from bot.base.i18n import command_catalogues

log = logging.getLogger(__name__)

ALIASES: Final[dict[str, str]] = {"es-419": "es-ES"}  # Latin American Spanish reads es-ES
_RULES: Final[dict[Where, Rule]] = {
    Where.command_name: Rule.NAME,
    Where.group_name: Rule.NAME,
    Where.parameter_name: Rule.NAME,
    Where.command_description: Rule.TEXT,
    Where.group_description: Rule.TEXT,
    Where.parameter_description: Rule.TEXT,
    Where.choice_name: Rule.TEXT,
}
Catalogues = dict[str, dict[str, str]]


class CatalogueTranslator(app_commands.Translator):
    def __init__(self, catalogues: Catalogues | None = None) -> None:
        self._catalogues: Catalogues = catalogues if catalogues is not None else {}
        self._preloaded = catalogues is not None
        self._warned: set[tuple[str, str]] = set()

    @property
    def locales(self) -> list[str]:
        return sorted(self._catalogues)

    async def load(self) -> None:
        if not self._preloaded:
            self._catalogues = command_catalogues()

    def lookup(self, text: str, locale: str, rule: Rule) -> str | None:
        """The translation of `text` for `locale`, or None (English) when there is none or
        Discord would refuse it."""
        catalogue = self._catalogues.get(ALIASES.get(locale, locale))
        if catalogue is None:
            return None
        translated = catalogue.get(text)
        if translated is None:
            return None
        problem = breaks_rule(translated, rule)
        if problem is not None:
            if (locale, text) not in self._warned:
                self._warned.add((locale, text))
                log.warning("translation of %r for %s ignored: %s", text, locale, problem)
            return None
        return translated

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        rule = _RULES.get(context.location)
        if rule is None:
            return None
        if context.location is Where.command_name and isinstance(context.data, app_commands.ContextMenu):
            rule = Rule.MENU
        return self.lookup(string.message, locale.value, rule)
