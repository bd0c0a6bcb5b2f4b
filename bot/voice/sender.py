"""The shared voice sender: one thread sends the audio of every playing server.

Instead of discord.py's `AudioPlayer` (one thread per playback, each with its own clock), one
thread keeps a drift-free 20 ms clock against `time.perf_counter` deadlines. The clock ticks
every 2.5 ms (`SLOTS` sub-ticks per frame): a playback belongs to one sub-tick, taken when its
first packet is ready, so it waits at most 2.5 ms to send it (up to 20 ms when many start at
once: they are spread over the sub-ticks, and so are the sends). At each of its ticks (every 20 ms) the next
packet of every playback of that sub-tick goes out through its server's connection
(`bot.voice.packet_path`). Sub-ticks with nothing to send are slept through; a stop, a new
playback or its first encoded packet wakes the thread for the next one. First plays are encoded
a few packets ahead by the `EncodePool`; stored Opus packets are sent as they are.

What discord.py's player does, the sender does per playback:
- speaking on when it starts (and after a reconnect or resume), off when it stops or pauses;
- silence when a first play runs out of audio (underrun), and 5 silence packets after the end
  of the audio, a stop, or when paused (nothing else while paused);
- a stop (skip, clear) takes effect at once: no audio packet is sent after it;
- a lost connection: the playback is skipped until the connection is back (it then continues
  where it was) for at most the connection's `reconnect_wait`, then it ends unfinished (the
  player restarts the utterance when the voice link is back);
- an error (reading, sending) ends that playback with the error; the others go on;
- `after(error)` then `cleanup()` when it is over, on the sender thread (both must be quick).

While a packet is sent, the sender thread's `sending` attribute holds (source, due time,
scheduled): what discord.py's player thread exposes as `source` and its schedule, for tools
that record packets. The thread ends after `idle_exit` seconds with nothing to play, and at
`close()`; `play()` starts it again.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol

from discord.opus import OPUS_SILENCE

from bot.voice.encode_pool import DEFAULT_AHEAD, DEFAULT_WORKERS, EncodeFeed, EncodePool
from bot.voice.packet_path import VoiceConnection, send_silence

log = logging.getLogger(__name__)

FRAME = 0.020  # seconds of audio per packet
SLOTS = 8  # sub-ticks per frame
TICK = FRAME / SLOTS
START_WAIT = 0.100  # seconds a first play may wait for its first encoded packet
IDLE_EXIT = 2.0  # seconds with nothing to play before the thread ends
BALANCE = 16  # how many more playbacks a sub-tick may hold than the emptiest before new ones go there
RESYNC = 1.0  # behind the clock by more than this (the process was stopped): start afresh
# The sender must get the GIL back within a fraction of a frame while the event loop and the
# encode workers run Python: Python's default hand-over interval is 5 ms. Lowered once, for the
# process, when the sender thread first starts (None: leave it).
SWITCH_INTERVAL: float | None = 0.001

After = Callable[[BaseException | None], None]


class SenderFeed(EncodeFeed, Protocol):
    """A playable source as the sender takes it (`StreamingOpusSource`, `StoredOpusSource`)."""

    def take(self) -> bytes | None:
        """The next Opus packet; None if none is ready (silence is sent); b"" at the end."""
        ...

    @property
    def primed(self) -> bool: ...

    def underrun(self) -> None: ...

    def wants_encoding(self, ahead: int) -> bool: ...

    def cleanup(self) -> None: ...


class Playback:
    """One playback handed to the sender: the handle to stop, pause and resume it."""

    def __init__(
        self, sender: VoiceSender, feed: SenderFeed, connection: VoiceConnection, after: After
    ) -> None:
        self.feed = feed
        self.connection = connection
        self.after = after
        self._sender = sender
        self.stopping = False
        self.paused = False
        self.done = False
        # sender thread only
        self.added_at = time.perf_counter()
        self.pending: bytes | None = None  # taken, not sent: the connection was lost
        self.lost_at: float | None = None
        self.pause_silenced = False
        self.slot = -1

    def is_playing(self) -> bool:
        return not (self.done or self.stopping or self.paused)

    def is_paused(self) -> bool:
        return self.paused and not (self.done or self.stopping)

    def stop(self) -> None:
        """Stop now (any thread): no audio is sent after this call."""
        if self.stopping or self.done:
            return
        self.stopping = True
        self.connection.speak(False)
        self._sender._post(self)

    def pause(self) -> None:
        if self.paused or self.stopping or self.done:
            return
        self.paused = True
        self.connection.speak(False)

    def resume(self) -> None:
        if not self.paused or self.stopping or self.done:
            return
        self.pause_silenced = False
        self.paused = False
        self.connection.speak(True)


class _SenderThread(threading.Thread):
    sending: tuple[object, float, bool] | None = None


class VoiceSender:
    """Sends the packets of every playback from one thread (plus a few encode workers)."""

    def __init__(
        self,
        *,
        encode_workers: int = DEFAULT_WORKERS,
        ahead: int = DEFAULT_AHEAD,
        idle_exit: float = IDLE_EXIT,
    ) -> None:
        self.pool = EncodePool(encode_workers, ahead=ahead, idle_exit=idle_exit)
        self.ahead = ahead
        self._idle_exit = idle_exit
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._inbox: list[Playback] = []  # new playbacks and stop requests
        self._thread: _SenderThread | None = None
        self._closing = False
        # sender thread only
        self._slots: list[list[Playback]] = [[] for _ in range(SLOTS)]
        self._starting: list[Playback] = []
        self.sent = 0  # packets sent (scheduled ones)

    # ------------------------------------------------------------------ any thread
    def play(self, feed: SenderFeed, connection: VoiceConnection, after: After) -> Playback:
        """Start sending `feed` through `connection`; `after(error)` is called when it ends."""
        playback = Playback(self, feed, connection, after)
        connection.speak(True)
        self.pool.submit(feed, then=self._wake)  # the sender starts it once a packet is ready
        self._post(playback)
        return playback

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None

    def threads(self) -> list[threading.Thread]:
        """This sender's threads alive now: the sender thread and the encode workers."""
        with self._lock:
            own = [self._thread] if self._thread is not None else []
        return [t for t in [*own, *self.pool.live_threads()] if t.is_alive()]

    def close(self, timeout: float = 5.0) -> None:
        """End every playback (`after(None)`, unfinished) and stop the threads. `play()` may
        be called again afterwards: it starts them again."""
        with self._lock:
            thread = self._thread
            self._closing = True
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._lock:
            self._closing = False
        self.pool.close(timeout)

    def _post(self, playback: Playback) -> None:
        with self._lock:
            self._inbox.append(playback)
            if self._thread is None:
                self._thread = _SenderThread(target=self._run, name="parla-voice-sender", daemon=True)
                self._thread.start()
        self._wake.set()

    # ------------------------------------------------------------------ the sender thread
    def _run(self) -> None:
        if SWITCH_INTERVAL is not None and sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)
        thread = threading.current_thread()
        assert isinstance(thread, _SenderThread)
        base = time.perf_counter()  # the clock: sub-tick k is due at base + k * TICK
        tick = 0
        while True:
            with self._lock:
                inbox, self._inbox = self._inbox, []
                closing = self._closing
                self._wake.clear()
                idle = not inbox and not closing and not self._starting and not any(self._slots)
            if closing:
                self._end_all(thread)
                with self._lock:
                    self._thread = None
                return
            if idle:
                if not self._wake.wait(self._idle_exit):
                    with self._lock:
                        if not self._inbox and not self._closing:
                            self._thread = None
                            return
                base, tick = time.perf_counter(), 0
                continue
            self._tick(thread, inbox, tick % SLOTS, base + tick * TICK)
            del inbox  # hold no playback while sleeping
            tick = self._next_busy(tick + 1)
            now = time.perf_counter()
            delay = base + tick * TICK - now
            if delay > 0 and self._wake.wait(delay):
                # A new playback or a stop: take it at the next sub-tick, not the next busy one.
                now = time.perf_counter()
                tick = min(tick, max(tick - SLOTS + 1, math.ceil((now - base) / TICK)))
                delay = base + tick * TICK - now
                if delay > 0:
                    time.sleep(delay)
            elif delay < -RESYNC:
                log.warning("voice sender fell %.1f s behind its clock; starting afresh", -delay)
                base, tick = now, 0

    def _next_busy(self, tick: int) -> int:
        """The first sub-tick from `tick` with something to do (empty ones are slept through)."""
        if self._starting:
            return tick
        for step in range(SLOTS):
            if self._slots[(tick + step) % SLOTS]:
                return tick + step
        return tick

    def _tick(self, thread: _SenderThread, inbox: list[Playback], slot: int, due: float) -> None:
        for playback in inbox:
            self._receive(thread, playback)
        self._start_primed(slot)
        for playback in tuple(self._slots[slot]):
            self._visit(thread, playback, due)
        thread.sending = None

    def _receive(self, thread: _SenderThread, playback: Playback) -> None:
        if playback.done:
            return
        if playback.stopping:  # a stop request (or a playback stopped before it started)
            self._end(thread, playback, None, silence=True, speak_off=False)
        elif playback.slot < 0 and playback not in self._starting:
            self._starting.append(playback)

    def _start_primed(self, slot: int) -> None:
        if not self._starting:
            return
        now = time.perf_counter()
        waiting: list[Playback] = []
        for playback in self._starting:
            if playback.feed.primed or now - playback.added_at >= START_WAIT:
                playback.slot = self._slot_for(slot)
                self._slots[playback.slot].append(playback)
            else:
                self.pool.submit(playback.feed, then=self._wake)
                waiting.append(playback)
        self._starting = waiting

    def _slot_for(self, slot: int) -> int:
        """This sub-tick (the first packet goes out now), unless it holds `BALANCE` playbacks
        more than the emptiest one: then the emptiest (the first packet waits under 20 ms)."""
        emptiest = min(range(SLOTS), key=lambda i: len(self._slots[i]))
        if len(self._slots[slot]) > len(self._slots[emptiest]) + BALANCE:
            return emptiest
        return slot

    def _visit(self, thread: _SenderThread, playback: Playback, due: float) -> None:
        if playback.stopping:
            return  # ended through the inbox
        feed = playback.feed
        connection = playback.connection
        try:
            if playback.paused:
                if not playback.pause_silenced:
                    playback.pause_silenced = True
                    thread.sending = (feed, due, False)
                    send_silence(connection)
                return
            packet = playback.pending
            if packet is None:
                packet = feed.take()
                if packet is None:
                    feed.underrun()
                    packet = OPUS_SILENCE
                elif not packet:
                    self._end(thread, playback, None, silence=True, speak_off=True)
                    return
            if not connection.is_connected():
                playback.pending = packet
                now = time.perf_counter()
                if playback.lost_at is None:
                    playback.lost_at = now
                elif now - playback.lost_at >= connection.reconnect_wait:
                    log.debug("voice connection still lost; the playback ends unfinished")
                    self._end(thread, playback, None, silence=False, speak_off=False)
                return
            if playback.lost_at is not None:
                playback.lost_at = None
                connection.speak(True)
            playback.pending = None
            thread.sending = (feed, due, True)
            connection.send(packet)
            self.sent += 1
            if feed.wants_encoding(self.ahead):
                self.pool.submit(feed)
        except Exception as exc:
            self._end(thread, playback, exc, silence=False, speak_off=True)

    def _end(
        self,
        thread: _SenderThread,
        playback: Playback,
        error: BaseException | None,
        *,
        silence: bool,
        speak_off: bool,
    ) -> None:
        if playback.done:
            return
        playback.done = True
        if playback.slot >= 0:
            self._slots[playback.slot].remove(playback)
        elif playback in self._starting:
            self._starting.remove(playback)
        connection = playback.connection
        if speak_off:
            connection.speak(False)
        if silence:
            try:
                connected = connection.is_connected()
            except Exception:
                connected = False
            if connected:
                thread.sending = (playback.feed, time.perf_counter(), False)
                send_silence(connection)
        thread.sending = None
        try:
            playback.after(error)
        except Exception:
            log.exception("the end-of-playback callback failed")
        try:
            playback.feed.cleanup()
        except Exception:
            log.exception("cleaning up an audio source failed")

    def _end_all(self, thread: _SenderThread) -> None:
        for playback in [*self._starting, *(p for slot in self._slots for p in slot)]:
            self._end(thread, playback, None, silence=False, speak_off=True)
        with self._lock:
            inbox, self._inbox = self._inbox, []
        for playback in inbox:
            self._end(thread, playback, None, silence=False, speak_off=True)


_default: VoiceSender | None = None
_default_lock = threading.Lock()


def default_sender() -> VoiceSender:
    """The process's shared sender (its threads start with the first playback)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = VoiceSender()
        return _default
