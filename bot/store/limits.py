"""Cost and abuse limits: per member (requests and characters per minute), per server and
global (characters per day, persisted through the storage's usage counters).

The daily budgets are charged with what the endpoint reports it spoke (`usage.characters`),
attributed to the server in `current_guild` (a context variable the callers and the players'
tasks set), so cache hits, the local engine and failed requests cost nothing. Admission checks
the budgets with the request's length; the per-member rate counts every request, cached or
not, to stop spam. In a cluster (`cluster`, with REDIS_URL) the same limits hold for all
processes together (`cluster_budget`); without Redis each process keeps its own.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol

from bot.base.config import Settings
from bot.base.errors import ParlaError
from bot.base.i18n import Text, say
from bot.store.cluster_budget import ClusterBudget
from bot.store.protocol import StorageUnavailable

_log = logging.getLogger("parla.limits")

LimitScope = Literal["member", "server", "global"]

# The server whose request is being synthesized (None: a DM or the CLI).
current_guild: contextvars.ContextVar[int | None] = contextvars.ContextVar("parla_guild", default=None)
WINDOW = 60.0


class UsageStore(Protocol):
    async def add_usage(self, guild_id: int | None, characters: int, *, requests: int = 1) -> object: ...

    async def get_usage(self, guild_id: int | None) -> UsageView: ...


class UsageView(Protocol):
    @property
    def guild_characters(self) -> int: ...

    @property
    def global_characters(self) -> int: ...


class SlidingWindow:
    """Weighted events per key within the last `per` seconds; idle keys are forgotten."""

    def __init__(self, per: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per <= 0:
            raise ValueError("per must be positive")
        self.per = per
        self._clock = clock
        self._events: dict[Hashable, deque[tuple[float, int]]] = {}

    def now(self) -> float:
        return self._clock()

    def events(self, key: Hashable, now: float) -> deque[tuple[float, int]]:
        """(time, weight) of `key`'s events still inside the window, oldest first."""
        window = self._events.get(key)
        if window is None:
            window = self._events[key] = deque()
        while window and window[0][0] <= now - self.per:
            window.popleft()
        return window

    def add(self, key: Hashable, now: float, weight: int = 1) -> None:
        self.events(key, now).append((now, weight))
        if len(self._events) > 10_000:
            stale = [k for k, w in self._events.items() if not w or w[-1][0] <= now - self.per]
            for k in stale:
                del self._events[k]


