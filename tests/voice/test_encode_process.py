"""Encoding in child processes (bot.voice.encode_process) for the shared sender."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator

import discord
import numpy as np
import pytest

from bot.voice import encode_pool, encode_process
from bot.voice.encode_process import EncodeProcess, EncodeProcessError
from bot.voice.frame_buffer import FrameBuffer
from bot.voice.link import DiscordVoiceLink
from bot.voice.sender import VoiceSender
from bot.voice.source import DEFAULT_PROFILE, OpusProfile, OpusSourceFactory
from tests.standins.audio_checks import decode, dominant_hz
from tests.standins.voice_client import RecordingVoiceClient


def frames_of(seconds: float, hz: float) -> list[bytes]:
    """48 kHz stereo 20 ms frames of a tone, as the sender's encoder gets them."""
    t = np.arange(int(24_000 * seconds)) / 24_000
    buffer = FrameBuffer(24_000, preroll_ms=0)
    buffer.write((np.sin(2 * np.pi * hz * t) * 9000).astype("<i2").tobytes())
    buffer.end()
    frames = []
    while frame := buffer.poll(0.0, underrun=False):
        frames.append(frame)
    return frames


def tone_buffer(seconds: float, hz: float, *, arrived: float | None = None) -> FrameBuffer:
    """A stream's buffer holding `arrived` seconds of a tone (all of it, ended, by default)."""
    t = np.arange(int(24_000 * seconds)) / 24_000
    pcm = (np.sin(2 * np.pi * hz * t) * 9000).astype("<i2").tobytes()
    buffer = FrameBuffer(24_000, preroll_ms=100)
    if arrived is None:
        buffer.write(pcm)
        buffer.end()
    else:
        buffer.write(pcm[: 2 * int(24_000 * arrived)])
    return buffer


@pytest.fixture
async def child() -> AsyncIterator[EncodeProcess]:
    process = EncodeProcess()
    process.start()
    assert await asyncio.to_thread(process.wait_ready, 10)
    try:
        yield process
    finally:
        process.close()


PROFILES = [
    DEFAULT_PROFILE,  # complexity 2
    OpusProfile(),  # discord.py's own defaults
    OpusProfile(application="voip", bitrate_kbps=64, fec=False, signal_type="voice", bandwidth="wide"),
]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.key)
async def test_the_child_encodes_byte_for_byte_what_discord_pys_encoder_does(
    child: EncodeProcess, profile: OpusProfile
) -> None:
    """The child makes discord.py's `Encoder` settings itself (it does not import discord):
    two streams interleaved in the same requests keep their own encoder state, and each gives
    exactly the packets `OpusProfile.encoder()` (a real `discord.opus.Encoder`) gives."""
    a, b = frames_of(0.5, 440), frames_of(0.5, 660)
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    for start in range(0, len(a), 7):
        first = start == 0
        packets_a, packets_b = child.encode(
            [
                (1, profile if first else None, a[start : start + 7]),
                (2, profile if first else None, b[start : start + 7]),
            ]
        )
        got_a += packets_a
        got_b += packets_b
    here_a, here_b = profile.encoder(), profile.encoder()
    assert got_a == [here_a.encode(f, 960) for f in a]
    assert got_b == [here_b.encode(f, 960) for f in b]
    assert len(got_a) == 25 and got_a != got_b


async def test_a_dead_child_says_so_and_is_not_used_again(child: EncodeProcess) -> None:
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(EncodeProcessError):
        child.encode([(1, DEFAULT_PROFILE, frames_of(0.1, 440))])
    assert not child.alive
    with pytest.raises(EncodeProcessError):
        child.encode([(1, DEFAULT_PROFILE, frames_of(0.1, 440))])


async def ready_sender(processes: int) -> VoiceSender:
    sender = VoiceSender(encode_processes=processes)
    assert await asyncio.to_thread(sender.pool.wait_ready)
    return sender


