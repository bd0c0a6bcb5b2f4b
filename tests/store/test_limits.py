from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.base.config import Settings
from bot.store.limits import LimitExceeded, NoticeGate, UsageLimiter
from bot.store.sqlite import SqliteStorage
from tests.standins.clock import ManualClock


def limiter(clock: ManualClock, store: SqliteStorage | None = None, **kw: int) -> UsageLimiter:
    settings = Settings(
        member_requests_per_minute=kw.get("rpm", 3),
        member_chars_per_minute=kw.get("cpm", 100),
        guild_chars_per_day=kw.get("guild", 500),
        global_chars_per_day=kw.get("total", 800),
    )
    return UsageLimiter(settings, store, clock=clock, now=lambda: datetime(2026, 11, 26, 23, 0, tzinfo=UTC))


def test_member_requests_per_minute_then_reset() -> None:
    clock = ManualClock(1000.0)
    lim = limiter(clock)
    for _ in range(3):
        lim.check_member(1, 5)
    with pytest.raises(LimitExceeded) as info:
        lim.check_member(1, 5)
    assert info.value.scope == "member"
    assert "3 requests per minute" in info.value.user_message()
    assert info.value.retry_after == pytest.approx(60.0)
    lim.check_member(2, 5)  # another member is not affected
    clock.advance(60.0)
    lim.check_member(1, 5)


def test_member_characters_per_minute_says_when_it_resets() -> None:
    clock = ManualClock(1000.0)
    lim = limiter(clock, rpm=100)
    lim.check_member(1, 60)
    clock.advance(20)
    lim.check_member(1, 30)
    with pytest.raises(LimitExceeded) as info:
        lim.check_member(1, 20)
    # The first 60 characters leave the window 40 s from now.
    assert info.value.retry_after == pytest.approx(40.0)
    assert "resets in 40 s" in info.value.user_message()


async def test_daily_budgets_persist_and_cached_audio_is_free(tmp_path: Path) -> None:
    clock = ManualClock(1000.0)
    store = await SqliteStorage.open(tmp_path / "db.sqlite3")
    try:
        lim = limiter(clock, store, rpm=1000, cpm=10_000)
        await lim.admit(7, 1, 400, cached=False)
        await lim.charge(7, 400)  # what the endpoint reported it spoke
        await lim.admit(7, 1, 400, cached=True)  # a cache hit is admitted and costs nothing
        with pytest.raises(LimitExceeded) as info:
            await lim.admit(7, 2, 200, cached=False)
        assert info.value.scope == "server"
        assert info.value.retry_after == pytest.approx(3600.0)  # 23:00 UTC → midnight
        await lim.admit(8, 3, 350, cached=False)
        await lim.charge(8, 350)
        with pytest.raises(LimitExceeded) as info:
            await lim.admit(9, 3, 100, cached=False)
        assert info.value.scope == "global"
    finally:
        await store.close()
    # A new process sees the same totals.
    store = await SqliteStorage.open(tmp_path / "db.sqlite3")
    try:
        lim = limiter(clock, store, rpm=1000, cpm=10_000)
        with pytest.raises(LimitExceeded):
            await lim.admit(7, 1, 150, cached=False)
    finally:
        await store.close()


def test_notice_gate_one_per_window() -> None:
    clock = ManualClock(1000.0)
    gate = NoticeGate(300, clock=clock)
    assert gate.allow(("g", "Throttling"))
    assert not gate.allow(("g", "Throttling"))
    assert gate.allow(("g", "InternalError"))
    clock.advance(300)
    assert gate.allow(("g", "Throttling"))
