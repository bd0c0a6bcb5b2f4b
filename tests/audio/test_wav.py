"""WAV reading (real chunk walking, no 44-byte assumption) and writing."""

from __future__ import annotations

import io
import struct
import wave

import pytest

from bot.audio.clip import Audio
from bot.audio.wav import WavError, is_wav, parse_wav, to_wav, wav_header
from tests.standins.fake_api import FakeEndpoint, wav_bytes

PCM = struct.pack("<8h", 0, 1000, -1000, 32767, -32768, 5, -5, 0)


def chunk(chunk_id: bytes, body: bytes) -> bytes:
    pad = b"\x00" if len(body) & 1 else b""
    return chunk_id + struct.pack("<I", len(body)) + body + pad


def fmt_body(tag: int = 1, channels: int = 1, rate: int = 24000, bits: int = 16) -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)


def riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_round_trip() -> None:
    audio = Audio(PCM, 24000, 1)
    data = to_wav(audio)
    assert len(data) == 44 + len(PCM)
    assert parse_wav(data) == audio


def test_header_is_readable_by_the_standard_library() -> None:
    audio = Audio(PCM * 100, 24000, 1)
    with wave.open(io.BytesIO(to_wav(audio))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert w.getnframes() == len(PCM) * 100 // 2
        assert w.readframes(w.getnframes()) == audio.pcm


def test_reads_a_file_written_by_the_standard_library() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(PCM)
    audio = parse_wav(buf.getvalue())
    assert (audio.pcm, audio.rate, audio.channels) == (PCM, 48000, 2)
    assert audio.duration == pytest.approx(len(PCM) / (48000 * 2 * 2))


def test_wav_header_fields() -> None:
    header = wav_header(1000, 24000, 2)
    assert len(header) == 44
    (riff_size,) = struct.unpack_from("<I", header, 4)
    assert riff_size == 36 + 1000
    tag, channels, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", header, 20)
    assert (tag, channels, rate, byte_rate, align, bits) == (1, 2, 24000, 96000, 4, 16)
    assert header[36:40] == b"data" and struct.unpack_from("<I", header, 40) == (1000,)


def test_extra_chunks_before_data_are_skipped() -> None:
    # A LIST chunk with an odd size (padded to even) between fmt and data: the data does
    # not start at byte 44.
    info = chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00Lavf\x00")
    data = riff(chunk(b"fmt ", fmt_body()), info, chunk(b"data", PCM))
    assert data.index(b"data") != 36
    assert parse_wav(data).pcm == PCM


def test_odd_sized_chunk_padding_is_honoured() -> None:
    data = riff(chunk(b"junk", b"abc"), chunk(b"fmt ", fmt_body()), chunk(b"data", PCM))
    assert parse_wav(data).pcm == PCM


def test_extended_fmt_chunk() -> None:
    # An 18-byte fmt chunk (cbSize = 0), as some encoders write.
    data = riff(chunk(b"fmt ", fmt_body() + b"\x00\x00"), chunk(b"data", PCM))
    assert parse_wav(data).pcm == PCM


def test_wave_format_extensible_with_pcm_subformat() -> None:
    guid_pcm = struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    ext = fmt_body(tag=0xFFFE, channels=1) + struct.pack("<HHI", 22, 16, 4) + guid_pcm
    data = riff(chunk(b"fmt ", ext), chunk(b"data", PCM))
    assert parse_wav(data) == Audio(PCM, 24000, 1)


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_streamed_header_with_unknown_data_size_reads_to_the_end(size: int) -> None:
    data = riff(chunk(b"fmt ", fmt_body())) + b"data" + struct.pack("<I", size) + PCM
    assert parse_wav(data).pcm == PCM


def test_data_size_larger_than_the_file_is_truncated_to_what_is_there() -> None:
    data = riff(chunk(b"fmt ", fmt_body())) + b"data" + struct.pack("<I", 10_000) + PCM
    assert parse_wav(data).pcm == PCM


def test_partial_trailing_frame_is_dropped() -> None:
    stereo = riff(chunk(b"fmt ", fmt_body(channels=2)), chunk(b"data", PCM + b"\x01\x02\x03"))
    assert parse_wav(stereo).pcm == PCM


def test_the_fakes_wav_parses_to_its_pcm() -> None:
    pcm = FakeEndpoint().expected_pcm("Hello there.", "Cherry")
    audio = parse_wav(wav_bytes(pcm))
    assert audio == Audio(pcm, 24000, 1)
    assert audio.duration == pytest.approx(0.3)


def test_is_wav() -> None:
    assert is_wav(to_wav(Audio(PCM)))
    assert not is_wav(b"RIFF")
    assert not is_wav(b"RIFF\x00\x00\x00\x00AVI LIST")
    assert not is_wav(b'{"output": {}}')


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a wav file at all", "not a RIFF/WAVE"),
        (riff(chunk(b"fmt ", fmt_body())), "no data chunk"),
        (riff(chunk(b"data", PCM), chunk(b"fmt ", fmt_body())), "data chunk before fmt"),
        (riff(chunk(b"fmt ", fmt_body(tag=3, bits=32)), chunk(b"data", PCM)), "unsupported"),
        (riff(chunk(b"fmt ", fmt_body(bits=8)), chunk(b"data", PCM)), "unsupported"),
        (riff(chunk(b"fmt ", fmt_body(rate=0)), chunk(b"data", PCM)), "invalid"),
        (riff(b"fmt " + struct.pack("<I", 16) + b"\x01\x00"), "truncated fmt"),
    ],
    ids=["not-riff", "no-data", "data-first", "float", "8-bit", "zero-rate", "truncated-fmt"],
)
def test_invalid_files_raise_wav_error(data: bytes, message: str) -> None:
    with pytest.raises(WavError, match=message):
        parse_wav(data)
