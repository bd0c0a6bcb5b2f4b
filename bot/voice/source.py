"""discord.py audio sources that send Opus: encoded once here, or replayed from the cache.

Opus encoding is the expensive step (about 25-30 ms of CPU per second of audio, against about
1 ms for resampling), so the first playback of an utterance encodes it here (with the same
settings `VoiceClient.play` would use), records the packets, and hands them over so the cache
can store them. Later playbacks (a cache hit, the same phrase in another server) send the
stored packets with no encoding at all. Both sources are `is_opus()`, so discord.py skips its
own encoder.

Two ways to be played:
- the shared sender (`bot.voice.sender`, the default): an encode worker calls
  `encode_ahead()` to keep a few packets ready, and the sender thread calls `take()` every
  20 ms, which never waits (no packet ready: the sender sends silence and calls `underrun()`);
  stored packets are taken as they are;
- discord.py's player thread (`VOICE_SENDER=classic`): `read()` never blocks for long (an
  underrun waits at most `underrun_wait` seconds, then sends an encoded silence packet), and
  returns b"" only when the audio is over.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import discord
from discord.opus import OPUS_SILENCE, Encoder

from bot.voice.encode_pool import START_PACKETS
from bot.voice.encode_process import EncodeProcess, Section
from bot.voice.frame_buffer import FRAME_BYTES, FRAME_SAMPLES, FrameBuffer

log = logging.getLogger(__name__)

_streams = itertools.count(1)  # stream numbers in the encode processes
DEFAULT_UNDERRUN_WAIT = 0.010  # seconds the player thread waits for audio before sending silence


@dataclass(frozen=True, slots=True)
class OpusProfile:
    """Encoder settings; `key` is stored with cached packets so other settings never mix."""

    application: str = "audio"
    bitrate_kbps: int = 128
    fec: bool = True
    expected_packet_loss: float = 0.15
    bandwidth: str = "full"
    signal_type: str = "auto"
    complexity: int | None = None  # 0 (cheapest) to 10; None: libopus's default (9), as discord.py

    @property
    def key(self) -> str:
        parts = ["opus", self.application, f"{self.bitrate_kbps}k"]
        parts.append(f"fec:{round(self.expected_packet_loss * 100)}" if self.fec else "nofec")
        if self.bandwidth != "full":
            parts.append(f"bw:{self.bandwidth}")
        if self.signal_type != "auto":
            parts.append(f"sig:{self.signal_type}")
        if self.complexity is not None:
            parts.append(f"cx:{self.complexity}")
        return ":".join(parts)

    def encoder(self) -> Encoder:
        encoder = Encoder(
            application=self.application,  # type: ignore[arg-type]
            bitrate=self.bitrate_kbps,
            fec=self.fec,
            expected_packet_loss=self.expected_packet_loss,
            bandwidth=self.bandwidth,  # type: ignore[arg-type]
            signal_type=self.signal_type,  # type: ignore[arg-type]
        )
        if self.complexity is not None:  # no setter in discord.py: the ctl call its setters make
            discord.opus._lib.opus_encoder_ctl(encoder._state, _CTL_SET_COMPLEXITY, self.complexity)
        return encoder


_CTL_SET_COMPLEXITY = 4010  # OPUS_SET_COMPLEXITY_REQUEST (opus_defines.h)

# discord.py's `VoiceClient.play()` defaults (application "audio", 128 kbps, FEC for 15 % loss)
# at complexity 2 instead of libopus's 9: "opus:audio:128k:fec:15:cx:2". Complexity 7 and up
# runs libopus's signal analysis on every frame, which only steers speech/music and bandwidth
# decisions that do not arise at 128 kbps. Measured with `benchmarks/bench_opus_profiles.py`
# (24 kHz speech resampled to 48 kHz stereo, decoded by libopus, compared with the source over
# 0-11 kHz), encoding CPU per audio-second / spectral SNR / log-spectral distance: 9: 27 ms,
# 22.6 dB, 3.77 dB; 5: 15.2 ms, 22.3 dB, 3.77 dB; 3: 13.5 ms, 21.9 dB, 3.72 dB; 2: 11.3 ms,
# 21.8 dB, 3.78 dB (the same bitrate throughout). First plays are CPU-bound on a small
# machine: with 64 first plays at once on 2 cores (`benchmarks.bench_voice`'s rounds,
# complexity 5 and 2 alternating in one process), complexity 2 cost 5-10 % less CPU per
# audio-second and had fewer underrun frames in 12 of 16 paired rounds (median 52 and 68
# against 110 and 312 in two series). Lower bitrates or the "voip" application cost as much
# CPU and lose more (64 kbps voip: 17.2 dB, LSD 6.2 dB). Cached Opus packets are filed under
# the profile's key, so packets of another complexity are never mixed in (the cached audio
# itself is kept and encoded again).
DEFAULT_PROFILE = OpusProfile(complexity=2)


class StreamingOpusSource(discord.AudioSource):
    """Plays a FrameBuffer, encoding each 20 ms frame; records the packets for the cache.

    `on_complete(packets)` is called (on the player thread) when the whole utterance was
    played and its input ended without error. `on_abort()` is called (once, from whichever
    thread runs `cleanup()`) when playback stops before the end: it must cancel the producer,
    which closes the endpoint stream. Both callbacks must be thread-safe.
    """

    def __init__(
        self,
        buffer: FrameBuffer,
        *,
        profile: OpusProfile = DEFAULT_PROFILE,
        on_complete: Callable[[list[bytes]], None] | None = None,
        on_abort: Callable[[], None] | None = None,
        underrun_wait: float = DEFAULT_UNDERRUN_WAIT,
        record: bool = True,
    ) -> None:
        self.buffer = buffer
        self.profile = profile
        self._on_complete = on_complete
        self._on_abort = on_abort
        self._underrun_wait = underrun_wait
        self._record = record
        self._encoder: Encoder | None = None
        self._packets: list[bytes] = []
        self._lock = threading.Lock()
        self._finished = False  # read() returned b"" after the end of the audio
        self._cleaned = False
        self.frames_encoded = 0
        self.silence_sent = 0
        # Encode-ahead state (the shared sender): packets encoded by a worker, sent by the sender.
        self._ready: deque[bytes] = deque()
        self._ready_end = False  # the worker reached the end of the audio
        self._starved = False  # the worker's last look found no input
        self._reprime = False  # the sender sent underrun silence: the buffer re-primes
        self._claimed = False  # queued for, or being encoded by, a worker
        self._ahead_error: Exception | None = None
        self._fill_lock = threading.Lock()
        # Encoded in a child process (bot.voice.encode_process): which one, in which of its
        # lifetimes, and the stream number there; None: encoded here.
        self._remote: EncodeProcess | None = None
        self._remote_generation = 0
        self._stream = next(_streams)
        self._gathered: list[bytes] = []  # frames sent to the child, awaiting its packets
        self._wake: Callable[[], None] | None = None  # see wake_on_input()

    def is_opus(self) -> bool:
        return True

    @property
    def finished(self) -> bool:
        """Played to the end of the audio (not stopped, not cancelled)."""
        return self._finished and not self.buffer.cancelled

    # -- the shared sender's side (bot.voice.sender): encoded ahead by a worker, taken per tick
    def take(self) -> bytes | None:
        """The next encoded packet; None if none is ready (underrun); b"" at the end."""
        if self._finished or self._cleaned:
            return b""
        ready = self._ready
        if ready:
            return ready.popleft()
        if self._ready_end:
            if ready:  # appended just before the end was marked
                return ready.popleft()
            if self._ahead_error is not None:
                raise self._ahead_error
            self._finish()
            return b""
        return None

    @property
    def primed(self) -> bool:
        """The sender may start this playback: `START_PACKETS` packets are ready (or fewer,
        when that is all the input at hand), or the audio is over."""
        ready = len(self._ready)
        return ready >= START_PACKETS or self._ready_end or self._cleaned or (ready > 0 and self._starved)

    live = True  # encoded as it plays

    def holds(self, packets: int) -> bool:
        """Fewer than `packets` are ready and more audio is to come (the sender holds the start
        of a first play in a burst of them)."""
        return len(self._ready) < packets and not (self._ready_end or self._cleaned)

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    def wake_on_input(self, wake: Callable[[], None] | None) -> None:
        """Call `wake()` when input arrives while the encoder found none at hand (the sender
        then queues this feed at once, not at its next packet: 20 ms earlier at worst)."""
        self._wake = wake
        self.buffer.listen(self._on_input if wake is not None else None)

    def _on_input(self) -> None:  # the producer's thread (the event loop)
        wake = self._wake
        if wake is not None and self._starved and not self._claimed:
            wake()

    def underrun(self) -> None:
        """The sender sent silence for want of a packet (see `FrameBuffer.poll`)."""
        self.silence_sent += 1
        if self._starved:
            self._reprime = True

    def wants_encoding(self, ahead: int) -> bool:
        """Half of `ahead` or fewer packets ready (and more to come): a worker then encodes
        about half of `ahead` at once, so there is one hand-off per few packets, not per packet."""
        return len(self._ready) <= ahead // 2 and not (self._ready_end or self._cleaned or self._claimed)

    def claim(self) -> bool:
        """Mark as queued for a worker; False if it already is."""
        with self._fill_lock:
            if self._claimed:
                return False
            self._claimed = True
            return True

    def encode_ahead(self, ahead: int) -> None:
        """Worker thread: encode frames until `ahead` packets are ready or no input is at hand."""
        try:
            if self._remote is not None:  # its child is gone (the lane found it dead)
                self._leave_remote()
            self._encode_here(ahead)
        except Exception as exc:  # the sender ends the playback with it
            self._fail(exc)
        finally:
            self._release()

    def gather(self, count: int, remote: EncodeProcess) -> Section | None:
        """Worker of a lane with a child process: up to `count` frames at hand for the child,
        with the stream's profile on its first request. None when nothing goes to the child
        (no input at hand, the end, or a stream that began here: encoded here now); the claim
        is then released, else by `deliver()`."""
        try:
            if self._remote is not None and (
                self._remote is not remote or self._remote_generation != remote.generation
            ):
                self._leave_remote()  # its encoder was in a child that has since restarted
            if self._encoder is not None:
                self._encode_here(len(self._ready) + count)
                return None
            self._reprime_if_asked()
            frames: list[bytes] = []
            while len(frames) < count and not (self._ready_end or self._cleaned):
                frame = self._next_frame()
                if frame is None:
                    break
                frames.append(frame)
            if not frames:
                return None
            self._gathered = frames
            return (self._stream, self.profile if self._remote is None else None, frames)
        except Exception as exc:
            self._fail(exc)
            return None
        finally:
            if not self._gathered:
                self._release()

    def deliver(self, packets: list[bytes] | None, remote: EncodeProcess) -> None:
        """Worker: the child's packets for the gathered frames; None if it failed (they are
        encoded here, and so is the rest of the stream: a click at worst, not a silent end)."""
        frames, self._gathered = self._gathered, []
        try:
            if packets is None:
                self._leave_remote()
                self._ready.extend(self._encode(frame) for frame in frames)
                return
            if self._remote is None:
                self._remote, self._remote_generation = remote, remote.generation
            self.frames_encoded += len(packets)
            if self._record:
                self._packets.extend(packets)
            self._ready.extend(packets)
        except Exception as exc:
            self._fail(exc)
        finally:
            self._release()

    def _leave_remote(self) -> None:
        """Encode here from now on (a new encoder: a click at worst, not a silent end)."""
        if self._remote is not None:
            self._remote.release(self._stream)
            self._remote = None
        if self._encoder is None:
            self._encoder = self.profile.encoder()
            log.warning("an encode process failed; this stream is encoded in the bot process")

    def _encode_here(self, ahead: int) -> None:
        self._reprime_if_asked()
        while len(self._ready) < ahead and not (self._ready_end or self._cleaned):
            frame = self._next_frame()
            if frame is None:
                return
            self._ready.append(self._encode(frame))

    def _reprime_if_asked(self) -> None:
        if self._reprime:
            self._reprime = False
            self.buffer.mark_underrun()

    def _fail(self, exc: Exception) -> None:
        self._ahead_error = exc  # the sender ends the playback with it
        self._ready_end = True

    def _release(self) -> None:
        with self._fill_lock:
            self._claimed = False

    def _next_frame(self) -> bytes | None:
        """The next frame to encode; None if none is at hand or at the end (`_ready_end`)."""
        frame = self.buffer.poll(0.0, underrun=False)
        if frame is None:
            self._starved = True
            return None
        self._starved = False
        if not frame:
            self._ready_end = True
            return None
        return frame

    def _encode(self, frame: bytes) -> bytes:
        if self._encoder is None:
            self._encoder = self.profile.encoder()
        assert len(frame) == FRAME_BYTES
        packet = self._encoder.encode(frame, FRAME_SAMPLES)
        self.frames_encoded += 1
        if self._record:
            self._packets.append(packet)
        return packet

    def read(self) -> bytes:
        if self._finished or self._cleaned:
            return b""
        frame = self.buffer.poll(self._underrun_wait)
        if frame is None:
            self.silence_sent += 1
            return OPUS_SILENCE
        if not frame:
            self._finish()
            return b""
        return self._encode(frame)

    def _finish(self) -> None:
        self._finished = True
        if self._record and self._on_complete is not None and self.buffer.completed and self._packets:
            packets, self._packets = self._packets, []
            try:
                self._on_complete(packets)
            except Exception:
                log.exception("storing the Opus packets failed")

    def cleanup(self) -> None:
        with self._lock:
            if self._cleaned:
                return
            self._cleaned = True
        self._packets = []
        self.wake_on_input(None)
        if self._remote is not None:
            self._remote.release(self._stream)
        if not self._finished:
            self.buffer.cancel()
            if self._on_abort is not None:
                try:
                    self._on_abort()
                except Exception:
                    log.exception("cancelling the audio producer failed")


class StoredOpusSource(discord.AudioSource):
    """Sends Opus packets stored by an earlier playback: no resampling, no encoding."""

    def __init__(self, packets: Sequence[bytes]) -> None:
        self._packets = packets
        self._index = 0
        self._cleaned = False

    def is_opus(self) -> bool:
        return True

    @property
    def finished(self) -> bool:
        return self._index >= len(self._packets)

    def read(self) -> bytes:
        if self._cleaned or self._index >= len(self._packets):
            return b""
        packet = self._packets[self._index]
        self._index += 1
        return packet

    # -- the shared sender's side: stored packets are sent as they are, nothing to encode
    take = read
    primed = True
    live = False
    ready_count = 0

    def holds(self, packets: int) -> bool:
        return False

    def underrun(self) -> None:
        pass

    def wants_encoding(self, ahead: int) -> bool:
        return False

    def claim(self) -> bool:
        return False

    def encode_ahead(self, ahead: int) -> None:
        pass

    def gather(self, count: int, remote: EncodeProcess) -> Section | None:
        return None

    def wake_on_input(self, wake: Callable[[], None] | None) -> None:
        pass

    def deliver(self, packets: list[bytes] | None, remote: EncodeProcess) -> None:
        pass

    def cleanup(self) -> None:
        self._cleaned = True


class OpusSourceFactory:
    """Builds the discord sources for the (discord-free) GuildPlayer: see `bot.voice.ports.SourceFactory`."""

    def __init__(
        self, profile: OpusProfile = DEFAULT_PROFILE, *, underrun_wait: float = DEFAULT_UNDERRUN_WAIT
    ) -> None:
        self._profile = profile
        self._underrun_wait = underrun_wait

    @property
    def profile(self) -> str:
        return self._profile.key

    def streaming(
        self,
        buffer: FrameBuffer,
        *,
        on_complete: Callable[[list[bytes]], None] | None,
        on_abort: Callable[[], None] | None,
    ) -> StreamingOpusSource:
        return StreamingOpusSource(
            buffer,
            profile=self._profile,
            on_complete=on_complete,
            on_abort=on_abort,
            underrun_wait=self._underrun_wait,
            record=on_complete is not None,
        )

    def stored(self, packets: Sequence[bytes]) -> StoredOpusSource:
        return StoredOpusSource(packets)
