"""The endpoint's voices and languages (from the API page in shared/seeds), and the one check of
a voice name (`check_voice`) and of a language name (`check_language`)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.base.errors import InputError
from bot.base.i18n import say


@dataclass(frozen=True, slots=True)
class Voice:
    name: str
    gender: str  # "female" / "male"
    character: str

    def label(self) -> str:
        return f"{self.name} ({self.gender}, {self.character})"


VOICES: tuple[Voice, ...] = (
    Voice("Cherry", "female", "sunny and friendly"),
    Voice("Serena", "female", "gentle"),
    Voice("Ethan", "male", "warm and energetic"),
    Voice("Chelsie", "female", "sweet anime girlfriend"),
    Voice("Momo", "female", "playful and cutesy"),
    Voice("Vivian", "female", "sassy and cute"),
    Voice("Moon", "male", "cool and handsome"),
    Voice("Maia", "female", "intellectual and gentle"),
    Voice("Kai", "male", "soothing"),
    Voice("Nofish", "male", "designer who can't roll his r's"),
    Voice("Bella", "female", "little girl"),
    Voice("Eldric Sage", "male", "wise elder"),
    Voice("Mia", "female", "meek and sweet"),
    Voice("Mochi", "male", "clever boy"),
    Voice("Bellona", "female", "loud and theatrical"),
    Voice("Vincent", "male", "husky storyteller"),
    Voice("Bunny", "female", "cute girl"),
    Voice("Neil", "male", "news anchor"),
    Voice("Elias", "female", "lecturer"),
    Voice("Arthur", "male", "old storyteller"),
    Voice("Nini", "female", "sweet girl next door"),
    Voice("Seren", "female", "sleep and ASMR"),
    Voice("Pip", "male", "mischievous kid"),
    Voice("Stella", "female", "ditzy magical girl"),
)

VOICE_NAMES: tuple[str, ...] = tuple(v.name for v in VOICES)
VOICES_BY_NAME: dict[str, Voice] = {v.name: v for v in VOICES}

LANGUAGES: tuple[str, ...] = (
    "Auto",
    "Chinese",
    "English",
    "German",
    "Italian",
    "Portuguese",
    "Spanish",
    "Japanese",
    "Korean",
    "French",
    "Russian",
)

DEFAULT_VOICE = "Cherry"
DEFAULT_LANGUAGE = "Auto"


def canonical_voice(name: str) -> str | None:
    """Return the canonical spelling of a voice name, case-insensitively, or None."""
    wanted = " ".join(name.split()).casefold()
    for voice in VOICE_NAMES:
        if voice.casefold() == wanted:
            return voice
    return None


def canonical_language(name: str) -> str | None:
    wanted = name.strip().casefold()
    for lang in LANGUAGES:
        if lang.casefold() == wanted:
            return lang
    return None


def check_voice(name: object, *, hint: str | None = None) -> str:
    """The canonical spelling of voice `name`, or InputError. `hint` is the sentence after
    "Unknown voice …" (default: the list of valid voices)."""
    voice = canonical_voice(name) if isinstance(name, str) else None
    if voice is None:
        advice = hint if hint is not None else say("input.voice.valid", voices=", ".join(VOICE_NAMES))
        raise InputError(say("input.voice.unknown", name=repr(str(name)[:40]), advice=advice))
    return voice


def check_language(name: object) -> str:
    """The canonical spelling of language `name`, or InputError."""
    language = canonical_language(name) if isinstance(name, str) else None
    if language is None:
        raise InputError(
            say("input.language.unknown", name=repr(str(name)[:40]), languages=", ".join(LANGUAGES))
        )
    return language
