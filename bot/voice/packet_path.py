"""One server's voice connection as the shared sender uses it: connected or not, how long to
wait for a reconnect, the speaking indicator, and `send(opus)` (one 20 ms Opus packet out).

`DiscordPacketPath` sends over a `discord.VoiceClient` with the same steps as discord.py's
`VoiceClient.send_audio_packet` / `_get_voice_packet` (DAVE end-to-end encryption through
`dave_session.encrypt_opus` when the session can encrypt, the 12-byte RTP header, transport
encryption by mode, `_connection.send_packet`, a dropped packet on `OSError`), keeping the
sequence, timestamp and nonce counters on the VoiceClient so they stay continuous across
utterances and with discord.py's own sends. What discord.py rebuilds for every packet is built
once per session key (rebuilt when the connection's key changes, i.e. after a reconnect): the
encryption of `aead_xchacha20_poly1305_rtpsize` with its output buffer, into which the header
is packed. Other (deprecated) modes go through discord.py's own `_encrypt_<mode>` methods.

The encryption and the send keep the GIL (libsodium through `ctypes.PyDLL` on PyNaCl's own
library, `send(2)` on the connection's connected, non-blocking UDP socket, as discord.py's
`send_packet` does with `sendall`). Both take microseconds and never block, whereas a call that
releases the GIL (cffi, `socket.sendall`) must take it back afterwards, and while the event loop
or an encode worker runs Python that wait lasts up to the switch interval: per packet, which
made a pass of a few hundred packets last tens of milliseconds (measured: 54 ms of wall time
for 17 ms of CPU while 500 playbacks were being started). Where these calls are not available
(another libc, PyNaCl without the exported symbol) the packet goes through cffi and
`send_packet`, as before.

`ClientPacketPath` is for anything else that offers `send_audio_packet` (the test stand-ins).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import struct
from typing import Any, Protocol

import discord
import nacl.bindings
from discord.opus import OPUS_SILENCE

from bot.voice.loop_calls import loop_calls

_u64 = ctypes.c_ulonglong
try:  # libsodium's function in PyNaCl's own library, called without releasing the GIL
    import nacl._sodium

    _encrypt: Any = ctypes.PyDLL(nacl._sodium.__file__).crypto_aead_xchacha20poly1305_ietf_encrypt
    _encrypt.argtypes = [
        ctypes.c_void_p,  # c: ciphertext and tag out
        ctypes.c_void_p,  # clen_p (NULL)
        ctypes.c_char_p,  # m
        _u64,  # mlen
        ctypes.c_void_p,  # ad: the RTP header
        _u64,  # adlen
        ctypes.c_void_p,  # nsec (NULL)
        ctypes.c_void_p,  # npub: the 24-byte nonce
        ctypes.c_char_p,  # k
    ]
    _encrypt.restype = ctypes.c_int
except (ImportError, OSError, AttributeError):  # pragma: no cover - then discord.py's own method
    _encrypt = None
try:  # send(2) on a connected socket, without releasing the GIL
    _send: Any = ctypes.PyDLL(None, use_errno=True).send
    _send.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    _send.restype = ctypes.c_ssize_t
except (OSError, AttributeError, TypeError):  # pragma: no cover - then the connection's send_packet
    _send = None

log = logging.getLogger(__name__)

SAMPLES_PER_FRAME = 960  # discord.opus.Encoder.SAMPLES_PER_FRAME: RTP timestamp step
TRAILING_SILENCE = 5  # silence packets after a playback ends or pauses, as discord.py sends
_RTP = struct.Struct(">BBHII")  # version/flags, payload type, sequence, timestamp, ssrc
_NONCE = struct.Struct(">I")
_AEAD_MODE = "aead_xchacha20_poly1305_rtpsize"


class VoiceConnection(Protocol):
    """What the sender needs of one server's voice connection."""

    def is_connected(self) -> bool: ...

    @property
    def reconnect_wait(self) -> float:
        """Seconds a playback waits for a lost connection before it gives up."""
        ...

    def speak(self, on: bool) -> None:
        """Set the speaking indicator (any thread)."""
        ...

    def send(self, opus: bytes) -> None:
        """Send one Opus packet (sender thread)."""
        ...


def send_silence(connection: VoiceConnection, count: int = TRAILING_SILENCE) -> None:
    """discord.py's `AudioPlayer.send_silence`: a failure here is of no consequence."""
    try:
        for _ in range(count):
            connection.send(OPUS_SILENCE)
    except Exception:
        pass


_speaking_tasks: set[asyncio.Task[Any]] = set()  # held until done (the loop keeps only weak refs)


def _speak(voice_client: Any, on: bool) -> None:
    """Send the speaking state from any thread: a task started at once when called on the
    client's loop (a playback starting), else started there by the loop's `LoopCalls` (the
    sender thread: one wake-up of the loop for all the calls of a pass)."""
    state = discord.SpeakingState.voice if on else discord.SpeakingState.none
    try:
        loop: asyncio.AbstractEventLoop = voice_client.client.loop
        if asyncio._get_running_loop() is loop:
            _start_speaking(voice_client, state)
        else:
            loop_calls(loop).call(_start_speaking, voice_client, state)
    except Exception:  # the sender's end of a playback must go on
        log.exception("setting the speaking state failed")


