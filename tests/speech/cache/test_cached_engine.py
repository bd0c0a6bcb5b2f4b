"""CachedEngine with stand-in engines: hits, single flight, shared streams, cancellation."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, cast

import pytest

from bot.audio.clip import Audio
from bot.base.errors import InputError
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.cached_engine import CachedEngine, EngineClosedError
from bot.speech.cache.disk import DiskTier
from bot.speech.engine import SpeechEngine
from bot.speech.errors import ServerError, StreamIncompleteError, TTSError
from bot.speech.request import SpeechRequest

REQ = SpeechRequest("hello there", voice="Cherry")


class StubEngine:
    """A SpeechEngine whose every step the test controls.

    With `manual=True`, synthesize() waits for `release()` and stream() waits for one
    `release()` token before each chunk.
    """

    name = "stub:test"
    sample_rate = 24000

    def __init__(
        self,
        *,
        manual: bool = False,
        chunks: int = 5,
        chunk_bytes: int = 4000,
        error: BaseException | None = None,
        fail_after: int | None = None,
    ) -> None:
        self.manual = manual
        self.n_chunks = chunks
        self.chunk_bytes = chunk_bytes
        self.error = error
        self.fail_after = fail_after
        self.synth_calls = 0
        self.stream_calls = 0
        self.streams_closed = 0
        self.cancelled = 0
        self._tokens: asyncio.Queue[None] = asyncio.Queue()

    def pcm(self, request: SpeechRequest) -> bytes:
        seed = hashlib.sha256(f"{request.voice}|{request.validated().text}".encode()).digest()
        size = self.n_chunks * self.chunk_bytes
        return (seed * (size // len(seed) + 1))[:size]

    def release(self, n: int = 1) -> None:
        for _ in range(n):
            self._tokens.put_nowait(None)

    async def _step(self) -> None:
        if self.manual:
            await self._tokens.get()

    async def synthesize(self, request: SpeechRequest) -> Audio:
        self.synth_calls += 1
        try:
            await self._step()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return Audio(self.pcm(request), rate=self.sample_rate)

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        self.stream_calls += 1
        pcm = self.pcm(request)
        try:
            for i in range(self.n_chunks):
                try:
                    await self._step()
                except asyncio.CancelledError:
                    self.cancelled += 1
                    raise
                if self.error is not None and self.fail_after == i:
                    raise self.error
                yield pcm[i * self.chunk_bytes : (i + 1) * self.chunk_bytes]
        finally:
            self.streams_closed += 1


async def until(condition: Callable[[], bool], what: str = "condition") -> None:
    """Let other tasks run until `condition` holds (no wall-clock sleeping)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never reached: {what}")


async def collect(agen: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in agen])


def make(engine: StubEngine, tmp_path: Path | None = None) -> CachedEngine:
    cache = AudioCache(memory_bytes=10**7, disk_dir=tmp_path, disk_bytes=10**7 if tmp_path else 0)
    return CachedEngine(engine, cache)


def test_is_a_speech_engine() -> None:
    engine = make(StubEngine())
    assert isinstance(engine, SpeechEngine)
    assert engine.name == "stub:test" and engine.sample_rate == 24000


# ----- synthesize -----


async def test_hit_after_miss_makes_no_inner_call() -> None:
    stub = StubEngine()
    engine = make(stub)
    first = await engine.synthesize(REQ)
    second = await engine.synthesize(SpeechRequest("  hello there ", voice="cherry"))
    assert first == second == Audio(stub.pcm(REQ))
    assert stub.synth_calls == 1
    s = engine.cache.stats
    assert (s.misses, s.hits_memory, s.api_calls_saved) == (1, 1, 1)


async def test_50_concurrent_identical_requests_make_one_inner_call() -> None:
    stub = StubEngine(manual=True)
    engine = make(stub)
    tasks = [asyncio.create_task(engine.synthesize(REQ)) for _ in range(50)]
    await until(lambda: stub.synth_calls == 1 and engine._flights[engine.key_for(REQ)].consumers == 50)
    stub.release()
    results = await asyncio.gather(*tasks)
    assert stub.synth_calls == 1
    assert all(r == Audio(stub.pcm(REQ)) for r in results)
    assert len({r.pcm for r in results}) == 1
    assert engine.cache.stats.flights_joined == 49 and engine.cache.stats.api_calls_saved == 49
    assert engine.flights_in_progress == 0
    assert await engine.cache.get(engine.key_for(REQ)) == results[0]


