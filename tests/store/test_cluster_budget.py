"""Limits and budgets across processes (two limiters on one Redis prefix): the member rate and
the daily budgets hold for the sum, reservations settle to the endpoint's count, and without
Redis each process keeps its own limits."""

from __future__ import annotations

import pytest

from bot.base.config import Settings
from bot.cluster.connection import ClusterLink
from bot.store.cluster_budget import ClusterBudget
from bot.store.limits import LimitExceeded, UsageLimiter
from tests.standins.redis_server import RedisProcess, open_link, unique_prefix

SETTINGS = Settings(member_requests_per_minute=3, global_chars_per_day=100, guild_chars_per_day=80)


def _limiter(link: ClusterLink) -> UsageLimiter:
    limiter = UsageLimiter(SETTINGS)
    limiter.cluster = ClusterBudget(link)
    return limiter


async def test_a_members_rate_is_counted_over_every_process() -> None:
    async with open_link() as link_a, open_link(link_a.prefix) as link_b:
        a, b = _limiter(link_a), _limiter(link_b)
        await a.admit(1, 7, 5, cached=True)
        await b.admit(1, 7, 5, cached=True)
        await a.admit(1, 7, 5, cached=True)
        with pytest.raises(LimitExceeded) as caught:
            await b.admit(1, 7, 5, cached=True)
        assert caught.value.scope == "member" and "3 requests per minute" in caught.value.user_message()
        await b.admit(1, 8, 5, cached=True)  # another member is not affected


async def test_daily_budgets_are_reserved_at_admission_and_settled_by_the_endpoints_count() -> None:
    async with open_link() as link_a, open_link(link_a.prefix) as link_b:
        a, b = _limiter(link_a), _limiter(link_b)
        await a.admit(1, 1, 60, cached=False)  # reserved: 60 of the server's 80
        with pytest.raises(LimitExceeded) as caught:
            await b.admit(1, 2, 30, cached=False)  # before a's charge arrives
        assert caught.value.scope == "server"
        await a.charge(1, 40)  # the endpoint spoke 40: 20 come back
        await b.admit(1, 2, 30, cached=False)
        await b.charge(1, 30)
        await a.admit(2, 3, 30, cached=False)  # another server; global now 100
        with pytest.raises(LimitExceeded) as caught:
            await b.admit(3, 4, 1, cached=False)
        assert caught.value.scope == "global"
        assert b.usage_today(1) == (70, 100)


async def test_without_redis_each_process_keeps_its_own_limits() -> None:
    server = RedisProcess()
    link = ClusterLink.from_url(server.url, prefix=unique_prefix())
    await link.start()
    try:
        a = _limiter(link)
        for _ in range(3):
            await a.admit(1, 7, 5, cached=False)
        with pytest.raises(LimitExceeded):
            await a.admit(1, 7, 5, cached=False)
        await a.charge(1, 15)
        assert a.usage_today(1) == (15, 15)
    finally:
        await link.close()
