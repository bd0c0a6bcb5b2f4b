"""Describing voice settings to members: each effective setting and where it comes from
(`describe_settings`), a choice hidden by one that takes precedence (`shadow_note`), and what
the local engine makes of a style (`local_style_note`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from bot.speech.voices import VOICES_BY_NAME
from bot.store.models import PrefField, Source, VoiceSettings

SOURCE_LABELS: Final[dict[Source, str]] = {
    "member": "your choice in this server",
    "user": "your choice everywhere",
    "server": "this server's default",
    "default": "built-in default",
}
FIELD_LABELS: Final[dict[PrefField, str]] = {
    "voice": "Voice",
    "instructions": "Style",
    "language": "Language",
    "optimize_instructions": "Optimize style",
}


@dataclass(frozen=True, slots=True)
class SettingLine:
    field: PrefField
    label: str
    value: str
    source: Source

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS[self.source]


def display_value(field: PrefField, value: object) -> str:
    if field == "voice" and isinstance(value, str) and value in VOICES_BY_NAME:
        voice = VOICES_BY_NAME[value]
        return f"{voice.name} ({voice.gender}, {voice.character})"
    if field == "instructions":
        return f"“{value}”" if value else "none"
    if field == "optimize_instructions":
        return "service default" if value is None else ("on" if value else "off")
    return str(value)


def describe_settings(settings: VoiceSettings) -> list[SettingLine]:
    fields: tuple[PrefField, ...] = ("voice", "instructions", "language", "optimize_instructions")
    return [
        SettingLine(f, FIELD_LABELS[f], display_value(f, getattr(settings, f)), settings.source(f))
        for f in fields
    ]


SettingScope = Literal["member", "user", "server"]  # where a member's choice is saved


def shadow_note(settings: VoiceSettings, field: PrefField, scope: SettingScope) -> str | None:
    """A sentence if a choice made at `scope` is hidden by one that takes precedence."""
    source = settings.source(field)
    label = FIELD_LABELS[field].lower()
    if scope == "user" and source == "member":
        return (
            f"Your {label} choice for this server "
            f"({display_value(field, getattr(settings, field))}) still applies here; "
            f"reset it in this server to use your global choice."
        )
    if scope == "server" and source in ("member", "user"):
        return f"Members who chose their own {label} keep it."
    return None


def local_style_note(instructions: str | None) -> str:
    """What the local espeak-ng engine does with a style (it only knows a few words)."""
    from bot.speech.local.style import describe_style

    if not instructions:
        return "No style: the local voice speaks normally."
    applied, ignored = describe_style(instructions)
    if not applied:
        return "The local voice cannot follow this style; it speaks normally."
    done = ", ".join(applied)
    return f"The local voice applies: {done}" + ("; the rest of the style is ignored." if ignored else ".")
