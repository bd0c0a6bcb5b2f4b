"""A small Ogg page muxer and demuxer (RFC 3533): one logical stream, no codec.

- `OggWriter`: packets in, pages out (lacing, continuation, BOS/EOS flags, page sequence
  numbers, granule positions, CRC32 with the Ogg polynomial 0x04C11DB7).
- `parse_pages` / `read_packets`: the reverse, checking capture patterns, CRCs, sequence numbers
  and flags.

The Ogg Opus file format on top of it (OpusHead, OpusTags, granules at 48 kHz) is in `ogg_opus`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

OGG_CRC_POLY = 0x04C11DB7
CAPTURE = b"OggS"
FLAG_CONTINUED = 0x01
FLAG_BOS = 0x02
FLAG_EOS = 0x04
MAX_SEGMENTS = 255
NO_GRANULE = -1  # a page on which no packet ends

_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, sequence, crc, nsegs


class OggError(ValueError):
    """The bytes are not a valid Ogg (Opus) stream."""


# --------------------------------------------------------------------------------------------
# CRC: polynomial 0x04C11DB7, not reflected, initial value 0, no final xor (RFC 3533 §6).
# --------------------------------------------------------------------------------------------

# zlib's CRC-32 is the same polynomial, reflected. Reflecting every input byte and the result
# turns it into Ogg's CRC, computed in C: about 1 GB/s instead of 5 MB/s for a Python loop.
_REVERSE_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _reverse32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


def ogg_crc(data: bytes) -> int:
    """The Ogg page checksum of `data` (computed with the checksum field zeroed)."""
    # zlib.crc32(data, v) starts its register at v ^ 0xFFFFFFFF and xors the result with
    # 0xFFFFFFFF: start value 0xFFFFFFFF gives register 0, and the final xor is undone below.
    reflected = zlib.crc32(data.translate(_REVERSE_BITS), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return _reverse32(reflected)


def ogg_crc_reference(data: bytes) -> int:
    """The same checksum, bit by bit, straight from the definition (for tests)."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ OGG_CRC_POLY) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _lacing(length: int) -> list[int]:
    """Segment sizes of a packet: 255s, then one segment below 255 (possibly 0) ending it."""
    return [255] * (length // 255) + [length % 255]


def build_page(
    body_segments: Sequence[int],
    body: bytes,
    *,
    serial: int,
    sequence: int,
    granule: int,
    flags: int = 0,
) -> bytes:
    """One complete page (header, segment table, body) with its CRC."""
    if len(body_segments) > MAX_SEGMENTS:
        raise ValueError("a page holds at most 255 segments")
    if sum(body_segments) != len(body):
        raise ValueError("segment table does not match the body")
    header = _HEADER.pack(
        CAPTURE, 0, flags, granule, serial & 0xFFFFFFFF, sequence & 0xFFFFFFFF, 0, len(body_segments)
    )
    page = bytearray(header + bytes(body_segments) + body)
    struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))
    return bytes(page)


@dataclass
class _Segment:
    size: int
    data: bytes
    granule: int | None  # set on the last segment of a packet


class OggWriter:
    """Frames packets of one logical stream into pages.

    `add(packet, granule)` queues a packet (`granule`: the stream position once it is decoded);
    a page is emitted whenever `page_bytes` of body or 255 segments are pending, and by
    `flush()`. Packets may span pages (continuation flag). The first page gets BOS, the page
    emitted by `finish()` gets EOS.
    """

    def __init__(self, serial: int, *, page_bytes: int = 4096) -> None:
        self.serial = serial & 0xFFFFFFFF
        self.page_bytes = page_bytes
        self._pages: list[bytes] = []
        self._pending: list[_Segment] = []
        self._sequence = 0
        self._continued = False  # the next page starts inside a packet
        self._finished = False

    @property
    def pages(self) -> list[bytes]:
        return list(self._pages)

    def add(self, packet: bytes, granule: int) -> None:
        if self._finished:
            raise ValueError("add() after finish()")
        sizes = _lacing(len(packet))
        offset = 0
        for i, size in enumerate(sizes):
            last = i == len(sizes) - 1
            self._pending.append(_Segment(size, packet[offset : offset + size], granule if last else None))
            offset += size
        while len(self._pending) >= MAX_SEGMENTS:
            self._emit(MAX_SEGMENTS)
        if sum(s.size for s in self._pending) >= self.page_bytes:
            self._emit(len(self._pending))

    def flush(self) -> None:
        """End the current page (if anything is pending) so the next packet starts a new one."""
        while self._pending:
            self._emit(min(len(self._pending), MAX_SEGMENTS))

    def finish(self) -> bytes:
        """Emit the last page with the EOS flag; returns the whole stream."""
        if not self._finished:
            if not self._pending and not self._pages:
                raise ValueError("an Ogg stream needs at least one packet")
            if self._pending:
                while len(self._pending) > MAX_SEGMENTS:
                    self._emit(MAX_SEGMENTS)
                self._emit(len(self._pending), eos=True)
            else:  # mark the page already written as the last one
                self._pages[-1] = _with_flag(self._pages[-1], FLAG_EOS)
            self._finished = True
        return b"".join(self._pages)

    def _emit(self, count: int, *, eos: bool = False) -> None:
        segments, self._pending = self._pending[:count], self._pending[count:]
        flags = 0
        if self._continued:
            flags |= FLAG_CONTINUED
        if self._sequence == 0:
            flags |= FLAG_BOS
        if eos:
            flags |= FLAG_EOS
        ended = [s.granule for s in segments if s.granule is not None]
        granule = ended[-1] if ended else NO_GRANULE
        self._continued = segments[-1].granule is None
        self._pages.append(
            build_page(
                [s.size for s in segments],
                b"".join(s.data for s in segments),
                serial=self.serial,
                sequence=self._sequence,
                granule=granule,
                flags=flags,
            )
        )
        self._sequence += 1


