"""The endpoint's limits across processes: a 429 with Retry-After seen by one process pauses
the others; without Redis a process paces at its share, TTS_MAX_RPM / CLUSTER_PROCESSES."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp

from bot.cluster.connection import ClusterLink
from bot.speech.endpoint.client import EndpointClient
from bot.speech.endpoint.cluster_pacing import ClusterPacing
from bot.speech.errors import ThrottledError
from bot.speech.request import SpeechRequest
from tests.standins.clock import ManualClock
from tests.standins.fake_api import FakeEndpoint
from tests.standins.redis_server import RedisProcess, open_link, unique_prefix
from tests.standins.settings import API_KEY, make_settings


async def test_a_429_retry_after_in_one_process_pauses_the_others(tmp_path: Path) -> None:
    async with FakeEndpoint(api_key=API_KEY) as fake, aiohttp.ClientSession() as session:
        settings = make_settings(fake, tmp_path, retry_attempts=1)
        async with open_link() as link_a, open_link(link_a.prefix) as link_b:
            a, b = EndpointClient(settings, session), EndpointClient(settings, session)
            a.cluster_pacing = ClusterPacing(link_a, settings)
            b.cluster_pacing = ClusterPacing(link_b, settings)
            try:
                await a.synthesize(SpeechRequest(text="[[fault:retry-after:1]] busy"))
            except ThrottledError as exc:
                assert exc.retry_after == 1
            else:
                raise AssertionError("no 429")
            throttled_at = time.monotonic()
            await b.synthesize(SpeechRequest(text="The other process waits."))
            assert fake.requests[-1].at - throttled_at >= 0.8
            assert b.cluster_pacing.paced >= 1


async def test_without_redis_a_process_paces_at_its_share(tmp_path: Path) -> None:
    server = RedisProcess()
    link = ClusterLink.from_url(server.url, prefix=unique_prefix())
    await link.start()
    clock = ManualClock(1000.0)
    async with FakeEndpoint(api_key=API_KEY) as fake, aiohttp.ClientSession() as session:
        settings = make_settings(fake, tmp_path, max_requests_per_minute=170, cluster_processes=4)
        client = EndpointClient(settings, session, sleep=clock.sleep, clock=clock)
        client.cluster_pacing = ClusterPacing(link, settings)
        assert client.cluster_pacing.local_share == 42  # 170 // 4
        for i in range(43):
            await client.synthesize(SpeechRequest(text=f"Phrase {i}."))
        assert client.stats.paced == 1 and clock.sleeps == [60.0]  # the 43rd waited for the window
    await link.close()
