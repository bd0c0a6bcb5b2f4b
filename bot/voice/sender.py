"""The shared voice sender: one thread sends the audio of every playing server.

Instead of discord.py's `AudioPlayer` (one thread per playback, each with its own clock), one
thread keeps every playback's schedule: a playback's first packet goes out as soon as it is
ready (for a first play: once `START_PACKETS` are encoded, or all its input at hand; the thread
is woken for it; in a burst of first plays, `HOLD_PACKETS`), then packet k is due at
`start + k * 20 ms`, `start` being the time its first packet was sent, moved back by less than
20 ms onto one of the few phases of a grid that all playbacks share (`PHASES`: playbacks on one
phase are sent in one pass). The due times are kept in a heap; the thread sleeps until
the earliest one (computed from `time.perf_counter`, never accumulated, so there is no drift),
then sends every packet due (or due within `EARLY`, so close deadlines share one wake-up) in one
pass, earliest first. A late pass delays nobody's schedule: each playback's due times stay
where they are (a late packet is followed by its successors on time), and a playback behind its
own clock by more than `RESYNC` (the process was stopped) starts its schedule afresh. A stop, a
new playback or its first encoded packets wake the thread at once. Without encode processes a
first play's first packets are encoded on this thread when it is new (at most `INLINE_BUDGET`
of such work per pass; beyond that a worker encodes them and wakes the thread); the rest, and
with encode processes all of them, a few packets ahead by the `EncodePool`; stored Opus
packets are sent as they are.

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

import collections
import heapq
import itertools
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol

from discord.opus import OPUS_SILENCE

from bot.base.config import DEFAULT_ENCODE_PROCESSES
from bot.voice.encode_pool import (
    DEFAULT_AHEAD,
    DEFAULT_WORKERS,
    START_PACKETS,
    EncodeFeed,
    EncodePool,
)
from bot.voice.packet_path import VoiceConnection, send_silence

log = logging.getLogger(__name__)

FRAME = 0.020  # seconds of audio per packet
EARLY = 0.001  # a packet due within this is sent in the current pass (one wake-up, not several)
START_WAIT = 0.100  # seconds a first play may wait for its first encoded packets
# A burst of first plays (more than BUSY_STARTS waiting to start or started within the last
# BUSY_WINDOW seconds): each further one starts once HOLD_PACKETS are encoded (or its audio is
# over, or after START_WAIT), not START_PACKETS. Their endpoint streams arrive in step, so
# their next packets all fall due while the encoders are busiest with the others' starts (and
# the event loop with their endpoint streams); a full encode-ahead (200 ms: the endpoint's
# second chunk too) carries each one through that rush. Measured with 64 first plays at once
# (`benchmarks.bench_voice`'s rounds, variants alternating in one process): holding for 6
# packets, the median round had 28 and 7.5 underrun frames in two series (worst rounds 555 and
# 547); holding for a full encode-ahead (10; 12 and 16 came to the same, since the encoders
# keep at most 10 ready, then START_WAIT ended the hold), 0 to 3.5 in four series (worst
# rounds 11 to 191). A lone first play, or one beside any number of replays, keeps the
# shortest start.
BUSY_STARTS = 8
BUSY_WINDOW = 0.5
HOLD_PACKETS = DEFAULT_AHEAD  # at most the sender's `ahead`: more is never encoded ahead
HOLD_POLL = 0.005  # seconds between looks at held first plays (their encoding wakes nobody)
INLINE_BUDGET = 0.002  # seconds per pass the sender may spend encoding new playbacks' first packets
IDLE_EXIT = 2.0  # seconds with nothing to play before the thread ends
RESYNC = 1.0  # a playback behind its clock by more than this (the process was stopped): start afresh
# Python hands the GIL over every 5 ms by default: a thread running Python (the event loop, an
# encode worker) may hold the sender that long. The sender lowers the interval to this while
# its thread runs (None: leave it) and puts the previous value back when its thread ends.
SWITCH_INTERVAL: float | None = 0.001
# Every playback's schedule sits on one of PHASES phases of a common 20 ms grid (phase p: due
# times k * 20 ms + p * 20 ms / PHASES on the sender's clock), so the packets of playbacks on
# one phase go out in one pass, on one wake-up. Each wake-up costs the process about 0.1 ms:
# 32 replays at once (`benchmarks.bench_voice`'s CPU round, alternating in one process) on
# their own clocks woke the thread 300 to 890 times in 3 s and cost 2.2 to 3.0 ms of CPU per
# audio-second; on one phase, 150 times and 1.9 to 2.2 ms. A new playback joins the
# nearest phase with playbacks on it and fewer than PHASE_CAP of them (a pass of PHASE_CAP
# packets takes about 1.5 ms), else the nearest empty one, else the least loaded. Its first
# packet still goes out as soon as it is ready; only its second comes sooner than 20 ms after
# it (never later), by less than 20 ms: early audio waits in the listener's jitter buffer.
PHASES = 8
PHASE_CAP = 50

After = Callable[[BaseException | None], None]
_orders = itertools.count()


class SenderFeed(EncodeFeed, Protocol):
    """A playable source as the sender takes it (`StreamingOpusSource`, `StoredOpusSource`)."""

    def take(self) -> bytes | None:
        """The next Opus packet; None if none is ready (silence is sent); b"" at the end."""
        ...

    @property
    def primed(self) -> bool: ...

    @property
    def live(self) -> bool:
        """Encoded as it plays (a first play), not stored packets."""
        ...

    def holds(self, packets: int) -> bool:
        """Fewer than `packets` are ready and more audio is to come."""
        ...

    def underrun(self) -> None: ...

    def wants_encoding(self, ahead: int) -> bool: ...

    def wake_on_input(self, wake: Callable[[], None] | None) -> None: ...

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
        self.scheduled = False  # in the sender's heap (its first packet was sent)
        self.order = next(_orders)  # breaks ties in due time: first come, first served
        self.inline_tried = False  # the sender tried to encode its first packet itself
        self.start = 0.0  # its schedule's origin: packet k is due at start + k * FRAME
        self.index = 0  # the packet due next
        self.phase: int | None = None  # its phase of the sender's grid, once scheduled

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


class _SwitchInterval:
    """The process's GIL switch interval, lowered while at least one sender thread runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: float | None = None

    def lower(self) -> None:
        with self._lock:
            self._users += 1
            if self._users == 1 and SWITCH_INTERVAL is not None and sys.getswitchinterval() > SWITCH_INTERVAL:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_INTERVAL)

    def restore(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._saved is not None:
                sys.setswitchinterval(self._saved)
                self._saved = None


_switch_interval = _SwitchInterval()
_Entry = tuple[float, int, Playback]  # (due time, order, playback)


class VoiceSender:
    """Sends the packets of every playback from one thread (plus a few encode workers)."""

    def __init__(
        self,
        *,
        encode_workers: int = DEFAULT_WORKERS,
        encode_processes: int = 0,
        ahead: int = DEFAULT_AHEAD,
        idle_exit: float = IDLE_EXIT,
    ) -> None:
        self.pool = EncodePool(encode_workers, ahead=ahead, idle_exit=idle_exit, processes=encode_processes)
        self.ahead = ahead
        self._idle_exit = idle_exit
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._inbox: list[Playback] = []  # new playbacks and stop requests
        self._thread: _SenderThread | None = None
        self._closing = False
        # sender thread only
        self._heap: list[_Entry] = []  # the next due packet of every started playback
        self._starting: list[Playback] = []  # waiting for their first encoded packet
        self._recent_starts: collections.deque[float] = collections.deque()  # first plays' start times
        self._phase_load = [0] * PHASES  # playbacks scheduled on each phase of the grid
        self._live: dict[Playback, None] = {}  # every playback received and not ended, in order
        self.sent = 0  # packets sent (scheduled ones)
        self._start_poll = START_WAIT / 4  # seconds between looks at first plays not started

    # ------------------------------------------------------------------ any thread
    def play(self, feed: SenderFeed, connection: VoiceConnection, after: After) -> Playback:
        """Start sending `feed` through `connection`; `after(error)` is called when it ends."""
        playback = Playback(self, feed, connection, after)
        pool = self.pool
        feed.wake_on_input(lambda: pool.submit(feed))
        connection.speak(True)
        if pool.in_processes and not feed.primed:  # its child starts on it while we wake up
            pool.submit(feed, then=self._wake)
        self._post(playback)  # the sender encodes its first packet, or has a worker do it
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
            first = not self._inbox  # later posts find the thread woken already
            self._inbox.append(playback)
            if self._thread is None:
                self._start_thread_locked()
        if first:  # one wake-up per batch of posts: hundreds of servers starting at once
            self._wake.set()  # cost hundreds of thread switches before

    def _start_thread_locked(self) -> None:
        """Start the sender thread (`self._lock` held)."""
        self._thread = _SenderThread(target=self._run, name="parla-voice-sender", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the sender thread
    def _run(self) -> None:
        _switch_interval.lower()
        try:
            self._loop()
        except Exception as exc:  # a bug in the sender itself: no server may stay silent for good
            log.exception("the voice sender failed; its playbacks end with the error")
            thread = threading.current_thread()
            assert isinstance(thread, _SenderThread)
            self._end_all(thread, exc)
            with self._lock:
                self._thread = None  # the next play() starts a new one
                if self._inbox:  # posted meanwhile
                    self._start_thread_locked()
        finally:
            _switch_interval.restore()

    def _loop(self) -> None:
        thread = threading.current_thread()
        assert isinstance(thread, _SenderThread)
        heap = self._heap
        wake = self._wake
        clock = time.perf_counter
        while True:
            with self._lock:
                inbox, self._inbox = self._inbox, []
                closing = self._closing
                wake.clear()
            if closing:
                self._end_all(thread)
                with self._lock:
                    self._thread = None
                return
            for playback in inbox:
                self._receive(thread, playback)
            del inbox  # hold no playback while sleeping
            if heap:  # the packets due first: a new playback's first packet may wait a pass
                self._send_due(thread, clock() + EARLY)
            if self._starting:
                self._start_primed(thread)
            if heap:
                delay = heap[0][0] - clock()
            elif self._starting:
                delay = self._start_poll  # woken when a first packet is encoded; a fallback
            else:
                if not wake.wait(self._idle_exit):
                    with self._lock:
                        if not self._inbox and not self._closing:
                            self._thread = None
                            return
                continue
            if self._starting:
                delay = min(delay, self._start_poll)
            if delay > 0:
                wake.wait(delay)

    def _send_due(self, thread: _SenderThread, until: float) -> None:
        """Send the packet of every playback due before `until`, earliest first."""
        heap = self._heap
        pop, replace = heapq.heappop, heapq.heapreplace
        resynced = 0.0
        while heap and heap[0][0] <= until:
            due, _, playback = heap[0]
            if not playback.done:
                self._visit(thread, playback, due)
            if playback.done:
                pop(heap)
                continue
            playback.index += 1
            next_due = playback.start + playback.index * FRAME
            if until - next_due > RESYNC:
                resynced = max(resynced, until - next_due)
                # Its next packet now (on its phase's latest tick), then on the grid again.
                playback.start, playback.index = self._phase_tick(playback.phase or 0, until), 0
                next_due = playback.start
            replace(heap, (next_due, playback.order, playback))  # its next packet
        thread.sending = None
        if resynced:
            log.warning("voice sender fell %.1f s behind; the late playbacks' clocks restart", resynced)

    def _receive(self, thread: _SenderThread, playback: Playback) -> None:
        if playback.done:
            return
        if playback.stopping:  # a stop request (or a playback stopped before it started)
            self._end(thread, playback, None, silence=True, speak_off=False)
        elif not playback.scheduled and playback not in self._starting:
            self._starting.append(playback)
            self._live[playback] = None

    def _start_primed(self, thread: _SenderThread) -> None:
        """Send the first packet of every new playback that is ready (or waited too long).

        A new first play's first packet is encoded here, on this thread, while the pass has
        spent under `INLINE_BUDGET` on it (a hand-off to a worker and back costs two thread
        wake-ups); the others are encoded by a worker, which wakes this thread. In a burst of
        first plays (`BUSY_STARTS`) each waits for `HOLD_PACKETS`."""
        now = time.perf_counter()
        budget_end = now + INLINE_BUDGET
        in_processes = self.pool.in_processes  # a stream's encoder lives in one child: none here
        recent = self._recent_starts
        while recent and now - recent[0] > BUSY_WINDOW:
            recent.popleft()
        busy = len(self._starting) + len(recent) > BUSY_STARTS
        hold = min(HOLD_PACKETS, self.ahead)
        waiting: list[Playback] = []
        ready: list[Playback] = []
        held = False
        for playback in self._starting:
            feed = playback.feed
            inline = not (feed.primed or playback.inline_tried or in_processes)
            if inline and time.perf_counter() < budget_end:
                playback.inline_tried = True
                if feed.claim():
                    try:
                        feed.encode_ahead(START_PACKETS)
                    except Exception:
                        log.exception("encoding a first packet failed")
            if now - playback.added_at >= START_WAIT:
                ready.append(playback)
            elif not feed.primed:
                self.pool.submit(feed, then=self._wake)
                waiting.append(playback)
            elif busy and feed.holds(hold):
                self.pool.submit(feed)  # if input is at hand; its encoding does not wake us
                waiting.append(playback)
                held = True
            else:
                ready.append(playback)
        self._starting = waiting
        self._start_poll = HOLD_POLL if held else START_WAIT / 4
        for playback in ready:
            start = time.perf_counter()
            self._visit(thread, playback, start)
            if playback.done:
                continue
            if playback.feed.live:
                recent.append(start)
            self._schedule(playback, start)
            heapq.heappush(self._heap, (playback.start + FRAME, playback.order, playback))
        thread.sending = None

    def _schedule(self, playback: Playback, start: float) -> None:
        """Its schedule, its first packet sent at `start`: on a phase of the grid. First plays
        too: in two series of 6 alternating rounds of 64 first plays at once, the median round
        had 28 and 42 underrun frames on the grid, 0 and 74 on their own clocks (no clear
        difference), and cost about 1 ms less CPU per audio-second on the grid."""
        phase = self._choose_phase(start + FRAME)
        self._phase_load[phase] += 1
        playback.phase = phase
        playback.start, playback.index = self._phase_tick(phase, start + FRAME) - FRAME, 1
        playback.scheduled = True

    @staticmethod
    def _phase_tick(phase: int, at: float) -> float:
        """The latest tick of `phase` at or before `at`."""
        offset = phase * FRAME / PHASES
        return (at - offset) // FRAME * FRAME + offset

    def _choose_phase(self, natural: float) -> int:
        """The phase for a playback whose second packet would naturally be due at `natural`
        (see PHASES): the nearest one with playbacks and room, else the nearest empty one,
        else the least loaded."""
        loads = self._phase_load
        advance = [natural - self._phase_tick(p, natural) for p in range(PHASES)]
        phases = range(PHASES)
        if all(load >= PHASE_CAP for load in loads):
            return min(phases, key=lambda p: (loads[p], advance[p]))
        return min(phases, key=lambda p: (loads[p] >= PHASE_CAP, loads[p] == 0, advance[p]))

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
        playback.done = True  # its heap entry is dropped when it comes up
        self._live.pop(playback, None)
        if playback.phase is not None:
            self._phase_load[playback.phase] -= 1
            playback.phase = None
        if playback in self._starting:
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

    def _end_all(self, thread: _SenderThread, error: BaseException | None = None) -> None:
        playbacks = list(self._live)  # starting, scheduled, and any a failed pass held
        self._heap.clear()
        self._starting = []
        for playback in playbacks:
            self._end(thread, playback, error, silence=False, speak_off=True)
        if error is None:  # closing: what was posted ends too (else a new thread takes it)
            with self._lock:
                inbox, self._inbox = self._inbox, []
            for playback in inbox:
                self._end(thread, playback, None, silence=False, speak_off=True)


_default: VoiceSender | None = None
_default_lock = threading.Lock()


def default_sender(*, encode_processes: int | None = None) -> VoiceSender:
    """The process's shared sender (its threads start with the first playback). The first call
    decides its encode processes (`VOICE_ENCODE_PROCESSES`; default: two on two cores or more)."""
    global _default
    with _default_lock:
        if _default is None:
            processes = DEFAULT_ENCODE_PROCESSES if encode_processes is None else encode_processes
            _default = VoiceSender(encode_processes=processes)
        return _default
