"""`ClusterLink`: the one Redis client of a process, and whether Redis is there right now.

Every call runs through `call()`, with a timeout; a failure marks the link unavailable and
returns the caller's fallback instead of raising, so a feature falls back to its local form.
While unavailable, a check every `RECHECK_SECONDS` pings Redis; when it answers again the link
is available and the `on_reconnect` listeners run (e.g. the settings cache drops everything).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.base.config import Settings

__all__ = ["CALL_TIMEOUT", "RECHECK_SECONDS", "ClusterLink", "open_cluster", "stop_task"]

log = logging.getLogger(__name__)

T = TypeVar("T")

RECHECK_SECONDS = 10.0
CALL_TIMEOUT = 2.0  # seconds for one Redis call (blocking reads ask for less)


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended. A cancellation that arrives while the Redis
    client is in the middle of a call can be absorbed by it (the task goes on, still
    "cancelling"), so the request is repeated until the task is really gone."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.cancelled() and task.exception() is not None:
        log.debug("stopped task %s had failed: %r", task.get_name(), task.exception())


class ClusterLink:
    """A Redis client under `prefix`, with an `available` flag.

    `call(fn, fallback)` awaits `fn(client)` within `CALL_TIMEOUT`; on any Redis error or
    timeout it logs one line (the first time), marks the link unavailable and returns
    `fallback`. While unavailable, `call` returns `fallback` at once without touching Redis."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "parla:",
        lease_seconds: float = 10.0,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.lease_seconds = lease_seconds
        self.recheck_seconds = recheck_seconds
        self._available = False
        self._listeners: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._down_since: float | None = None
        self.failures = 0

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "parla:",
        lease_seconds: float = 10.0,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> ClusterLink:
        client = aioredis.Redis.from_url(
            url,
            socket_timeout=CALL_TIMEOUT,
            socket_connect_timeout=CALL_TIMEOUT,
            health_check_interval=0,
            decode_responses=False,
        )
        return cls(client, prefix=prefix, lease_seconds=lease_seconds, recheck_seconds=recheck_seconds)

    # -- state -----------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        return self._available and not self._closed

    def key(self, *parts: str) -> str:
        """A key in this bot's namespace: `prefix` + parts joined by ':'."""
        return self.prefix + ":".join(parts)

    def on_reconnect(self, listener: Callable[[], None]) -> None:
        """Call `listener` each time the link becomes available again after being down."""
        self._listeners.append(listener)

    # -- calls -----------------------------------------------------------------------------
    async def call(
        self, fn: Callable[[aioredis.Redis], Awaitable[T]], fallback: T, *, within: float = CALL_TIMEOUT
    ) -> T:
        if not self.available:
            return fallback
        try:
            async with asyncio.timeout(within):
                return await fn(self.client)
        except (RedisError, OSError, TimeoutError) as exc:
            self.mark_down(exc)
            return fallback

    def mark_down(self, exc: BaseException) -> None:
        self.failures += 1
        if self._available:
            self._available = False
            self._down_since = time.monotonic()
            log.warning("redis unreachable (%s); using local state until it returns", type(exc).__name__)

    async def ping(self) -> bool:
        """Whether Redis answers now (never raises)."""
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                return bool(await self.client.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    async def check(self) -> bool:
        """Ping; on a change from down to up, mark available and run the reconnect listeners."""
        if self._closed:
            return False
        up = await self.ping()
        if up and not self._available:
            was_down = self._down_since is not None
            self._available = True
            self._down_since = None
            if was_down:
                log.info("redis is back; shared state resumes")
            for listener in list(self._listeners):
                try:
                    listener()
                except Exception:
                    log.exception("redis reconnect listener failed")
        elif not up and self._available:
            self.mark_down(ConnectionError("ping failed"))
        return up

    async def start(self) -> None:
        """First check (one log line if Redis is not there), then the recheck task."""
        if not await self.check():
            self._down_since = time.monotonic()
            log.warning(
                "redis unreachable at start; using local state, retrying every %gs", self.recheck_seconds
            )
        self._task = asyncio.create_task(self._recheck(), name="parla-redis-recheck")

    async def _recheck(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.recheck_seconds)
            await self.check()

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            await stop_task(self._task)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(CALL_TIMEOUT):
                await self.client.aclose()


@contextlib.asynccontextmanager
async def open_cluster(settings: Settings) -> AsyncIterator[ClusterLink | None]:
    """The cluster link for `settings` (None when REDIS_URL is unset), closed on exit."""
    if settings.redis_url is None:
        yield None
        return
    link = ClusterLink.from_url(
        settings.redis_url.reveal(),
        prefix=settings.redis_prefix,
        lease_seconds=settings.cluster_lease_seconds,
    )
    await link.start()
    try:
        yield link
    finally:
        await link.close()
