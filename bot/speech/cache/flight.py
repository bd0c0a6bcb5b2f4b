"""The single flight: one disk lookup and, on a miss, one engine call shared by every request
for the same sound (`Flight`). `CachedEngine` starts, joins and ends flights."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Literal

from bot.audio.clip import Audio

FlightMode = Literal["stream", "synth"]


class Flight:
    """One disk lookup and, on a miss, one call to the inner engine, shared by every
    request for the same key. Streamed chunks are kept from the first, so a late joiner
    replays them and then follows live."""

    def __init__(self, key: str, mode: FlightMode) -> None:
        self.key = key
        self.mode = mode
        self.chunks: list[bytes] = []  # live chunks of the inner stream (stream mode only)
        self.audio: Audio | None = None
        self.from_cache = False  # the result was found on disk or in the shared tier: no engine call
        self.found_in: Literal["hit_disk", "hit_shared", "miss"] = "hit_disk"
        self.error: BaseException | None = None
        self.traceback: TracebackType | None = None
        self.finished = False
        self.consumers = 0
        self.task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.done = asyncio.Event()

    @property
    def live(self) -> bool:
        """Whether consumers get the audio as chunks (else whole, in `audio`, at the end)."""
        return bool(self.chunks)

    def publish(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self._wake()

    def finish(self, *, audio: Audio | None = None, error: BaseException | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        self.audio = audio
        self.error = error
        self.traceback = error.__traceback__ if error is not None else None
        self.done.set()
        self._wake()

    def _wake(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def changed(self) -> asyncio.Event:
        """An event set at the next chunk or at the end (capture it before checking state)."""
        return self._changed

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error.with_traceback(self.traceback)
