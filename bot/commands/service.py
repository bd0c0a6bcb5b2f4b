"""Input checks for command options, without Discord: `check_text`, `check_voice`,
`check_style`, `check_language` (and the limits `SPEAK_MAX_CHARS`, `STYLE_MAX_CHARS`).
"""

from __future__ import annotations

import unicodedata
from typing import Final

from bot.base.errors import InputError
from bot.speech.request import MAX_INSTRUCTIONS_CHARS, sanitize_text
from bot.speech.voices import LANGUAGES, canonical_language, canonical_voice

SPEAK_MAX_CHARS: Final = 2000  # a Discord message; the client splits it for the endpoint
STYLE_MAX_CHARS: Final = min(500, MAX_INSTRUCTIONS_CHARS)  # what a member may type as a style


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _clean(value: str) -> str:
    return unicodedata.normalize("NFC", sanitize_text(value)).strip()


def check_text(text: str, *, limit: int = SPEAK_MAX_CHARS) -> str:
    cleaned = _clean(text)
    if not cleaned:
        raise InputError("There is nothing to say: the text is empty.")
    if len(cleaned) > limit:
        raise InputError(f"That text is too long ({len(cleaned)} characters; at most {limit}).")
    return cleaned


def check_voice(name: str) -> str:
    voice = canonical_voice(name)
    if voice is None:
        raise InputError(f"Unknown voice {name[:40]!r}. Pick one from the list, or see /voice list.")
    return voice


def check_language(name: str) -> str:
    language = canonical_language(name)
    if language is None:
        raise InputError(f"Unknown language {name[:40]!r}. Valid languages: {', '.join(LANGUAGES)}.")
    return language


def check_style(text: str) -> str:
    """A style typed by a member: non-empty, at most STYLE_MAX_CHARS characters."""
    cleaned = " ".join(_clean(text).split())
    if not cleaned:
        raise InputError("The style is empty. Describe how to speak, e.g. 'calm and slow'.")
    if len(cleaned) > STYLE_MAX_CHARS:
        raise InputError(f"That style is too long ({len(cleaned)} characters; at most {STYLE_MAX_CHARS}).")
    return cleaned
