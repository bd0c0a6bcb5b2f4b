"""The per-server speech player: an ordered queue of utterances played into a voice link.

Core module: nothing here imports discord. The player talks to

- the voice connection through `VoiceLink` (implemented over discord.py by bot/voice_adapter.py);
- the audio through a `StreamEngine` (ideally a `KeyedEngine`: a `CachedEngine`), an optional
  `OpusStore` (the `AudioCache`) and a `SourceFactory` that builds the playable sources
  (bot/voice_source.py).

Behaviour:
- Synthesis of an utterance starts as soon as it is queued, for the one playing and up to
  `lookahead` after it, so the next one is buffered when the current one ends. Playback order
  is queue order whatever order the audio arrives in.
- Playback of an utterance starts once its pre-roll is buffered (or its audio is complete).
- An engine error ends that utterance only (what arrived still plays); it is reported to the
  requester through the utterance's `on_error` callback, and the queue continues. So is an
  engine stream that ends with no audio at all (`NoAudioError`), and a playback the voice link
  refuses while connected. Unexpected (non-Parla) errors reach the requester as an
  `UnexpectedError` whose error id is also in the log line with the traceback.
- Time to first audio (`bot.base.metrics.METRICS.first_audio`): from `enqueue()` to the moment the
  voice link accepts the utterance's source (`VoiceLink.play` returned). That is the closest
  point to "first packet sent" the player can see: playback starts only once the pre-roll is
  buffered (or the stored packets are at hand), so discord's player thread sends the first
  packet right away. Observed once per utterance (not again after a reconnect restart).
- If the voice connection drops mid-utterance, the utterance is kept and restarts from its
  beginning when the link is back; the queue is never lost to a disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import itertools
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.base.errors import ParlaError
from bot.base.metrics import METRICS, Histogram
from bot.speech.engine import opened_stream
from bot.speech.errors import TTSError
from bot.speech.request import SpeechRequest
from bot.store.limits import current_guild
from bot.voice.frame_buffer import FrameBuffer

if TYPE_CHECKING:
    from bot.base.config import Settings

log = logging.getLogger(__name__)

ErrorCallback = Callable[["Utterance", ParlaError], Awaitable[None] | None]


# --------------------------------------------------------------------------- interfaces
class PlayableSource(Protocol):
    """What the SourceFactory builds (a discord AudioSource in production)."""

    @property
    def finished(self) -> bool:
        """The whole utterance was played (not stopped, not cut by a disconnect)."""
        ...


class VoiceLink(Protocol):
    """The voice connection of one server, as the player needs it.

    `play()` starts playing `source` and must call `on_end(error)` exactly once, on the event
    loop thread, when that playback ends for any reason (end of audio, stop(), disconnect).
    It raises if it cannot play (not connected, already playing).
    """

    def is_connected(self) -> bool: ...

    def play(self, source: PlayableSource, on_end: Callable[[BaseException | None], None]) -> None: ...

    def stop(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class StreamEngine(Protocol):
    """What the player needs of a SpeechEngine (bot.speech.engine.SpeechEngine has it)."""

    @property
    def name(self) -> str: ...

    @property
    def sample_rate(self) -> int: ...

    def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]: ...


class KeyedEngine(StreamEngine, Protocol):
    """An engine that names its sounds (`CachedEngine`), so their Opus packets can be
    stored and replayed. `key_for` may return None when it cannot tell which sound the engine
    would produce (then nothing is looked up or stored). The player asks again once an
    utterance has played and stores its packets only if the answer is unchanged, so an engine
    that switched sources mid-way (a fallback) can say so by answering differently (or None).
    Engines without `key_for` play normally, with no Opus caching.
    """

    def key_for(self, request: SpeechRequest) -> str | None: ...


class OpusStore(Protocol):
    """Where encoded packets are kept between playbacks (bot.speech.cache.audio_cache.AudioCache)."""

    async def get_opus(self, key: str, profile: str) -> list[bytes] | None: ...

    async def put_opus(self, key: str, profile: str, packets: list[bytes]) -> None: ...


class SourceFactory(Protocol):
    """Builds playable sources; `profile` names the encoder settings of stored packets."""

    @property
    def profile(self) -> str: ...

    def streaming(
        self,
        buffer: FrameBuffer,
        *,
        on_complete: Callable[[list[bytes]], None] | None,
        on_abort: Callable[[], None] | None,
    ) -> PlayableSource: ...

    def stored(self, packets: Sequence[bytes]) -> PlayableSource: ...


# --------------------------------------------------------------------------- values
class QueueFullError(ParlaError):
    """The server's queue is at its limit: the new utterance is refused."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(self.user_message())

    def user_message(self) -> str:
        return (
            f"The speech queue is full ({self.limit} messages waiting). "
            "Wait for it to play, or use skip / stop."
        )


