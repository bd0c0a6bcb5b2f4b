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

`ClientPacketPath` is for anything else that offers `send_audio_packet` (the test stand-ins).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any, Protocol

import discord
import nacl.bindings  # noqa: F401 - initialises libsodium
from discord.opus import OPUS_SILENCE

try:  # PyNaCl's cffi module: libsodium's functions without PyNaCl's per-call checks
    from nacl._sodium import ffi as _ffi
    from nacl._sodium import lib as _lib

    _encrypt: Any = _lib.crypto_aead_xchacha20poly1305_ietf_encrypt
    _NULL: Any = _ffi.NULL
except (ImportError, AttributeError):  # pragma: no cover - then discord.py's own method
    _encrypt = None

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


def _speak(voice_client: Any, on: bool) -> None:
    state = discord.SpeakingState.voice if on else discord.SpeakingState.none
    try:
        asyncio.run_coroutine_threadsafe(voice_client.ws.speak(state), voice_client.client.loop)
    except Exception:
        log.exception("setting the speaking state failed")


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
    function is called directly through PyNaCl's own cffi module (PyNaCl's `Aead.encrypt` adds
    its argument checks and two allocations per packet: most of its cost)."""

    SIZE = 4096  # bytes: an Opus packet is at most 1,275, DAVE adds a few dozen

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._out = _ffi.new("unsigned char[]", self.SIZE)
        self._cipher = self._out + 12
        self._view = _ffi.buffer(self._out)
        self._nonce = _ffi.new("unsigned char[]", 24)  # zeros after the 4-byte counter
        self._nonce_view = _ffi.buffer(self._nonce)

    def seal(self, sequence: int, timestamp: int, ssrc: int, counter: int, data: bytes) -> bytes:
        size = len(data)
        if size + 32 > self.SIZE:
            raise ValueError(f"a voice packet of {size} bytes")
        view = self._view
        _RTP.pack_into(view, 0, 0x80, 0x78, sequence, timestamp, ssrc)
        _NONCE.pack_into(self._nonce_view, 0, counter)
        _encrypt(self._cipher, _NULL, data, size, self._out, 12, _NULL, self._nonce, self._key)
        _NONCE.pack_into(view, 28 + size, counter)
        packet: bytes = view[: 32 + size]
        return packet


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
            packet = seal.seal(sequence, vc.timestamp, conn.ssrc, counter, data)
        else:
            header = _RTP.pack(0x80, 0x78, sequence, vc.timestamp, conn.ssrc)
            packet = getattr(vc, "_encrypt_" + mode)(header, data)
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
