"""The speech request model, validated before any network call, and the one set of rules for
what is said and how: `check_text` (the text), `check_instructions` (a stored or sent style),
`check_style` (a style typed by a member)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace

from bot.base.errors import InputError
from bot.base.i18n import say
from bot.speech.voices import DEFAULT_LANGUAGE, DEFAULT_VOICE, check_language, check_voice

# The endpoint accepts at most 1600 tokens of instructions; a token is at least one
# character for the scripts it accepts (Chinese and English), so 1600 characters is safe.
MAX_INSTRUCTIONS_CHARS = 1600
STYLE_MAX_CHARS = min(500, MAX_INSTRUCTIONS_CHARS)  # what a member may type as a style


def sanitize_text(text: str) -> str:
    """Drop what no speech engine can read: lone surrogates and control characters."""
    text = text.encode("utf-8", "replace").decode("utf-8", "replace") if _has_surrogates(text) else text
    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" or ch == "\u200d" else " " for ch in text
    )


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", sanitize_text(text)).strip()


def check_text(text: str, *, limit: int | None = None) -> str:
    """The text to say, cleaned; InputError if nothing is left or it is over `limit` characters."""
    cleaned = _clean(text)
    if not cleaned:
        raise InputError(say("input.text.empty"))
    if limit is not None and len(cleaned) > limit:
        raise InputError(say("input.text.too_long", count=len(cleaned), limit=limit))
    return cleaned


def check_instructions(value: object) -> str:
    """Style instructions as stored and sent, cleaned ("" = no style), or InputError."""
    if not isinstance(value, str):
        raise InputError(say("input.style.not_text"))
    text = _clean(value)
    if len(text) > MAX_INSTRUCTIONS_CHARS:
        raise InputError(
            say("input.style.instructions_too_long", count=len(text), limit=MAX_INSTRUCTIONS_CHARS)
        )
    return text


def check_style(text: str) -> str:
    """A style typed by a member: non-empty, at most STYLE_MAX_CHARS characters."""
    cleaned = " ".join(_clean(text).split())
    if not cleaned:
        raise InputError(say("input.style.empty"))
    if len(cleaned) > STYLE_MAX_CHARS:
        raise InputError(say("input.style.too_long", count=len(cleaned), limit=STYLE_MAX_CHARS))
    return cleaned


@dataclass(frozen=True, slots=True)
class SpeechRequest:
    """What to say and how. `optimize_instructions=None` means "not sent"."""

    text: str
    voice: str = DEFAULT_VOICE
    language: str = DEFAULT_LANGUAGE
    instructions: str | None = None
    optimize_instructions: bool | None = None

    def validated(self) -> SpeechRequest:
        """Return the canonical form of this request, or raise InputError."""
        text = check_text(self.text)
        voice = check_voice(self.voice)
        language = check_language(self.language or DEFAULT_LANGUAGE)
        instructions = None if self.instructions is None else check_instructions(self.instructions) or None
        return SpeechRequest(
            text=text,
            voice=voice,
            language=language,
            instructions=instructions,
            optimize_instructions=self.optimize_instructions,
        )

    def with_text(self, text: str) -> SpeechRequest:
        return replace(self, text=text)
