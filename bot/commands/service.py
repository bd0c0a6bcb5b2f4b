"""What the slash commands do, without Discord: the cogs translate Discord ↔ these functions.

- Input checks for command options (`check_text`, `check_voice`, `check_style`,
  `check_language`) and `SpeakOrder`: a member's text plus per-command overrides, applied on
  top of their resolved settings (`resolve_request`) into a validated `SpeechRequest`.
- Autocomplete: `voice_choices`, `style_choices` (at most 25, filtered by what is typed).
- `describe_settings`: each effective setting and where it comes from; `local_style_note`:
  what the local engine makes of a style.
- `collect_audio`: synthesize through the stack's engine (streamed, so a progress callback can
  report how much audio is ready).
- `render_audio_file`: audio → an attachment that fits the upload limit: WAV named after the
  first words, or Ogg/Opus (encoder passed in by the caller) when the WAV is too big, or a
  clear InputError. Blocking (encoding): run it in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Final, Literal, Protocol

import numpy as np

from bot.audio.clip import SAMPLE_WIDTH, Audio
from bot.audio.ogg import ogg_opus
from bot.audio.pcm import DISCORD_CHANNELS, PcmConverter
from bot.audio.wav import to_wav
from bot.base.errors import InputError
from bot.commands.checks import SPEAK_MAX_CHARS, check_text, check_voice
from bot.speech.engine import SpeechEngine, opened_stream
from bot.speech.errors import TTSError
from bot.speech.request import STYLE_MAX_CHARS, SpeechRequest, check_style
from bot.speech.voices import VOICES, VOICES_BY_NAME, check_language
from bot.store.models import PrefField, Source, VoiceSettings

log = logging.getLogger(__name__)

AUTOCOMPLETE_LIMIT: Final = 25  # Discord shows at most 25 choices
CHOICE_MAX_CHARS: Final = 100  # a choice's name and value are at most 100 characters
PREVIEW_LINE: Final = "Hello! This is how I sound. I can read your messages aloud in this voice."
PROGRESS_INTERVAL: Final = 2.0  # seconds between progress reports of a long synthesis

OPUS_FRAME_SAMPLES: Final = 960  # 20 ms at 48 kHz: what discord.opus.Encoder encodes
OPUS_PRE_SKIP: Final = 312  # libopus' look-ahead at 48 kHz (OPUS_GET_LOOKAHEAD, non-low-delay modes)
OPUS_MIN_KBPS: Final = 16  # discord.opus.Encoder's lowest bitrate
OPUS_MAX_KBPS: Final = 64  # plenty for speech

_FRAME_BYTES: Final = OPUS_FRAME_SAMPLES * DISCORD_CHANNELS * SAMPLE_WIDTH


class EmptyAudioError(TTSError):
    sentence = "The speech service returned no audio for this text."


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
            text=check_text(text, limit=limit),
            voice=check_voice(voice) if voice else None,
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
    return SpeechRequest(PREVIEW_LINE, voice=check_voice(voice)).validated()


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------


def shorten(text: str, limit: int, ellipsis: str = "…") -> str:
    """`text` cut at a word boundary to at most `limit` characters (ellipsis included)."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ellipsis))]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + ellipsis


# --------------------------------------------------------------------------------------------
# Autocomplete
# --------------------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[\s,;/—-]+", text.casefold()) if t]


def _matches(typed: list[str], words: list[str]) -> bool:
    """Every typed word is the start of some word (so "male" does not match "female")."""
    return all(any(w.startswith(t) for w in words) for t in typed)


def voice_label(name: str) -> str:
    voice = VOICES_BY_NAME[name]
    return f"{voice.name} — {voice.gender}, {voice.character}"[:CHOICE_MAX_CHARS]


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
            label = f"Too long: {len(typed)} characters (at most {STYLE_MAX_CHARS})"
            out.append((label[:CHOICE_MAX_CHARS], typed[:CHOICE_MAX_CHARS]))
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


# --------------------------------------------------------------------------------------------
# Settings display
# --------------------------------------------------------------------------------------------

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


Scope = Literal["member", "user", "server"]


def shadow_note(settings: VoiceSettings, field: PrefField, scope: Scope) -> str | None:
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
    from bot.speech.local.engine import describe_style

    if not instructions:
        return "No style: the local voice speaks normally."
    applied, ignored = describe_style(instructions)
    if not applied:
        return "The local voice cannot follow this style; it speaks normally."
    done = ", ".join(applied)
    return f"The local voice applies: {done}" + ("; the rest of the style is ignored." if ignored else ".")


# --------------------------------------------------------------------------------------------
# Synthesis with progress
# --------------------------------------------------------------------------------------------