class PlayerClosedError(ParlaError):
    sentence = "The voice player is shutting down."


class NoAudioError(ParlaError):
    """The engine's stream ended normally but carried no audio at all.

    (bot/speech_service.py has `EmptyAudioError`, a TTSError for the audio-file commands; this
    one is the player's own, so that the player does not depend on the command layer.)"""

    sentence = "The speech service returned no audio for this message."


class UnexpectedError(ParlaError):
    """A bug or an unforeseen failure. The id is in the user's message and in the log line
    (with the traceback), so a report can be matched to its cause."""

    def __init__(self, error_id: str | None = None) -> None:
        self.error_id = error_id or secrets.token_hex(4)
        super().__init__(self.user_message())

    def user_message(self) -> str:
        return f"Sorry, something went wrong (error id {self.error_id})."


_ids = itertools.count(1)


@dataclass(eq=False)
class Utterance:
    """One thing to say, and who asked for it.

    `on_error(utterance, error)` is called (on the event loop) if the speech fails;
    `error.user_message()` carries the API code and request id. `tag` is free for the caller
    (e.g. the id of the message being read aloud, for `GuildPlayer.remove`).
    """

    request: SpeechRequest
    requester_id: int
    requester_name: str
    on_error: ErrorCallback | None = None
    tag: object = None
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


class _Job:
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

    def restarted(self) -> _Job:
        """A fresh job for the same utterance (after a disconnect), keeping its timing."""
        job = _Job(self.utterance, self.enqueued_at)
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