async def test_50_concurrent_failing_requests_share_one_error_and_cache_nothing() -> None:
    error = ServerError("boom", status=500, code="InternalError", request_id="req-1")
    stub = StubEngine(manual=True, error=error)
    engine = make(stub)
    tasks = [asyncio.create_task(engine.synthesize(REQ)) for _ in range(50)]
    await until(lambda: stub.synth_calls == 1 and engine._flights[engine.key_for(REQ)].consumers == 50)
    stub.release()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert stub.synth_calls == 1
    assert all(r is error for r in results)
    codes = {(e.code, e.request_id) for e in results if isinstance(e, TTSError)}
    assert codes == {("InternalError", "req-1")}
    assert await engine.cache.get(engine.key_for(REQ)) is None
    assert engine.cache.stats.puts == 0 and engine.cache.stats.api_calls_saved == 0
    # Not poisoned: the next request calls the engine again.
    stub.error = None
    stub.release()
    assert await engine.synthesize(REQ) == Audio(stub.pcm(REQ))
    assert stub.synth_calls == 2


async def test_different_requests_do_not_share_a_flight() -> None:
    stub = StubEngine()
    engine = make(stub)
    a, b, styled = await asyncio.gather(
        engine.synthesize(REQ),
        engine.synthesize(SpeechRequest("hello there", voice="Ethan")),
        engine.synthesize(SpeechRequest("hello there", instructions="whisper")),
    )
    assert stub.synth_calls == 3
    assert a.pcm != b.pcm
    styled_key = engine.key_for(SpeechRequest("hello there", instructions="whisper"))
    assert styled_key != engine.key_for(REQ)
    assert styled == a  # the stub ignores style; the cache still keeps them apart


async def test_one_cancelled_waiter_does_not_cancel_the_others() -> None:
    stub = StubEngine(manual=True)
    engine = make(stub)
    leaver = asyncio.create_task(engine.synthesize(REQ))
    stayer = asyncio.create_task(engine.synthesize(REQ))
    await until(lambda: stub.synth_calls == 1 and engine._flights[engine.key_for(REQ)].consumers == 2)
    leaver.cancel()
    await asyncio.wait({leaver})
    stub.release()
    assert await stayer == Audio(stub.pcm(REQ))
    assert stub.cancelled == 0 and stub.synth_calls == 1


async def test_last_waiter_cancelled_cancels_the_inner_call() -> None:
    stub = StubEngine(manual=True)
    engine = make(stub)
    task = asyncio.create_task(engine.synthesize(REQ))
    await until(lambda: stub.synth_calls == 1)
    task.cancel()
    await asyncio.wait({task})
    assert stub.cancelled == 1
    assert engine.flights_in_progress == 0
    assert await engine.cache.get(engine.key_for(REQ)) is None


async def test_invalid_request_raises_before_any_call() -> None:
    stub = StubEngine()
    engine = make(stub)
    with pytest.raises(InputError):
        await engine.synthesize(SpeechRequest("   "))
    with pytest.raises(InputError):
        await collect(engine.stream(SpeechRequest("hi", voice="Nobody")))
    assert stub.synth_calls == stub.stream_calls == 0


async def test_cache_failure_never_fails_the_speech(monkeypatch: pytest.MonkeyPatch) -> None:
    stub = StubEngine()
    engine = make(stub)

    async def broken_put(key: str, audio: Audio) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(engine.cache, "put", broken_put)
    assert await engine.synthesize(REQ) == Audio(stub.pcm(REQ))
    assert await collect(engine.stream(REQ)) == stub.pcm(REQ)


# ----- lookup -----


async def test_lookup_never_calls_the_engine() -> None:
    stub = StubEngine()
    engine = make(stub)
    assert await engine.lookup(REQ) is None
    assert stub.synth_calls == 0 and engine.cache.stats.misses == 0
    audio = await engine.synthesize(REQ)
    assert await engine.lookup(SpeechRequest(" hello there")) == audio
    assert stub.synth_calls == 1 and engine.cache.stats.api_calls_saved == 1


# ----- stream -----


async def test_stream_miss_then_hit_yields_at_once() -> None:
    stub = StubEngine(chunks=3, chunk_bytes=7000)
    engine = make(stub)
    assert await collect(engine.stream(REQ)) == stub.pcm(REQ)
    assert stub.stream_calls == 1

    agen = engine.stream(REQ)
    # The first chunk of a hit is there without the event loop running anything else.
    step = cast("Coroutine[Any, Any, bytes]", agen.__anext__())
    with pytest.raises(StopIteration) as first:
        step.send(None)
    chunks = [first.value.value, *[c async for c in agen]]
    assert b"".join(chunks) == stub.pcm(REQ)
    assert [len(c) for c in chunks] == [4800, 4800, 4800, 4800, 1800]  # 100 ms at 24 kHz
    assert stub.stream_calls == 1 and stub.synth_calls == 0


