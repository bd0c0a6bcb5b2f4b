"""Builds the speech stack every caller uses: endpoint client and/or local engine, each
behind its own audio cache front (so a fallback utterance never shadows the real voice),
with the fallback engine on top when both exist.

    callers ─▶ FallbackEngine ─▶ CachedEngine(EndpointClient)   (primary)
                              └▶ CachedEngine(LocalEngine)      (backup)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp

from .audio import Audio
from .cache import AudioCache, CachedEngine
from .client import EndpointClient
from .config import Settings
from .engine import SpeechEngine
from .errors import TTSError
from .request import SpeechRequest

log = logging.getLogger(__name__)


def local_engine_available() -> bool:
    try:
        from .local_engine import LocalEngine
    except ImportError:
        return False
    return bool(LocalEngine.available())


def describe_engine(settings: Settings) -> str:
    local = local_engine_available()
    if settings.engine == "local":
        return "local espeak-ng" if local else "local espeak-ng (NOT INSTALLED: pip install '.[local]')"
    if settings.use_api:
        backup = " with local espeak-ng as backup" if settings.engine == "auto" and local else ""
        return f"the endpoint {settings.model} ({settings.api_style} style){backup}"
    if settings.engine == "api":
        return "the endpoint (TTS_API_KEY is NOT set)"
    return "local espeak-ng (no TTS_API_KEY set)" if local else "none: set TTS_API_KEY or install '.[local]'"


def _user_message(exc: TTSError) -> str:
    return exc.user_message()


@dataclass
class SpeechStack:
    engine: SpeechEngine
    cache: AudioCache | None
    client: EndpointClient | None = None
    primary: SpeechEngine | None = None
    backup: SpeechEngine | None = None
    fallbacks: int = 0
    _closers: list[Callable[[], object]] = field(default_factory=list)

    async def lookup(self, request: SpeechRequest) -> Audio | None:
        """The cached audio for the engine that would serve `request`, without synthesizing."""
        front = self.primary or self.backup
        if isinstance(front, CachedEngine):
            return await front.lookup(request)
        return None

    def served_by(self, request: SpeechRequest) -> str:
        if self.client is None:
            return "local engine"
        return "local engine (endpoint failed)" if self.fallbacks else "endpoint"

    def note_fallback(self, error: TTSError) -> None:
        self.fallbacks += 1
        log.warning("using the local engine: %s", error.log_form())


@contextlib.asynccontextmanager
async def open_speech_stack(
    settings: Settings,
    *,
    session: aiohttp.ClientSession | None = None,
    use_cache: bool = True,
    on_fallback: Callable[[TTSError], None] | None = None,
) -> AsyncIterator[SpeechStack]:
    """Open the stack for `settings`; closes what it opened on exit."""
    async with contextlib.AsyncExitStack() as exits:
        cache: AudioCache | None = None
        if use_cache:
            cache = AudioCache.from_settings(settings)
            exits.push_async_callback(cache.close)
        primary: SpeechEngine | None = None
        backup: SpeechEngine | None = None
        client: EndpointClient | None = None
        if settings.use_api:
            if session is None:
                session = await exits.enter_async_context(aiohttp.ClientSession())
            client = EndpointClient(settings, session)
            primary = CachedEngine(client, cache) if cache is not None else client
        elif settings.engine == "api":
            settings.require_api_key()
        want_local = settings.engine == "local" or (settings.engine == "auto")
        if want_local and local_engine_available():
            from .local_engine import LocalEngine

            local = LocalEngine()
            exits.callback(local.close)
            backup = CachedEngine(local, cache) if cache is not None else local
        elif settings.engine == "local" or primary is None:
            raise TTSError(
                "no speech engine: set TTS_API_KEY, or install the local engine with pip install '.[local]'"
            )
        stack = SpeechStack(engine=primary or backup, cache=cache, client=client)  # type: ignore[arg-type]
        stack.primary, stack.backup = primary, backup
        if primary is not None and backup is not None:
            from .fallback import FallbackEngine

            def fallback_seen(error: TTSError) -> None:
                stack.note_fallback(error)
                if on_fallback is not None:
                    on_fallback(error)

            stack.engine = FallbackEngine(primary, backup, on_fallback=fallback_seen)
        yield stack
