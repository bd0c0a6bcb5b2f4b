"""Speech as a file: `collect_audio` synthesizes through the stack's engine (streamed, so a
progress callback can report how much audio is ready); `render_audio_file` turns the audio into
an attachment that fits the upload limit: WAV named after the first words, or Ogg/Opus (encoder
passed in by the caller) when the WAV is too big, or a clear InputError. Blocking (encoding):
run it in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np

from bot.audio.clip import SAMPLE_WIDTH, Audio
from bot.audio.ogg_opus import ogg_opus
from bot.audio.pcm import DISCORD_CHANNELS, PcmConverter
from bot.audio.wav import to_wav
from bot.base.errors import InputError
from bot.base.i18n import say
from bot.speech.engine import SpeechEngine, opened_stream
from bot.speech.errors import TTSError
from bot.speech.request import SpeechRequest

log = logging.getLogger(__name__)

PROGRESS_INTERVAL: Final = 2.0  # seconds between progress reports of a long synthesis

OPUS_FRAME_SAMPLES: Final = 960  # 20 ms at 48 kHz: what discord.opus.Encoder encodes
OPUS_PRE_SKIP: Final = 312  # libopus' look-ahead at 48 kHz (OPUS_GET_LOOKAHEAD, non-low-delay modes)
OPUS_MIN_KBPS: Final = 16  # discord.opus.Encoder's lowest bitrate
OPUS_MAX_KBPS: Final = 64  # plenty for speech

_FRAME_BYTES: Final = OPUS_FRAME_SAMPLES * DISCORD_CHANNELS * SAMPLE_WIDTH


class EmptyAudioError(TTSError):
    sentence = say("file.no_audio")


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
    too_big = InputError(say("file.too_big", minutes=audio.duration / 60, limit=_megabytes(limit)))
    if encoder_factory is None:
        raise too_big
    kbps = opus_kbps_for(audio.duration, limit)
    data = encode_ogg_opus(audio, encoder_factory(kbps), title=text[:200])
    if len(data) > limit:
        raise too_big
    return AudioFile(data, safe_filename(text, "ogg"), "audio/ogg", audio.duration)
