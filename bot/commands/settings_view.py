"""Describing voice settings to members: each effective setting and where it comes from
(`describe_settings`), a choice hidden by one that takes precedence (`shadow_note`), and what
the local engine makes of a style (`local_style_note`). Every label is a `bot.base.i18n.Text`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from bot.base.i18n import Text, join, say
from bot.speech.voices import LANGUAGES, VOICES_BY_NAME, Voice
from bot.store.models import PrefField, Source, VoiceSettings

SOURCE_LABELS: Final[dict[Source, Text]] = {
    "member": say("settings.source.member"),
    "user": say("settings.source.user"),
    "server": say("settings.source.server"),
    "default": say("settings.source.default"),
}
FIELD_LABELS: Final[dict[PrefField, Text]] = {
    "voice": say("settings.field.voice"),
    "instructions": say("settings.field.instructions"),
    "language": say("settings.field.language"),
    "optimize_instructions": say("settings.field.optimize_instructions"),
}
# lowercase, as in the middle of a sentence ("Members who chose their own voice keep it.")
FIELD_NOUNS: Final[dict[PrefField, Text]] = {field: say(f"settings.noun.{field}") for field in FIELD_LABELS}


def message_id_part(name: str) -> str:
    """A voice, language or style word as the part of a message id ("Eldric Sage" → eldric_sage)."""
    return "_".join(name.lower().replace("'", "").split())


def voice_traits(voice: Voice) -> dict[str, Text]:
    """A voice's gender and character, in the reader's language (params of a Text)."""
    return {
        "gender": say(f"voice.gender.{voice.gender}"),
        "character": say(f"voice.character.{message_id_part(voice.name)}"),
    }


def voice_label(voice: Voice) -> Text:
    """The label "Cherry (female, sunny and friendly)", in the reader's language."""
    return say("voice.label", name=voice.name, **voice_traits(voice))


def language_label(language: str) -> str:
    """A language's name ("Japanese") in the reader's language."""
    return say(f"language.{message_id_part(language)}") if language in LANGUAGES else language


@dataclass(frozen=True, slots=True)
class SettingLine:
    field: PrefField
    label: Text
    value: str
    source: Source

    @property
    def source_label(self) -> Text:
        return SOURCE_LABELS[self.source]


def display_value(field: PrefField, value: object) -> str:
    if field == "voice" and isinstance(value, str) and value in VOICES_BY_NAME:
        return voice_label(VOICES_BY_NAME[value])
    if field == "instructions":
        return say("settings.style.quoted", style=value) if value else say("settings.none")
    if field == "optimize_instructions":
        if value is None:
            return say("settings.optimize.default")
        return say("settings.on") if value else say("settings.off")
    if field == "language" and isinstance(value, str):
        return language_label(value)
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
    noun = FIELD_NOUNS[field]
    if scope == "user" and source == "member":
        return say("settings.shadowed", setting=noun, value=display_value(field, getattr(settings, field)))
    if scope == "server" and source in ("member", "user"):
        return say("settings.members_keep_own", setting=noun)
    return None


def local_style_note(instructions: str | None) -> Text:
    """What the local espeak-ng engine does with a style (it only knows a few words)."""
    from bot.speech.local.style import describe_style

    if not instructions:
        return say("local_style.none")
    applied, ignored = describe_style(instructions)
    if not applied:
        return say("local_style.cannot")
    done = join(say("list.separator"), [say(f"local_style.effect.{label}") for label in applied])
    return say("local_style.applies.partly" if ignored else "local_style.applies", effects=done)
