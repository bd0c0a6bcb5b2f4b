"""A stand-in for discord.VoiceClient that discord.py's real AudioPlayer thread can drive.

It subclasses nothing from discord: it offers exactly what `discord.player.AudioPlayer` and the
shared sender (`bot.voice.sender`, through `send_audio_packet`) use
(`send_audio_packet`, `is_connected`, `wait_until_connected`, `timeout`, `ws.speak`,
`client.loop`, `encoder`) and what `VoiceClient.play()` and the adapter use (`play`, `stop`,
`pause`, `resume`, `is_playing`, `is_paused`, `channel`, `move_to`, `disconnect`). Every packet
is recorded with its send time, the source that sent it and how late it was against the
player's own 20 ms schedule.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import discord
import nacl.secret
from discord.opus import OPUS_SILENCE
from discord.player import AudioPlayer

_ENCODED, _SCHEDULED = 1, 2  # a recorded packet's flags


@dataclass(slots=True)  # built afresh on every read of `packets`: no per-instance dict
class Packet:
    t: float  # time.perf_counter() when sent
    data: bytes
    encoded: bool  # discord encoded it (a PCM source) rather than the source (is_opus)
    source: Any  # the AudioSource of the player thread that sent it
    late: float  # seconds after the player's own schedule for this packet
    scheduled: bool  # sent by the read loop (not a pause/stop silence burst)

    @property
    def silence(self) -> bool:
        return self.data == OPUS_SILENCE


class _WS:
    def __init__(self) -> None:
        self.speaking: list[Any] = []

    async def speak(self, state: Any) -> None:
        self.speaking.append(state)


class RecordingVoiceClient:
    """Records every packet; connection can be dropped and restored from the test."""

    def __init__(self, loop: asyncio.AbstractEventLoop, channel: Any = None, *, timeout: float = 0.3) -> None:
        self.loop = loop
        self.client = SimpleNamespace(loop=loop)
        self.ws = _WS()
        self.timeout = timeout
        self.encoder: discord.opus.Encoder | None = None
        self.channel = channel
        self._connected = threading.Event()
        self._connected.set()
        self._player: AudioPlayer | None = None
        self._lock = threading.Lock()
        # Each packet's fields in columns (the source as an index into `_sources`): recording a
        # packet allocates no object the garbage collector tracks (floats and ints go into arrays,
        # the payload is bytes), so the hundreds of thousands of packets a benchmark records
        # neither trigger collections on the sending thread (a tuple per packet did: every 700
        # packets, on the sender thread, while the bot keeps no new object per packet) nor
        # make a full collection walk them.
        self._times = array("d")
        self._payloads: list[bytes] = []
        self._flags = array("B")  # _ENCODED | _SCHEDULED
        self._source_of = array("q")
        self._lateness = array("d")
        self._sources: list[Any] = []
        self._source_index: dict[int, int] = {}
        self.plays = 0
        self.disconnected = False
        self._waiters: list[tuple[Callable[[list[Packet]], bool], asyncio.Future[None]]] = []

    # -- what AudioPlayer calls
    def is_connected(self) -> bool:
        return self._connected.is_set()

    def wait_until_connected(self, timeout: float | None = 30.0) -> bool:
        return self._connected.wait(timeout)

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        now = time.perf_counter()
        thread = threading.current_thread()
        source = getattr(thread, "source", None)
        late = 0.0
        scheduled = False
        sending = getattr(thread, "sending", None)  # the shared sender: (source, due, scheduled)
        if sending is not None:
            source, due, scheduled = sending
            late = now - due
        elif isinstance(thread, AudioPlayer):
            loops = thread.loops
            due = thread._start + AudioPlayer.DELAY * (loops + 1 if loops else 0)
            late = now - due
            scheduled = not thread._end.is_set() and thread._resumed.is_set()
        if encode:
            assert self.encoder is not None
            assert len(data) == self.encoder.FRAME_SIZE, len(data)
            data = self.encoder.encode(data, self.encoder.SAMPLES_PER_FRAME)
        with self._lock:
            index = self._source_index.get(id(source))
            if index is None:
                index = self._source_index[id(source)] = len(self._sources)
                self._sources.append(source)  # kept alive: its id stays its own
            self._times.append(now)
            self._payloads.append(bytes(data))
            self._flags.append((_ENCODED if encode else 0) | (_SCHEDULED if scheduled else 0))
            self._source_of.append(index)
            self._lateness.append(late)
            ready = []
            if self._waiters:
                packets = self.packets
                ready = [(pred, fut) for pred, fut in self._waiters if pred(packets)]
            for item in ready:
                self._waiters.remove(item)
        for _, fut in ready:
            self.loop.call_soon_threadsafe(_set_done, fut)

    # -- what VoiceClient.play() does, minus the network
    def play(
        self,
        source: discord.AudioSource,
        *,
        after: Any = None,
        application: Any = "audio",
        bitrate: int = 128,
        fec: bool = True,
        expected_packet_loss: float = 0.15,
        bandwidth: Any = "full",
        signal_type: Any = "auto",
    ) -> None:
        if not self.is_connected():
            raise discord.ClientException("Not connected to voice.")
        if self.is_playing():
            raise discord.ClientException("Already playing audio.")
        if not isinstance(source, discord.AudioSource):
            raise TypeError("source must be an AudioSource")
        if not source.is_opus():
            self.encoder = discord.opus.Encoder(
                application=application,
                bitrate=bitrate,
                fec=fec,
                expected_packet_loss=expected_packet_loss,
                bandwidth=bandwidth,
                signal_type=signal_type,
            )
        self.plays += 1
        self._player = AudioPlayer(source, self, after=after)  # type: ignore[arg-type]
        self._player.start()

    def is_playing(self) -> bool:
        return self._player is not None and self._player.is_playing()

    def is_paused(self) -> bool:
        return self._player is not None and self._player.is_paused()

    def stop(self) -> None:
        if self._player:
            self._player.stop()
            self._player = None

    def pause(self) -> None:
        if self._player:
            self._player.pause()

    def resume(self) -> None:
        if self._player:
            self._player.resume()

    @property
    def source(self) -> Any:
        return self._player.source if self._player else None

    async def move_to(self, channel: Any, *, timeout: float | None = 30.0) -> None:  # noqa: ASYNC109
        self.channel = channel

    async def disconnect(self, *, force: bool = False) -> None:
        self.stop()
        self._connected.clear()
        self.disconnected = True

    # -- test controls
    def drop_connection(self) -> None:
        self._connected.clear()

    def restore_connection(self) -> None:
        self._connected.set()

    async def wait_for(self, predicate: Callable[[list[Packet]], bool], limit: float = 5.0) -> None:
        """Wait until `predicate(packets so far)` holds (checked on every packet sent)."""
        fut: asyncio.Future[None] = self.loop.create_future()
        with self._lock:
            if predicate(self.packets):
                return
            self._waiters.append((predicate, fut))
        async with asyncio.timeout(limit):
            await fut

    @property
    def packets(self) -> list[Packet]:
        """Every packet so far (a new list; call with the lock held, or use `snapshot()`)."""
        sources = self._sources
        return [
            Packet(t, data, bool(flags & _ENCODED), sources[i], late, bool(flags & _SCHEDULED))
            for t, data, flags, i, late in zip(
                self._times, self._payloads, self._flags, self._source_of, self._lateness, strict=True
            )
        ]

    def snapshot(self) -> list[Packet]:
        with self._lock:
            return self.packets

    def forget(self) -> None:
        """Drop the packets recorded so far."""
        with self._lock:
            for column in (self._times, self._flags, self._source_of, self._lateness):
                del column[:]
            self._payloads.clear()
            self._sources.clear()
            self._source_index.clear()

    def packets_of(self, source: Any) -> list[Packet]:
        return [p for p in self.snapshot() if p.source is source]

    def audio_sources(self) -> list[Any]:
        """The sources in the order their first non-silent packet went out."""
        seen: list[Any] = []
        for p in self.snapshot():
            if not p.silence and p.source is not None and all(p.source is not s for s in seen):
                seen.append(p.source)
        return seen


def _set_done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


# --------------------------------------------------------------------------- a real VoiceClient
class E2EStandin:
    """A DAVE session stand-in: `encrypt_opus` records the Opus packet through `recorder` (with
    the sending thread's schedule, as `RecordingVoiceClient` does) and returns it, prefixed with
    `mark` so a test can see the end-to-end layer was applied (b"" in benchmarks)."""

    def __init__(self, recorder: RecordingVoiceClient, mark: bytes = b"") -> None:
        self.recorder = recorder
        self.mark = mark
        self.ready = True

    def encrypt_opus(self, data: bytes) -> bytes:
        self.recorder.send_audio_packet(data, encode=False)
        return self.mark + data if self.mark else data


class PacketConnection:
    """What `discord.VoiceClient` uses of its `VoiceConnectionState` to send: the session key
    and mode, ssrc, the DAVE session, and `send_packet` (to a UDP address, or kept in `wire`)."""

    def __init__(self, recorder: RecordingVoiceClient, *, ssrc: int, mark: bytes, sink: Any) -> None:
        self.recorder = recorder
        self.secret_key: list[int] = list(os.urandom(32))
        self.mode = "aead_xchacha20_poly1305_rtpsize"
        self.ssrc = ssrc
        self.dave_session = E2EStandin(recorder, mark)
        self.ws = recorder.ws
        self.wire: list[bytes] = []
        # As discord.py's VoiceConnectionState: a non-blocking UDP socket connected to the
        # voice server (`sink`); without one, packets are kept in `wire`.
        self.socket: socket.socket | None = None
        if sink is not None:
            self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.socket.setblocking(False)
            self.socket.connect(sink)
        self.fail_sends = False

    @property
    def can_encrypt(self) -> bool:
        return self.dave_session.ready

    @property
    def timeout(self) -> float:
        return self.recorder.timeout

    def is_connected(self) -> bool:
        return self.recorder.is_connected()

    def wait(self, timeout: float | None) -> None:
        self.recorder.wait_until_connected(timeout)

    def send_packet(self, packet: bytes) -> None:
        if self.fail_sends:
            raise RuntimeError("this connection is broken")
        if self.socket is not None:
            self.socket.sendall(packet)  # discord.py's send_packet
        else:
            self.wire.append(packet)

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()


class PacketVoiceClient(discord.VoiceClient):
    """A real `discord.VoiceClient` (its own `play`, `send_audio_packet`, `_get_voice_packet`
    and encryption) over a `PacketConnection` instead of Discord's voice servers. Packets are
    recorded by `recorder` (a `RecordingVoiceClient`: `snapshot()`, `wait_for()`, ...) as the
    DAVE stand-in sees them; what went on the wire is RTP + AEAD, decryptable with `opus_of`."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, *, ssrc: int = 1, mark: bytes = b"", sink: Any = None
    ) -> None:  # no super().__init__: it would open a real voice connection state
        self.recorder = RecordingVoiceClient(loop)
        self.loop = loop
        self.client = SimpleNamespace(loop=loop)  # type: ignore[assignment]
        self.channel = None  # type: ignore[assignment]
        self.sequence = 0
        self.timestamp = 0
        self._incr_nonce = 0
        self._player = None
        self.encoder = None  # type: ignore[assignment]
        self._connection = PacketConnection(self.recorder, ssrc=ssrc, mark=mark, sink=sink)  # type: ignore[assignment]

    @property
    def conn(self) -> PacketConnection:
        return self._connection  # type: ignore[return-value]

    def opus_of(self, packet: bytes) -> tuple[int, int, int, bytes]:
        """(sequence, timestamp, ssrc, payload after transport decryption) of a wire packet."""
        packet = bytes(packet)  # discord.py builds a bytearray
        seq, ts, ssrc = struct.unpack_from(">HII", packet, 2)
        header, body, nonce = packet[:12], packet[12:-4], packet[-4:] + bytes(20)
        box = nacl.secret.Aead(bytes(self.conn.secret_key))
        return seq, ts, ssrc, box.decrypt(body, header, nonce)

    def snapshot(self) -> list[Packet]:
        return self.recorder.snapshot()

    def packets_of(self, source: Any) -> list[Packet]:
        return self.recorder.packets_of(source)

    def audio_sources(self) -> list[Any]:
        return self.recorder.audio_sources()

    async def wait_for(self, predicate: Callable[[list[Packet]], bool], limit: float = 5.0) -> None:
        await self.recorder.wait_for(predicate, limit)

    def close(self) -> None:
        self.conn.close()
