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
yield to one queued later with 4), then first come, first served.
Workers start when work arrives and end after `idle_exit` seconds without any, or at `close()`.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

DEFAULT_AHEAD = 10  # packets (200 ms) encoded ahead of the sender at most; refilled at half
BATCH = 3  # packets a worker encodes for one feed before the others get their turn
DEFAULT_WORKERS = max(1, min(2, os.cpu_count() or 1))
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


_Item = tuple[EncodeFeed, threading.Event | None]


class EncodePool:
    """A fixed number of encode workers shared by every playback."""

    def __init__(
        self,
        workers: int = DEFAULT_WORKERS,
        *,
        ahead: int = DEFAULT_AHEAD,
        idle_exit: float = IDLE_EXIT,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if workers < 1 or ahead < 1:
            raise ValueError("workers and ahead must be at least 1")
        self.workers = workers
        self.ahead = ahead
        self._idle_exit = idle_exit
        self._clock = clock
        # (deadline: when the feed's ready packets run out, order, item)
        self._queue: queue.PriorityQueue[tuple[float, int, _Item | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closing = False

    def submit(self, feed: EncodeFeed, *, then: threading.Event | None = None) -> None:
        """Queue `feed` for encoding unless it is queued already (any thread); `then` is set
        once it has been encoded (the sender waits for the first packets of a new playback)."""
        if feed.claim():
            deadline = self._clock() + feed.ready_count * FRAME
            self._queue.put((deadline, next(self._order), (feed, then)))
            self._ensure_workers()

    def live_threads(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._threads)

    def _ensure_workers(self) -> None:
        with self._lock:
            if self._closing:
                return
            while len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, name="parla-voice-encoder", daemon=True)
                self._threads.append(thread)
                thread.start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            try:
                _, _, item = self._queue.get(timeout=self._idle_exit)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty() or self._closing:
                        self._threads.remove(me)
                        return
                continue
            if item is None:  # close()
                with self._lock:
                    self._threads.remove(me)
                return
            feed, then = item
            try:
                claimed = True
                if then is not None:  # a new playback: the sender sends its first packet at once
                    feed.encode_ahead(1)
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

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker and wait for them; later submissions start workers again."""
        with self._lock:
            self._closing = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put((float("-inf"), next(self._order), None))
        for thread in threads:
            thread.join(timeout)
        with self._lock:
            self._closing = False
            self._threads = [t for t in self._threads if t.is_alive()]
        # Drop what was queued but never encoded (its playbacks are over).
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
