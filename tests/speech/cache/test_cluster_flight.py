"""Single flight across processes (each "process" here is its own link, cache and engine on one
shared Redis prefix): one engine call, followers hear the owner's stream as it arrives, the
owner's error reaches them, and a dead owner's lock frees within its lease."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from bot.audio.clip import Audio
from bot.cluster.connection import ClusterLink
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.cached_engine import CachedEngine
from bot.speech.cache.cluster_flight import ClusterFlights
from bot.speech.cache.shared import SharedTier
from bot.speech.errors import ContentRefusedError
from bot.speech.request import SpeechRequest
from tests.standins.redis_server import RedisProcess, open_link, unique_prefix

REQUEST = SpeechRequest(text="Shared by every process.")
FIRST = b"\x01\x00" * 2400
REST = b"\x02\x00" * 4800


class CountingEngine:
    """Yields FIRST, waits for `gate`, yields REST; or raises `error`."""

    name = "test:counting"
    sample_rate = 24_000

    def __init__(self, error: Exception | None = None) -> None:
        self.calls = 0
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.error = error

    async def synthesize(self, request: SpeechRequest) -> Audio:
        pcm = b"".join([c async for c in self.stream(request)])
        return Audio(pcm=pcm, rate=self.sample_rate, channels=1)

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        self.calls += 1
        self.started.set()
        if self.error is not None:
            await self.gate.wait()
            raise self.error
        yield FIRST
        await self.gate.wait()
        yield REST


def _engine(link: ClusterLink, inner: CountingEngine) -> CachedEngine:
    cache = AudioCache(10_000_000, None, 0, shared=SharedTier(link, 10_000_000))
    return CachedEngine(inner, cache, cluster=ClusterFlights(link, sample_rate=inner.sample_rate))


async def _collect(engine: CachedEngine, first: asyncio.Event | None = None) -> bytes:
    parts = []
    async for chunk in engine.stream(REQUEST):
        parts.append(chunk)
        if first is not None:
            first.set()
    return b"".join(parts)


async def test_a_follower_hears_the_owners_stream_live_and_only_one_call_is_made() -> None:
    async with open_link() as link_a, open_link(link_a.prefix) as link_b:
        inner_a, inner_b = CountingEngine(), CountingEngine()
        a, b = _engine(link_a, inner_a), _engine(link_b, inner_b)
        owner = asyncio.create_task(_collect(a))
        await inner_a.started.wait()
        heard_first = asyncio.Event()
        follower = asyncio.create_task(_collect(b, heard_first))
        await asyncio.wait_for(heard_first.wait(), 5)  # before the owner's stream has ended
        assert not inner_a.gate.is_set()
        inner_a.gate.set()
        assert await owner == await follower == FIRST + REST
        assert (inner_a.calls, inner_b.calls) == (1, 0)
        # Afterwards the phrase is a shared-tier hit for any other process.
        async with open_link(link_a.prefix) as link_c:
            inner_c = CountingEngine()
            assert await _collect(_engine(link_c, inner_c)) == FIRST + REST
            assert inner_c.calls == 0


async def test_the_owners_error_reaches_the_followers() -> None:
    async with open_link() as link_a, open_link(link_a.prefix) as link_b:
        refused = ContentRefusedError("refused", code="DataInspectionFailed", request_id="req-1", status=400)
        inner_a, inner_b = CountingEngine(refused), CountingEngine()
        a, b = _engine(link_a, inner_a), _engine(link_b, inner_b)
        owner = asyncio.create_task(_collect(a))
        await inner_a.started.wait()
        follower = asyncio.create_task(_collect(b))
        await asyncio.sleep(0.2)  # the follower is reading the owner's stream
        inner_a.gate.set()
        for task in (owner, follower):
            try:
                await task
            except ContentRefusedError as exc:
                assert (exc.code, exc.request_id) == ("DataInspectionFailed", "req-1")
            else:
                raise AssertionError("no error")
        assert inner_b.calls == 0


async def test_a_dead_owners_lock_frees_within_the_lease() -> None:
    async with open_link(lease=0.6) as link:
        inner = CountingEngine()
        inner.gate.set()
        engine = _engine(link, inner)
        # A process took the lock and was killed: nothing renews it, nothing is streamed.
        key = link.key("flight", engine.key_for(REQUEST.validated()))
        await link.client.set(key, "dead-owner", px=600)
        started = time.monotonic()
        assert await asyncio.wait_for(_collect(engine), 5) == FIRST + REST
        assert 0.3 < time.monotonic() - started < 2.0
        assert inner.calls == 1


async def test_without_redis_the_flight_is_local() -> None:
    server = RedisProcess()
    link = ClusterLink.from_url(server.url, prefix=unique_prefix())
    await link.start()
    try:
        inner = CountingEngine()
        inner.gate.set()
        assert await _collect(_engine(link, inner)) == FIRST + REST
        assert inner.calls == 1
    finally:
        with contextlib.suppress(Exception):
            await link.close()


async def test_a_miss_asks_redis_once_before_the_engine_call() -> None:
    """The shared tier's lookup and the single-flight lock are one round trip."""
    async with open_link() as link:
        inner = CountingEngine()
        engine = _engine(link, inner)
        calls = 0
        real_call = link.call

        async def counted(*args: object, **kwargs: object) -> object:
            nonlocal calls
            if not inner.started.is_set():
                calls += 1
            return await real_call(*args, **kwargs)  # type: ignore[arg-type]

        link.call = counted  # type: ignore[method-assign]
        inner.gate.set()
        assert await _collect(engine) == FIRST + REST
        assert calls == 1
        assert inner.calls == 1


