"""Thread-safe buffer between the asyncio producer (engine stream) and the voice player thread.

The producer (event loop) only appends raw engine PCM, which is cheap. The consumer (discord's
player thread) converts it to 48 kHz stereo (see `bot.audio.pcm`) and cuts exact 20 ms frames, so the
resampling work stays off the event loop and pending audio is held at the engine's compact rate.

Consumer contract (`poll` / `read_frame`):
- a 3840-byte frame of audio when one is available;
- on underrun, after waiting at most `timeout`, `None` from `poll` (a silence frame from
  `read_frame`); after an underrun the buffer re-primes (waits for the pre-roll amount again)
  so a slow stream gives a few short gaps rather than a stutter on every frame;
- b"" only at the end: after `end()` once everything has been played (the last partial frame
  zero-padded), or at once after `cancel()`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from bot.audio.pcm import DISCORD_CHANNELS, DISCORD_RATE, SAMPLE_BYTES, PcmConverter

FRAME_MS = 20
FRAME_SAMPLES = DISCORD_RATE * FRAME_MS // 1000  # 960 per channel
FRAME_BYTES = FRAME_SAMPLES * DISCORD_CHANNELS * SAMPLE_BYTES  # 3840
SILENCE_FRAME = bytes(FRAME_BYTES)
# Most input converted in one consumer step, in seconds: bounds the work done inside one read().
MAX_CONVERT_SECONDS = 0.25


class FrameBuffer:
    """Engine PCM in (any thread), 20 ms Discord frames out (one consumer thread)."""

    def __init__(self, in_rate: int, *, preroll_ms: int = 100, quality: str = "HQ") -> None:
        if preroll_ms < 0:
            raise ValueError("preroll_ms must be >= 0")
        self.in_rate = in_rate
        self.preroll_bytes = max(SAMPLE_BYTES, round(in_rate * preroll_ms / 1000) * SAMPLE_BYTES)
        self._max_take = max(SAMPLE_BYTES, round(in_rate * MAX_CONVERT_SECONDS) * SAMPLE_BYTES)
        self._cond = threading.Condition(threading.Lock())
        # Shared state (guarded by _cond)
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._written_bytes = 0
        self._ended = False
        self._cancelled = False
        self._error: BaseException | None = None
        self._listener: Callable[[], None] | None = None  # called after each write() and end()
        # Consumer-only state
        self._converter = PcmConverter(in_rate, quality=quality)
        self._out = bytearray()
        self._input_done = False  # consumer has taken the last input and flushed the converter
        self._priming = True  # waiting for the pre-roll amount (at start and after an underrun)
        self._drained = False
        self.frames_out = 0
        self.underruns = 0

    def listen(self, listener: Callable[[], None] | None) -> None:
        """Call `listener()` (on the producer's thread, outside the lock; it must be quick)
        after each write() and end(): the shared sender's encoder looks again at once."""
        with self._cond:
            self._listener = listener

    # ----------------------------------------------------------------- producer side
    def write(self, pcm: bytes) -> None:
        """Append engine PCM (mono s16le at `in_rate`, any length). Ignored after cancel()."""
        if not pcm:
            return
        with self._cond:
            if self._cancelled:
                return
            if self._ended:
                raise RuntimeError("write() after end()")
            self._pending.append(bytes(pcm))
            self._pending_bytes += len(pcm)
            self._written_bytes += len(pcm)
            self._cond.notify_all()
            listener = self._listener
        if listener is not None:
            listener()

    def end(self, error: BaseException | None = None) -> None:
        """No more input. With `error`, the audio is incomplete (it still plays what arrived)."""
        with self._cond:
            if self._ended:
                return
            self._ended = True
            self._error = error
            self._cond.notify_all()
            listener = self._listener
        if listener is not None:
            listener()

    def cancel(self) -> None:
        """Playback is abandoned: drop pending audio, wake the consumer, make it return b""."""
        with self._cond:
            self._cancelled = True
            self._pending.clear()
            self._pending_bytes = 0
            self._cond.notify_all()

    # ----------------------------------------------------------------- state
    @property
    def ready(self) -> bool:
        """Enough audio for the pre-roll has arrived, or the input ended (or was cancelled)."""
        with self._cond:
            return self._ended or self._cancelled or self._written_bytes >= self.preroll_bytes

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended

    @property
    def cancelled(self) -> bool:
        with self._cond:
            return self._cancelled

    @property
    def error(self) -> BaseException | None:
        with self._cond:
            return self._error

    @property
    def completed(self) -> bool:
        """The input ended without error and was not cancelled."""
        with self._cond:
            return self._ended and self._error is None and not self._cancelled

    @property
    def has_audio(self) -> bool:
        with self._cond:
            return self._written_bytes > 0

    @property
    def written_seconds(self) -> float:
        with self._cond:
            return self._written_bytes / (SAMPLE_BYTES * self.in_rate)

    @property
    def drained(self) -> bool:
        """The consumer has played everything (b"" was returned after the end)."""
        return self._drained

    # ----------------------------------------------------------------- consumer side
    def read_frame(self, timeout: float) -> bytes:
        """A 3840-byte frame, SILENCE_FRAME on underrun, b"" at the end."""
        frame = self.poll(timeout)
        return SILENCE_FRAME if frame is None else frame

    def poll(self, timeout: float, *, underrun: bool = True) -> bytes | None:
        """A 3840-byte frame, None on underrun (after waiting at most `timeout`), b"" at the end.

        With `underrun=False` a None only says "nothing yet" (an encode-ahead worker looking
        for work): the buffer does not re-prime; `mark_underrun()` does it when silence was sent.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if self._drained:
                return b""
            if self._cancelled_now():
                return self._finish()
            if len(self._out) >= FRAME_BYTES and not self._priming:
                return self._take_frame()
            if self._input_done:
                if self._out:
                    self._out.extend(bytes(FRAME_BYTES - len(self._out)))
                    return self._take_frame()
                return self._finish()
            taken = self._take_input(deadline)
            if taken is None:  # nothing (or not enough to re-prime) arrived in time
                if underrun:
                    self.mark_underrun()
                return None
            data, last = taken
            if data:
                self._out.extend(self._converter.convert(data))
            if last:
                self._out.extend(self._converter.flush())
                self._input_done = True

    def mark_underrun(self) -> None:
        """Consumer side: the listener heard a gap; wait for the pre-roll amount again."""
        self._priming = True
        self.underruns += 1

    def _take_frame(self) -> bytes:
        frame = bytes(self._out[:FRAME_BYTES])
        del self._out[:FRAME_BYTES]
        self.frames_out += 1
        return frame

    def _finish(self) -> bytes:
        self._drained = True
        self._out.clear()
        return b""

    def _cancelled_now(self) -> bool:
        with self._cond:
            return self._cancelled

    def _held_as_input_bytes(self) -> int:
        return len(self._out) * self.in_rate // (DISCORD_RATE * DISCORD_CHANNELS)

    def _primed_locked(self) -> bool:
        return self._held_as_input_bytes() + self._pending_bytes >= self.preroll_bytes

    def _take_input(self, deadline: float) -> tuple[bytes, bool] | None:
        """Wait for input (the pre-roll amount while priming) until `deadline`.

        Returns (input taken, whether that was the last of it), or None on timeout.
        """
        with self._cond:
            while True:
                if self._cancelled:
                    return b"", True
                if self._ended:
                    break  # everything that will come is here: no more priming
                if self._pending and (not self._priming or self._primed_locked()):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            self._priming = False
            chunks: list[bytes] = []
            size = 0
            while self._pending and size < self._max_take:
                chunk = self._pending.popleft()
                room = self._max_take - size
                if len(chunk) > room:
                    self._pending.appendleft(chunk[room:])
                    chunk = chunk[:room]
                chunks.append(chunk)
                size += len(chunk)
            self._pending_bytes -= size
            return b"".join(chunks), self._ended and not self._pending