def _with_flag(page: bytes, flag: int) -> bytes:
    raw = bytearray(page)
    raw[5] |= flag
    struct.pack_into("<I", raw, 22, 0)
    struct.pack_into("<I", raw, 22, ogg_crc(bytes(raw)))
    return bytes(raw)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OggPage:
    flags: int
    granule: int
    serial: int
    sequence: int
    segments: tuple[int, ...]
    body: bytes

    @property
    def continued(self) -> bool:
        return bool(self.flags & FLAG_CONTINUED)

    @property
    def bos(self) -> bool:
        return bool(self.flags & FLAG_BOS)

    @property
    def eos(self) -> bool:
        return bool(self.flags & FLAG_EOS)


def parse_pages(data: bytes) -> list[OggPage]:
    """Every page of a single-stream Ogg file, checked (capture, version, CRC, sequence, flags)."""
    pages: list[OggPage] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < _HEADER.size:
            raise OggError(f"truncated page header at byte {pos}")
        capture, version, flags, granule, serial, sequence, crc, nsegs = _HEADER.unpack_from(data, pos)
        if capture != CAPTURE:
            raise OggError(f"no capture pattern at byte {pos}")
        if version != 0:
            raise OggError(f"unsupported Ogg version {version}")
        table_end = pos + _HEADER.size + nsegs
        segments = tuple(data[pos + _HEADER.size : table_end])
        end = table_end + sum(segments)
        if len(segments) != nsegs or end > len(data):
            raise OggError(f"truncated page at byte {pos}")
        raw = bytearray(data[pos:end])
        struct.pack_into("<I", raw, 22, 0)
        if ogg_crc(bytes(raw)) != crc:
            raise OggError(f"bad CRC on page {sequence}")
        page = OggPage(flags, granule, serial, sequence, segments, bytes(data[table_end:end]))
        if pages:
            if serial != pages[0].serial:
                raise OggError("more than one logical stream")
            if sequence != pages[-1].sequence + 1:
                raise OggError(f"page sequence jumps from {pages[-1].sequence} to {sequence}")
            if page.bos:
                raise OggError("BOS flag on a page after the first")
            if pages[-1].eos:
                raise OggError("a page after the EOS page")
        elif not page.bos:
            raise OggError("the first page has no BOS flag")
        pages.append(page)
        pos = end
    if not pages:
        raise OggError("no Ogg pages")
    if not pages[-1].eos:
        raise OggError("the last page has no EOS flag")
    return pages


@dataclass(frozen=True, slots=True)
class OggPacket:
    data: bytes
    page: int  # sequence number of the page the packet ends on
    granule: int  # that page's granule position


def read_packets(pages: Sequence[OggPage]) -> list[OggPacket]:
    """Reassemble the packets (following continuations across pages)."""
    packets: list[OggPacket] = []
    partial: bytearray | None = None
    for page in pages:
        if page.continued != (partial is not None):
            raise OggError(f"continuation flag of page {page.sequence} does not match the previous page")
        offset = 0
        for size in page.segments:
            if partial is None:
                partial = bytearray()
            partial += page.body[offset : offset + size]
            offset += size
            if size < 255:
                packets.append(OggPacket(bytes(partial), page.sequence, page.granule))
                partial = None
    if partial is not None:
        raise OggError("the stream ends inside a packet")
    return packets
