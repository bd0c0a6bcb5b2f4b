"""`CachedEngine`: any SpeechEngine behind an AudioCache.

Hits are served from the cache, and concurrent requests for the same sound share one call to
the engine (a `Flight`, see `flight`), in both `synthesize()` and `stream()` mode.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

from bot.audio.clip import SAMPLE_WIDTH, Audio
from bot.base.errors import ParlaError
from bot.base.i18n import say
from bot.cluster.lease_lock import LeaseLock
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.cluster_flight import Claim, ClusterFlights, Relay
from bot.speech.cache.flight import Flight, FlightMode
from bot.speech.cache.key import DEFAULT_OUTPUT_FORMAT, cache_key
from bot.speech.engine import SpeechEngine, opened_stream
from bot.speech.request import SpeechRequest

__all__ = ["CachedEngine", "EngineClosedError"]

log = logging.getLogger(__name__)

# A cache hit in stream mode is yielded in chunks of this length (at once, without pacing).
HIT_CHUNK_MS = 100


class EngineClosedError(ParlaError):
    """The cached engine was closed while a request was waiting for it."""

    sentence = say("error.shutting_down")


class CachedEngine:
    """A SpeechEngine that serves repeated requests from an AudioCache.

    - synthesize(): hit -> cached Audio; miss -> one inner call shared by every concurrent
      request for the same key. A failure is not cached: every waiter gets the same exception.
    - stream(): hit -> the cached PCM at once, in 100 ms chunks; miss -> one inner stream,
      tailed by every concurrent request from its first chunk. The cache is filled only when
      the stream completes; if every consumer leaves early the inner stream is closed.
    A synthesize() and a stream() of the same key share one flight, and the flight starts
    with the disk lookup, so requests arriving during that lookup join it too.

    Counters (in `cache.stats`): each request counts one of hits_memory, hits_disk or misses
    (a request that joined an engine call is a miss), and api_calls_saved counts requests
    that got their audio without an engine call of their own.
    """

    def __init__(
        self, inner: SpeechEngine, cache: AudioCache, *, cluster: ClusterFlights | None = None
    ) -> None:
        """`cluster`: with Redis, a flight runs once in the whole cluster (`cluster_flight`)."""
        self._inner = inner
        self.cache = cache
        self._cluster = cluster
        self._flights: dict[str, Flight] = {}
        self._closed = False

    @property
    def inner(self) -> SpeechEngine:
        return self._inner

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def sample_rate(self) -> int:
        return self._inner.sample_rate

    def key_for(self, request: SpeechRequest) -> str:
        return cache_key(request, self.name, output_format=DEFAULT_OUTPUT_FORMAT)

    @property
    def flights_in_progress(self) -> int:
        return len(self._flights)

    async def lookup(self, request: SpeechRequest, *, count: bool = True) -> Audio | None:
        """The cached audio for `request`, without calling the engine (a miss is not counted;
        a hit counts as a hit and an API call saved: the caller is expected to use it).

        With `count=False` no counter is touched: for a caller that only asks whether the
        sound is cached (e.g. admission) and plays it through `stream()`, which counts it."""
        key = self.key_for(request)
        if not count:
            return self.cache.peek(key) or (await self.cache.get_stored(key, count=False))[0]
        audio = self.cache.get_memory(key) or (await self.cache.get_stored(key))[0]
        if audio is not None:
            self.cache.record_saved()
        return audio

    # ----- synthesize -----

    async def synthesize(self, request: SpeechRequest) -> Audio:
        req = request.validated()
        key = self.key_for(req)
        audio, flight, joined = self._acquire(key, req, "synth", streamable_only=False)
        if audio is not None:
            return audio
        assert flight is not None
        try:
            await flight.done.wait()
        finally:
            await self._leave(flight, joined)
        flight.raise_error()
        assert flight.audio is not None
        return flight.audio

    # ----- stream -----

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        req = request.validated()
        key = self.key_for(req)
        while True:
            audio, flight, joined = self._acquire(key, req, "stream", streamable_only=True)
            if audio is None:
                assert flight is not None
                try:
                    index = 0
                    while True:
                        if index < len(flight.chunks):
                            chunk = flight.chunks[index]
                            index += 1
                            yield chunk
                            continue
                        if flight.finished:
                            break
                        await flight.changed().wait()
                finally:
                    await self._leave(flight, joined)
                flight.raise_error()
                if flight.live:
                    return
                # The result came whole: from the disk, or from a synthesize() flight.
                audio = flight.audio
                assert audio is not None
                if not self._streamable(audio):
                    continue  # a rate this stream cannot yield: stream it ourselves
            for chunk in self._chunks_of(audio):
                yield chunk
            return

    def _streamable(self, audio: Audio) -> bool:
        return audio.channels == 1 and audio.rate == self.sample_rate

    def _chunks_of(self, audio: Audio) -> Iterator[bytes]:
        frame = SAMPLE_WIDTH * audio.channels
        step = max(frame, audio.rate * frame * HIT_CHUNK_MS // 1000 // frame * frame)
        pcm = audio.pcm
        for i in range(0, len(pcm), step):
            yield pcm[i : i + step]

    # ----- flights -----

    def _acquire(
        self, key: str, req: SpeechRequest, mode: FlightMode, *, streamable_only: bool
    ) -> tuple[Audio | None, Flight | None, bool]:
        """A memory hit, or the flight for `key` (joined: True, or started) with this caller
        counted in. Synchronous: nothing can slip between the memory check and the flight."""
        if self._closed:
            raise EngineClosedError("The speech engine is closed.")
        audio = self.cache.peek(key)
        if audio is not None and (not streamable_only or self._streamable(audio)):
            self.cache.get_memory(key)  # count the hit, refresh recency
            self.cache.record_saved()
            return audio, None, False
        flight = self._flights.get(key)
        if flight is not None and not (streamable_only and self._unstreamable(flight)):
            flight.consumers += 1
            return None, flight, True
        # No flight, or one that already ended with audio this stream cannot yield (a
        # synthesize() flight at another rate, still writing to disk): rejoining it would give
        # the same audio again, forever, without awaiting. Start our own; the finished one
        # only drops itself from `_flights` (see `_drop`).
        flight = Flight(key, mode)
        flight.consumers = 1
        self._flights[key] = flight
        flight.task = asyncio.create_task(
            self._fly(flight, req, use_disk=audio is None), name=f"parla-cache-flight-{key[:12]}"
        )
        return None, flight, False

    def _unstreamable(self, flight: Flight) -> bool:
        """`flight` ended with whole audio that stream() cannot yield as is."""
        audio = flight.audio
        return flight.finished and not flight.live and audio is not None and not self._streamable(audio)

    async def _leave(self, flight: Flight, joined: bool) -> None:
        """A consumer is done with `flight`: count its outcome; the last one to leave before
        the end stops the inner call."""
        flight.consumers -= 1
        ok = flight.finished and flight.error is None
        if ok and flight.from_cache:
            self.cache.record_lookup(flight.found_in)
            self.cache.record_saved()
        else:
            self.cache.record_lookup("miss")
            if ok and joined:
                self.cache.record_saved(joined=True)
        if flight.consumers > 0 or flight.finished:
            return
        self._drop(flight)
        task = flight.task
        if task is not None and not task.done():
            task.cancel()
            # Wait for the inner stream to be closed (the endpoint sees the disconnect).
            await asyncio.wait({task})

    async def _fly(self, flight: Flight, req: SpeechRequest, *, use_disk: bool) -> None:
        try:
            if use_disk and self._cluster is not None:
                # The shared tier is asked in the cluster's one lookup-or-claim below.
                audio = await self.cache.get_disk(flight.key, count=False)
                if audio is not None and (flight.mode == "synth" or self._streamable(audio)):
                    flight.from_cache = True
                    flight.found_in = "hit_disk"
                    flight.finish(audio=audio)
                    self._drop(flight)
                    return
            elif use_disk:
                audio, found_in = await self.cache.get_stored(flight.key, count=False)
                if audio is not None and (flight.mode == "synth" or self._streamable(audio)):
                    flight.from_cache = True
                    flight.found_in = found_in
                    flight.finish(audio=audio)
                    self._drop(flight)
                    return
            stored = False
            if self._cluster is None:
                audio = await self._call(flight, req, Relay(None, None, flight, self.sample_rate))
            else:
                claim: Claim | None = None
                if self.cache.shared is not None:

                    async def claim(lock: LeaseLock) -> tuple[Audio | None, str] | None:
                        return await self.cache.claim_shared(flight.key, lock.key, lock.token, lock.lease_ms)

                async def store(audio: Audio) -> None:
                    nonlocal stored
                    stored = True
                    await self._store(flight.key, audio, shared=True)

                audio, elsewhere = await self._cluster.fly(
                    flight, lambda relay: self._call(flight, req, relay), claim, store
                )
                if elsewhere:  # another process paid for it (or it was already in the shared tier)
                    flight.from_cache = True
                    flight.found_in = "hit_shared"
                    stored = True
                    flight.finish(audio=audio)
                    await self._store(flight.key, audio, shared=False)
        except asyncio.CancelledError:
            flight.finish(error=EngineClosedError("The speech request was cancelled."))
            self._drop(flight)
            raise
        except BaseException as exc:
            flight.finish(error=exc)
            self._drop(flight)
            if not isinstance(exc, Exception):
                raise
            return
        flight.finish(audio=audio)
        try:
            if not stored:
                # Memory first (synchronously), then disk; the flight stays joinable meanwhile.
                await self._store(flight.key, audio, shared=True)
        finally:
            self._drop(flight)

    async def _call(self, flight: Flight, req: SpeechRequest, relay: Relay) -> Audio:
        """One call to the inner engine, its chunks published through `relay`."""
        if flight.mode == "synth":
            return await self._inner.synthesize(req)
        async with opened_stream(self._inner.stream(req)) as iterator:
            async for chunk in iterator:
                if chunk:
                    await relay.chunk(chunk)
        return Audio(pcm=relay.pcm(), rate=self.sample_rate, channels=1)

    async def _store(self, key: str, audio: Audio, *, shared: bool) -> None:
        try:
            await self.cache.put(key, audio, shared=shared)
        except Exception:  # a cache failure must never fail the speech
            log.exception("audio cache: could not store %s", key[:12])

    def _drop(self, flight: Flight) -> None:
        if self._flights.get(flight.key) is flight:
            del self._flights[flight.key]

    async def close(self) -> None:
        """Cancel every flight still waiting for the engine (its waiters get EngineClosedError)
        and let finished ones complete their cache write. Close the AudioCache afterwards
        (it may be shared by several engines) so that disk writes complete before exit."""
        self._closed = True
        tasks = {f.task for f in self._flights.values() if f.task is not None and not f.task.done()}
        for flight in self._flights.values():
            if flight.task is not None and not flight.finished:
                flight.task.cancel()
        if tasks:
            await asyncio.wait(tasks)