class SlidingWindowLimiter:
    """At most `limit` events per `per` seconds per key."""

    def __init__(self, limit: int, per: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.per = per
        self._window = SlidingWindow(per, clock=clock)

    def allow(self, key: Hashable) -> bool:
        """Record an event for `key` and return True, or return False if it is over the limit
        (a refused event is not recorded)."""
        now = self._window.now()
        if len(self._window.events(key, now)) >= self.limit:
            return False
        self._window.add(key, now)
        return True


class LimitExceeded(ParlaError):
    """A limit was hit; `retry_after` says when it resets (seconds)."""

    def __init__(self, scope: LimitScope, what: str, retry_after: float) -> None:
        self.scope = scope
        self.what = what
        self.retry_after = max(0.0, retry_after)
        super().__init__(self.user_message())

    def user_message(self) -> str:
        return say(f"limit.reached.{self.scope}", what=self.what, wait=_human(self.retry_after))


def _human(seconds: float) -> Text:
    seconds = int(seconds + 0.999)
    if seconds < 90:
        return say("duration.seconds", count=seconds)
    if seconds < 5400:
        return say("duration.minutes", count=(seconds + 59) // 60)
    return say("duration.hours", count=seconds / 3600)


def _seconds_to_utc_midnight(now: datetime) -> float:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


@dataclass
class _Daily:
    day: date
    characters: int


class UsageLimiter:
    def __init__(
        self,
        settings: Settings,
        store: UsageStore | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._rpm = settings.member_requests_per_minute
        self._cpm = settings.member_chars_per_minute
        self._guild_day = settings.guild_chars_per_day
        self._global_day = settings.global_chars_per_day
        self._store = store
        self._clock = clock
        self._now = now
        self._members = SlidingWindow(WINDOW, clock=clock)
        self._guilds: dict[int, _Daily] = {}
        self._global: _Daily | None = None
        self.cluster: ClusterBudget | None = None  # limits shared by the cluster's processes

    # -- per member, per minute ----------------------------------------------------------
    def check_member(self, user_id: int, characters: int) -> None:
        """Count a request of `characters` for `user_id`, or raise LimitExceeded."""
        now = self._members.now()
        window = self._members.events(user_id, now)
        if len(window) >= self._rpm:
            raise LimitExceeded("member", say("limit.rpm", count=self._rpm), window[0][0] + WINDOW - now)
        used = sum(c for _, c in window)
        if used + characters > self._cpm and window:
            # Wait until enough old requests leave the window.
            freed, reset = 0, WINDOW
            for at, chars in window:
                freed += chars
                if used - freed + characters <= self._cpm:
                    reset = at + WINDOW - now
                    break
            raise LimitExceeded("member", say("limit.cpm", count=self._cpm), reset)
        self._members.add(user_id, now, characters)

    # -- daily budgets (endpoint characters) ---------------------------------------------
    async def _daily(self, guild_id: int | None) -> tuple[_Daily, _Daily | None]:
        today = self._now().date()
        if (
            self._global is None
            or self._global.day != today
            or (
                guild_id is not None and (guild_id not in self._guilds or self._guilds[guild_id].day != today)
            )
        ):
            guild_chars = global_chars = 0
            if self._store is not None:
                try:
                    usage = await self._store.get_usage(guild_id)
                except StorageUnavailable:  # the database is away: speak on, count in memory
                    _log.warning("usage totals unavailable; counting in memory until the database is back")
                    fresh = _Daily(today, 0)
                    return self._global or fresh, _Daily(today, 0) if guild_id is not None else None
                guild_chars, global_chars = usage.guild_characters, usage.global_characters
            if self._global is None or self._global.day != today:
                self._global = _Daily(today, global_chars)
            if guild_id is not None:
                self._guilds[guild_id] = _Daily(today, guild_chars)
        return self._global, self._guilds.get(guild_id) if guild_id is not None else None

    async def check_budget(self, guild_id: int | None, characters: int) -> None:
        """Raise LimitExceeded if speaking `characters` more today would pass a daily budget."""
        total, guild = await self._daily(guild_id)
        reset = _seconds_to_utc_midnight(self._now())
        if total.characters + characters > self._global_day:
            raise LimitExceeded("global", say("limit.per_day", count=self._global_day), reset)
        if guild is not None and guild.characters + characters > self._guild_day:
            raise LimitExceeded("server", say("limit.per_day", count=self._guild_day), reset)

    async def charge(self, guild_id: int | None, characters: int) -> None:
        """Record `characters` the endpoint spoke for `guild_id` (persisted)."""
        total, guild = await self._daily(guild_id)
        settled = None
        if self.cluster is not None:
            seeds = (total.characters, guild.characters if guild else 0)
            settled = await self.cluster.settle(total.day, guild_id, characters, seeds=seeds)
        if settled is not None:  # the cluster's totals
            total.characters = settled[0]
            if guild is not None:
                guild.characters = settled[1]
        else:
            total.characters += characters
            if guild is not None:
                guild.characters += characters
        if self._store is not None:
            try:
                await self._store.add_usage(guild_id, characters)
            except StorageUnavailable:  # already spoken: the charge stays in memory only
                _log.warning("usage charge of %d characters not saved: database unavailable", characters)

    async def admit(self, guild_id: int | None, user_id: int, characters: int, *, cached: bool) -> None:
        """All checks for one request: member rate always; daily budgets only when the endpoint
        will be called. The charge comes later, from the endpoint's own count (`charge`)."""
        cluster = self.cluster is not None
        if cluster and await self._admit_in_cluster(guild_id, user_id, characters, cached=cached):
            return
        self.check_member(user_id, characters)
        if not cached:
            await self.check_budget(guild_id, characters)

    async def _admit_in_cluster(
        self, guild_id: int | None, user_id: int, characters: int, *, cached: bool
    ) -> bool:
        """`admit` against the cluster's shared state; False if Redis is unavailable."""
        assert self.cluster is not None
        verdict = await self.cluster.check_member(
            user_id, characters, rpm=self._rpm, cpm=self._cpm, per=WINDOW
        )
        if verdict is None:
            return False
        if verdict.refused is not None:
            limit = self._rpm if verdict.refused == "requests" else self._cpm
            what = say("limit.rpm" if verdict.refused == "requests" else "limit.cpm", count=limit)
            raise LimitExceeded("member", what, verdict.retry_after)
        if cached:
            return True
        total, guild = await self._daily(guild_id)
        outcome = await self.cluster.reserve(
            total.day,
            guild_id,
            characters,
            budgets=(self._global_day, self._guild_day),
            seeds=(total.characters, guild.characters if guild else 0),
        )
        if outcome is None:
            await self.check_budget(guild_id, characters)
            return True
        refused, total.characters, used_guild = outcome
        if guild is not None:
            guild.characters = used_guild
        reset = _seconds_to_utc_midnight(self._now())
        if refused == "global":
            raise LimitExceeded("global", say("limit.per_day", count=self._global_day), reset)
        if refused == "server":
            raise LimitExceeded("server", say("limit.per_day", count=self._guild_day), reset)
        return True

    def usage_today(self, guild_id: int | None) -> tuple[int, int]:
        """(server characters, global characters) known in memory for today."""
        guild = self._guilds.get(guild_id) if guild_id is not None else None
        return (guild.characters if guild else 0, self._global.characters if self._global else 0)


class NoticeGate:
    """At most one notice per key per window (e.g. per member for rate limits, per error code
    per channel for read-aloud errors)."""

    def __init__(self, window: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._last: dict[object, float] = {}

    def allow(self, key: object) -> bool:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._window:
            return False
        self._last[key] = now
        if len(self._last) > 10_000:
            cutoff = now - self._window
            self._last = {k: t for k, t in self._last.items() if t >= cutoff}
        return True