async def test_50_concurrent_streams_share_one_inner_stream() -> None:
    stub = StubEngine(manual=True)
    engine = make(stub)
    tasks = [asyncio.create_task(collect(engine.stream(REQ))) for _ in range(50)]
    await until(lambda: stub.stream_calls == 1 and engine._flights[engine.key_for(REQ)].consumers == 50)
    stub.release(stub.n_chunks)
    results = await asyncio.gather(*tasks)
    assert all(r == stub.pcm(REQ) for r in results)
    assert stub.stream_calls == 1 and stub.streams_closed == 1
    assert await engine.cache.get(engine.key_for(REQ)) == Audio(stub.pcm(REQ))
    assert engine.cache.stats.flights_joined == 49


async def test_late_joiner_gets_everything_from_the_start_then_live() -> None:
    stub = StubEngine(manual=True, chunks=4)
    engine = make(stub)
    pcm = stub.pcm(REQ)
    size = stub.chunk_bytes
    a = engine.stream(REQ)
    stub.release(2)
    assert await anext(a) == pcm[:size]
    assert await anext(a) == pcm[size : 2 * size]

    b = engine.stream(REQ)
    assert await anext(b) == pcm[:size]  # replayed from the shared buffer
    assert await anext(b) == pcm[size : 2 * size]
    next_b = asyncio.ensure_future(anext(b))
    await until(lambda: engine._flights[engine.key_for(REQ)].consumers == 2)
    assert not next_b.done()  # b now waits for live audio
    stub.release(2)
    assert await next_b == pcm[2 * size : 3 * size]
    assert await collect(a) == pcm[2 * size :]
    assert await collect(b) == pcm[3 * size :]
    assert stub.stream_calls == 1


async def test_only_consumer_closing_early_closes_upstream_and_caches_nothing() -> None:
    stub = StubEngine(manual=True)
    engine = make(stub)
    agen = engine.stream(REQ)
    stub.release(1)
    assert await anext(agen) == stub.pcm(REQ)[: stub.chunk_bytes]
    await agen.aclose()  # type: ignore[attr-defined]
    assert stub.streams_closed == 1 and stub.cancelled == 1  # upstream closed when aclose returns
    assert engine.flights_in_progress == 0
    assert await engine.cache.get(engine.key_for(REQ)) is None
    # A new request starts a fresh stream.
    stub.manual = False
    assert await collect(engine.stream(REQ)) == stub.pcm(REQ)
    assert stub.stream_calls == 2


async def test_cancelled_consumer_task_closes_upstream_and_caches_nothing() -> None:
    stub = StubEngine(manual=True)
    engine = make(stub)
    got: list[bytes] = []

    async def consume() -> None:
        async for chunk in engine.stream(REQ):
            got.append(chunk)

    task = asyncio.create_task(consume())
    stub.release(2)
    await until(lambda: len(got) == 2)
    task.cancel()
    await asyncio.wait({task})
    await until(lambda: stub.streams_closed == 1, "upstream closed")
    assert engine.flights_in_progress == 0
    assert await engine.cache.get(engine.key_for(REQ)) is None
    assert engine.cache.stats.puts == 0


async def test_one_consumer_leaving_does_not_stop_the_others() -> None:
    stub = StubEngine(manual=True)
    engine = make(stub)
    pcm = stub.pcm(REQ)
    leaver = engine.stream(REQ)
    stayer = engine.stream(REQ)
    stub.release(1)
    assert await anext(leaver) == pcm[: stub.chunk_bytes]
    assert await anext(stayer) == pcm[: stub.chunk_bytes]
    await leaver.aclose()  # type: ignore[attr-defined]
    assert stub.streams_closed == 0
    stub.release(stub.n_chunks - 1)
    assert await collect(stayer) == pcm[stub.chunk_bytes :]
    assert stub.stream_calls == 1 and stub.cancelled == 0
    assert await engine.cache.get(engine.key_for(REQ)) == Audio(pcm)


async def test_stream_cut_half_way_gives_every_consumer_the_error_and_caches_nothing() -> None:
    error = StreamIncompleteError("cut", request_id="req-2", audio_delivered=True)
    stub = StubEngine(manual=True, error=error, fail_after=2)
    engine = make(stub)
    got: dict[int, list[bytes]] = {0: [], 1: []}

    async def consume(i: int) -> None:
        async for chunk in engine.stream(REQ):
            got[i].append(chunk)

    tasks = [asyncio.create_task(consume(i)) for i in (0, 1)]
    stub.release(3)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] is error and results[1] is error
    assert b"".join(got[0]) == b"".join(got[1]) == stub.pcm(REQ)[: 2 * stub.chunk_bytes]
    assert stub.stream_calls == 1
    assert await engine.cache.get(engine.key_for(REQ)) is None
    assert engine.flights_in_progress == 0


