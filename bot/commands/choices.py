"""Autocomplete choice lists (at most 25, filtered by what is typed): `voice_choices`,
`style_choices` over the `STYLE_PRESETS`; and `shorten`, a text cut at a word boundary."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bot.base.i18n import say
from bot.commands.settings_view import voice_traits
from bot.speech.request import STYLE_MAX_CHARS
from bot.speech.voices import VOICES, VOICES_BY_NAME

AUTOCOMPLETE_LIMIT: Final = 25  # Discord shows at most 25 choices
CHOICE_MAX_CHARS: Final = 100  # a choice's name and value are at most 100 characters


def shorten(text: str, limit: int, ellipsis: str = "…") -> str:
    """`text` cut at a word boundary to at most `limit` characters (ellipsis included)."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ellipsis))]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + ellipsis


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[\s,;/—-]+", text.casefold()) if t]


def _matches(typed: list[str], words: list[str]) -> bool:
    """Every typed word is the start of some word (so "male" does not match "female")."""
    return all(any(w.startswith(t) for w in words) for t in typed)


def voice_label(name: str) -> str:
    """ "Cherry — female, sunny and friendly" (a Text: the cog renders it in the member's
    language; the English is at most CHOICE_MAX_CHARS)."""
    voice = VOICES_BY_NAME[name]
    label = say("voice.choice", name=voice.name, **voice_traits(voice))
    return label if len(label) <= CHOICE_MAX_CHARS else label[:CHOICE_MAX_CHARS]


def voice_choices(current: str, limit: int = AUTOCOMPLETE_LIMIT) -> list[tuple[str, str]]:
    """(label, value) for the voices matching what is typed: name prefix first, then the
    voices whose gender or character words match; at most `limit`."""
    typed = _tokens(current)
    whole = " ".join(current.split()).casefold()
    first: list[tuple[str, str]] = []
    rest: list[tuple[str, str]] = []
    for voice in VOICES:
        choice = (voice_label(voice.name), voice.name)
        if not typed or voice.name.casefold().startswith(whole):
            first.append(choice)
        elif _matches(typed, _tokens(f"{voice.name} {voice.gender} {voice.character}")):
            rest.append(choice)
    return (first + rest)[:limit]


@dataclass(frozen=True, slots=True)
class StylePreset:
    name: str
    instructions: str


STYLE_PRESETS: Final[tuple[StylePreset, ...]] = (
    StylePreset("Calm narrator", "Speak like a calm, warm narrator, at an even and unhurried pace."),
    StylePreset("Cheerful", "Speak in a cheerful, upbeat and friendly tone."),
    StylePreset("Whisper", "Whisper softly and gently."),
    StylePreset("News anchor", "Speak like a professional news anchor: clear, neutral and confident."),
    StylePreset("Slower and clearer", "Speak slower and more clearly, articulating every word."),
    StylePreset("Faster", "Speak a little faster, but keep every word clear."),
    StylePreset("Louder", "Speak louder, projecting the voice."),
    StylePreset("Softer", "Speak softer and quieter, in a gentle voice."),
    StylePreset("Storyteller", "Speak like a storyteller reading to children: expressive and warm."),
    StylePreset("Excited", "Speak with excitement and energy."),
    StylePreset("Serious", "Speak in a serious, formal tone, steady and measured."),
    StylePreset("Sad", "Speak slowly and softly, in a sad and wistful tone."),
    StylePreset("Sleepy", "Speak in a sleepy, relaxed voice, slow and low."),
    StylePreset("Higher pitch", "Speak with a higher pitch."),
    StylePreset("Lower pitch", "Speak with a lower, deeper pitch."),
)


def style_choices(current: str, limit: int = AUTOCOMPLETE_LIMIT) -> list[tuple[str, str]]:
    """(label, value): what was typed (free text is allowed) first, then matching presets."""
    typed = " ".join(current.split())
    words = _tokens(typed)
    out: list[tuple[str, str]] = []
    if typed:
        if len(typed) > STYLE_MAX_CHARS:
            too_long = say("style.choice.too_long", count=len(typed), limit=STYLE_MAX_CHARS)
            out.append((too_long, typed[:CHOICE_MAX_CHARS]))
        elif len(typed) <= CHOICE_MAX_CHARS and not any(
            p.instructions.casefold() == typed.casefold() for p in STYLE_PRESETS
        ):
            out.append((f"“{typed}”"[:CHOICE_MAX_CHARS], typed))
    for preset in STYLE_PRESETS:
        if not words or _matches(words, _tokens(f"{preset.name} {preset.instructions}")):
            label = f"{preset.name} — {preset.instructions}"
            if len(label) > CHOICE_MAX_CHARS:
                label = label[: CHOICE_MAX_CHARS - 1] + "…"
            out.append((label, preset.instructions))
    return out[:limit]
