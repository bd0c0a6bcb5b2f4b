"""Choosing the engines for `TTS_ENGINE`: `plan_engines` decides (pure), `select_engine` builds.

- api: the endpoint only (needs TTS_API_KEY).
- local: the local engine only (needs the `local` extra).
- auto: with TTS_API_KEY, the endpoint, falling back to the local engine when it is installed;
  without a key, the local engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot.base.config import ConfigError, Settings
from bot.speech.engine import SpeechEngine
from bot.speech.fallback.engine import FallbackCallback, FallbackEngine

EngineKind = Literal["api", "local"]


@dataclass(frozen=True, slots=True)
class EnginePlan:
    """Which engines to build: the primary, and the backup it falls back to (if any)."""

    primary: EngineKind
    backup: EngineKind | None = None


def plan_engines(settings: Settings, *, local_available: bool) -> EnginePlan:
    """Decide the engines for `TTS_ENGINE` (pure; raises ConfigError when impossible).

    - api: the endpoint only (needs TTS_API_KEY).
    - local: the local engine only (needs the `local` extra).
    - auto: with TTS_API_KEY, the endpoint, falling back to the local engine when it is
      installed; without a key, the local engine.
    """
    hint = "install the `local` extra: pip install '.[local]'"
    if settings.engine == "api":
        settings.require_api_key()
        return EnginePlan("api")
    if settings.engine == "local":
        if not local_available:
            raise ConfigError("TTS_ENGINE", f"is local, but the local engine is not installed; {hint}.")
        return EnginePlan("local")
    if settings.api_key is not None:
        return EnginePlan("api", "local" if local_available else None)
    if not local_available:
        raise ConfigError(
            "TTS_API_KEY",
            f"not set, and the local engine is not installed. Set TTS_API_KEY, or {hint}.",
        )
    return EnginePlan("local")


def select_engine(
    settings: Settings,
    api_factory: Callable[[], SpeechEngine],
    local_factory: Callable[[], SpeechEngine],
    *,
    local_available: bool | None = None,
    on_fallback: FallbackCallback | None = None,
) -> SpeechEngine:
    """Build the engine `TTS_ENGINE` asks for.

    The factories return the engines as they should be used, i.e. already wrapped in their
    caches. With a backup, the result is a `FallbackEngine` over the two; else the one engine.
    `local_available` defaults to whether the `local` extra is installed.
    """
    if local_available is None:
        from bot.speech.local.engine import LocalEngine

        local_available = LocalEngine.available()
    plan = plan_engines(settings, local_available=local_available)
    factories = {"api": api_factory, "local": local_factory}
    primary = factories[plan.primary]()
    if plan.backup is None:
        return primary
    return FallbackEngine(primary, factories[plan.backup](), on_fallback=on_fallback)