async def test_a_stream_whose_child_is_killed_plays_to_the_end(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The child dies mid-utterance: the rest is encoded in the bot process (every frame is
    sent, the tone is still the tone), the lane starts a new child, and the next stream is
    encoded there."""
    monkeypatch.setattr(encode_pool, "RESTART_AFTER", 0.0)
    sender = await ready_sender(1)
    loop = asyncio.get_running_loop()
    try:
        vc = RecordingVoiceClient(loop)
        link = DiscordVoiceLink(vc, sender=sender)  # type: ignore[arg-type]
        buffer = tone_buffer(1.0, 440, arrived=0.3)  # the rest arrives after the kill
        source = OpusSourceFactory().streaming(buffer, on_complete=None, on_abort=None)
        ended = asyncio.Event()
        link.play(source, lambda e: ended.set())
        await vc.wait_for(lambda ps: sum(1 for p in ps if p.scheduled and not p.silence) >= 5)
        assert source._remote is not None
        (child,) = sender.pool.processes
        assert child.pid is not None
        first_pid = child.pid
        os.kill(first_pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING):
            t = np.arange(int(24_000 * 1.0)) / 24_000
            pcm = (np.sin(2 * np.pi * 440 * t) * 9000).astype("<i2").tobytes()
            buffer.write(pcm[2 * int(24_000 * 0.3) :])
            buffer.end()
            async with asyncio.timeout(10):
                await ended.wait()
        audio = [p for p in vc.packets_of(source) if p.scheduled and not p.silence]
        assert len(audio) == source.frames_encoded == 50 and source.finished
        assert abs(dominant_hz(decode(audio[-20:])) - 440) < 8
        assert "encoded in the bot process" in caplog.text
        # The next first play goes to a new child.
        vc2 = RecordingVoiceClient(loop)
        link2 = DiscordVoiceLink(vc2, sender=sender)  # type: ignore[arg-type]
        lane = sender.pool._lanes[0]
        for _ in range(2):  # notes the death, then (RESTART_AFTER = 0) starts a new child
            lane.usable_remote(sender.pool._clock)
        assert child.pid != first_pid and await asyncio.to_thread(child.wait_ready, 10)
        second = OpusSourceFactory().streaming(tone_buffer(0.3, 660), on_complete=None, on_abort=None)
        done = asyncio.Event()
        link2.play(second, lambda e: done.set())
        async with asyncio.timeout(10):
            await done.wait()
        assert second._remote is child and second.finished
    finally:
        await asyncio.to_thread(sender.close)


async def test_closing_the_sender_ends_its_children() -> None:
    sender = await ready_sender(2)
    children = sender.pool.processes
    procs = [child._proc for child in children]
    await asyncio.to_thread(sender.close)
    assert all(proc is not None and proc.poll() is not None for proc in procs)
    assert not any(child.alive for child in children) and sender.threads() == []


def test_new_input_wakes_the_encoder_of_a_starved_stream_only() -> None:
    """The sender queues a stream for encoding when its input arrives, not at its next packet
    (20 ms later at worst): only when the encoder found nothing to do and is not at work."""
    buffer = FrameBuffer(24_000, preroll_ms=0)
    source = OpusSourceFactory().streaming(buffer, on_complete=None, on_abort=None)
    woken: list[int] = []
    source.wake_on_input(lambda: woken.append(len(woken)))
    t = np.arange(2400) / 24_000  # 0.1 s
    pcm = (np.sin(2 * np.pi * 440 * t) * 9000).astype("<i2").tobytes()
    buffer.write(pcm[:2400])
    assert woken == []  # the encoder has not looked yet: nothing is starved
    source.encode_ahead(10)  # takes what is there, then finds nothing more: starved
    buffer.write(pcm[2400:])
    assert len(woken) == 1  # input for a starved stream: queue it now
    assert source.claim()  # queued (claimed): more input does not queue it twice
    buffer.write(pcm[:2400])
    assert len(woken) == 1
    source.cleanup()
    buffer.write(pcm[:2400])
    assert len(woken) == 1  # a stream that ended no longer listens


async def test_when_no_child_can_start_the_threads_encode(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A child that cannot be started (here: no libopus to name) leaves a sender that encodes
    in its worker threads: the first play is heard whole."""

    def no_opus() -> str:
        raise discord.opus.OpusNotLoaded()

    monkeypatch.setattr(encode_process, "_opus_path", no_opus)
    sender = VoiceSender(encode_processes=2)
    loop = asyncio.get_running_loop()
    try:
        vc = RecordingVoiceClient(loop)
        link = DiscordVoiceLink(vc, sender=sender)  # type: ignore[arg-type]
        source = OpusSourceFactory().streaming(tone_buffer(0.4, 440), on_complete=None, on_abort=None)
        ended = asyncio.Event()
        with caplog.at_level(logging.ERROR):
            link.play(source, lambda e: ended.set())
            async with asyncio.timeout(10):
                await ended.wait()
        audio = [p for p in vc.packets_of(source) if p.scheduled and not p.silence]
        assert len(audio) == source.frames_encoded == 20 and source._remote is None
        assert abs(dominant_hz(decode(audio)) - 440) < 8
        assert "starting an encode process failed" in caplog.text
    finally:
        await asyncio.to_thread(sender.close)
