"""Checking what was played: is libopus here, Opus packets decoded, the dominant pitch of a
signal, and how many 20 ms frames the fake endpoint's audio for a text becomes."""

from __future__ import annotations

from collections.abc import Iterable

import discord
import numpy as np
import pytest
from discord.opus import Decoder

from bot.audio.pcm import output_bytes_for
from bot.voice.frame_buffer import FRAME_BYTES
from tests.standins.fake_api import FakeEndpoint
from tests.standins.voice_client import Packet

opus_ok = True
try:
    discord.opus.Encoder.get_opus_version()
except Exception:  # pragma: no cover - CI installs libopus
    opus_ok = False

needs_opus = pytest.mark.skipif(not opus_ok, reason="libopus is not installed")


def decode(packets: Iterable[Packet] | Iterable[bytes]) -> np.ndarray:
    """Decode 20 ms Opus packets (48 kHz stereo) in order with one decoder; returns the left
    channel as int16."""
    decoder = Decoder()
    out = []
    for p in packets:
        data = p.data if isinstance(p, Packet) else p
        pcm = decoder.decode(data, fec=False)
        assert len(pcm) == 3840
        out.append(pcm)
    stereo = np.frombuffer(b"".join(out), dtype="<i2")
    return stereo[0::2]


def dominant_hz(samples: np.ndarray | bytes, rate: int = 48_000) -> float:
    """The strongest frequency of `samples` (or of mono int16 PCM bytes) at `rate`."""
    if isinstance(samples, bytes):
        samples = np.frombuffer(samples, dtype="<i2")
    x = samples.astype(np.float64)
    if x.size == 0:
        return 0.0
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    spectrum[0] = 0
    return float(np.argmax(spectrum) * rate / x.size)


def frames_for(text: str, fake: FakeEndpoint) -> int:
    """How many 20 ms frames the fake's audio for `text` becomes at 48 kHz stereo."""
    return -(-output_bytes_for(24_000, len(fake.expected_pcm(text))) // FRAME_BYTES)
