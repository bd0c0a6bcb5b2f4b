"""Shared fixtures: the fake endpoint, settings pointing at it, the HTTP session, the client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.base.config import Settings
from bot.speech.endpoint.client import EndpointClient
from tests.standins.clock import ManualClock
from tests.standins.fake_api import FakeEndpoint
from tests.standins.settings import API_KEY, MakeClient, StartFake, make_settings

pytest_plugins = ["tests.standins.no_silent_skips"]


@pytest.fixture
async def fake_endpoint() -> AsyncIterator[FakeEndpoint]:
    fake = FakeEndpoint(api_key=API_KEY)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(fake_endpoint: FakeEndpoint, tmp_path: Path) -> Settings:
    return make_settings(fake_endpoint, tmp_path)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def fake_clock() -> ManualClock:
    """The client's clock: its sleeps are recorded and advance time without waiting."""
    return ManualClock()


@pytest.fixture
def client(settings: Settings, session: aiohttp.ClientSession, fake_clock: ManualClock) -> EndpointClient:
    return EndpointClient(settings, session, sleep=fake_clock.sleep, clock=fake_clock, rand=lambda: 0.5)


@pytest.fixture
async def start_fake() -> AsyncIterator[StartFake]:
    """Start fakes with custom options; all are stopped after the test."""
    started: list[FakeEndpoint] = []

    async def start(**options: Any) -> FakeEndpoint:
        fake = await FakeEndpoint(api_key=API_KEY, **options).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        await fake.stop()


@pytest.fixture
def make_client(session: aiohttp.ClientSession, fake_clock: ManualClock, tmp_path: Path) -> MakeClient:
    """An EndpointClient for `fake` in either API style, on the fake clock (rand fixed)."""

    def make(fake: FakeEndpoint, style: str = "relay", rand: float = 0.5, **overrides: Any) -> EndpointClient:
        url = fake.url if style == "relay" else fake.dashscope_url
        settings = make_settings(fake, tmp_path, api_url=url, api_style=style, **overrides)
        return EndpointClient(settings, session, sleep=fake_clock.sleep, clock=fake_clock, rand=lambda: rand)

    return make
