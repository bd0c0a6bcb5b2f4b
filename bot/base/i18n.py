"""Replies in the member's language.

Every sentence a member reads is a `Text`: a `str` whose value is the English rendering, which
also carries its message id (`key`) and its `params`. `say("tts.stop.done.other", count=3)`
makes one; `localize(value, locale)` renders it in a Discord locale's catalogue. Because a Text
is a str, code that logs, compares or tests the English keeps working; a plain str passes
through `localize` unchanged. `lines(...)` / `join(sep, parts)` keep a joined reply
localizable (`"\\n".join(texts)` would make a plain English str).

The catalogues are plain data, one per language: `bot/base/locales/<locale>.json` =
`{"commands": {English text: translation}, "replies": {message id: template}}` ("commands" is
read by `bot.app.translator`). `en.json` holds the English templates, the source of truth.
Templates use `str.format` named placeholders; a param that is itself a Text is rendered in the
same locale. Aliases: es-419 reads es-ES, en-US and en-GB read en. An unknown locale, a missing
id or a template that does not format falls back to English (logged once).

`REPLY_LOCALES` are the locales whose "replies" are complete (tests/base/test_i18n.py checks
every id and placeholder of en.json is there); others fall back to English id by id.

For translators: keep every `{placeholder}` (with its format spec, e.g. `{count:,}`), emoji,
markdown (`**…**`, `*…*`, backticks) and command names (`/tts skip`) as they are. Plurals are
separate ids (`….one` / `….other`). `settings.noun.*` are the settings' names inside a sentence,
`settings.field.*` the same as labels; `list.separator` joins list items (", "); `{mention}` and
`{channel}` are Discord mentions; `{error}` and `{sentence}` are other replies, already translated.
"""

from __future__ import annotations

import json
import logging
import string
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

log = logging.getLogger(__name__)

LOCALES_DIR: Final = Path(__file__).with_name("locales")
ENGLISH: Final = "en"
REPLY_LOCALES: Final[tuple[str, ...]] = (
    *(ENGLISH, "de", "es-ES", "fr", "it", "ja"),
    *("ko", "pt-BR", "ru", "zh-CN", "zh-TW"),
)
ALIASES: Final[dict[str, str]] = {"es-419": "es-ES", "en-US": ENGLISH, "en-GB": ENGLISH}


def load_locale_files(directory: Path = LOCALES_DIR) -> dict[str, dict[str, dict[str, str]]]:
    """Every `<locale>.json` in `directory`: locale → section ("commands", "replies") → map
    (blocking: small files, read once)."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[path.stem] = {
            section: {str(k): str(v) for k, v in (data.get(section) or {}).items()}
            for section in ("commands", "replies")
        }
    return found


_FILES: Final = load_locale_files()  # read once, at import: the replies here, the commands for the translator
_REPLIES: Final[dict[str, dict[str, str]]] = {
    locale: sections["replies"] for locale, sections in _FILES.items()
}


def command_catalogues() -> dict[str, dict[str, str]]:
    """The "commands" section of every catalogue that has one (read by `bot.app.translator`)."""
    return {locale: dict(sections["commands"]) for locale, sections in _FILES.items() if sections["commands"]}


_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _warn_once(locale: str, key: str, problem: str) -> None:
    with _warned_lock:
        if (locale, key) in _warned:
            return
        _warned.add((locale, key))
    log.warning("reply %r for %s: %s; English is used", key, locale, problem)


def catalogue_locale(locale: str | None) -> str:
    """The catalogue a Discord locale reads (English when there is none)."""
    if not locale:
        return ENGLISH
    locale = ALIASES.get(locale, locale)
    return locale if _REPLIES.get(locale) else ENGLISH


def template_of(key: str, locale: str = ENGLISH) -> str | None:
    return _REPLIES.get(locale, {}).get(key)


def placeholders(template: str) -> set[str]:
    """The named fields of a template ("{seconds:.0f}" → "seconds")."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _format(template: str, params: Mapping[str, object], locale: str) -> str:
    values = {k: localize(v, locale) if isinstance(v, Text) else v for k, v in params.items()}
    return template.format_map(values)


def _render(key: str, params: Mapping[str, object], locale: str) -> str:
    if locale != ENGLISH:
        template = template_of(key, locale)
        if template is None:
            _warn_once(locale, key, "no translation")
        else:
            try:
                return _format(template, params, locale)
            except (KeyError, IndexError, ValueError, TypeError) as exc:
                _warn_once(locale, key, f"the template does not format ({exc!r})")
    english = template_of(key)
    if english is None:
        _warn_once(ENGLISH, key, "unknown message id")
        return key
    try:
        return _format(english, params, ENGLISH)
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        _warn_once(ENGLISH, key, f"the template does not format ({exc!r})")
        return english


class Text(str):
    """A reply sentence: its English rendering (the str value), its message id and params."""

    key: str
    params: Mapping[str, object]

    def __new__(cls, key: str, params: Mapping[str, object] | None = None) -> Text:
        values = dict(params or {})
        self = super().__new__(cls, _render(key, values, ENGLISH))
        self.key = key
        self.params = values
        return self

    def render(self, locale: str) -> str:
        """This sentence in `locale` (a catalogue name, already resolved)."""
        return _render(self.key, self.params, locale)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Text, (self.key, dict(self.params)))

    def __repr__(self) -> str:
        return f"Text({self.key!r}, {str.__repr__(self)})"


class Joined(Text):
    """Several pieces (Text or plain str) joined by `sep` (itself a Text or a plain str), each
    rendered in the same locale."""

    parts: tuple[str, ...]
    sep: str

    def __new__(cls, sep: str, parts: Iterable[str]) -> Joined:
        pieces = tuple(parts)
        self = str.__new__(cls, sep.join(pieces))
        self.key = ""
        self.params = {}
        self.parts = pieces
        self.sep = sep
        return self

    def render(self, locale: str) -> str:
        sep = self.sep.render(locale) if isinstance(self.sep, Text) else self.sep
        return sep.join(p.render(locale) if isinstance(p, Text) else p for p in self.parts)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Joined, (self.sep, self.parts))

    def __repr__(self) -> str:
        return f"Joined({self.sep!r}, {self.parts!r})"


def say(key: str, /, **params: object) -> Text:
    """The reply `key` of the catalogues with `params` (rendered in English until localized)."""
    return Text(key, params)


def join(sep: str, parts: Iterable[str | None]) -> Text:
    """`sep.join(parts)` that stays localizable; empty and None parts are left out."""
    return Joined(sep, (p for p in parts if p))


def lines(*parts: str | None) -> Text:
    """The non-empty `parts`, one per line, localizable."""
    return join("\n", parts)


def localize(value: str, locale: str | None) -> str:
    """`value` in the Discord `locale` (e.g. "ja", "es-419"); a plain str is returned as is."""
    if not isinstance(value, Text):
        return value
    return value.render(catalogue_locale(locale))
