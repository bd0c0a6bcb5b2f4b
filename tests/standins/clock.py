"""One controllable clock for every test that needs time to pass on command."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class ManualClock:
    """A clock that moves only when the test says so.

    - `clock()` (or `clock.now()`) reads it: `start` plus everything advanced so far; with
      `base` (e.g. `time.monotonic`), that clock's reading plus what was advanced.
    - `advance(seconds)` moves it on.
    - `await clock.sleep(seconds)` records the sleep in `sleeps` and advances by it, without
      waiting.
    - `await clock.held_sleep(seconds)` records the sleep, then returns only once the test
      calls `release()` (one call per sleep), advancing by it then.
    """

    def __init__(self, start: float = 0.0, *, base: Callable[[], float] | None = None) -> None:
        self._advanced = start
        self._base = base
        self.sleeps: list[float] = []
        self._released: asyncio.Queue[None] = asyncio.Queue()

    def now(self) -> float:
        return (self._base() if self._base is not None else 0.0) + self._advanced

    def __call__(self) -> float:
        return self.now()

    def advance(self, seconds: float) -> None:
        self._advanced += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    async def held_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await self._released.get()
        self.advance(seconds)

    def release(self) -> None:
        """Let one held sleep (the next one, if none is waiting yet) return."""
        self._released.put_nowait(None)
