"""The circuit breaker across processes (two fallback engines, each with its own Redis link on
one prefix): an outage seen by one opens the breaker in both; after the cooldown one probe in
the whole cluster; its success closes every breaker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bot.audio.clip import Audio
from bot.speech.errors import ServerError
from bot.speech.fallback.engine import FallbackEngine
from bot.speech.fallback.shared_breaker import SharedBreaker
from bot.speech.request import SpeechRequest
from tests.standins.redis_server import open_link

REQUEST = SpeechRequest(text="Through the breaker.")


class Engine:
    sample_rate = 24_000

    def __init__(self, name: str, *, failing: bool) -> None:
        self.name = name
        self.failing = failing
        self.calls = 0

    async def synthesize(self, request: SpeechRequest) -> Audio:
        self.calls += 1
        if self.failing:
            raise ServerError("down", status=500, retryable=False)
        return Audio(pcm=b"\x01\x00" * 240, rate=self.sample_rate, channels=1)

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        yield (await self.synthesize(request)).pcm


async def _one_wins(shared: list[SharedBreaker]) -> None:
    """Wait until one process holds the cluster's probe (after the cooldown)."""
    waits = {asyncio.ensure_future(s.probe_won.wait()) for s in shared}
    done, pending = await asyncio.wait(waits, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    assert done and sum(s.probe_won.is_set() for s in shared) == 1


async def test_an_outage_in_one_process_opens_the_breaker_everywhere_and_one_probe_runs() -> None:
    async with open_link() as link_a, open_link(link_a.prefix) as link_b:
        primaries = [Engine("api:a", failing=True), Engine("api:b", failing=True)]
        engines = [FallbackEngine(p, Engine("local", failing=False), cooldown=0.3) for p in primaries]
        shared = [SharedBreaker(link, e.breaker) for link, e in zip((link_a, link_b), engines, strict=True)]
        for s in shared:
            s.start()
        try:
            await asyncio.wait_for(asyncio.gather(*(s.channel.subscribed.wait() for s in shared)), 5)
            a, b = engines
            await a.synthesize(REQUEST)
            await a.synthesize(REQUEST)  # the second failure in a row opens A's breaker
            assert a.primary_down
            await asyncio.wait_for(shared[1].channel.heard.wait(), 5)
            assert b.primary_down  # B never saw a failure of its own
            await b.synthesize(REQUEST)
            assert primaries[1].calls == 0  # B went straight to its backup
            # After the cooldown: one probe in the cluster (it fails, and reopens everywhere).
            await _one_wins(shared)
            other = next(s for s in shared if not s.probe_won.is_set())
            before = sum(p.calls for p in primaries)
            for s in shared:
                s.channel.heard.clear()
            await asyncio.gather(*(e.synthesize(REQUEST) for e in engines for _ in range(3)))
            assert sum(p.calls for p in primaries) - before == 1
            # The next probe succeeds: every breaker closes.
            for p in primaries:
                p.failing = False
            await asyncio.wait_for(other.channel.heard.wait(), 5)  # reopened by the probe's failure
            await _one_wins(shared)
            for s in shared:
                s.channel.heard.clear()
            await asyncio.gather(*(e.synthesize(REQUEST) for e in engines))
            for engine, s in zip(engines, shared, strict=True):
                if engine.primary_down:  # closed by the prober's message
                    await asyncio.wait_for(s.channel.heard.wait(), 5)
            assert not a.primary_down and not b.primary_down
        finally:
            for s in shared:
                await s.close()
