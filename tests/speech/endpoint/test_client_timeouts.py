"""Stream deadlines count from the last audio: keep-alive comments and empty events do not keep
a stream alive forever, and no stream outlives TTS_TOTAL_TIMEOUT."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.speech.endpoint.client import EndpointClient
from bot.speech.errors import FirstByteTimeoutError, StreamStalledError
from bot.speech.request import SpeechRequest
from tests.standins.settings import make_settings

AUDIO = base64.b64encode(b"\x01\x00" * 2400).decode()


def event(payload: dict[str, object]) -> bytes:
    return b"event:result\n:HTTP_STATUS/200\ndata:" + json.dumps(payload).encode() + b"\n\n"


def audio_event() -> bytes:
    return event({"output": {"finish_reason": "null", "audio": {"data": AUDIO}}, "request_id": "r1"})


async def serve(tmp_path: Path, body: Callable[[web.StreamResponse], object], **overrides: object):
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        try:
            await body(resp)  # type: ignore[misc]
        except (ConnectionError, asyncio.CancelledError):
            pass
        return resp

    app = web.Application()
    app.router.add_post("/v1/audio/speech", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    settings = make_settings(None, tmp_path, api_url=f"http://127.0.0.1:{port}/v1/audio/speech", **overrides)
    return runner, settings


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def keepalives(resp: web.StreamResponse) -> None:
    while True:
        await resp.write(b": keepalive\n\n")
        await resp.write(event({"output": {"finish_reason": "null", "audio": {"data": ""}}}))
        await asyncio.sleep(0.02)


async def test_keepalives_before_any_audio_hit_the_first_byte_timeout(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    runner, settings = await serve(tmp_path, keepalives, first_byte_timeout=0.3, retry_attempts=1)
    try:
        client = EndpointClient(settings, http)
        with pytest.raises(FirstByteTimeoutError):
            async with asyncio.timeout(5):
                [c async for c in client.stream(SpeechRequest("hello"))]
    finally:
        await runner.cleanup()


async def test_keepalives_after_audio_hit_the_stall_timeout(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async def body(resp: web.StreamResponse) -> None:
        await resp.write(audio_event())
        await keepalives(resp)

    runner, settings = await serve(tmp_path, body, stall_timeout=0.3, retry_attempts=1)
    try:
        client = EndpointClient(settings, http)
        got: list[bytes] = []
        with pytest.raises(StreamStalledError) as info:
            async with asyncio.timeout(5):
                async for chunk in client.stream(SpeechRequest("hello")):
                    got.append(chunk)
        assert got and info.value.audio_delivered
    finally:
        await runner.cleanup()


async def test_a_stream_that_never_finishes_stops_at_the_total_timeout(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async def body(resp: web.StreamResponse) -> None:
        while True:  # steady audio, never a final event
            await resp.write(audio_event())
            await asyncio.sleep(0.05)

    runner, settings = await serve(tmp_path, body, total_timeout=1.0, stall_timeout=0.5, retry_attempts=1)
    try:
        client = EndpointClient(settings, http)
        with pytest.raises(StreamStalledError, match="total timeout"):
            async with asyncio.timeout(5):
                [c async for c in client.stream(SpeechRequest("hello"))]
    finally:
        await runner.cleanup()


async def test_requests_per_minute_are_paced_under_the_limit(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """TTS_MAX_RPM: the 4th request in a rolling minute waits until the 1st leaves it."""
    from tests.standins.clock import ManualClock
    from tests.standins.fake_api import FakeEndpoint

    fake = FakeEndpoint()
    await fake.start()
    try:
        clock = ManualClock()
        settings = make_settings(fake, tmp_path, max_requests_per_minute=3)
        client = EndpointClient(settings, http, sleep=clock.sleep, clock=clock)
        for i in range(3):
            await client.synthesize(SpeechRequest(f"message {i}"))
            clock.advance(10.0)
        assert clock.sleeps == []
        await client.synthesize(SpeechRequest("message 3"))
        assert clock.sleeps == [pytest.approx(30.0)]  # sent at 0, 10, 20; now 30 → wait until 60
        assert fake.request_count == 4 and client.stats.paced == 1
    finally:
        await fake.stop()