async def test_a_follower_whose_owner_vanished_part_way_takes_over_without_repeating() -> None:
    """The owner's requests all leave after FIRST (it abandons the flight; a SIGKILLed owner
    is in tests/cluster/test_faults.py); the follower has heard FIRST: it claims the lock,
    calls its own engine, and its listeners hear the rest from where they were, once."""
    async with open_link(lease=0.6) as link_a, open_link(link_a.prefix, lease=0.6) as link_b:
        inner_a, inner_b = CountingEngine(), CountingEngine()
        inner_b.gate.set()
        a, b = _engine(link_a, inner_a), _engine(link_b, inner_b)
        owner = asyncio.create_task(_collect(a))
        await inner_a.started.wait()
        heard_first = asyncio.Event()
        follower = asyncio.create_task(_collect(b, heard_first))
        await asyncio.wait_for(heard_first.wait(), 5)
        owner.cancel()  # the stream stays unfinished
        heard = await asyncio.wait_for(follower, 10)
        assert heard == FIRST + REST  # continued, not restarted: FIRST is heard once
        assert inner_b.calls == 1
        flights = b._cluster
        assert flights is not None and flights.taken_over == 1
        # What B stored is the whole rendition, a hit for anyone later.
        async with open_link(link_a.prefix) as link_c:
            inner_c = CountingEngine()
            assert await _collect(_engine(link_c, inner_c)) == FIRST + REST
            assert inner_c.calls == 0


async def test_the_lock_claimed_by_the_lookup_is_renewed_while_the_owner_streams() -> None:
    async with open_link(lease=0.6) as link_a, open_link(link_a.prefix, lease=0.6) as link_b:
        inner_a, inner_b = CountingEngine(), CountingEngine()
        a, b = _engine(link_a, inner_a), _engine(link_b, inner_b)
        owner = asyncio.create_task(_collect(a))
        await inner_a.started.wait()
        follower = asyncio.create_task(_collect(b))
        lock_key = link_a.key("flight", a.key_for(REQUEST.validated()))
        first = await link_a.client.pttl(lock_key)
        assert 0 < first <= 600
        # Renewed (every third of the lease) for longer than the lease itself.
        renewals, last = 0, first
        async with asyncio.timeout(5):
            while renewals < 4:
                left = await link_a.client.pttl(lock_key)
                assert left > 0, "the lease ran out while the owner was streaming"
                renewals += left > last
                last = left
                await asyncio.sleep(0.01)  # the lease's clock: nothing to wait on but time
        inner_a.gate.set()
        assert await owner == await follower == FIRST + REST
        assert (inner_a.calls, inner_b.calls) == (1, 0)
        assert await link_a.client.exists(lock_key) == 0  # released at the end
