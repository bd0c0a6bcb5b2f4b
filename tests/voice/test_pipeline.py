"""The audio pipeline: PCM conversion, the frame buffer, and the Opus sources under discord.py's
real AudioPlayer thread and real Opus encoder/decoder (no endpoint here: see test_player.py)."""

from __future__ import annotations

import asyncio
import ctypes
import random
import threading
import time

import discord
import numpy as np
import pytest
from discord.opus import OPUS_SILENCE

from bot.audio.pcm import DISCORD_RATE, PcmConverter, output_bytes_for
from bot.voice.frame_buffer import FRAME_BYTES, SILENCE_FRAME, FrameBuffer
from bot.voice.source import DEFAULT_PROFILE, OpusProfile, OpusSourceFactory, StoredOpusSource
from tests.standins.audio_checks import decode, dominant_hz, needs_opus
from tests.standins.voice_client import RecordingVoiceClient


def tone(hz: float, seconds: float, rate: int = 24_000, amp: int = 8000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * amp).astype("<i2").tobytes()


def split_randomly(data: bytes, rng: random.Random, max_len: int = 3001) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, max_len)
        out.append(data[i : i + n])
        i += n
    return out


def assert_same_audio(got: bytes, expected: bytes, tol: int = 2) -> None:
    """Equal length, equal to within `tol` LSB (soxr's rounding depends on the chunking)."""
    assert len(got) == len(expected)
    a = np.frombuffer(got, dtype="<i2").astype(np.int32)
    b = np.frombuffer(expected, dtype="<i2").astype(np.int32)
    assert int(np.abs(a - b).max(initial=0)) <= tol


