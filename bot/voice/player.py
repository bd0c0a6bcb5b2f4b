"""The per-server speech player: an ordered queue of utterances played into a voice link.

Core module: nothing here imports discord. The player talks to

- the voice connection through `VoiceLink` (implemented over discord.py by bot.voice.link);
- the audio through a `StreamEngine` (ideally a `KeyedEngine`: a `CachedEngine`), an optional
  `OpusStore` (the `AudioCache`) and a `SourceFactory` that builds the playable sources
  (bot.voice.source); the Protocols are in bot.voice.ports, the audio of each job is fetched
  by bot.voice.job_audio.

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
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from bot.base.errors import ParlaError
from bot.base.metrics import METRICS, Histogram
from bot.speech.errors import TTSError
from bot.speech.request import SpeechRequest
from bot.store.limits import current_guild
from bot.voice.errors import NoAudioError, PlayerClosedError, QueueFullError, UnexpectedError
from bot.voice.job_audio import build_source, engine_key, load_audio
from bot.voice.ports import OpusStore, PlayableSource, SourceFactory, StreamEngine, VoiceLink
from bot.voice.utterance import Job, PlayerOptions, Utterance

log = logging.getLogger(__name__)


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
        self._queue: deque[Job] = deque()
        self._current: Job | None = None
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
        job = Job(utterance, self._clock())
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
        kept: deque[Job] = deque()
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

    def _stop_job(self, job: Job) -> None:
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
        jobs: list[Job] = []
        if self._current is not None and not self._current.stopped:
            jobs.append(self._current)
        jobs.extend(itertools.islice(self._queue, max(0, window - len(jobs))))
        for job in jobs:
            if not job.started and not job.stopped:
                job.task = self._spawn(self._prepare(job), "prepare")

    async def _prepare(self, job: Job) -> None:
        """Fill the job's audio (see `load_audio`); report an engine failure or no audio."""
        try:
            has_audio = await load_audio(
                job, self._engine, self._sources, self._store, preroll_ms=self.options.preroll_ms
            )
            if not has_audio and not job.stopped:
                # A normal end with nothing in it: without a word, the utterance would vanish.
                log.warning("guild %s: the engine returned no audio for an utterance", self.guild_id)
                job.error = NoAudioError()
                self.failed += 1
                self._report(job.utterance, job.error)
        except asyncio.CancelledError:
            if job.buffer is not None:
                job.buffer.cancel()
            raise
        except Exception as exc:
            error = exc if isinstance(exc, ParlaError) else None
            if error is None:
                error = self._unexpected("speech failed")
            elif isinstance(error, TTSError):
                log.warning("speech failed for guild %s: %s", self.guild_id, error.log_form())
            job.error = error
            if job.buffer is not None:
                job.buffer.end(error)
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

    def _fail(self, job: Job, error: ParlaError) -> None:
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

    async def _play(self, job: Job) -> bool:
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

    def _build_source(self, job: Job, loop: asyncio.AbstractEventLoop) -> PlayableSource:
        keep: Callable[[list[bytes]], None] | None = None
        store, key = self._store, job.key
        if job.packets is None and store is not None and key is not None:
            profile, request = self._sources.profile, job.utterance.request

            def keep(packets: list[bytes]) -> None:  # on the loop
                self._store_packets(store, key, profile, packets, request)

        return build_source(job, self._sources, loop, keep)

    def _store_packets(
        self, store: OpusStore, key: str, profile: str, packets: list[bytes], request: SpeechRequest
    ) -> None:
        if self._closed:
            return
        try:
            still = engine_key(self._engine, request)
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
