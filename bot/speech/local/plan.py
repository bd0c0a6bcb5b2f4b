"""From a speech request to espeak-ng settings: the espeak voice (language + variant), speed,
volume, pitch and pitch range, from the voice's profile and what espeak can do of the style.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.speech.local.profiles import DEFAULT_PROFILE, VOICE_PROFILES, WHISPER_VARIANTS, espeak_language
from bot.speech.local.style import interpret_style
from bot.speech.request import SpeechRequest
from bot.speech.voices import VOICES_BY_NAME

__all__ = ["SynthesisPlan", "plan_for"]

_RATE_MIN, _RATE_MAX = 80, 450  # words per minute espeak-ng accepts


@dataclass(frozen=True, slots=True)
class SynthesisPlan:
    """The espeak voice name (language+variant) and parameters for one request."""

    voice: str
    rate: int
    volume: int
    pitch: int
    pitch_range: int


def _clamp(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, round(value))))


def plan_for(request: SpeechRequest) -> SynthesisPlan:
    """Map a (validated) request to espeak settings. Pure; no library needed."""
    profile = VOICE_PROFILES.get(request.voice, DEFAULT_PROFILE)
    style = interpret_style(request.instructions)
    variant = profile.variant
    if style.whisper:
        voice = VOICES_BY_NAME.get(request.voice)
        variant = WHISPER_VARIANTS[voice.gender if voice else "female"]
    return SynthesisPlan(
        voice=f"{espeak_language(request.language, request.text)}+{variant}",
        rate=_clamp(profile.rate * style.rate_factor, _RATE_MIN, _RATE_MAX),
        volume=_clamp(profile.volume + style.volume_delta, 10, 200),
        pitch=_clamp(profile.pitch + style.pitch_delta, 0, 100),
        pitch_range=profile.pitch_range,
    )
