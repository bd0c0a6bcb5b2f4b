"""Audio values passed between the engines, the cache and the player."""

from __future__ import annotations

from dataclasses import dataclass

SAMPLE_WIDTH = 2  # bytes per sample: every engine produces signed 16-bit little-endian PCM
ENDPOINT_RATE = 24_000  # Hz: the endpoint's streaming PCM and its WAV files


@dataclass(frozen=True, slots=True)
class Audio:
    """Mono (or interleaved multi-channel) s16le PCM with its sample rate."""

    pcm: bytes
    rate: int = ENDPOINT_RATE
    channels: int = 1

    @property
    def duration(self) -> float:
        return len(self.pcm) / (self.rate * self.channels * SAMPLE_WIDTH)

    def __repr__(self) -> str:
        return f"Audio({len(self.pcm)} bytes, {self.rate} Hz, {self.channels} ch, {self.duration:.2f}s)"
