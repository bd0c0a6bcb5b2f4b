"""Ogg Opus files (RFC 7845) on the Ogg pages of `ogg`.

Core module: no discord, no codec. The Opus packets come from an encoder the caller owns; this
module only frames them:

- `ogg_opus(...)`: a whole Ogg Opus file: OpusHead page, OpusTags page, audio pages whose
  granule positions count 48 kHz samples (pre-skip included); the last page carries the exact
  end (end trimming) and the EOS flag.
- `read_ogg_opus`: the reverse, checking the pages and the header placement (used by the tests,
  and to check a file before sending it).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.audio.ogg import NO_GRANULE, OggError, OggWriter, parse_pages, read_packets

OPUS_RATE = 48_000  # granule positions of Ogg Opus always count 48 kHz samples
OPUS_HEAD = b"OpusHead"
OPUS_TAGS = b"OpusTags"


@dataclass(frozen=True, slots=True)
class OpusHead:
    channels: int
    pre_skip: int
    input_rate: int
    output_gain: int = 0
    mapping_family: int = 0
    version: int = 1

    def encode(self) -> bytes:
        if not 1 <= self.channels <= 2 or self.mapping_family != 0:
            raise ValueError("only mapping family 0 (mono or stereo) is supported")
        return OPUS_HEAD + struct.pack(
            "<BBHIhB", self.version, self.channels, self.pre_skip, self.input_rate, self.output_gain, 0
        )

    @classmethod
    def decode(cls, packet: bytes) -> OpusHead:
        if len(packet) < 19 or not packet.startswith(OPUS_HEAD):
            raise OggError("the first packet is not an OpusHead")
        version, channels, pre_skip, rate, gain, family = struct.unpack_from("<BBHIhB", packet, 8)
        if version >> 4 != 0:
            raise OggError(f"unsupported OpusHead version {version}")
        if channels < 1 or (family == 0 and channels > 2):
            raise OggError(f"invalid channel count {channels}")
        return cls(channels, pre_skip, rate, gain, family, version)


@dataclass(frozen=True, slots=True)
class OpusTags:
    vendor: str
    comments: tuple[str, ...] = ()

    def encode(self) -> bytes:
        vendor = self.vendor.encode("utf-8")
        out = bytearray(OPUS_TAGS + struct.pack("<I", len(vendor)) + vendor)
        out += struct.pack("<I", len(self.comments))
        for comment in self.comments:
            data = comment.encode("utf-8")
            out += struct.pack("<I", len(data)) + data
        return bytes(out)

    @classmethod
    def decode(cls, packet: bytes) -> OpusTags:
        if not packet.startswith(OPUS_TAGS):
            raise OggError("the second packet is not an OpusTags")
        try:
            pos = 8
            (n,) = struct.unpack_from("<I", packet, pos)
            vendor = packet[pos + 4 : pos + 4 + n]
            if len(vendor) != n:
                raise OggError("truncated OpusTags vendor string")
            pos += 4 + n
            (count,) = struct.unpack_from("<I", packet, pos)
            pos += 4
            comments = []
            for _ in range(count):
                (n,) = struct.unpack_from("<I", packet, pos)
                data = packet[pos + 4 : pos + 4 + n]
                if len(data) != n:
                    raise OggError("truncated OpusTags comment")
                comments.append(data.decode("utf-8", "replace"))
                pos += 4 + n
        except struct.error as exc:
            raise OggError("truncated OpusTags") from exc
        return cls(vendor.decode("utf-8", "replace"), tuple(comments))


def tag_comments(tags: Mapping[str, str]) -> tuple[str, ...]:
    """Vorbis comments `KEY=value` (field names are ASCII without '=')."""
    out = []
    for key, value in tags.items():
        name = "".join(ch for ch in key.upper() if 0x20 <= ord(ch) <= 0x7D and ch != "=")
        if name:
            out.append(f"{name}={value}")
    return tuple(out)


def ogg_opus(
    packets: Iterable[bytes],
    *,
    samples: int,
    pre_skip: int,
    channels: int,
    input_rate: int,
    serial: int,
    frame_samples: int = 960,
    vendor: str = "parla",
    tags: Mapping[str, str] | None = None,
    page_bytes: int = 4096,
) -> bytes:
    """An Ogg Opus file from encoded packets of `frame_samples` (48 kHz) each.

    `samples` is the real audio length at 48 kHz (without the encoder's `pre_skip` delay and
    without the padding of the last frame): the last page's granule is `pre_skip + samples`,
    so players trim the padding. The packets must cover at least that many samples.
    """
    writer = OggWriter(serial, page_bytes=page_bytes)
    writer.add(OpusHead(channels, pre_skip, input_rate).encode(), 0)
    writer.flush()  # OpusHead alone on the first page
    writer.add(OpusTags(vendor, tag_comments(tags or {})).encode(), 0)
    writer.flush()  # audio starts on a fresh page
    end = pre_skip + samples
    position = 0
    count = 0
    for packet in packets:
        position += frame_samples
        count += 1
        writer.add(packet, min(position, end))
    if count == 0:
        raise ValueError("no audio packets")
    if position < end:
        raise ValueError(f"the packets cover {position} samples, fewer than pre-skip + audio ({end})")
    return writer.finish()


@dataclass(frozen=True)
class OggOpusFile:
    head: OpusHead
    tags: OpusTags
    packets: list[bytes] = field(repr=False)
    final_granule: int
    pages: int

    @property
    def samples(self) -> int:
        """The audio length at 48 kHz, after pre-skip and end trimming."""
        return max(0, self.final_granule - self.head.pre_skip)


def read_ogg_opus(data: bytes) -> OggOpusFile:
    """Parse and check an Ogg Opus file (RFC 7845 §3-5); the audio packets are not decoded."""
    pages = parse_pages(data)
    packets = read_packets(pages)
    if len(packets) < 3:
        raise OggError("an Ogg Opus file needs OpusHead, OpusTags and at least one audio packet")
    if len(pages[0].segments) != 1 or packets[0].page != pages[0].sequence:
        raise OggError("OpusHead must be alone on the first page")
    head = OpusHead.decode(packets[0].data)
    tags = OpusTags.decode(packets[1].data)
    if packets[2].page == packets[1].page:
        raise OggError("audio data must start on a fresh page after OpusTags")
    if pages[0].granule != 0 or any(
        p.granule not in (0, NO_GRANULE) for p in pages if p.sequence <= packets[1].page
    ):
        raise OggError("header pages must have granule position 0")
    last = -1
    for page in pages:
        if page.granule != NO_GRANULE:
            if page.granule < last:
                raise OggError("granule positions go backwards")
            last = page.granule
    return OggOpusFile(head, tags, [p.data for p in packets[2:]], pages[-1].granule, len(pages))
