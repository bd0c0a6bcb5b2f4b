"""Settings pointing at the fake endpoint, its API key, and the types of the factories the
`make_client` and `start_fake` fixtures hand out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.base.config import Settings
from bot.base.secrets import Secret
from bot.speech.endpoint.client import EndpointClient
from tests.standins.fake_api import FakeEndpoint

API_KEY = "test-key-0123456789"

MakeClient = Callable[..., EndpointClient]
StartFake = Callable[..., Awaitable[FakeEndpoint]]


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
