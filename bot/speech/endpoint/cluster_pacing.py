"""The endpoint's limits held by the whole cluster: `TTS_MAX_RPM` requests per rolling window
(`RollingWindow`) and `TTS_MAX_CONCURRENT` requests in flight (`LeasedSemaphore`, so a killed
process's slots come back within the lease), summed over every process; a 429's Retry-After
pauses every process (`pause`). When Redis is unavailable each call answers so, and the client
paces itself locally at its share, `TTS_MAX_RPM / CLUSTER_PROCESSES`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from bot.base.config import Settings
from bot.cluster.admission import admit
from bot.cluster.connection import ClusterLink
from bot.cluster.semaphore import LeasedSemaphore, Slot
from bot.cluster.window import RollingWindow

__all__ = ["ClusterPacing"]

SLOT_POLL = 0.02  # seconds between tries for a free slot
MAX_WAIT_STEP = 1.0  # a long wait is re-checked at least this often (a pause may end early)


class ClusterPacing:
    def __init__(
        self,
        link: ClusterLink,
        settings: Settings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._link = link
        self._sleep = sleep
        self.window = RollingWindow(
            link, "tts-rpm", settings.max_requests_per_minute, per=settings.rpm_window_seconds
        )
        self.slots = LeasedSemaphore(link, "tts-in-flight", settings.max_concurrent_requests)
        self.local_share = max(1, settings.max_requests_per_minute // settings.cluster_processes)
        self.paced = 0

    @property
    def available(self) -> bool:
        return self._link.available

    async def pace(self) -> bool:
        """Wait for room in the cluster's window and take it; False if Redis is unavailable
        (the caller paces locally)."""
        while True:
            wait = await self.window.try_take()
            if wait is None:
                return False
            if wait <= 0:
                return True
            self.paced += 1
            await self._sleep(min(wait, MAX_WAIT_STEP))

    @contextlib.asynccontextmanager
    async def slot(self, local: asyncio.Semaphore) -> AsyncIterator[bool]:
        """Hold one of the cluster's in-flight slots (the local semaphore as well, so this
        process alone never passes the cap either, with or without Redis), taken together with
        the request's place in the cluster's window, in one round trip (`admission.admit`).
        Yields True when both were taken; False when Redis is unavailable (the local semaphore
        alone, and the caller paces locally)."""
        async with local:
            held: Slot | None = None
            while True:
                got = await admit(self.window, self.slots)
                if got is None:
                    break  # Redis unavailable: the local semaphore alone
                if isinstance(got, Slot):
                    held = got
                    break
                if got is False:
                    await self._sleep(SLOT_POLL)
                else:
                    self.paced += 1
                    await self._sleep(min(float(got), MAX_WAIT_STEP))
            try:
                yield held is not None
            finally:
                if held is not None:
                    await asyncio.shield(held.release())

    async def pause(self, seconds: float) -> None:
        """Every process waits `seconds` before its next request (Retry-After)."""
        await self.window.pause(seconds)
