"""CachedEngine over the real EndpointClient and the fake endpoint: requests that reach the wire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from bot.audio.clip import Audio
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.cached_engine import CachedEngine
from bot.speech.endpoint.client import EndpointClient
from bot.speech.errors import BadRequestError
from bot.speech.request import SpeechRequest
from tests.standins.fake_api import FakeEndpoint

REQ = SpeechRequest("Good evening everyone, welcome back to the stream.", voice="Ethan")


def cached(client: EndpointClient, tmp_path: Path) -> CachedEngine:
    cache = AudioCache(memory_bytes=64 << 20, disk_dir=tmp_path / "cache", disk_bytes=64 << 20)
    return CachedEngine(client, cache)


async def collect(agen: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in agen])


async def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for something the server notices on its own time (a closed socket)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_50_concurrent_identical_synthesize_one_request(
    fake_endpoint: FakeEndpoint, client: EndpointClient, tmp_path: Path
) -> None:
    engine = cached(client, tmp_path)
    results = await asyncio.gather(*(engine.synthesize(REQ) for _ in range(50)))
    assert fake_endpoint.request_count == 1
    expected = fake_endpoint.expected_pcm(REQ.text, REQ.voice)
    assert all(r.pcm == expected for r in results)
    # And again: served from the cache, no request.
    assert (await engine.synthesize(REQ)).pcm == expected
    assert fake_endpoint.request_count == 1
    assert engine.cache.stats.api_calls_saved == 50


async def test_50_concurrent_identical_streams_one_request(
    fake_endpoint: FakeEndpoint, client: EndpointClient, tmp_path: Path
) -> None:
    engine = cached(client, tmp_path)
    results = await asyncio.gather(*(collect(engine.stream(REQ)) for _ in range(50)))
    assert fake_endpoint.request_count == 1 and fake_endpoint.requests[0].stream
    expected = fake_endpoint.expected_pcm(REQ.text, REQ.voice)
    assert all(r == expected for r in results)
    assert await engine.cache.get(engine.key_for(REQ)) == Audio(expected)
    assert await collect(engine.stream(REQ)) == expected
    assert fake_endpoint.request_count == 1


async def test_50_concurrent_failing_requests_one_request_one_error(
    fake_endpoint: FakeEndpoint, client: EndpointClient, tmp_path: Path
) -> None:
    fake_endpoint.fault = "error:InvalidParameter"  # every request would fail
    engine = cached(client, tmp_path)
    results = await asyncio.gather(*(engine.synthesize(REQ) for _ in range(50)), return_exceptions=True)
    assert fake_endpoint.request_count == 1
    first = results[0]
    assert isinstance(first, BadRequestError) and first.code == "InvalidParameter" and first.request_id
    assert all(r is first for r in results)
    assert await engine.cache.get(engine.key_for(REQ)) is None
    assert engine.cache.stats.puts == 0
    # Not poisoned: once the endpoint recovers, the next request goes through and is cached.
    fake_endpoint.fault = None
    assert (await engine.synthesize(REQ)).pcm == fake_endpoint.expected_pcm(REQ.text, REQ.voice)
    assert fake_endpoint.request_count == 2


async def test_cancelled_stream_disconnects_and_caches_nothing(
    fake_endpoint: FakeEndpoint, client: EndpointClient, tmp_path: Path
) -> None:
    fake_endpoint.realtime_factor = 1.0  # 100 ms of audio per chunk, in real time
    engine = cached(client, tmp_path)
    agen = engine.stream(REQ)
    first = await anext(agen)
    assert first == fake_endpoint.expected_pcm(REQ.text, REQ.voice)[: len(first)]
    await agen.aclose()  # type: ignore[attr-defined]
    await eventually(lambda: fake_endpoint.disconnects == 1)
    assert fake_endpoint.completed_streams == 0
    assert await engine.cache.get(engine.key_for(REQ)) is None
    assert not list((tmp_path / "cache").rglob("*.pcm"))


async def test_stream_cut_half_way_caches_nothing(
    fake_endpoint: FakeEndpoint, client: EndpointClient, tmp_path: Path
) -> None:
    fake_endpoint.faults.append("cut-after:2")
    engine = cached(client, tmp_path)
    got: list[bytes] = []
    try:
        async for chunk in engine.stream(REQ):
            got.append(chunk)
    except Exception as exc:
        error: Exception | None = exc
    else:
        error = None
    assert error is not None and got  # part of the audio, then the error
    assert await engine.cache.get(engine.key_for(REQ)) is None
    assert fake_endpoint.request_count == 1
