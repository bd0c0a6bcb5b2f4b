"""One server's voice connection as the shared sender uses it: connected or not, how long to
wait for a reconnect, the speaking indicator, and `send(opus)` (one 20 ms Opus packet out).

`DiscordPacketPath` sends over a `discord.VoiceClient` with the same steps as discord.py's
`VoiceClient.send_audio_packet` / `_get_voice_packet` (DAVE end-to-end encryption through
`dave_session.encrypt_opus` when the session can encrypt, the 12-byte RTP header, transport
encryption by mode, `_connection.send_packet`, a dropped packet on `OSError`), keeping the
sequence, timestamp and nonce counters on the VoiceClient so they stay continuous across
utterances and with discord.py's own sends. What discord.py rebuilds for every packet is built
once per session key: the `nacl.secret.Aead` box of `aead_xchacha20_poly1305_rtpsize` (rebuilt
when the connection's key or mode changes, i.e. after a reconnect) and the header packer.
Other (deprecated) modes go through discord.py's own `_encrypt_<mode>` methods.

`ClientPacketPath` is for anything else that offers `send_audio_packet` (the test stand-ins).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any, Protocol

import discord
import nacl.secret
from discord.opus import OPUS_SILENCE

log = logging.getLogger(__name__)

SAMPLES_PER_FRAME = 960  # discord.opus.Encoder.SAMPLES_PER_FRAME: RTP timestamp step
TRAILING_SILENCE = 5  # silence packets after a playback ends or pauses, as discord.py sends
_RTP = struct.Struct(">BBHII")  # version/flags, payload type, sequence, timestamp, ssrc
_NONCE = struct.Struct(">I")
_NONCE_PAD = bytes(20)
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


class DiscordPacketPath:
    """discord.py's packet path over a real `discord.VoiceClient`, with the box built once per key."""

    def __init__(self, voice_client: discord.VoiceClient) -> None:
        self.voice_client = voice_client
        self._key: object = None  # the connection's secret_key list the box was built from
        self._mode: str | None = None
        self._box: nacl.secret.Aead | None = None

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
        vc.sequence = 0 if vc.sequence + 1 > 65535 else vc.sequence + 1
        dave = conn.dave_session
        data = dave.encrypt_opus(opus) if dave and conn.can_encrypt else opus
        header = _RTP.pack(0x80, 0x78, vc.sequence, vc.timestamp, conn.ssrc)
        mode = conn.mode
        if mode == _AEAD_MODE:
            key = conn.secret_key
            if key is not self._key or mode != self._mode or self._box is None:
                self._box = nacl.secret.Aead(bytes(key))
                self._key, self._mode = key, mode
            nonce = _NONCE.pack(vc._incr_nonce)
            vc._incr_nonce = 0 if vc._incr_nonce + 1 > 4294967295 else vc._incr_nonce + 1
            packet = header + self._box.encrypt(data, header, nonce + _NONCE_PAD).ciphertext + nonce
        else:
            packet = getattr(vc, "_encrypt_" + mode)(header, data)
        try:
            conn.send_packet(packet)
        except OSError:
            log.debug("a packet has been dropped (seq: %s, timestamp: %s)", vc.sequence, vc.timestamp)
        vc.timestamp = (
            0 if vc.timestamp + SAMPLES_PER_FRAME > 4294967295 else vc.timestamp + SAMPLES_PER_FRAME
        )


def packet_path_for(voice_client: Any) -> VoiceConnection | None:
    """The sender's path over `voice_client`, or None if it cannot take packets from the
    sender (then it plays through its own `play()`)."""
    if isinstance(voice_client, discord.VoiceClient):
        return DiscordPacketPath(voice_client)
    if callable(getattr(voice_client, "send_audio_packet", None)):
        return ClientPacketPath(voice_client)
    return None
