"""The shared sender's encode workers (bot.voice.encode_pool): fair turns between feeds."""

from __future__ import annotations

import threading

from bot.voice.encode_pool import EncodePool


class Feed:
    """An encode feed with endless input; records (name, target) of each worker call."""

    def __init__(self, name: str, calls: list[tuple[str, int]], gate: threading.Event | None = None) -> None:
        self.name, self.calls, self.gate = name, calls, gate
        self.ready_count = 0
        self.claimed = False
        self.done = threading.Event()

    def claim(self) -> bool:
        if self.claimed:
            return False
        self.claimed = True
        return True

    def encode_ahead(self, ahead: int) -> None:
        if self.gate is not None:
            assert self.gate.wait(5)
            self.gate = None
        self.calls.append((self.name, ahead))
        self.ready_count = max(self.ready_count, ahead)
        self.claimed = False
        if ahead >= 10:
            self.done.set()


def test_feeds_take_turns_a_few_packets_at_a_time() -> None:
    calls: list[tuple[str, int]] = []
    gate = threading.Event()
    a, b = Feed("a", calls, gate), Feed("b", calls)
    pool = EncodePool(1, ahead=10)
    try:
        pool.submit(a)  # the worker waits in a's first call until b is queued too
        pool.submit(b)
        gate.set()
        assert a.done.wait(5) and b.done.wait(5)
    finally:
        pool.close()
    # Whoever has fewer packets ready goes first: neither waits for the other's ten.
    assert calls == [("a", 3), ("b", 3), ("a", 6), ("b", 6), ("a", 9), ("b", 9), ("a", 10), ("b", 10)]


def test_the_feed_whose_packets_run_out_first_goes_first() -> None:
    """Earliest deadline first: a feed queued with 5 packets ready that has waited 80 ms (1 left
    by now) goes before one queued later with 4 ready (80 ms left); a count of packets ready
    taken when each was queued would put the later one first."""
    calls: list[tuple[str, int]] = []
    gate = threading.Event()
    now = [0.0]
    blocker, early, late = Feed("blocker", calls, gate), Feed("early", calls), Feed("late", calls)
    early.ready_count, late.ready_count = 5, 4
    pool = EncodePool(1, ahead=10, clock=lambda: now[0])
    try:
        pool.submit(blocker)  # holds the only worker until both others are queued
        pool.submit(early)  # its packets last until 0.100
        now[0] = 0.080
        pool.submit(late)  # its packets last until 0.160
        gate.set()
        assert early.done.wait(5) and late.done.wait(5) and blocker.done.wait(5)
    finally:
        pool.close()
    order = [name for name, _ in calls if name != "blocker"]
    assert order[:2] == ["early", "late"]


def test_a_new_playback_waits_behind_started_ones_that_are_running_out() -> None:
    """A new playback has no packet due yet: it is queued as if it had START_PACKETS (3)
    ready, so a started one with 2 left, queued just after it, is encoded first (in a burst
    of first plays the first started are not starved by the others' starts), while one with
    4 left still waits behind it."""
    calls: list[tuple[str, int]] = []
    gate = threading.Event()
    blocker = Feed("blocker", calls, gate)
    new, low, high = Feed("new", calls), Feed("low", calls), Feed("high", calls)
    low.ready_count, high.ready_count = 2, 4
    started = threading.Event()
    pool = EncodePool(1, ahead=10, clock=lambda: 0.0)
    try:
        pool.submit(blocker)  # holds the only worker until the others are queued
        pool.submit(high)
        pool.submit(new, then=started)
        pool.submit(low)
        gate.set()
        assert started.wait(5) and all(f.done.wait(5) for f in (blocker, new, low, high))
    finally:
        pool.close()
    firsts = list(dict.fromkeys(name for name, _ in calls if name != "blocker"))
    assert firsts == ["low", "new", "high"]
