"""Opus encoding in a child process, for the shared sender's encode workers.

Why a process: libopus is called through ctypes, which releases the GIL for the encoding
itself, but the calling thread must take the GIL back after every frame; while the event loop
is busy (dozens of endpoint streams arriving at once), that wait lasts up to the switch
interval, and a 0.2 ms encode took 0.8 ms of wall time on average (measured with 80 first plays:
2,000 frames a second encoded, 4,000 needed). A child process has its own GIL: the worker thread
hands it a batch of frames with one write and waits for the packets with one read, so the
parent takes the GIL back twice per batch, not once per frame, and the encoding runs on the
other core whatever the event loop does.

Each encode worker thread owns one `EncodeProcess` (its lane); a stream's encoder lives in one
child for the whole utterance, so a stream always goes to the same lane. One request carries the
frames at hand of several streams (every feed queued on the lane, up to a budget), so the
round trip, and the parent's two GIL hand-offs, are shared by all of them. The child is
`python -m bot.voice.encode_process LIBOPUS`, speaking over its stdin and stdout
(little-endian):

    request = <II sections, closes> | closes x <I> | sections
    section = <III stream, frames, profile size> | profile | frames
    reply   = <I size of the rest> | all frames x <H packet size> | packets

`profile` (JSON of the `OpusProfile`) comes with a stream's first section and creates its
encoder; `closes` name streams whose encoders the child drops (sent with the next request, so
a release never waits); frames are 3,840-byte 20 ms frames of 48 kHz stereo. The child writes
b"R" once libopus is loaded, and ends when its stdin closes (the bot closed it, or died).
The child does not import discord.py (0.4 s of start-up): it loads the same libopus and makes
discord.py's `Encoder` settings itself; a test holds its packets byte-identical to
`OpusProfile.encoder()`'s.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import os
import select
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.voice.source import OpusProfile

log = logging.getLogger(__name__)

FRAME_BYTES = 3840  # bot.voice.frame_buffer.FRAME_BYTES: 20 ms of 48 kHz stereo s16
FRAME_SAMPLES = 960
REQUEST = struct.Struct("<II")
SECTION = struct.Struct("<III")
SIZE = struct.Struct("<I")
READY = b"R"
MAX_FRAMES = 20  # per request: about 4 ms of encoding, so no feed on the lane waits long


Section = tuple[int, "OpusProfile | None", Sequence[bytes]]  # stream, profile on its first, frames


class EncodeProcessError(Exception):
    """The child process is gone or answered nonsense: its streams are encoded here instead."""


def _read_exact(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _read_reply(fd: int) -> bytes:
    """One reply: usually a single read (each read that waits gives the GIL away, and taking
    it back is the wait this process exists to avoid)."""
    data = os.read(fd, 1 << 16)
    if len(data) < SIZE.size:
        if not data:
            raise EOFError
        data += _read_exact(fd, SIZE.size - len(data))
    (size,) = SIZE.unpack_from(data)
    missing = SIZE.size + size - len(data)
    if missing > 0:
        data += _read_exact(fd, missing)
    elif missing < 0:
        raise ValueError("a reply longer than announced")
    return data[SIZE.size :]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _opus_path() -> str:
    """The libopus discord.py loaded (the child loads the same one)."""
    import discord.opus

    discord.opus.Encoder.get_opus_version()  # loads it (raises OpusNotLoaded without it)
    return str(discord.opus._lib._name)


class EncodeProcess:
    """The parent's side of one child: `encode()` from one thread at a time (its lane's worker),
    `release()` from any thread."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._dead = False
        self.generation = 0  # bumped on each start: a stream's encoder lives in one generation
        self._closes: list[int] = []
        self._closes_lock = threading.Lock()
        self._lock = threading.Lock()  # start against close

    def start(self) -> None:
        """Spawn the child (returns at once; `ready` turns true once libopus is loaded)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "bot.voice.encode_process", _opus_path()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
                close_fds=True,
            )
            self._ready = self._dead = False
            self._closes = []
            self.generation += 1

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def ready(self) -> bool:
        """The child is up and has loaded libopus (checked without waiting)."""
        proc = self._proc
        if self._ready or proc is None or self._dead:
            return self._ready and not self._dead
        assert proc.stdout is not None
        try:
            readable, _, _ = select.select([proc.stdout], [], [], 0)
            if readable:
                if os.read(proc.stdout.fileno(), 1) != READY:
                    raise EOFError
                self._ready = True
        except (OSError, EOFError, ValueError):
            self._dead = True
        return self._ready

    def wait_ready(self, timeout: float) -> bool:
        """Block until the child is ready (or `timeout` seconds): for start-up and tests."""
        proc = self._proc
        if self.ready or proc is None or proc.stdout is None:
            return self.ready
        try:
            select.select([proc.stdout], [], [], timeout)
        except (OSError, ValueError):
            return False
        return self.ready

    @property
    def alive(self) -> bool:
        return self._proc is not None and not self._dead and self._proc.poll() is None

    def encode(self, sections: Sequence[Section]) -> list[list[bytes]]:
        """Encode each section's frames with its stream's encoder (created from the section's
        profile on the stream's first one); the packets, section by section."""
        proc = self._proc
        if proc is None or not self._ready or self._dead:
            raise EncodeProcessError("the encode process is not running")
        assert proc.stdin is not None and proc.stdout is not None
        with self._closes_lock:
            closes, self._closes = self._closes, []
        parts = [REQUEST.pack(len(sections), len(closes))]
        if closes:
            parts.append(struct.pack(f"<{len(closes)}I", *closes))
        total = 0
        for stream, profile, frames in sections:
            spec = json.dumps(dataclasses.asdict(profile)).encode() if profile is not None else b""
            parts.append(SECTION.pack(stream, len(frames), len(spec)))
            parts.append(spec)
            parts.extend(frames)
            total += len(frames)
        try:
            _write_all(proc.stdin.fileno(), b"".join(parts))
            body = _read_reply(proc.stdout.fileno())
        except (OSError, EOFError, ValueError) as exc:
            self._dead = True
            raise EncodeProcessError(f"the encode process failed: {exc!r}") from None
        lengths = struct.unpack_from(f"<{total}H", body) if 2 * total <= len(body) else ()
        offset = 2 * total
        result: list[list[bytes]] = []
        index = 0
        for _, _, frames in sections:
            packets: list[bytes] = []
            for length in lengths[index : index + len(frames)]:
                packets.append(body[offset : offset + length])
                offset += length
            index += len(frames)
            result.append(packets)
        if len(lengths) != total or offset != len(body):
            self._dead = True
            raise EncodeProcessError("the encode process answered a malformed reply")
        return result

    def release(self, stream: int) -> None:
        """The stream is over: its encoder is dropped with the child's next request."""
        with self._closes_lock:
            self._closes.append(stream)

    def close(self, timeout: float = 2.0) -> None:
        """End the child (its stdin closes; killed if it does not end within `timeout`)."""
        with self._lock:
            proc, self._proc = self._proc, None
            self._dead = True
        if proc is None:
            return
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- the child
# discord.py's encoder settings (discord/opus.py: `Encoder.__init__` and its setters), made in
# the same order through the same libopus; importing discord here would take 0.4 s per child.
_APPLICATIONS = {"audio": 2049, "voip": 2048, "lowdelay": 2051}
_BANDWIDTHS = {"narrow": 1101, "medium": 1102, "wide": 1103, "superwide": 1104, "full": 1105}
_SIGNALS = {"auto": -1000, "voice": 3001, "music": 3002}
_SET_BITRATE, _SET_BANDWIDTH, _SET_FEC, _SET_PLP, _SET_SIGNAL, _SET_COMPLEXITY = (
    4002,
    4008,
    4012,
    4014,
    4024,
    4010,
)


class _Encoder:
    """One libopus encoder with an `OpusProfile`'s settings, as discord.py's `Encoder` sets them."""

    def __init__(self, lib: ctypes.CDLL, spec: dict[str, Any]) -> None:
        self._lib = lib
        error = ctypes.c_int()
        application = _APPLICATIONS[spec["application"]]
        self._state = lib.opus_encoder_create(48000, 2, application, ctypes.byref(error))
        if error.value != 0 or not self._state:
            raise RuntimeError(f"opus_encoder_create failed: {error.value}")
        ctl = lib.opus_encoder_ctl
        ctl(self._state, _SET_BITRATE, min(512, max(16, int(spec["bitrate_kbps"]))) * 1024)
        ctl(self._state, _SET_FEC, 1 if spec["fec"] else 0)
        if spec["fec"]:
            ctl(self._state, _SET_PLP, min(100, max(0, int(spec["expected_packet_loss"] * 100))))
        ctl(self._state, _SET_BANDWIDTH, _BANDWIDTHS[spec["bandwidth"]])
        ctl(self._state, _SET_SIGNAL, _SIGNALS[spec["signal_type"]])
        if spec.get("complexity") is not None:  # OpusProfile.encoder()'s one addition
            ctl(self._state, _SET_COMPLEXITY, int(spec["complexity"]))
        self._out = ctypes.create_string_buffer(4000)

    def encode(self, frame: bytes) -> bytes:
        size = self._lib.opus_encode(self._state, frame, FRAME_SAMPLES, self._out, len(self._out))
        if size < 0:
            raise RuntimeError(f"opus_encode failed: {size}")
        return self._out.raw[:size]

    def close(self) -> None:
        if self._state:
            self._lib.opus_encoder_destroy(self._state)
            self._state = None


def _load_opus(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.opus_encoder_create.argtypes = [
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.opus_encoder_create.restype = ctypes.c_void_p
    lib.opus_encoder_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int]  # and one int (variadic)
    lib.opus_encoder_ctl.restype = ctypes.c_int
    lib.opus_encode.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int32,
    ]
    lib.opus_encode.restype = ctypes.c_int32
    lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_encoder_destroy.restype = None
    return lib


def serve(library: str, fd_in: int = 0, fd_out: int = 1) -> None:
    """The child's loop: requests in on `fd_in`, replies out on `fd_out`, until EOF."""
    lib = _load_opus(library)
    # Replies go out on a copy of fd_out; anything printed lands on stderr, not in a reply.
    fd_out = os.dup(fd_out)
    os.dup2(2, 1)
    encoders: dict[int, _Encoder] = {}
    _write_all(fd_out, READY)
    while True:
        try:
            head = _read_exact(fd_in, REQUEST.size)
        except EOFError:
            return
        sections, closes = REQUEST.unpack(head)
        if closes:
            for gone in struct.unpack(f"<{closes}I", _read_exact(fd_in, 4 * closes)):
                old = encoders.pop(gone, None)
                if old is not None:
                    old.close()
        lengths: list[int] = []
        packets: list[bytes] = []
        for _ in range(sections):
            stream, count, spec_size = SECTION.unpack(_read_exact(fd_in, SECTION.size))
            if spec_size:
                old = encoders.pop(stream, None)
                if old is not None:
                    old.close()
                encoders[stream] = _Encoder(lib, json.loads(_read_exact(fd_in, spec_size)))
            if count:
                body = _read_exact(fd_in, FRAME_BYTES * count)
                encoder = encoders[stream]
                for i in range(count):
                    packet = encoder.encode(body[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])
                    lengths.append(len(packet))
                    packets.append(packet)
        payload = struct.pack(f"<{len(lengths)}H", *lengths) + b"".join(packets)
        _write_all(fd_out, SIZE.pack(len(payload)) + payload)


if __name__ == "__main__":
    try:
        serve(sys.argv[1])
    except KeyboardInterrupt:
        pass