async def test_synthesize_joins_a_stream_in_flight() -> None:
    stub = StubEngine(manual=True)
    engine = make(stub)
    streamer = engine.stream(REQ)
    stub.release(1)
    await anext(streamer)
    synth = asyncio.create_task(engine.synthesize(REQ))
    await until(lambda: engine._flights[engine.key_for(REQ)].consumers == 2)
    stub.release(stub.n_chunks - 1)
    assert await synth == Audio(stub.pcm(REQ))
    await collect(streamer)
    assert (stub.stream_calls, stub.synth_calls) == (1, 0)


async def test_stream_joins_a_synthesize_in_flight() -> None:
    stub = StubEngine(manual=True)
    engine = make(stub)
    synth = asyncio.create_task(engine.synthesize(REQ))
    await until(lambda: stub.synth_calls == 1)
    streamed = asyncio.create_task(collect(engine.stream(REQ)))
    await until(lambda: engine._flights[engine.key_for(REQ)].consumers == 2)
    stub.release()
    assert await streamed == stub.pcm(REQ)
    assert (await synth).pcm == stub.pcm(REQ)
    assert (stub.stream_calls, stub.synth_calls) == (0, 1)


async def test_cached_audio_at_another_rate_is_not_streamed_as_is() -> None:
    stub = StubEngine()
    engine = make(stub)
    await engine.cache.put(engine.key_for(REQ), Audio(b"\x00\x01" * 4800, rate=48000))
    assert await collect(engine.stream(REQ)) == stub.pcm(REQ)  # streamed at the engine's rate
    assert stub.stream_calls == 1
    assert (await engine.cache.get(engine.key_for(REQ))) == Audio(stub.pcm(REQ), rate=24000)


# ----- restart and shutdown -----


async def test_yesterdays_sentence_plays_today_without_a_call(tmp_path: Path) -> None:
    stub = StubEngine()
    yesterday = make(stub, tmp_path)
    await yesterday.synthesize(REQ)
    await yesterday.close()
    await yesterday.cache.close()
    today_stub = StubEngine()
    today = make(today_stub, tmp_path)
    assert await collect(today.stream(REQ)) == stub.pcm(REQ)
    assert await today.synthesize(REQ) == Audio(stub.pcm(REQ))
    assert today_stub.synth_calls == today_stub.stream_calls == 0
    assert today.cache.stats.hits_disk == 1


async def test_close_ends_flights_with_a_clear_error() -> None:
    stub = StubEngine(manual=True)
    engine = make(stub)
    synth = asyncio.create_task(engine.synthesize(REQ))
    other = SpeechRequest("something else")
    streamed = asyncio.create_task(collect(engine.stream(other)))
    await until(lambda: stub.synth_calls == 1 and stub.stream_calls == 1)
    await engine.close()
    results = await asyncio.gather(synth, streamed, return_exceptions=True)
    assert all(isinstance(r, EngineClosedError) for r in results)
    assert stub.cancelled == 2 and stub.streams_closed == 1
    with pytest.raises(EngineClosedError):
        await engine.synthesize(SpeechRequest("new"))


async def test_requests_arriving_during_the_disk_lookup_join_the_flight(tmp_path: Path) -> None:
    error = ServerError("boom", code="InternalError")
    stub = StubEngine(error=error)  # fails as soon as it is called
    engine = make(stub, tmp_path)
    results = await asyncio.gather(*(engine.synthesize(REQ) for _ in range(50)), return_exceptions=True)
    assert stub.synth_calls == 1
    assert all(r is error for r in results)


async def test_a_disk_hit_is_read_once_for_concurrent_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub = StubEngine()
    yesterday = make(stub, tmp_path)
    await yesterday.synthesize(REQ)
    await yesterday.cache.close()

    reads: list[str] = []
    real_read = DiskTier.read

    def counting_read(self: DiskTier, kind: str, name: str) -> object:
        reads.append(name)
        return real_read(self, kind, name)  # type: ignore[arg-type]

    monkeypatch.setattr(DiskTier, "read", counting_read)
    today_stub = StubEngine()
    today = make(today_stub, tmp_path)
    results = await asyncio.gather(*(collect(today.stream(REQ)) for _ in range(50)))
    assert all(r == stub.pcm(REQ) for r in results)
    assert reads == [today.key_for(REQ)]
    assert today_stub.stream_calls == 0
    s = today.cache.stats
    assert (s.hits_disk, s.misses, s.api_calls_saved) == (50, 0, 50)