# --------------------------------------------------------------------------- pcm
@pytest.mark.parametrize("rate", [24_000, 22_050])
def test_converter_streams_any_chunking_to_the_same_48k_stereo(rate: int) -> None:
    src = tone(440, 0.5, rate) + b"\x01"  # a dangling odd byte at the very end
    whole = PcmConverter(rate)
    expected = whole.convert(src) + whole.flush()
    rng = random.Random(rate)
    conv = PcmConverter(rate)
    got = b"".join(conv.convert(c) for c in split_randomly(src, rng)) + conv.flush()
    assert_same_audio(got, expected)
    assert len(got) == output_bytes_for(rate, len(src)) == 4 * round((len(src) // 2) * DISCORD_RATE / rate)
    stereo = np.frombuffer(got, dtype="<i2")
    left, right = stereo[0::2], stereo[1::2]
    assert np.array_equal(left, right)
    assert abs(dominant_hz(left) - 440) < 5


def test_converter_is_real_resampling_not_sample_repetition() -> None:
    # A 10 kHz tone survives band-limited resampling cleanly; repeating samples would put an
    # image at 24 - 10 = 14 kHz.
    conv = PcmConverter(24_000)
    out = conv.convert(tone(10_000, 0.2)) + conv.flush()
    left = np.frombuffer(out, dtype="<i2")[0::2].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(left * np.hanning(left.size)))
    hz = np.fft.rfftfreq(left.size, 1 / 48_000)
    main = spectrum[np.abs(hz - 10_000) < 100].max()
    image = spectrum[np.abs(hz - 14_000) < 100].max()
    assert image < main / 1000


def test_converter_byte_by_byte_and_flush_once() -> None:
    src = tone(300, 0.05)
    conv = PcmConverter(24_000)
    out = b"".join(conv.convert(src[i : i + 1]) for i in range(len(src))) + conv.flush()
    ref = PcmConverter(24_000)
    assert_same_audio(out, ref.convert(src) + ref.flush())
    assert conv.flush() == b""
    with pytest.raises(RuntimeError):
        conv.convert(b"\0\0")


# --------------------------------------------------------------------------- frame buffer
def drain(buf: FrameBuffer, timeout: float = 0.05) -> list[bytes]:
    frames: list[bytes] = []
    while True:
        f = buf.poll(timeout)
        assert f is not None, "unexpected underrun"
        if not f:
            return frames
        frames.append(f)


def test_buffer_preroll_exact_frames_zero_padded_end() -> None:
    buf = FrameBuffer(24_000, preroll_ms=100)
    src = tone(500, 0.333)
    chunks = split_randomly(src, random.Random(1), 999)
    written = 0
    for c in chunks:
        assert buf.ready == (written >= 4800)
        buf.write(c)
        written += len(c)
    assert buf.ready and not buf.ended
    buf.end()
    frames = drain(buf)
    assert all(len(f) == FRAME_BYTES for f in frames)
    total = output_bytes_for(24_000, len(src))
    assert len(frames) == -(-total // FRAME_BYTES)
    joined = b"".join(frames)
    assert joined[total:] == bytes(len(joined) - total)  # zero padding only at the end
    conv = PcmConverter(24_000)
    assert_same_audio(joined[:total], conv.convert(src) + conv.flush())
    assert buf.poll(0.01) == b"" and buf.read_frame(0.01) == b""
    assert buf.drained and buf.completed and buf.underruns == 0


def test_buffer_short_input_is_ready_at_end() -> None:
    buf = FrameBuffer(24_000, preroll_ms=100)
    buf.write(tone(500, 0.01))
    assert not buf.ready
    buf.end()
    assert buf.ready
    frames = drain(buf)
    assert len(frames) == 1 and len(frames[0]) == FRAME_BYTES


def test_buffer_underrun_returns_silence_fast_then_continues() -> None:
    buf = FrameBuffer(24_000, preroll_ms=40)
    buf.write(tone(500, 0.1))
    got = [buf.poll(0.01) for _ in range(2)]  # 40 ms of the 100 ms (the resampler holds some back)
    assert all(g is not None and len(g) == FRAME_BYTES for g in got)
    start = time.monotonic()
    misses = 0
    while (f := buf.poll(0.01)) is not None:
        assert f  # a frame, not the end
    misses += 1
    assert time.monotonic() - start < 0.2  # never blocks for long
    assert buf.read_frame(0.01) == SILENCE_FRAME
    misses += 1
    assert buf.underruns == misses
    # Not enough to re-prime (40 ms): still silence; then enough: audio again.
    buf.write(tone(500, 0.02))
    assert buf.poll(0.01) is None
    buf.write(tone(500, 0.04))
    f = buf.poll(0.01)
    assert f is not None and len(f) == FRAME_BYTES and f != SILENCE_FRAME
    buf.end()
    assert drain(buf)[-1] != b""


def test_buffer_cancel_wakes_a_blocked_reader_and_ignores_writes() -> None:
    buf = FrameBuffer(24_000, preroll_ms=100)
    result: list[bytes | None] = []
    reader = threading.Thread(target=lambda: result.append(buf.poll(5.0)))
    reader.start()
    time.sleep(0.02)
    t0 = time.monotonic()
    buf.cancel()
    reader.join(2)
    assert not reader.is_alive() and time.monotonic() - t0 < 0.1
    assert result == [b""]
    buf.write(b"\0" * 100)  # the producer may still be racing: ignored
    assert buf.poll(0.0) == b"" and not buf.completed


def test_buffer_across_threads_keeps_every_sample_in_order() -> None:
    src = tone(700, 1.0)
    buf = FrameBuffer(24_000, preroll_ms=20)

    def produce() -> None:
        rng = random.Random(7)
        for c in split_randomly(src, rng, 2000):
            buf.write(c)
            time.sleep(rng.random() * 0.001)
        buf.end()

    producer = threading.Thread(target=produce)
    producer.start()
    frames = []
    while True:
        f = buf.poll(0.05)
        if f == b"":
            break
        if f is not None:
            frames.append(f)
    producer.join()
    conv = PcmConverter(24_000)
    expected = conv.convert(src) + conv.flush()
    got = b"".join(frames)  # poll() gives None on underrun: the audio itself must be whole
    assert_same_audio(got[: len(expected)], expected)
    assert got[len(expected) :] == bytes(len(got) - len(expected))


# --------------------------------------------------------------------------- sources
def test_profile_key_names_discord_defaults() -> None:
    assert DEFAULT_PROFILE.key == "opus:audio:128k:fec:15:cx:2"
    assert OpusProfile().key == "opus:audio:128k:fec:15"  # discord.py's defaults
    assert OpusProfile(application="voip", bitrate_kbps=64, fec=False).key == "opus:voip:64k:nofec"


@needs_opus
@pytest.mark.parametrize(("profile", "complexity"), [(DEFAULT_PROFILE, 2), (OpusProfile(), 9)])
def test_the_profile_sets_the_encoder_complexity(profile: OpusProfile, complexity: int) -> None:
    """2 by default; without one, libopus's own default (9), as discord.py leaves it."""
    encoder = profile.encoder()
    value = ctypes.c_int()
    discord.opus._lib.opus_encoder_ctl(encoder._state, 4011, ctypes.byref(value))  # GET_COMPLEXITY
    assert value.value == complexity


async def feed(
    buf: FrameBuffer,
    pcm: bytes,
    ready: asyncio.Event,
    *,
    chunk: int = 4800,
    pause_at: int | None = None,
    pause: float = 0.0,
) -> None:
    for n, i in enumerate(range(0, len(pcm), chunk)):
        if pause_at is not None and n == pause_at:
            await asyncio.sleep(pause)
        buf.write(pcm[i : i + chunk])
        if buf.ready:
            ready.set()
        await asyncio.sleep(0)
    buf.end()
    ready.set()


async def play(vc: RecordingVoiceClient, source: object) -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    vc.play(source, after=lambda e: loop.call_soon_threadsafe(done.set))  # type: ignore[arg-type]
    await asyncio.wait_for(done.wait(), 10)


@needs_opus
async def test_streaming_source_encodes_itself_survives_underrun_and_hands_packets_over() -> None:
    loop = asyncio.get_running_loop()
    vc = RecordingVoiceClient(loop)
    pcm = tone(440, 0.6)
    buf = FrameBuffer(24_000, preroll_ms=100)
    stored: list[list[bytes]] = []
    aborts: list[int] = []
    factory = OpusSourceFactory()
    source = factory.streaming(buf, on_complete=stored.append, on_abort=lambda: aborts.append(1))
    assert source.is_opus()
    # 0.2 s arrive, then a 0.4 s gap (the player underruns), then the rest.
    ready = asyncio.Event()
    producer = asyncio.create_task(feed(buf, pcm, ready, pause_at=2, pause=0.4))
    await ready.wait()
    await play(vc, source)
    await producer
    sent = vc.packets_of(source)
    frames = [p for p in sent if p.scheduled]
    silent = [p for p in frames if p.silence]
    audio = [p for p in frames if not p.silence]
    assert silent, "the gap must produce silence packets, not end playback"
    assert all(not p.encoded for p in frames)  # is_opus: discord's encoder never ran
    first_silence = frames.index(silent[0])
    assert any(not p.silence for p in frames[first_silence:]), "playback continues after the underrun"
    assert len(audio) == -(-output_bytes_for(24_000, len(pcm)) // FRAME_BYTES)
    assert source.frames_encoded == len(audio)
    assert abs(dominant_hz(decode(audio)) - 440) < 10
    assert stored == [[p.data for p in audio]]  # exactly the audio packets, no underrun silence
    source.cleanup()
    source.cleanup()
    assert aborts == []  # finished normally: nothing to cancel

    # A second playback sends the stored packets as they are: no resampling, no encoding.
    replay = factory.stored(stored[0])
    assert isinstance(replay, StoredOpusSource) and replay.is_opus()
    await play(vc, replay)
    again = [p for p in vc.packets_of(replay) if p.scheduled]
    assert [p.data for p in again] == stored[0]
    assert not any(p.encoded for p in again)


@needs_opus
async def test_stopped_source_cancels_its_producer_once_and_stores_nothing() -> None:
    loop = asyncio.get_running_loop()
    vc = RecordingVoiceClient(loop)
    buf = FrameBuffer(24_000, preroll_ms=20)
    buf.write(tone(300, 0.5))  # the producer never ends: a long stream in progress
    stored: list[list[bytes]] = []
    aborts: list[int] = []
    source = OpusSourceFactory().streaming(buf, on_complete=stored.append, on_abort=lambda: aborts.append(1))
    done = asyncio.Event()
    vc.play(source, after=lambda e: loop.call_soon_threadsafe(done.set))
    player = vc._player
    assert player is not None
    await asyncio.sleep(0.1)
    t_stop = time.perf_counter()
    vc.stop()
    await asyncio.wait_for(done.wait(), 2)
    await asyncio.to_thread(player.join, 2)  # cleanup() runs on the player thread after `after`
    late_audio = [p for p in vc.packets_of(source) if not p.silence and p.t > t_stop + 0.020]
    assert late_audio == []
    assert aborts == [1] and buf.cancelled
    source.cleanup()
    assert aborts == [1] and stored == []


@needs_opus
async def test_source_of_a_failed_stream_plays_what_arrived_but_is_not_stored() -> None:
    loop = asyncio.get_running_loop()
    vc = RecordingVoiceClient(loop)
    buf = FrameBuffer(24_000, preroll_ms=20)
    buf.write(tone(300, 0.2))
    buf.end(RuntimeError("endpoint cut the stream"))
    stored: list[list[bytes]] = []
    source = OpusSourceFactory().streaming(buf, on_complete=stored.append, on_abort=None)
    await play(vc, source)
    audio = [p for p in vc.packets_of(source) if p.scheduled and not p.silence]
    assert len(audio) == 10 and source.finished and stored == []


def test_opus_silence_is_a_decodable_packet() -> None:
    from tests.standins.audio_checks import opus_ok

    if not opus_ok:
        pytest.skip("libopus is not installed")
    assert decode([OPUS_SILENCE]).any() == False  # noqa: E712
