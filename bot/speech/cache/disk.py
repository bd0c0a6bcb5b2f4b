"""Tier 2 of the audio cache: content-addressed files on disk, bounded by bytes, LRU.

Layout: `<root>/<first two hex digits>/<64 hex digits>.pcm` (audio) or `.opus` (Opus packets).
Each file is a fixed header followed by the payload:

    magic "PRLA" | version u8 | kind u8 | channels u8 | reserved u8 | rate u32 |
    payload length u64 | entry id (32 bytes, the hex name) | CRC32 of header+payload u32

Files are written to a temp file in the same directory, fsynced, then renamed over the final
name (os.replace is atomic), so a crash leaves at most a `*.tmp` file, which is never read and
is deleted at a later start (once older than TEMP_MAX_AGE, so that a write in progress in
another process sharing the directory is left alone). A file whose header, length or CRC
does not check out is deleted and reported as a miss. Recency lives in memory (an ordered
index) and is rebuilt from file mtimes on start; a hit touches the file (os.utime) so the
order survives restarts.

Every method blocks (file I/O): call them from a worker thread (asyncio.to_thread). They are
thread-safe. Another process using the same directory is tolerated (files that vanish are
misses) but its writes are seen, and counted against this process's bound, from the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import struct
import tempfile
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Kind = Literal["pcm", "opus"]

MAGIC = b"PRLA"
FORMAT_VERSION = 1
_KIND_CODES: dict[Kind, int] = {"pcm": 1, "opus": 2}
_HEADER = struct.Struct("<4sBBBBIQ32s")  # everything before the CRC
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEADER.size + _CRC.size
_NAME_RE = re.compile(r"^[0-9a-f]{64}$")
_PACKET_LEN = struct.Struct("<I")
# A temp file older than this at start-up was left by a crash and is deleted.
TEMP_MAX_AGE = 60.0


@dataclass(frozen=True, slots=True)
class DiskRecord:
    payload: bytes
    rate: int
    channels: int


def pack_packets(packets: Iterable[bytes]) -> bytes:
    """Opus packets as one payload: each packet preceded by its length (u32 LE)."""
    parts: list[bytes] = []
    for packet in packets:
        parts.append(_PACKET_LEN.pack(len(packet)))
        parts.append(packet)
    return b"".join(parts)


def unpack_packets(payload: bytes) -> list[bytes] | None:
    """Inverse of pack_packets; None if the payload is not a whole number of packets."""
    packets: list[bytes] = []
    view = memoryview(payload)
    pos, end = 0, len(payload)
    while pos < end:
        if pos + _PACKET_LEN.size > end:
            return None
        (n,) = _PACKET_LEN.unpack_from(view, pos)
        pos += _PACKET_LEN.size
        if pos + n > end:
            return None
        packets.append(bytes(view[pos : pos + n]))
        pos += n
    return packets


def encode_header(kind: Kind, name: str, rate: int, channels: int, payload: bytes) -> bytes:
    head = _HEADER.pack(
        MAGIC, FORMAT_VERSION, _KIND_CODES[kind], channels, 0, rate, len(payload), bytes.fromhex(name)
    )
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + _CRC.pack(crc)


class DiskTier:
    """Files under `root`, at most `max_bytes` in total (header included)."""

    def __init__(self, root: Path, max_bytes: int, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.max_bytes = max(0, int(max_bytes))
        self._fsync = fsync
        self._lock = threading.Lock()
        self._index: OrderedDict[tuple[Kind, str], int] = OrderedDict()  # oldest first -> size
        self._bytes = 0
        self._loaded = False
        self.enabled = True
        self.evictions = 0
        self.corrupt_removed = 0
        self.write_errors = 0

    # ----- accounting (cheap; safe from the event loop) -----

    @property
    def total_bytes(self) -> int:
        return self._bytes

    @property
    def entries(self) -> int:
        return len(self._index)

    @property
    def loaded(self) -> bool:
        return self._loaded

    def has(self, kind: Kind, name: str) -> bool:
        """Whether (kind, name) is indexed. No I/O and no lock (a dict lookup is atomic), so
        the event loop can rule out a miss without a thread hop. Files written by another
        process after our start-up scan are not indexed, so not seen until the next start."""
        return (kind, name) in self._index

    def keys(self) -> set[tuple[Kind, str]]:
        with self._lock:
            return set(self._index)

    def path_for(self, kind: Kind, name: str) -> Path:
        return self.root / name[:2] / f"{name}.{kind}"

    # ----- start-up -----

    def load(self) -> None:
        """Scan the directory once: index entries by mtime, delete temp files, evict to the bound."""
        with self._lock:
            if self._loaded:
                return
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                log.warning("audio cache: disk tier off, cannot create %s: %s", self.root, exc)
                self.enabled = False
                self._loaded = True
                return
            found: list[tuple[float, tuple[Kind, str], int]] = []
            now = time.time()
            for sub in self._subdirs():
                for entry in self._scandir(sub):
                    if entry.name.endswith(".tmp"):
                        # Never read. Left by a crash if it is old; a fresh one may be a write in
                        # progress in another process (`parla synth` next to the bot): leave it.
                        with contextlib.suppress(OSError):
                            if now - entry.stat().st_mtime > TEMP_MAX_AGE:
                                os.unlink(entry.path)
                        continue
                    stem, dot, ext = entry.name.partition(".")
                    if not dot or ext not in _KIND_CODES or not _NAME_RE.match(stem) or stem[:2] != sub.name:
                        continue
                    try:
                        st = entry.stat()
                    except OSError:
                        continue
                    kind: Kind = "pcm" if ext == "pcm" else "opus"
                    found.append((st.st_mtime, (kind, stem), st.st_size))
            found.sort(key=lambda item: item[0])
            for _, key, size in found:
                self._index[key] = size
                self._bytes += size
            self._evict_locked()
            self._loaded = True

    def _subdirs(self) -> list[Path]:
        try:
            return [p for p in self.root.iterdir() if len(p.name) == 2 and p.is_dir()]
        except OSError:
            return []

    @staticmethod
    def _scandir(path: Path) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(path) as it:
                return list(it)
        except OSError:
            return []

    # ----- reads -----

    def read(self, kind: Kind, name: str) -> DiskRecord | None:
        """The payload stored for (kind, name), or None (missing, or corrupt and now deleted)."""
        if not self.enabled:
            return None
        path = self.path_for(kind, name)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                header = f.read(HEADER_SIZE)
                record = self._check(kind, name, header, size)
                payload = f.read(record[2]) if record is not None else b""
        except FileNotFoundError:
            self._forget(kind, name)
            return None
        except OSError as exc:
            log.warning("audio cache: cannot read %s: %s", path, exc)
            return None
        if record is None or len(payload) != record[2] or zlib.crc32(payload, record[3]) != record[4]:
            self._remove_corrupt(kind, name, path)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        with self._lock:
            key = (kind, name)
            if key in self._index:
                self._index.move_to_end(key)
            else:  # written by another process since we started
                self._index[key] = size
                self._bytes += size
                self._evict_locked(keep=key)
        return DiskRecord(payload=payload, rate=record[0], channels=record[1])

    @staticmethod
    def _check(kind: Kind, name: str, header: bytes, size: int) -> tuple[int, int, int, int, int] | None:
        """(rate, channels, payload length, running CRC of header, stored CRC) or None if invalid."""
        if len(header) != HEADER_SIZE:
            return None
        head = header[: _HEADER.size]
        magic, version, code, channels, _reserved, rate, length, ident = _HEADER.unpack(head)
        (crc,) = _CRC.unpack(header[_HEADER.size :])
        if (
            magic != MAGIC
            or version != FORMAT_VERSION
            or code != _KIND_CODES[kind]
            or ident != bytes.fromhex(name)
            or length != size - HEADER_SIZE
            or (kind == "pcm" and (rate <= 0 or channels <= 0))
        ):
            return None
        return rate, channels, length, zlib.crc32(head), crc

    def _remove_corrupt(self, kind: Kind, name: str, path: Path) -> None:
        log.warning("audio cache: removing corrupt or truncated file %s", path)
        with contextlib.suppress(OSError):
            os.unlink(path)
        with self._lock:
            self.corrupt_removed += 1
        self._forget(kind, name)

    def _forget(self, kind: Kind, name: str) -> None:
        with self._lock:
            size = self._index.pop((kind, name), None)
            if size is not None:
                self._bytes -= size

    # ----- writes -----

    def write(self, kind: Kind, name: str, payload: bytes, *, rate: int = 0, channels: int = 0) -> bool:
        """Store atomically; False if it does not fit the bound or the write failed."""
        if not self.enabled:
            return False
        size = HEADER_SIZE + len(payload)
        if size > self.max_bytes:
            self._drop_stale(kind, name)  # an older value under this name must not be served
            return False
        path = self.path_for(kind, name)
        header = encode_header(kind, name, rate, channels, payload)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name[:16]}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(header)
                f.write(payload)
                f.flush()
                if self._fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            log.warning("audio cache: cannot write %s: %s", path, exc)
            with self._lock:
                self.write_errors += 1
            self._drop_stale(kind, name)
            return False
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        with self._lock:
            key = (kind, name)
            old = self._index.pop(key, None)
            if old is not None:
                self._bytes -= old
            self._index[key] = size
            self._bytes += size
            self._evict_locked(keep=key)
        return True

    def _drop_stale(self, kind: Kind, name: str) -> None:
        """Delete what is stored under `name` (a newer value could not be written)."""
        self._forget(kind, name)
        with contextlib.suppress(OSError):
            os.unlink(self.path_for(kind, name))

    def _evict_locked(self, keep: tuple[Kind, str] | None = None) -> None:
        while self._bytes > self.max_bytes and self._index:
            key, size = next(iter(self._index.items()))
            if key == keep:
                break
            del self._index[key]
            self._bytes -= size
            self.evictions += 1
            with contextlib.suppress(OSError):
                os.unlink(self.path_for(*key))

    # ----- clear -----

    def clear(self) -> None:
        """Delete every cache file (and stray temp files) under the root."""
        with self._lock:
            for kind, name in list(self._index):
                with contextlib.suppress(OSError):
                    os.unlink(self.path_for(kind, name))
            self._index.clear()
            self._bytes = 0
            for sub in self._subdirs():
                for entry in self._scandir(sub):
                    stem = entry.name.partition(".")[0]
                    if entry.name.endswith(".tmp") or _NAME_RE.match(stem):
                        with contextlib.suppress(OSError):
                            os.unlink(entry.path)
