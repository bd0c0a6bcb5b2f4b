"""What the player queues: an `Utterance` (one thing to say, and who asked for it), the
player's `PlayerOptions`, and the `Job` that carries an utterance through the player (the
preparation of its audio and the state of its playback)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.base.errors import ParlaError
from bot.speech.request import SpeechRequest
from bot.voice.frame_buffer import FrameBuffer

if TYPE_CHECKING:
    from bot.base.config import Settings

ErrorCallback = Callable[["Utterance", ParlaError], Awaitable[None] | None]


_ids = itertools.count(1)


@dataclass(eq=False)
class Utterance:
    """One thing to say, and who asked for it.

    `on_error(utterance, error)` is called (on the event loop) if the speech fails;
    `error.user_message()` carries the API code and request id. `tag` is free for the caller
    (e.g. the id of the message being read aloud, for `GuildPlayer.remove`).
    `source_channel_id` is the text channel the text comes from (who may read it in `/tts queue`).
    """

    request: SpeechRequest
    requester_id: int
    requester_name: str
    on_error: ErrorCallback | None = None
    tag: object = None
    source_channel_id: int | None = None
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def text(self) -> str:
        return self.request.text

    @property
    def voice(self) -> str:
        return self.request.voice


@dataclass(frozen=True)
class PlayerOptions:
    preroll_ms: int = 100
    lookahead: int = 2
    queue_max: int = 50
    # After stop(), how long to wait for the link's on_end before moving on anyway.
    stop_wait: float = 0.5
    # While the link is attached but not connected, how often to look again.
    reconnect_poll: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> PlayerOptions:
        return cls(
            preroll_ms=settings.preroll_ms,
            lookahead=settings.lookahead,
            queue_max=settings.queue_max,
        )


class Job:
    """An utterance and the preparation of its audio."""

    def __init__(self, utterance: Utterance, enqueued_at: float) -> None:
        self.utterance = utterance
        self.enqueued_at = enqueued_at
        self.first_audio_seen = False  # time to first audio observed (kept across restarts)
        self.key: str | None = None
        self.buffer: FrameBuffer | None = None
        self.packets: list[bytes] | None = None
        self.task: asyncio.Task[None] | None = None
        self.prepared = asyncio.Event()
        self.error: ParlaError | None = None
        self.stopped = False  # skipped, cleared, removed or closed
        self.playing = False
        self.ended: asyncio.Future[BaseException | None] | None = None
        self.started_at: float | None = None

    @property
    def started(self) -> bool:
        return self.task is not None

    def restarted(self) -> Job:
        """A fresh job for the same utterance (after a disconnect), keeping its timing."""
        job = Job(self.utterance, self.enqueued_at)
        job.first_audio_seen = self.first_audio_seen
        return job

    def has_audio(self) -> bool:
        return self.packets is not None or (self.buffer is not None and self.buffer.has_audio)

    def cancel(self) -> None:
        """The utterance is dropped (skip, clear, remove, close): stop everything about it."""
        self.stopped = True
        self.abort()

    def abort(self) -> None:
        """Stop preparing: cancel the producer (closing the engine stream) and the buffer."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self.buffer is not None:
            self.buffer.cancel()
        self.prepared.set()
