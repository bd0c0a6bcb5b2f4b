"""Shared fixtures: the fake endpoint, settings pointing at it, the HTTP session, the client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.base.config import Settings
from bot.base.secrets import Secret
from bot.speech.endpoint.client import EndpointClient
from tests.standins.fake_api import FakeEndpoint

API_KEY = "test-key-0123456789"


def make_settings(fake: FakeEndpoint | None, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "api_key": Secret(API_KEY),
        "api_url": fake.url if fake is not None else "http://127.0.0.1:9/v1/audio/speech",
        "data_dir": tmp_path / "data",
        "first_byte_timeout": 2.0,
        "stall_timeout": 1.0,
        "total_timeout": 10.0,
        "retry_budget": 10.0,
        "max_requests_per_minute": 100_000,  # pacing is tested on its own
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


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


class NoSleep:
    """A fake clock: `sleep` records the delay and advances time without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake_clock() -> NoSleep:
    return NoSleep()


@pytest.fixture
def client(settings: Settings, session: aiohttp.ClientSession, fake_clock: NoSleep) -> EndpointClient:
    return EndpointClient(settings, session, sleep=fake_clock.sleep, clock=fake_clock.clock, rand=lambda: 0.5)


MakeClient = Callable[..., EndpointClient]
StartFake = Callable[..., Awaitable[FakeEndpoint]]


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
def make_client(session: aiohttp.ClientSession, fake_clock: NoSleep, tmp_path: Path) -> MakeClient:
    """An EndpointClient for `fake` in either API style, on the fake clock (rand fixed)."""

    def make(fake: FakeEndpoint, style: str = "relay", rand: float = 0.5, **overrides: Any) -> EndpointClient:
        url = fake.url if style == "relay" else fake.dashscope_url
        settings = make_settings(fake, tmp_path, api_url=url, api_style=style, **overrides)
        return EndpointClient(
            settings, session, sleep=fake_clock.sleep, clock=fake_clock.clock, rand=lambda: rand
        )

    return make
