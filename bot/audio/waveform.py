"""The waveform and duration of a clip, as Discord shows a voice message.

`waveform(audio)`: one byte per point, at most `MAX_POINTS` (256) points, about 10 per second of
audio: the RMS of each window of samples, scaled so the loudest window is 255 and silence is 0.
`duration_secs(audio)`: the length in seconds, rounded to 10 ms. Core: no discord.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from bot.audio.clip import Audio

MAX_POINTS: Final = 256  # Discord: a voice message's waveform has at most 256 points
POINTS_PER_SECOND: Final = 10


def _mono_samples(audio: Audio) -> np.ndarray:
    samples = np.frombuffer(audio.pcm, dtype="<i2").astype(np.float64)
    if audio.channels > 1:
        samples = samples[: len(samples) - len(samples) % audio.channels]
        samples = samples.reshape(-1, audio.channels).mean(axis=1)
    return samples


def duration_secs(audio: Audio) -> float:
    """The length of `audio` in seconds, to 10 ms."""
    return round(audio.duration, 2)


def waveform(audio: Audio, *, max_points: int = MAX_POINTS) -> bytes:
    """RMS per window of `audio`, scaled 0–255 (the loudest window 255), at most `max_points`."""
    samples = _mono_samples(audio)
    if samples.size == 0:
        return bytes(1)
    points = max(1, min(max_points, math.ceil(audio.duration * POINTS_PER_SECOND), samples.size))
    edges = np.linspace(0, samples.size, points + 1).astype(np.int64)
    sums = np.add.reduceat(samples * samples, edges[:-1])  # windows are never empty: points <= size
    rms = np.sqrt(sums / (edges[1:] - edges[:-1]))
    peak = float(rms.max())
    if peak <= 0.0:
        return bytes(points)
    return bytes(np.clip(np.round(rms / peak * 255.0), 0, 255).astype(np.uint8).tobytes())