ProgressCallback = Callable[[float], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


async def collect_audio(
    engine: SpeechEngine,
    request: SpeechRequest,
    *,
    on_progress: ProgressCallback | None = None,
    interval: float = PROGRESS_INTERVAL,
    sleep: Sleep = asyncio.sleep,
) -> Audio:
    """The whole audio of `request` from `engine.stream()`. Every `interval` seconds while it
    runs, `on_progress(seconds of audio received so far)` is awaited (errors in it are logged
    and ignored; it never delays the stream)."""
    rate = engine.sample_rate
    chunks: list[bytes] = []
    received = 0

    async def report() -> None:
        assert on_progress is not None
        while True:
            await sleep(interval)
            try:
                await on_progress(received / (rate * SAMPLE_WIDTH))
            except Exception as exc:  # a failed progress edit must not fail the speech
                log.debug("progress report failed: %r", exc)

    ticker = asyncio.create_task(report(), name="parla-synth-progress") if on_progress else None
    try:
        async with opened_stream(engine.stream(request)) as stream:
            async for chunk in stream:
                chunks.append(chunk)
                received += len(chunk)
    finally:
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
    pcm = b"".join(chunks)
    pcm = pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH]
    if not pcm:
        raise EmptyAudioError()
    return Audio(pcm=pcm, rate=rate, channels=1)


# --------------------------------------------------------------------------------------------
# Attachments
# --------------------------------------------------------------------------------------------

OpusEncode = Callable[[bytes], bytes]


class OpusEncoderFactory(Protocol):
    """Returns a function that encodes one 20 ms frame of 48 kHz stereo s16le PCM (3840
    bytes) into one Opus packet, at about `kbps` kilobits per second."""

    def __call__(self, kbps: int) -> OpusEncode: ...


@dataclass(frozen=True, slots=True)
class AudioFile:
    data: bytes
    filename: str
    content_type: str
    duration: float

    @property
    def compressed(self) -> bool:
        return self.content_type != "audio/wav"


_FILENAME_WORD = re.compile(r"[a-z0-9]+")


def safe_filename(text: str, extension: str, *, words: int = 6, max_chars: int = 40) -> str:
    """`hello_world_how_are_you.wav`: the first words of `text` in lowercase ASCII letters and
    digits (accents dropped), at most `max_chars`; "speech" when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    stem = ""
    for word in _FILENAME_WORD.findall(ascii_text)[:words]:
        candidate = f"{stem}_{word}" if stem else word
        if len(candidate) > max_chars:
            if not stem:
                stem = word[:max_chars]
            break
        stem = candidate
    return f"{stem or 'speech'}.{extension}"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def opus_kbps_for(duration: float, limit: int) -> int:
    """The bitrate (kbit/s as discord.opus counts them: 1024 bit) that keeps `duration`
    seconds under `limit` bytes with a margin for VBR overshoot and Ogg framing."""
    if duration <= 0:
        return OPUS_MAX_KBPS
    budget = limit * 0.85 - 4096
    kbps = math.floor(budget * 8 / duration / 1024)
    return max(OPUS_MIN_KBPS, min(OPUS_MAX_KBPS, kbps))


def _mono(audio: Audio) -> bytes:
    if audio.channels == 1:
        return audio.pcm
    samples = np.frombuffer(audio.pcm, dtype="<i2").reshape(-1, audio.channels)
    return bytes(samples.mean(axis=1).round().astype("<i2").tobytes())


def encode_ogg_opus(
    audio: Audio,
    encode: OpusEncode,
    *,
    pre_skip: int = OPUS_PRE_SKIP,
    serial: int | None = None,
    title: str = "",
) -> bytes:
    """Resample `audio` to 48 kHz stereo, encode it frame by frame and wrap it in Ogg."""
    converter = PcmConverter(audio.rate)
    pcm = converter.convert(_mono(audio)) + converter.flush()
    samples = len(pcm) // (DISCORD_CHANNELS * SAMPLE_WIDTH)
    # The encoder delays its output by `pre_skip` samples: feed that much silence at the end
    # too, so the last real samples come out; then pad to whole frames.
    frames = max(1, math.ceil((samples + pre_skip) / OPUS_FRAME_SAMPLES))
    pcm += bytes(frames * _FRAME_BYTES - len(pcm))
    packets = (encode(pcm[i : i + _FRAME_BYTES]) for i in range(0, len(pcm), _FRAME_BYTES))
    tags = {"TITLE": title[:200]} if title else {}
    return ogg_opus(
        packets,
        samples=samples,
        pre_skip=pre_skip,
        channels=DISCORD_CHANNELS,
        input_rate=audio.rate,
        serial=random.getrandbits(32) if serial is None else serial,
        vendor="parla",
        tags=tags,
    )


def render_audio_file(
    audio: Audio,
    text: str,
    limit: int,
    encoder_factory: OpusEncoderFactory | None,
) -> AudioFile:
    """`audio` as an attachment of at most `limit` bytes: WAV if it fits, else Ogg/Opus at a
    bitrate chosen to fit, else InputError. Blocking: call it through asyncio.to_thread."""
    wav = to_wav(audio)
    if len(wav) <= limit:
        return AudioFile(wav, safe_filename(text, "wav"), "audio/wav", audio.duration)
    too_big = InputError(
        f"The audio is too long to send as a file here ({audio.duration / 60:.1f} minutes; "
        f"the upload limit is {_megabytes(limit)}). Try a shorter text, or listen in a voice channel."
    )
    if encoder_factory is None:
        raise too_big
    kbps = opus_kbps_for(audio.duration, limit)
    data = encode_ogg_opus(audio, encoder_factory(kbps), title=text[:200])
    if len(data) > limit:
        raise too_big
    return AudioFile(data, safe_filename(text, "ogg"), "audio/ogg", audio.duration)
