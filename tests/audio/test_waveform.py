"""A voice message's waveform and duration, computed from the audio."""

from __future__ import annotations

import numpy as np

from bot.audio.clip import Audio
from bot.audio.waveform import duration_secs, waveform

RATE = 24_000


def tone(seconds: float, amplitude: float = 8000.0) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 440 * t) * amplitude).astype("<i2").tobytes()


def test_tone_silence_tone_shows_the_silence() -> None:
    audio = Audio(tone(1.0) + bytes(2 * RATE * 2) + tone(1.0), RATE)
    points = waveform(audio)
    assert len(points) == 40  # 10 points per second
    assert set(points[:10]) == {255} and set(points[-10:]) == {255}
    assert set(points[10:30]) == {0}


def test_at_most_256_points_scaled_0_to_255() -> None:
    audio = Audio(tone(60.0), RATE)
    points = waveform(audio)
    assert len(points) == 256 and max(points) == 255
    quiet = Audio(tone(1.0, 8000) + tone(1.0, 2000), RATE)
    levels = waveform(quiet)
    assert levels[0] == 255 and 60 <= levels[-1] <= 68  # RMS in proportion: a quarter of the peak


def test_silence_and_empty_audio() -> None:
    assert set(waveform(Audio(bytes(RATE * 2), RATE))) == {0}
    assert waveform(Audio(b"", RATE)) == b"\x00"


def test_duration_to_10_ms() -> None:
    assert duration_secs(Audio(bytes(2 * 12_345), RATE)) == 0.51
    assert duration_secs(Audio(tone(2.5), RATE)) == 2.5
