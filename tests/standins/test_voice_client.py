"""The recording voice client stand-in, driven by discord.py's real AudioPlayer thread."""

from __future__ import annotations

import asyncio

import discord
import numpy as np
import pytest

from tests.standins.audio_checks import decode, dominant_hz, needs_opus
from tests.standins.voice_client import RecordingVoiceClient


class _Tone(discord.AudioSource):
    def __init__(self, frames: int) -> None:
        self.frames = frames
        t = np.arange(960) / 48_000
        mono = (np.sin(2 * np.pi * 1000 * t) * 8000).astype("<i2")
        self.frame = np.repeat(mono, 2).tobytes()

    def read(self) -> bytes:
        if self.frames <= 0:
            return b""
        self.frames -= 1
        return self.frame


@needs_opus
async def test_standin_records_real_player_packets_with_timing() -> None:
    loop = asyncio.get_running_loop()
    vc = RecordingVoiceClient(loop)
    done = asyncio.Event()
    source = _Tone(10)
    vc.play(source, after=lambda e: loop.call_soon_threadsafe(done.set))
    await asyncio.wait_for(done.wait(), 5)
    packets = vc.packets_of(source)
    audio = [p for p in packets if p.scheduled]
    assert len(audio) == 10
    assert all(p.encoded for p in audio)
    assert abs(dominant_hz(decode(audio)) - 1000) < 60
    # the 5 silence packets discord sends after the end are not scheduled frames
    assert [p.silence for p in packets if not p.scheduled] == [True] * 5
    with pytest.raises(discord.ClientException):
        vc.drop_connection()
        vc.play(_Tone(1))
