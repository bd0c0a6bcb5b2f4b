"""The speech request model, validated before any network call."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace

from bot.base.errors import InputError
from bot.speech.voices import (
    DEFAULT_LANGUAGE,
    DEFAULT_VOICE,
    LANGUAGES,
    VOICE_NAMES,
    canonical_language,
    canonical_voice,
)

# The endpoint accepts at most 1600 tokens of instructions; a token is at least one
# character for the scripts it accepts (Chinese and English), so 1600 characters is safe.
MAX_INSTRUCTIONS_CHARS = 1600


def sanitize_text(text: str) -> str:
    """Drop what no speech engine can read: lone surrogates and control characters."""
    text = text.encode("utf-8", "replace").decode("utf-8", "replace") if _has_surrogates(text) else text
    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" or ch == "\u200d" else " "
        for ch in text
    )


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


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
        text = unicodedata.normalize("NFC", sanitize_text(self.text)).strip()
        if not text:
            raise InputError("There is nothing to say: the text is empty.")
        voice = canonical_voice(self.voice)
        if voice is None:
            raise InputError(
                f"Unknown voice {self.voice[:40]!r}. Valid voices: {', '.join(VOICE_NAMES)}."
            )
        language = canonical_language(self.language or DEFAULT_LANGUAGE)
        if language is None:
            raise InputError(
                f"Unknown language {self.language[:40]!r}. Valid languages: {', '.join(LANGUAGES)}."
            )
        instructions = self.instructions
        if instructions is not None:
            instructions = unicodedata.normalize("NFC", sanitize_text(instructions)).strip() or None
        if instructions is not None and len(instructions) > MAX_INSTRUCTIONS_CHARS:
            raise InputError(
                f"The style instructions are too long ({len(instructions)} characters; "
                f"at most {MAX_INSTRUCTIONS_CHARS})."
            )
        return SpeechRequest(
            text=text,
            voice=voice,
            language=language,
            instructions=instructions,
            optimize_instructions=self.optimize_instructions,
        )

    def with_text(self, text: str) -> SpeechRequest:
        return replace(self, text=text)
