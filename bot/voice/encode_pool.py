"""The encode-ahead workers of the shared sender: a small, fixed number of threads that keep a
few Opus packets of every first play encoded before the sender needs them, so encoding never
delays a send. libopus is called through ctypes, which releases the GIL, so encoding overlaps
the sender's work on the other core.

A feed is queued at most once at a time (`claim()`); a worker calls its `encode_ahead(ahead)`,
which encodes until `ahead` packets are ready or no input is at hand; a worker asks for at most
`BATCH` packets at a time and queues the feed again if it wants more, so when many first plays
start at once each gets its next packets before any gets ten (for a new playback handed over
with `then`: one packet, the sender is woken, then the batch). The feed whose packets run out
first is served first (earliest deadline first): a feed is queued with the time its ready
packets last until, `now + ready_count * FRAME`, which does not age while it waits (a count of
packets ready would: a feed queued with 5 ready that waited 60 ms has 2 left, and would still
yield to one queued later with 4), then first come, first served. A new playback, which has no
packet due yet, is queued as if it had `START_PACKETS` ready.
Workers start when work arrives and end after `idle_exit` seconds without any, or at `close()`.

With `processes` (the default where there are two cores or more), each worker owns a child
process that does its encoding (`bot.voice.encode_process`: the worker then takes the GIL back
once per batch instead of once per frame) and serves its own queue (a lane); a feed is pinned to
one lane for its whole life, since its encoder lives in that child. The children start with
`start_processes()` (or when the first worker thread starts) and end at `close()`; until a
child is ready, and if it dies, its lane encodes in the worker thread (libopus through ctypes,
as without processes).
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from bot.voice.encode_process import MAX_FRAMES, EncodeProcess, EncodeProcessError, Section

log = logging.getLogger(__name__)

DEFAULT_AHEAD = 10  # packets (200 ms) encoded ahead of the sender at most; refilled at half
BATCH = 3  # packets a worker encodes for one feed before the others get their turn
DEFAULT_WORKERS = max(1, min(2, os.cpu_count() or 1))
LANE_FEEDS = 32  # feeds served by one request to a lane's child process
# Packets a first play has ready before its clock starts (fewer when that is all its input at
# hand, as at a slow start): the packets of the endpoint's first chunk. Starting each playback
# once its first chunk is encoded, rather than at its first packet, spreads the starts of many
# first plays over the time their first chunks take to encode, so their next packets are not
# all due within the same 20 ms.
START_PACKETS = 3
# Frames per feed per request to a child: one while a feed has fewer than URGENT packets ready
# (when many feeds run low at once, each gets its next packet before any gets several), then
# REMOTE_BATCH; a feed that wants more is queued again, after the others.
URGENT = 3
REMOTE_BATCH = 3
RESTART_AFTER = 5.0  # seconds before a lane whose child died starts another
IDLE_EXIT = 2.0  # seconds a worker waits for work before it ends
FRAME = 0.020  # seconds of audio per packet: a ready packet lasts this long


class EncodeFeed(Protocol):
    @property
    def ready_count(self) -> int:
        """Packets encoded and not sent yet."""
        ...

    def claim(self) -> bool:
        """Mark as queued for a worker; False if it already is (or has nothing to encode)."""
        ...

    def encode_ahead(self, ahead: int) -> None:
        """Encode until `ahead` packets are ready or no input is at hand; releases the claim."""
        ...

    def gather(self, count: int, remote: EncodeProcess) -> Section | None:
        """Up to `count` frames at hand for `remote` (None: nothing for it; claim released)."""
        ...

    def deliver(self, packets: list[bytes] | None, remote: EncodeProcess) -> None:
        """The packets of the gathered frames (None: `remote` failed); releases the claim."""
        ...


_Item = tuple[EncodeFeed, threading.Event | None]
_Entry = tuple[float, int, _Item | None]


class _Lane:
    """A queue of feeds, and the child process its worker encodes in (None: in the thread)."""

    def __init__(self, remote: EncodeProcess | None) -> None:
        self.queue: queue.PriorityQueue[_Entry] = queue.PriorityQueue()
        self.remote = remote
        self.died_at: float | None = None

    def usable_remote(self, clock: Callable[[], float]) -> EncodeProcess | None:
        """The child to encode in, restarting a dead one after `RESTART_AFTER` seconds."""
        remote = self.remote
        if remote is None or remote.pid is None:  # not started (or it could not be)
            return None
        if not remote.alive:
            now = clock()
            if self.died_at is None:
                self.died_at = now
                log.warning("an encode process ended; its lane encodes in the worker thread")
            elif now - self.died_at >= RESTART_AFTER:
                self.died_at = None
                try:
                    remote.start()
                except Exception:
                    log.exception("restarting an encode process failed")
            return None
        return remote


class EncodePool:
    """A fixed number of encode workers shared by every playback."""

    def __init__(
        self,
        workers: int = DEFAULT_WORKERS,
        *,
        ahead: int = DEFAULT_AHEAD,
        idle_exit: float = IDLE_EXIT,
        clock: Callable[[], float] = time.perf_counter,
        processes: int = 0,
    ) -> None:
        if workers < 1 or ahead < 1 or processes < 0:
            raise ValueError("workers and ahead must be at least 1, processes at least 0")
        self.workers = processes or workers  # with processes: one worker (and lane) per child
        self.ahead = ahead
        self._idle_exit = idle_exit
        self._clock = clock
        # Without processes one lane serves every worker; with them, a lane per worker.
        self._lanes = [_Lane(EncodeProcess()) for _ in range(processes)] or [_Lane(None)]
        self._pinned: weakref.WeakKeyDictionary[EncodeFeed, _Lane] = weakref.WeakKeyDictionary()
        self._next_lane = itertools.count()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._threads: dict[threading.Thread, _Lane] = {}  # the workers, and the lane each serves
        self._closing = False
        self._started = False

    @property
    def processes(self) -> list[EncodeProcess]:
        return [lane.remote for lane in self._lanes if lane.remote is not None]

    @property
    def in_processes(self) -> bool:
        """Encoding happens in child processes (then a stream is never begun in a thread)."""
        return bool(self.processes)

    def start_processes(self) -> None:
        """Spawn the children now (they take a moment to load libopus); idempotent."""
        with self._lock:
            if self._started or self._closing:
                return
            self._started = True
        for remote in self.processes:
            try:
                remote.start()
            except Exception:  # no Python to run, no libopus to name: the threads encode
                log.exception("starting an encode process failed; encoding in threads")

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Start the children and block until each is ready (at most `timeout` seconds each)."""
        self.start_processes()
        return all(remote.wait_ready(timeout) for remote in self.processes)

    def submit(self, feed: EncodeFeed, *, then: threading.Event | None = None) -> None:
        """Queue `feed` for encoding unless it is queued already (any thread); `then` is set
        once it has been encoded (the sender waits for the first packets of a new playback)."""
        if feed.claim():
            # A new playback has no packet due yet: its first packets come after those of
            # started playbacks with fewer than START_PACKETS ready (when many first plays
            # start at once, the first started are not starved by the others' starts).
            slack = START_PACKETS if then is not None else 0
            deadline = self._clock() + (feed.ready_count + slack) * FRAME
            lane = self._lane_of(feed)
            lane.queue.put((deadline, next(self._order), (feed, then)))
            self._ensure_workers()

    def _lane_of(self, feed: EncodeFeed) -> _Lane:
        lanes = self._lanes
        if len(lanes) == 1:
            return lanes[0]
        lane = self._pinned.get(feed)
        if lane is None:
            lane = self._pinned[feed] = lanes[next(self._next_lane) % len(lanes)]
        return lane

    def live_threads(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._threads)

    def _ensure_workers(self) -> None:
        with self._lock:
            if self._closing:
                return
            while len(self._threads) < self.workers:
                served = set(map(id, self._threads.values()))
                lane = next((ln for ln in self._lanes if id(ln) not in served), self._lanes[0])
                thread = threading.Thread(target=self._work, args=(lane,), name="parla-voice-encoder")
                thread.daemon = True
                self._threads[thread] = lane
                thread.start()

    def _work(self, lane: _Lane) -> None:
        me = threading.current_thread()
        if lane.remote is not None and not self._started:
            self.start_processes()  # here, not in whoever submitted (the sender): 4-8 ms
        while True:
            try:
                _, _, item = lane.queue.get(timeout=self._idle_exit)
            except queue.Empty:
                with self._lock:
                    if lane.queue.empty() or self._closing:
                        del self._threads[me]
                        return
                continue
            if item is None:  # close()
                with self._lock:
                    del self._threads[me]
                return
            remote = lane.usable_remote(self._clock)
            if remote is not None and remote.ready:
                self._serve_remote(lane, remote, item)
                del item
                continue
            feed, then = item
            try:
                claimed = True
                if then is not None:  # a new playback: the sender starts it once these are ready
                    feed.encode_ahead(START_PACKETS)
                    then.set()
                    then = None
                    claimed = feed.claim()
                if claimed:
                    target = min(self.ahead, feed.ready_count + BATCH)
                    feed.encode_ahead(target)
                    if target < self.ahead and feed.ready_count >= target:
                        self.submit(feed)  # more to do, after the feeds with fewer packets ready
            except Exception:
                log.exception("encoding ahead failed")
            if then is not None:
                then.set()
            del item, feed  # hold no source (and its buffers) while waiting

    def _serve_remote(self, lane: _Lane, remote: EncodeProcess, first: _Item) -> None:
        """One request to the lane's child for every feed queued on the lane (earliest deadline
        first, up to `MAX_FRAMES` frames in all): one round trip for all of them."""
        entries: list[_Entry] = [(0.0, 0, first)]
        while len(entries) < LANE_FEEDS:
            try:
                entry = lane.queue.get_nowait()
            except queue.Empty:
                break
            if entry[2] is None:  # close(): leave it for the next get
                lane.queue.put(entry)
                break
            entries.append(entry)
        budget = MAX_FRAMES
        sections: list[Section] = []
        served: list[tuple[EncodeFeed, threading.Event | None, int]] = []
        for entry in entries:
            item = entry[2]
            assert item is not None
            feed, then = item
            if budget <= 0:  # the next request's (still claimed)
                lane.queue.put(entry)
                continue
            ready = feed.ready_count
            # A new playback: every frame at hand (up to START_PACKETS), since it starts once
            # they are ready; then as URGENT and REMOTE_BATCH say (it is queued again for more).
            quantum = START_PACKETS if then is not None else 1 if ready < URGENT else REMOTE_BATCH
            want = max(0, min(self.ahead - ready, quantum, budget))
            try:
                section = feed.gather(want, remote)
            except Exception:
                log.exception("gathering frames to encode failed")
                section = None
            if section is None:
                if then is not None:
                    then.set()
                continue
            sections.append(section)
            served.append((feed, then, want))
            budget -= len(section[2])
        if not sections:
            return
        results: list[list[bytes]] | list[None]
        try:
            results = remote.encode(sections)
        except EncodeProcessError as exc:
            log.warning("%s", exc)
            results = [None] * len(sections)
        for (feed, then, want), section, packets in zip(served, sections, results, strict=True):
            try:
                feed.deliver(packets, remote)
            except Exception:
                log.exception("delivering encoded packets failed")
            if then is not None:
                then.set()
            if len(section[2]) == want and feed.ready_count < self.ahead:
                self.submit(feed)  # input was still at hand: more after the others

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker and child process and wait for them; later submissions start
        them again."""
        with self._lock:
            self._closing = True
            threads = dict(self._threads)
        for lane in threads.values():
            lane.queue.put((float("-inf"), next(self._order), None))
        for thread in threads:
            thread.join(timeout)
        for remote in self.processes:
            remote.close()
        with self._lock:
            self._closing = False
            self._started = False
            self._threads = {t: lane for t, lane in self._threads.items() if t.is_alive()}
        # Drop what was queued but never encoded (its playbacks are over).
        for lane in self._lanes:
            while True:
                try:
                    lane.queue.get_nowait()
                except queue.Empty:
                    break