def _start_speaking(voice_client: Any, state: discord.SpeakingState) -> None:  # on the loop
    try:
        task = voice_client.client.loop.create_task(voice_client.ws.speak(state))
    except Exception:
        log.exception("setting the speaking state failed")
        return
    _speaking_tasks.add(task)
    task.add_done_callback(_speaking_tasks.discard)


class ClientPacketPath:
    """Sends through the client's own `send_audio_packet(opus, encode=False)`."""

    def __init__(self, voice_client: Any) -> None:
        self.voice_client = voice_client

    def is_connected(self) -> bool:
        return bool(self.voice_client.is_connected())

    @property
    def reconnect_wait(self) -> float:
        return float(self.voice_client.timeout)

    def speak(self, on: bool) -> None:
        _speak(self.voice_client, on)

    def send(self, opus: bytes) -> None:
        self.voice_client.send_audio_packet(opus, encode=False)


class _AeadSeal:
    """`aead_xchacha20_poly1305_rtpsize` for one session key, as discord.py's
    `_encrypt_aead_xchacha20_poly1305_rtpsize` computes it (RTP header as associated data, a
    24-byte nonce made of the 4-byte counter and zeros, the counter appended to the packet),
    assembled in one buffer allocated once: header | ciphertext and tag | counter. libsodium's
    function is called directly (PyNaCl's `Aead.encrypt` adds its argument checks and two
    allocations per packet: most of its cost)."""

    SIZE = 4096  # bytes: an Opus packet is at most 1,275, DAVE adds a few dozen

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._out = ctypes.create_string_buffer(self.SIZE)
        self.address = ctypes.addressof(self._out)
        self._cipher = self.address + 12
        self._view = memoryview(self._out).cast("B")
        self._nonce = ctypes.create_string_buffer(24)  # zeros after the 4-byte counter
        self._nonce_address = ctypes.addressof(self._nonce)

    def seal(self, sequence: int, timestamp: int, ssrc: int, counter: int, data: bytes) -> int:
        """Build the packet in the buffer; returns its size (`packet()` copies it out)."""
        size = len(data)
        if size + 32 > self.SIZE:
            raise ValueError(f"a voice packet of {size} bytes")
        view = self._view
        _RTP.pack_into(view, 0, 0x80, 0x78, sequence, timestamp, ssrc)
        _NONCE.pack_into(self._nonce, 0, counter)
        _encrypt(self._cipher, None, data, size, self.address, 12, None, self._nonce_address, self._key)
        _NONCE.pack_into(view, 28 + size, counter)
        return 32 + size

    def packet(self, size: int) -> bytes:
        return self._view[:size].tobytes()


class DiscordPacketPath:
    """discord.py's packet path over a real `discord.VoiceClient`, with the encryption state
    (`_AeadSeal`) built once per session key instead of once per packet."""

    def __init__(self, voice_client: discord.VoiceClient) -> None:
        self.voice_client = voice_client
        self._key: object = None  # the connection's secret_key list the seal was built from
        self._seal: _AeadSeal | None = None

    def is_connected(self) -> bool:
        return self.voice_client.is_connected()

    @property
    def reconnect_wait(self) -> float:
        return self.voice_client.timeout

    def speak(self, on: bool) -> None:
        _speak(self.voice_client, on)

    def send(self, opus: bytes) -> None:
        vc = self.voice_client
        conn = vc._connection
        sequence = vc.sequence + 1
        if sequence > 65535:
            sequence = 0
        vc.sequence = sequence
        dave = conn.dave_session
        data = dave.encrypt_opus(opus) if dave and conn.can_encrypt else opus
        mode = conn.mode
        if mode == _AEAD_MODE and _encrypt is not None:
            key = conn.secret_key
            seal = self._seal
            if key is not self._key or seal is None:
                seal = self._seal = _AeadSeal(bytes(key))
                self._key = key
            counter = vc._incr_nonce
            vc._incr_nonce = 0 if counter == 4294967295 else counter + 1
            if type(data) is not bytes:
                data = bytes(data)
            size = seal.seal(sequence, vc.timestamp, conn.ssrc, counter, data)
            sock = getattr(conn, "socket", None)
            fd = sock.fileno() if _send is not None and sock is not None else -1
            if fd >= 0:  # discord.py's send_packet (sendall on the connected socket), GIL held
                if _send(fd, seal.address, size, 0) != size:
                    log.debug("a packet has been dropped (seq: %s, errno %s)", sequence, ctypes.get_errno())
                packet = None
            else:
                packet = seal.packet(size)
        else:
            header = _RTP.pack(0x80, 0x78, sequence, vc.timestamp, conn.ssrc)
            packet = getattr(vc, "_encrypt_" + mode)(header, data)
        if packet is not None:
            try:
                conn.send_packet(packet)
            except OSError:
                log.debug("a packet has been dropped (seq: %s, timestamp: %s)", sequence, vc.timestamp)
        timestamp = vc.timestamp + SAMPLES_PER_FRAME
        vc.timestamp = 0 if timestamp > 4294967295 else timestamp


def packet_path_for(voice_client: Any) -> VoiceConnection | None:
    """The sender's path over `voice_client`, or None if it cannot take packets from the
    sender (then it plays through its own `play()`)."""
    if isinstance(voice_client, discord.VoiceClient):
        return DiscordPacketPath(voice_client)
    if callable(getattr(voice_client, "send_audio_packet", None)):
        return ClientPacketPath(voice_client)
    return None
