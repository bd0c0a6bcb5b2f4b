"""Calls from the voice threads onto the event loop, one wake-up per batch.

The shared sender ends playbacks on its own thread, and each end has two calls for the event
loop: the speaking indicator off (`VoiceClient.ws.speak`) and the player's `on_end`. Each
`loop.call_soon_threadsafe` writes to the loop's self-pipe and wakes its thread, which then
takes the GIL from the sender in the middle of its pass. When hundreds of servers finish
within a few milliseconds of each other (they started together), that meant hundreds of
wake-ups and GIL hand-overs while the sender had packets due. `LoopCalls.call` queues the call
and wakes the loop only when the queue was empty: every call made before the loop gets to it
runs in that one wake-up, in the order they were made.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class LoopCalls:
    """Runs `fn(*args)` on `loop`, from any thread, batching the wake-ups."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            self._calls.append((fn, args))
            if len(self._calls) > 1:
                return  # a wake-up is on its way
        try:
            self._loop.call_soon_threadsafe(self._run)
        except RuntimeError:  # the loop is closed (shutting down): nobody will run them
            with self._lock:
                self._calls.clear()

    def _run(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
        for fn, args in calls:
            try:
                fn(*args)
            except Exception:
                log.exception("a call from a voice thread failed")


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopCalls] = weakref.WeakKeyDictionary()
_by_loop_lock = threading.Lock()


def loop_calls(loop: asyncio.AbstractEventLoop) -> LoopCalls:
    """The one `LoopCalls` of `loop` (calls made through it keep their order)."""
    with _by_loop_lock:
        calls = _by_loop.get(loop)
        if calls is None:
            calls = _by_loop[loop] = LoopCalls(loop)
        return calls
