"""How the endpoint's languages and voices sound in espeak-ng: the espeak voice of each of the
eleven languages ("Auto" guesses the language from the text), and for each of the 24 voices a
distinct variant of its gender with its own base pitch, pitch range, speed and volume.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.text.language import detect_language

__all__ = [
    "DEFAULT_PROFILE",
    "LANGUAGE_VOICES",
    "VOICE_PROFILES",
    "WHISPER_VARIANTS",
    "VoiceProfile",
    "espeak_language",
]

LANGUAGE_VOICES: dict[str, str] = {
    "Chinese": "cmn",  # Mandarin; Latin letters inside are read as English
    "English": "en-us",
    "German": "de",
    "Italian": "it",
    "Portuguese": "pt-br",
    "Spanish": "es",
    "Japanese": "ja",
    "Korean": "ko",
    "French": "fr",
    "Russian": "ru",
}


@dataclass(frozen=True, slots=True)
class VoiceProfile:
    """How an endpoint voice sounds in espeak: a variant (voices/!v) and base prosody."""

    variant: str
    pitch: int  # espeak base pitch 0..100 (50 = the variant's own)
    pitch_range: int  # 0..100 (0 = monotone, 50 = normal)
    rate: int  # words per minute (espeak default 175)
    volume: int = 100  # 0..200


VOICE_PROFILES: dict[str, VoiceProfile] = {
    # female voices → female variants (median F0 on English text 155..310 Hz)
    "Cherry": VoiceProfile("f5", 60, 60, 180),
    "Serena": VoiceProfile("f2", 42, 45, 165),
    "Chelsie": VoiceProfile("Andrea", 55, 55, 175, volume=95),
    "Momo": VoiceProfile("anika", 55, 65, 185, volume=90),
    "Vivian": VoiceProfile("f4", 62, 60, 180),
    "Maia": VoiceProfile("f3", 45, 45, 170),
    "Bella": VoiceProfile("Alicia", 72, 60, 170),
    "Mia": VoiceProfile("linda", 45, 40, 160),
    "Bellona": VoiceProfile("belinda", 50, 75, 175, volume=95),
    "Bunny": VoiceProfile("Annie", 65, 60, 180),
    "Elias": VoiceProfile("f1", 40, 45, 170),
    "Nini": VoiceProfile("steph", 57, 50, 175),
    "Seren": VoiceProfile("whisperf", 40, 30, 150),
    "Stella": VoiceProfile("steph2", 70, 70, 185, volume=80),
    # male voices → male variants (median F0 70..150 Hz; Pip, a kid, higher)
    "Ethan": VoiceProfile("m3", 65, 60, 180),
    "Moon": VoiceProfile("m6", 52, 45, 170),
    "Kai": VoiceProfile("m7", 42, 35, 155),
    "Nofish": VoiceProfile("m4", 70, 50, 175),
    "Eldric Sage": VoiceProfile("grandpa", 25, 40, 150),
    "Mochi": VoiceProfile("Gene2", 70, 60, 180, volume=75),
    "Vincent": VoiceProfile("m1", 35, 45, 160),
    "Neil": VoiceProfile("m2", 58, 40, 175),
    "Arthur": VoiceProfile("m8", 32, 45, 150, volume=140),
    "Pip": VoiceProfile("zac", 38, 65, 190, volume=90),
}
DEFAULT_PROFILE = VOICE_PROFILES["Cherry"]
WHISPER_VARIANTS = {"female": "whisperf", "male": "whisper"}


def espeak_language(language: str, text: str) -> str:
    """The espeak voice for an endpoint language ("Auto" detects it from the text)."""
    if language == "Auto" or language not in LANGUAGE_VOICES:
        language = detect_language(text)
    return LANGUAGE_VOICES[language]
