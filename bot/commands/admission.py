"""Admission of one speech request (`/speak`, "Read aloud", previews, read-aloud messages): the
cost and abuse limits, and which server the endpoint's usage is charged to.

Audio that is already cached, or made by the local engine (no endpoint configured), is free:
it is checked against the member's rate limit but not against the daily character budgets.
"""

from __future__ import annotations

from typing import Protocol

from bot.audio.clip import Audio
from bot.speech.request import SpeechRequest
from bot.store.limits import current_guild


class Limits(Protocol):
    """The usage limits (bot.store.limits.UsageLimiter)."""

    async def admit(self, guild_id: int | None, user_id: int, characters: int, *, cached: bool) -> None: ...


class CachePeek(Protocol):
    """The speech stack as admission sees it (bot.speech.stack.SpeechStack): whether an
    endpoint is configured, and a look into the cache that counts nothing."""

    @property
    def client(self) -> object | None: ...

    async def lookup(self, request: SpeechRequest, *, count: bool = True) -> Audio | None: ...


class Admission:
    """Admits requests against the usage limits; built once with the limiter and the stack."""

    def __init__(self, limits: Limits, stack: CachePeek) -> None:
        self.limits = limits
        self.stack = stack

    async def admit(self, guild_id: int | None, user_id: int, request: SpeechRequest) -> None:
        """Apply the cost and abuse limits to one request (raises LimitExceeded), and mark the
        calling task's server so the endpoint's usage is charged to it. Audio that is cached,
        or made by the local engine, is not checked against the daily character budgets."""
        current_guild.set(guild_id)
        free = self.stack.client is None or await self.stack.lookup(request, count=False) is not None
        await self.limits.admit(guild_id, user_id, len(request.text), cached=free)
