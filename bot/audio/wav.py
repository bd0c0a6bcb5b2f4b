"""WAV reading (chunk by chunk, not assuming a 44-byte header) and writing."""

from __future__ import annotations

import struct

from bot.audio.clip import Audio

_PCM = 1
_EXTENSIBLE = 0xFFFE


class WavError(ValueError):
    pass


def is_wav(data: bytes) -> bool:
    return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE"


def parse_wav(data: bytes) -> Audio:
    """Parse a 16-bit PCM WAV file. Tolerates extra chunks, odd padding and streamed
    headers whose data size is 0 or 0xFFFFFFFF (the data then runs to the end)."""
    if not is_wav(data):
        raise WavError("not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise WavError("truncated fmt chunk")
            tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == _EXTENSIBLE and size >= 40:
                (tag,) = struct.unpack_from("<H", data, body + 24)
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise WavError("data chunk before fmt chunk")
            tag, channels, rate, bits = fmt
            if tag != _PCM or bits != 16:
                raise WavError(f"unsupported WAV encoding (format {tag}, {bits} bits)")
            if channels < 1 or rate < 1:
                raise WavError("invalid channel count or sample rate")
            end = len(data) if size in (0, 0xFFFFFFFF) else min(len(data), body + size)
            pcm = data[body:end]
            frame = 2 * channels
            pcm = pcm[: len(pcm) - len(pcm) % frame]
            return Audio(pcm=bytes(pcm), rate=rate, channels=channels)
        pos = body + size + (size & 1)
    raise WavError("no data chunk")


def wav_header(data_len: int, rate: int, channels: int = 1) -> bytes:
    byte_rate = rate * channels * 2
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_len)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, _PCM, channels, rate, byte_rate, channels * 2, 16)
        + b"data"
        + struct.pack("<I", data_len)
    )


def to_wav(audio: Audio) -> bytes:
    return wav_header(len(audio.pcm), audio.rate, audio.channels) + audio.pcm