# --------------------------------------------------------------------------- the player
class GuildPlayer:
    """The queue and playback of one server. Use it from the event loop thread only."""

    def __init__(
        self,
        guild_id: int,
        engine: StreamEngine,
        sources: SourceFactory,
        *,
        store: OpusStore | None = None,
        options: PlayerOptions | None = None,
        on_idle_change: Callable[[bool], None] | None = None,
        first_audio: Histogram | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.guild_id = guild_id
        self._first_audio = first_audio if first_audio is not None else METRICS.first_audio
        self._clock = clock
        self._engine = engine
        self._sources = sources
        self._store = store
        self.options = options or PlayerOptions()
        self._on_idle_change = on_idle_change
        self._queue: deque[_Job] = deque()
        self._current: _Job | None = None
        self._link: VoiceLink | None = None
        self._paused = False
        self._closed = False
        self._idle = True
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.played = 0  # utterances played to the end
        self.failed = 0  # utterances that ended with an error reported to the requester

    # ------------------------------------------------------------------ voice link
    @property
    def link(self) -> VoiceLink | None:
        return self._link

    def attach(self, link: VoiceLink) -> None:
        """Use `link` for playback (after joining, moving or reconnecting)."""
        self._check_open()
        if self._link is not None and self._link is not link and self._current is not None:
            self._current_to_restart(self._link)
        self._link = link
        self._ensure_runner()
        self._wake.set()

    def detach(self) -> None:
        """The voice connection is gone: stop the current playback, keep it and the queue."""
        link, self._link = self._link, None
        if link is not None and self._current is not None:
            self._current_to_restart(link)
        self._wake.set()

    def _current_to_restart(self, old_link: VoiceLink) -> None:
        """Stop playing the current job on `old_link`; it starts again from the beginning."""
        job = self._current
        if job is not None and job.playing:
            # on_end will find an unfinished job that nobody stopped: _play() asks for a restart.
            with contextlib.suppress(Exception):
                old_link.stop()
            if job.ended is not None and self._loop is not None:
                # A link that lost its connection may take long to call on_end: do not wait for it.
                self._loop.call_later(self.options.stop_wait, _resolve, job.ended, None)

    # ------------------------------------------------------------------ queue operations
    def enqueue(self, utterance: Utterance) -> int:
        """Queue `utterance`; returns its position (0 = next to play or playing now).

        Raises QueueFullError when `queue_max` utterances (the current one included) are pending,
        PlayerClosedError after close().
        """
        self._check_open()
        if self.pending >= self.options.queue_max:
            raise QueueFullError(self.options.queue_max)
        job = _Job(utterance, self._clock())
        self._queue.append(job)
        position = len(self._queue) - (0 if self._current is not None else 1)
        self._set_idle(False)
        self._ensure_runner()
        self._fill()
        self._wake.set()
        return position

    def skip(self) -> Utterance | None:
        """Stop the current utterance (the next one starts); returns it, or None if nothing played."""
        job = self._current
        if job is None or job.stopped:
            return None
        self._stop_job(job)
        self._wake.set()
        return job.utterance

    def clear(self) -> int:
        """Stop playback and drop the whole queue; returns how many utterances were dropped."""
        dropped = 0
        while self._queue:
            self._queue.popleft().cancel()
            dropped += 1
        if self._current is not None and not self._current.stopped:
            self._stop_job(self._current)
            dropped += 1
        self._wake.set()
        return dropped

    def remove(
        self, predicate: Callable[[Utterance], bool], *, include_current: bool = False
    ) -> list[Utterance]:
        """Drop the queued utterances matching `predicate` (and the current one if asked)."""
        removed: list[Utterance] = []
        kept: deque[_Job] = deque()
        for job in self._queue:
            if predicate(job.utterance):
                job.cancel()
                removed.append(job.utterance)
            else:
                kept.append(job)
        self._queue = kept
        current = self._current
        if include_current and current is not None and not current.stopped and predicate(current.utterance):
            self._stop_job(current)
            removed.insert(0, current.utterance)
        if removed:
            self._fill()
            self._wake.set()
        return removed

    def pause(self) -> bool:
        """Pause playback (the queue keeps loading). False if already paused."""
        if self._paused:
            return False
        self._paused = True
        job = self._current
        if job is not None and job.playing and self._link is not None:
            self._link.pause()
        return True

    def resume(self) -> bool:
        """Resume playback. False if it was not paused."""
        if not self._paused:
            return False
        self._paused = False
        job = self._current
        if job is not None and job.playing and self._link is not None:
            self._link.resume()
        self._wake.set()
        return True

    # ------------------------------------------------------------------ state
    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def current(self) -> Utterance | None:
        return self._current.utterance if self._current is not None and not self._current.stopped else None

    @property
    def is_playing(self) -> bool:
        return self._current is not None and self._current.playing

    def queue(self) -> list[Utterance]:
        """The utterances waiting after the current one, in playback order."""
        return [job.utterance for job in self._queue]

    @property
    def pending(self) -> int:
        """How many utterances are pending: the current one and the queued ones."""
        return len(self._queue) + (1 if self.current is not None else 0)

    @property
    def is_idle(self) -> bool:
        """Nothing playing and nothing queued."""
        return self._current is None and not self._queue

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------ shutdown
    async def close(self) -> None:
        """Stop playback, cancel every synthesis and task. The player cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        self.clear()
        link, self._link = self._link, None
        if link is not None:
            with contextlib.suppress(Exception):
                link.stop()
        tasks = [t for t in self._tasks if not t.done()]
        if self._runner is not None and not self._runner.done():
            tasks.append(self._runner)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    # ------------------------------------------------------------------ internals
    def _check_open(self) -> None:
        if self._closed:
            raise PlayerClosedError()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        context = contextvars.copy_context()
        context.run(current_guild.set, self.guild_id)  # endpoint usage is charged to this server
        task = asyncio.get_running_loop().create_task(
            coro, name=f"parla-{name}-{self.guild_id}", context=context
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _ensure_runner(self) -> None:
        if self._runner is None or self._runner.done():
            self._loop = asyncio.get_running_loop()
            self._runner = self._loop.create_task(self._run(), name=f"parla-player-{self.guild_id}")

    def _set_idle(self, idle: bool) -> None:
        if idle == self._idle:
            return
        self._idle = idle
        if self._on_idle_change is not None:
            try:
                self._on_idle_change(idle)
            except Exception:
                log.exception("idle callback failed")

    def _stop_job(self, job: _Job) -> None:
        """Skip `job`: stop its playback at once and close its engine stream."""
        job.cancel()
        if job.playing:
            if self._link is not None:
                with contextlib.suppress(Exception):
                    self._link.stop()
            ended = job.ended
            if ended is not None and self._loop is not None:
                # Should on_end never come (a broken link), do not hang the queue.
                self._loop.call_later(self.options.stop_wait, _resolve, ended, None)

    def _fill(self) -> None:
        """Start preparing the current utterance and up to `lookahead` after it."""
        window = 1 + self.options.lookahead
        jobs: list[_Job] = []
        if self._current is not None and not self._current.stopped:
            jobs.append(self._current)
        jobs.extend(itertools.islice(self._queue, max(0, window - len(jobs))))
        for job in jobs:
            if not job.started and not job.stopped:
                job.task = self._spawn(self._prepare(job), "prepare")

    async def _prepare(self, job: _Job) -> None:
        """Fill the job's audio: stored Opus packets, or the engine stream into a FrameBuffer."""
        request = job.utterance.request
        buffer: FrameBuffer | None = None
        try:
            job.key = self._key_for(request)
            if self._store is not None and job.key is not None:
                try:
                    packets = await self._store.get_opus(job.key, self._sources.profile)
                except Exception:
                    log.exception("reading stored Opus packets failed")
                    packets = None
                if packets:
                    job.packets = packets
                    return
            buffer = FrameBuffer(self._engine.sample_rate, preroll_ms=self.options.preroll_ms)
            job.buffer = buffer
            received = 0
            async with opened_stream(self._engine.stream(request)) as stream:
                async for chunk in stream:
                    received += len(chunk)
                    buffer.write(chunk)
                    if not job.prepared.is_set() and buffer.ready:
                        job.prepared.set()
            buffer.end()
            if received == 0 and not job.stopped:
                # A normal end with nothing in it: without a word, the utterance would vanish.
                log.warning("guild %s: the engine returned no audio for an utterance", self.guild_id)
                job.error = NoAudioError()
                self.failed += 1
                self._report(job.utterance, job.error)
        except asyncio.CancelledError:
            if buffer is not None:
                buffer.cancel()
            raise
        except Exception as exc:
            error = exc if isinstance(exc, ParlaError) else None
            if error is None:
                error = self._unexpected("speech failed")
            elif isinstance(error, TTSError):
                log.warning("speech failed for guild %s: %s", self.guild_id, error.log_form())
            job.error = error
            if buffer is not None:
                buffer.end(error)
            self.failed += 1
            self._report(job.utterance, error)
        finally:
            job.prepared.set()

    def _unexpected(self, what: str, exc: BaseException | None = None) -> UnexpectedError:
        """Log an unexpected failure (with its traceback: the exception being handled, or
        `exc`) under a fresh error id, and return the error to report to the requester."""
        error = UnexpectedError()
        exc_info: BaseException | bool = exc if exc is not None else True
        log.error("guild %s: %s (error id %s)", self.guild_id, what, error.error_id, exc_info=exc_info)
        return error

    def _fail(self, job: _Job, error: ParlaError) -> None:
        """`job` cannot be played: stop preparing it and tell the requester."""
        job.abort()
        job.error = error
        self.failed += 1
        self._report(job.utterance, error)

    def _report(self, utterance: Utterance, error: ParlaError) -> None:
        callback = utterance.on_error
        if callback is None:
            return

        async def deliver() -> None:
            try:
                result = callback(utterance, error)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("error callback failed")

        self._spawn(deliver(), "report")

    async def _wait_wake(self, poll: float | None = None) -> None:
        """Wait until something changes (or `poll` seconds pass)."""
        self._wake.clear()
        if poll is None:
            await self._wake.wait()
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._wake.wait()

    async def _run(self) -> None:
        while not self._closed:
            if self._current is None or self._current.stopped:
                self._current = None
                if not self._queue:
                    self._set_idle(True)
                    await self._wait_wake()
                    continue
                self._current = self._queue.popleft()
            self._set_idle(False)
            self._fill()
            job = self._current
            try:
                restart = await self._play(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._fail(job, self._unexpected("playback failed"))
                restart = False
            if self._current is job:
                if restart and not job.stopped:
                    job.abort()
                    self._current = job.restarted()
                else:
                    self._current = None

    async def _play(self, job: _Job) -> bool:
        """Play one job. Returns True if it must restart (the voice link went away mid-way)."""
        await job.prepared.wait()
        if job.stopped:
            return False
        if not job.has_audio():
            return False  # failed before any audio: already reported
        # Wait for a usable link and for resume.
        while True:
            if job.stopped or self._closed:
                return False
            link = self._link
            if link is not None and not self._paused and link.is_connected():
                break
            await self._wait_wake(self.options.reconnect_poll if link is not None else None)
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[BaseException | None] = loop.create_future()
        job.ended = ended
        source = self._build_source(job, loop)

        def on_end(error: BaseException | None) -> None:
            _resolve(ended, error)

        try:
            link.play(source, on_end)
        except Exception as exc:
            if not link.is_connected():
                log.info("guild %s: voice not connected, will retry: %s", self.guild_id, exc)
                return True
            # Connected, yet the link refuses: give up on this utterance (closing its engine
            # stream) and say so, rather than leave its producer running for nothing.
            self._fail(job, self._unexpected("could not start playback"))
            return False
        job.playing = True
        job.started_at = self._clock()
        if not job.first_audio_seen:
            job.first_audio_seen = True
            self._first_audio.observe(max(0.0, job.started_at - job.enqueued_at))
        try:
            error = await ended
        finally:
            job.playing = False
        if job.stopped:
            return False
        if source.finished:
            self.played += 1
            return False
        if error is not None:
            self._fail(job, self._unexpected(f"playback error: {error!r}", error))
            return False
        # Ended early without a stop: the voice connection went away. Say it again later.
        log.info("guild %s: playback interrupted by the voice connection, will restart", self.guild_id)
        return True

    def _build_source(self, job: _Job, loop: asyncio.AbstractEventLoop) -> PlayableSource:
        if job.packets is not None:
            return self._sources.stored(job.packets)
        assert job.buffer is not None
        key = job.key
        store = self._store
        profile = self._sources.profile

        def on_abort() -> None:  # any thread
            _call_soon(loop, job.abort)

        on_complete: Callable[[list[bytes]], None] | None = None
        if store is not None and key is not None:

            def store_packets(packets: list[bytes]) -> None:  # player thread
                _call_soon(loop, self._store_packets, store, key, profile, packets, job.utterance.request)

            on_complete = store_packets
        return self._sources.streaming(job.buffer, on_complete=on_complete, on_abort=on_abort)

    def _key_for(self, request: SpeechRequest) -> str | None:
        key_for = getattr(self._engine, "key_for", None)
        if key_for is None:
            return None
        key: str | None = key_for(request)
        return key

    def _store_packets(
        self, store: OpusStore, key: str, profile: str, packets: list[bytes], request: SpeechRequest
    ) -> None:
        if self._closed:
            return
        try:
            still = self._key_for(request)
        except Exception:
            still = None
        if still != key:
            log.info("guild %s: the engine changed its sound mid-way; packets not stored", self.guild_id)
            return

        async def put() -> None:
            try:
                await store.put_opus(key, profile, packets)
            except Exception:
                log.exception("storing Opus packets failed")

        self._spawn(put(), "store")


def _resolve(future: asyncio.Future[BaseException | None], error: BaseException | None) -> None:
    if not future.done():
        future.set_result(error)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> None:
    """Run `callback` on `loop` from any thread; a closed loop means shutdown, nothing to do."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


# --------------------------------------------------------------------------- all servers
class PlayerManager:
    """One GuildPlayer per server."""

    def __init__(
        self,
        engine: StreamEngine,
        sources: SourceFactory,
        *,
        store: OpusStore | None = None,
        options: PlayerOptions | None = None,
        on_idle_change: Callable[[int, bool], None] | None = None,
        first_audio: Histogram | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.sources = sources
        self.store = store
        self.options = options or PlayerOptions()
        self.first_audio = first_audio
        self.clock = clock
        self._on_idle_change = on_idle_change
        self._players: dict[int, GuildPlayer] = {}
        self._closed = False

    def get(self, guild_id: int) -> GuildPlayer | None:
        return self._players.get(guild_id)

    def get_or_create(self, guild_id: int) -> GuildPlayer:
        if self._closed:
            raise PlayerClosedError()
        player = self._players.get(guild_id)
        if player is None or player.closed:
            player = GuildPlayer(
                guild_id,
                self.engine,
                self.sources,
                store=self.store,
                options=self.options,
                on_idle_change=lambda idle: self._notify_idle(guild_id, idle),
                first_audio=self.first_audio,
                clock=self.clock,
            )
            self._players[guild_id] = player
        return player

    def set_idle_listener(self, listener: Callable[[int, bool], None] | None) -> None:
        """`listener(guild_id, idle)` is called when a player becomes idle (True) or busy (False)."""
        self._on_idle_change = listener

    def _notify_idle(self, guild_id: int, idle: bool) -> None:
        if self._on_idle_change is not None:
            self._on_idle_change(guild_id, idle)

    def players(self) -> Iterable[GuildPlayer]:
        return list(self._players.values())

    def __len__(self) -> int:
        return len(self._players)

    async def close_player(self, guild_id: int) -> None:
        player = self._players.pop(guild_id, None)
        if player is not None:
            await player.close()

    async def close_all(self) -> None:
        self._closed = True
        players = list(self._players.values())
        self._players.clear()
        await asyncio.gather(*(p.close() for p in players), return_exceptions=True)
