"""Audio attachments: the Ogg muxer (checked by decoding the file back with libopus), the WAV /
Ogg Opus / too-big choice, file names, and synthesis with progress reports."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator

import numpy as np
import pytest

from bot.audio.clip import Audio
from bot.audio.ogg import (
    FLAG_CONTINUED,
    NO_GRANULE,
    OggError,
    OggWriter,
    ogg_crc,
    ogg_crc_reference,
    parse_pages,
    read_packets,
)
from bot.audio.ogg_opus import OpusHead, ogg_opus, read_ogg_opus
from bot.audio.wav import parse_wav
from bot.base.errors import InputError
from bot.commands.audio_file import (
    OPUS_PRE_SKIP,
    EmptyAudioError,
    collect_audio,
    encode_ogg_opus,
    opus_kbps_for,
    render_audio_file,
    safe_filename,
)
from bot.speech.request import SpeechRequest
from cogs._common import discord_opus_encoder, opus_encoder_factory
from tests.standins.audio_checks import decode, dominant_hz
from tests.standins.clock import ManualClock
from tests.standins.gated_engine import GatedEngine

needs_opus = pytest.mark.skipif(opus_encoder_factory() is None, reason="libopus is not installed")


def tone(hz: float, seconds: float, rate: int = 24_000, amp: int = 8000) -> Audio:
    t = np.arange(int(rate * seconds)) / rate
    return Audio((np.sin(2 * np.pi * hz * t) * amp).astype("<i2").tobytes(), rate)


# ----------------------------------------------------------------------------- CRC and pages
def test_crc_is_the_ogg_polynomial_unreflected_with_zero_init() -> None:
    assert ogg_crc(b"123456789") == 0x89A1897F  # CRC-32/POSIX check value without its final xor
    for n in (0, 1, 255, 4097):
        data = os.urandom(n)
        assert ogg_crc(data) == ogg_crc_reference(data)


def test_writer_frames_packets_of_every_size_and_reads_them_back() -> None:
    sizes = [0, 1, 254, 255, 256, 510, 700, 255 * 600 + 3, 20]
    packets = [os.urandom(n) for n in sizes]
    writer = OggWriter(0x1234, page_bytes=1000)
    for granule, packet in enumerate(packets, start=1):
        writer.add(packet, granule * 100)
    pages = parse_pages(writer.finish())
    got = read_packets(pages)
    assert [p.data for p in got] == packets
    assert pages[0].bos and pages[-1].eos
    assert [p.sequence for p in pages] == list(range(len(pages)))
    # the 153 003-byte packet needs 601 segments: it spans 3 pages; the middle one ends no packet
    spanning = [p for p in pages if p.flags & FLAG_CONTINUED]
    assert spanning
    assert any(p.granule == NO_GRANULE for p in pages)
    assert {p.serial for p in pages} == {0x1234}
    # every packet ends on a page carrying its granule or a later one
    assert [p.granule for p in got] == sorted(p.granule for p in got)


def test_parser_rejects_corruption_truncation_and_missing_eos() -> None:
    writer = OggWriter(7)
    for i in range(20):
        writer.add(os.urandom(300), i)
    data = writer.finish()
    corrupt = bytearray(data)
    corrupt[100] ^= 0x01
    with pytest.raises(OggError, match="CRC"):
        parse_pages(bytes(corrupt))
    with pytest.raises(OggError, match="truncated"):
        parse_pages(data[:-10])
    first = parse_pages(data)[0]
    one_page = data[: 27 + len(first.segments) + len(first.body)]
    with pytest.raises(OggError, match="EOS"):
        parse_pages(one_page)


def test_opus_head_layout() -> None:
    head = OpusHead(channels=2, pre_skip=312, input_rate=24_000).encode()
    assert head[:8] == b"OpusHead" and len(head) == 19
    assert struct.unpack("<BBHIhB", head[8:]) == (1, 2, 312, 24_000, 0, 0)
    assert OpusHead.decode(head) == OpusHead(2, 312, 24_000)


def test_ogg_opus_refuses_packets_shorter_than_the_audio() -> None:
    with pytest.raises(ValueError, match="cover"):
        ogg_opus([b"\x00"], samples=2000, pre_skip=312, channels=2, input_rate=24_000, serial=1)


# ----------------------------------------------------------------------------- Ogg Opus, decoded
@needs_opus
def test_ogg_opus_file_decodes_back_to_the_same_audio() -> None:
    audio = tone(440.0, 1.5)
    data = encode_ogg_opus(audio, discord_opus_encoder(48), serial=99, title="hello")
    ogg = read_ogg_opus(data)  # checks pages, CRCs, flags, header placement, granules
    assert ogg.head == OpusHead(channels=2, pre_skip=OPUS_PRE_SKIP, input_rate=24_000)
    assert ogg.tags.vendor == "parla" and ogg.tags.comments == ("TITLE=hello",)
    expected_samples = round(audio.duration * 48_000)
    assert ogg.samples == expected_samples  # the last granule trims the frame padding
    # Decode like a player: every packet, drop pre-skip, stop at the final granule.
    decoded = decode(ogg.packets)
    assert decoded.size >= ogg.final_granule
    trimmed = decoded[ogg.head.pre_skip : ogg.final_granule]
    assert trimmed.size == expected_samples
    assert abs(dominant_hz(trimmed) - 440.0) < 5


@needs_opus
@pytest.mark.parametrize("application", ["voip", "audio"])
def test_pre_skip_lines_the_decoded_audio_up_with_the_input(application: str) -> None:
    """Band-limited noise through resampling + Opus + Ogg: after dropping pre-skip the decoded
    signal matches the resampled input at lag 0 (a wrong pre-skip shifts it)."""
    import discord

    from bot.audio.pcm import PcmConverter

    rng = np.random.default_rng(5)
    spectrum = np.fft.rfft(rng.normal(0, 3000, 48_000))
    spectrum[len(spectrum) * 3 // 4 :] = 0  # keep it under 9 kHz
    pcm = np.fft.irfft(spectrum).astype("<i2").tobytes()
    converter = PcmConverter(24_000)
    resampled = np.frombuffer(converter.convert(pcm) + converter.flush(), dtype="<i2")[0::2].astype(float)
    encoder = discord.opus.Encoder(application=application, bitrate=64, fec=False)  # type: ignore[arg-type]
    ogg = read_ogg_opus(encode_ogg_opus(Audio(pcm, 24_000), lambda frame: encoder.encode(frame, 960)))
    decoded = decode(ogg.packets)[ogg.head.pre_skip : ogg.final_granule]
    assert decoded.size == resampled.size
    middle = slice(4800, 4800 + 48_000)

    def score(lag: int) -> float:
        return float(np.dot(decoded[middle].astype(float), np.roll(resampled, lag)[middle]))

    assert max(range(-50, 51), key=score) == 0


@needs_opus
def test_ogg_opus_of_a_tiny_clip_still_has_one_full_frame() -> None:
    data = encode_ogg_opus(tone(300.0, 0.005), discord_opus_encoder(32))
    ogg = read_ogg_opus(data)
    assert ogg.samples == 240 and len(ogg.packets) == 1


# ----------------------------------------------------------------------------- WAV / Ogg / too big
def test_wav_when_it_fits_with_a_name_from_the_first_words() -> None:
    audio = tone(500.0, 0.5)
    out = render_audio_file(audio, "Hello, world! How are you today, my friend?", 10 * 1024 * 1024, None)
    assert out.filename == "hello_world_how_are_you_today.wav"
    assert out.content_type == "audio/wav" and not out.compressed
    assert parse_wav(out.data) == audio


@needs_opus
def test_ogg_opus_when_the_wav_would_exceed_the_limit() -> None:
    audio = tone(600.0, 4.0)  # WAV: 192 kB
    limit = 60_000
    out = render_audio_file(audio, "A long story", limit, discord_opus_encoder)
    assert out.content_type == "audio/ogg" and out.filename == "a_long_story.ogg"
    assert len(out.data) <= limit
    ogg = read_ogg_opus(out.data)
    trimmed = decode(ogg.packets)[ogg.head.pre_skip : ogg.final_granule]
    assert trimmed.size == 4 * 48_000
    assert abs(dominant_hz(trimmed) - 600.0) < 5


@needs_opus
def test_a_clear_input_error_when_even_opus_does_not_fit() -> None:
    with pytest.raises(InputError, match=r"too long to send as a file here .* upload limit is 0\.0 MB"):
        render_audio_file(tone(600.0, 4.0), "x", 5_000, discord_opus_encoder)
    with pytest.raises(InputError, match="too long to send as a file"):
        render_audio_file(tone(600.0, 4.0), "x", 60_000, None)  # no encoder: WAV only


def test_bitrate_fits_the_budget_within_the_encoder_range() -> None:
    assert opus_kbps_for(10.0, 10 * 1024 * 1024) == 64
    assert opus_kbps_for(3000.0, 10 * 1024 * 1024) == 23  # ~50 minutes in 10 MiB
    assert opus_kbps_for(10_000.0, 1_000_000) == 16  # below the floor: the size check decides


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Hello there", "hello_there.wav"),
        ("Ça va? Très bien!", "ca_va_tres_bien.wav"),
        ("你好，世界", "speech.wav"),
        ("../../etc/passwd", "etc_passwd.wav"),
        ("a" * 80, "a" * 40 + ".wav"),
        ("one two three four five six seven eight", "one_two_three_four_five_six.wav"),
        ("CON", "con.wav"),
        ("", "speech.wav"),
    ],
)
def test_safe_filename(text: str, name: str) -> None:
    assert safe_filename(text, "wav") == name


# ----------------------------------------------------------------------------- progress
async def test_collect_audio_reports_progress_while_it_streams() -> None:
    engine = GatedEngine()
    clock = ManualClock()
    reports: list[float] = []
    reported = asyncio.Event()

    async def on_progress(seconds: float) -> None:
        reports.append(seconds)
        reported.set()

    task = asyncio.create_task(
        collect_audio(engine, SpeechRequest("hi"), on_progress=on_progress, sleep=clock.held_sleep)
    )
    await engine.first_sent.wait()
    clock.release()
    await reported.wait()
    assert reports == [1.0]
    engine.gate.set()
    audio = await task
    assert audio.duration == 1.5 and audio.rate == 24_000
    assert engine.closed


async def test_a_failing_progress_report_does_not_fail_the_speech() -> None:
    engine = GatedEngine()
    clock = ManualClock()
    called = asyncio.Event()

    async def on_progress(seconds: float) -> None:
        called.set()
        raise RuntimeError("edit failed")

    task = asyncio.create_task(
        collect_audio(engine, SpeechRequest("hi"), on_progress=on_progress, sleep=clock.held_sleep)
    )
    await engine.first_sent.wait()
    clock.release()
    await called.wait()
    engine.gate.set()
    assert (await task).duration == 1.5


async def test_no_audio_is_an_error_not_an_empty_file() -> None:
    class Silent(GatedEngine):
        async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
            if False:  # pragma: no cover
                yield b""

    with pytest.raises(EmptyAudioError):
        await collect_audio(Silent(), SpeechRequest("hi"))
