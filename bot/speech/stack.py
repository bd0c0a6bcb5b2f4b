"""Builds the speech stack every caller uses: endpoint client and/or local engine, each
behind its own audio cache front (so a fallback utterance never shadows the real voice),
with the fallback engine on top when both exist.

    callers ─▶ FallbackEngine ─▶ CachedEngine(EndpointClient)   (primary)
                              └▶ CachedEngine(LocalEngine)      (backup)

With the endpoint alone (TTS_ENGINE=api) the FallbackEngine has no backup: it only logs the
account failures (`error_log.AccountAlarm`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp

from bot.audio.clip import Audio
from bot.base.config import ConfigError, Settings
from bot.cluster.connection import ClusterLink, open_cluster
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.cached_engine import CachedEngine
from bot.speech.cache.cluster_flight import ClusterFlights
from bot.speech.cache.shared import SharedTier
from bot.speech.endpoint.client import EndpointClient
from bot.speech.engine import SpeechEngine
from bot.speech.error_log import error_label
from bot.speech.errors import TTSError
from bot.speech.request import SpeechRequest

log = logging.getLogger(__name__)


def local_engine_available() -> bool:
    try:
        from bot.speech.local.engine import LocalEngine
    except ImportError:
        return False
    return bool(LocalEngine.available())


def describe_engine(settings: Settings) -> str:
    """Which engine speaks with these settings (for `parla voices` and the start-up log)."""
    from bot.speech.fallback.plan import plan_engines

    try:
        plan = plan_engines(settings, local_available=local_engine_available())
    except ConfigError as exc:
        return f"none ({exc})"
    names = {"api": f"the endpoint {settings.model} ({settings.api_style} style)", "local": "local espeak-ng"}
    text = names[plan.primary]
    if plan.backup is not None:
        text += f" with {names[plan.backup]} as backup"
    elif plan.primary == "local" and settings.api_key is None:
        text += " (no TTS_API_KEY set)"
    return text


@dataclass
class SpeechStack:
    engine: SpeechEngine
    cache: AudioCache | None
    client: EndpointClient | None = None
    primary: SpeechEngine | None = None  # the engine that speaks unless it fails
    backup: SpeechEngine | None = None
    fallbacks: int = 0
    last_fallback_at: float | None = None
    last_error: TTSError | None = None  # the endpoint failure behind the latest fallback
    cluster: ClusterLink | None = None  # the Redis link (REDIS_URL set), shared by the services

    async def lookup(self, request: SpeechRequest, *, count: bool = True) -> Audio | None:
        """The cached audio for the engine that would serve `request`, without synthesizing
        (`count=False`: a peek that leaves the hit counters alone)."""
        if isinstance(self.primary, CachedEngine):
            return await self.primary.lookup(request, count=count)
        return None

    def served_by(self, request: SpeechRequest) -> str:
        if self.client is None:
            return "local engine"
        if not self.fallbacks:
            return "endpoint"
        err = self.last_error
        if err is None:
            return "local engine (endpoint failed)"
        rid = f", request id {err.request_id}" if err.request_id else ""
        return f"local engine (endpoint: {error_label(err)}{rid})"

    def note_fallback(self, error: TTSError) -> None:
        self.fallbacks += 1
        self.last_fallback_at = time.monotonic()
        self.last_error = error
        log.warning("using the local engine: %s", error.log_form())

    def backup_active(self, window: float = 120.0) -> bool:
        """Whether the backup voice is (or was just) speaking instead of the endpoint."""
        if getattr(self.engine, "primary_down", False):
            return True
        return self.last_fallback_at is not None and time.monotonic() - self.last_fallback_at < window


@contextlib.asynccontextmanager
async def open_speech_stack(
    settings: Settings,
    *,
    session: aiohttp.ClientSession | None = None,
    use_cache: bool = True,
    on_fallback: Callable[[TTSError], None] | None = None,
    cluster: ClusterLink | None = None,
) -> AsyncIterator[SpeechStack]:
    """Open the stack for `settings` (engines chosen by `fallback.plan.plan_engines`); closes what
    it opened on exit: the cached engines (cancelling flights) first, then the cache and the
    local engine, then the HTTP session if it opened one. With REDIS_URL set (or `cluster`
    given) the cache gets the shared tier and the stack's pieces share state in Redis."""
    from bot.speech.fallback.engine import FallbackEngine
    from bot.speech.fallback.plan import plan_engines

    plan = plan_engines(settings, local_available=local_engine_available())
    async with contextlib.AsyncExitStack() as exits:
        if cluster is None and settings.redis_url is not None:
            cluster = await exits.enter_async_context(open_cluster(settings))
        cache: AudioCache | None = None
        if use_cache:
            shared = None
            if cluster is not None and settings.cache_redis_mb > 0:
                shared = SharedTier(cluster, int(settings.cache_redis_mb * 1024 * 1024))
            cache = AudioCache.from_settings(settings, shared=shared)
            exits.push_async_callback(cache.close)

        def cached(engine: SpeechEngine, *, shared_flights: bool = False) -> SpeechEngine:
            if cache is None:
                return engine
            flights = None
            if shared_flights and cluster is not None:
                flights = ClusterFlights(cluster, sample_rate=engine.sample_rate)
            front = CachedEngine(engine, cache, cluster=flights)
            exits.push_async_callback(front.close)
            return front

        engines: dict[str, SpeechEngine] = {}
        client: EndpointClient | None = None
        if "api" in (plan.primary, plan.backup):
            if session is None:
                session = await exits.enter_async_context(aiohttp.ClientSession())
            client = EndpointClient(settings, session)
            if cluster is not None:
                from bot.speech.endpoint.cluster_pacing import ClusterPacing

                client.cluster_pacing = ClusterPacing(cluster, settings)
            engines["api"] = cached(client, shared_flights=True)
        if "local" in (plan.primary, plan.backup):
            from bot.speech.local.engine import LocalEngine

            local = LocalEngine()
            exits.callback(local.close)
            engines["local"] = cached(local)
        primary = engines[plan.primary]
        backup = engines[plan.backup] if plan.backup is not None else None
        stack = SpeechStack(
            engine=primary, cache=cache, client=client, primary=primary, backup=backup, cluster=cluster
        )
        if backup is None and client is not None:
            # TTS_ENGINE=api: no backup voice, but account failures are still logged at ERROR
            # once per cooldown (`FallbackEngine` without a backup only watches them).
            stack.engine = FallbackEngine(primary, None)
        elif backup is not None:

            def fallback_seen(error: TTSError) -> None:
                stack.note_fallback(error)
                if on_fallback is not None:
                    on_fallback(error)

            fallback = FallbackEngine(
                primary, backup, on_fallback=fallback_seen, cooldown=settings.breaker_cooldown_seconds
            )
            stack.engine = fallback
            if cluster is not None:  # one breaker for the whole cluster
                from bot.speech.fallback.shared_breaker import SharedBreaker

                shared_breaker = SharedBreaker(
                    cluster, fallback.breaker, cooldown=settings.breaker_cooldown_seconds
                )
                shared_breaker.start()
                exits.push_async_callback(shared_breaker.close)
        yield stack
