"""A member's speech request: `SpeakOrder` (the text plus per-command overrides, checked)
applied on top of their resolved settings (`resolve_request`) into a validated
`SpeechRequest`; `preview_request`: the fixed sample line of a voice."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Protocol

from bot.commands.checks import SPEAK_MAX_CHARS, check_picked_voice, check_typed_text
from bot.speech.request import SpeechRequest, check_style
from bot.speech.voices import check_language
from bot.store.models import VoiceSettings

PREVIEW_LINE: Final = "Hello! This is how I sound. I can read your messages aloud in this voice."


@dataclass(frozen=True, slots=True)
class SpeakOrder:
    """Text and per-command overrides, checked; `None` = use the member's setting."""

    text: str
    voice: str | None = None
    style: str | None = None
    language: str | None = None

    @classmethod
    def create(
        cls,
        text: str,
        *,
        voice: str | None = None,
        style: str | None = None,
        language: str | None = None,
        limit: int = SPEAK_MAX_CHARS,
    ) -> SpeakOrder:
        """Check everything that needs no database (fast: call it before deferring)."""
        return cls(
            text=check_typed_text(text, limit=limit),
            voice=check_picked_voice(voice) if voice else None,
            style=check_style(style) if style and style.strip() else None,
            language=check_language(language) if language else None,
        )

    def apply(self, settings: VoiceSettings) -> SpeechRequest:
        request = settings.request(self.text)
        if self.voice is not None:
            request = replace(request, voice=self.voice)
        if self.style is not None:
            request = replace(request, instructions=self.style)
        if self.language is not None:
            request = replace(request, language=self.language)
        return request.validated()


class SettingsSource(Protocol):
    async def resolve_voice_settings(self, user_id: int, guild_id: int | None) -> VoiceSettings: ...


async def resolve_request(
    storage: SettingsSource, user_id: int, guild_id: int | None, order: SpeakOrder
) -> SpeechRequest:
    """The validated request for `order` spoken by `user_id` in `guild_id` (None: a DM)."""
    settings = await storage.resolve_voice_settings(user_id, guild_id)
    return order.apply(settings)


def preview_request(voice: str) -> SpeechRequest:
    """The fixed sample line in `voice` (no style, Auto language: one cache entry per voice)."""
    return SpeechRequest(PREVIEW_LINE, voice=check_picked_voice(voice)).validated()
