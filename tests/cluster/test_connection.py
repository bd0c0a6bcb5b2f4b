"""The Redis link: available with Redis, local fallback without it, back within a recheck;
the lease lock, rolling window and leased semaphore against the real Redis."""

from __future__ import annotations

import asyncio

import pytest

from bot.base.config import ConfigError, Settings
from bot.cluster.admission import admit
from bot.cluster.connection import RECHECK_SECONDS, ClusterLink
from bot.cluster.lease_lock import LeaseLock
from bot.cluster.semaphore import LeasedSemaphore, Slot
from bot.cluster.window import RollingWindow
from tests.standins.redis_server import RedisProcess, delete_prefix, open_link, unique_prefix


def test_redis_settings_defaults_and_a_malformed_url_names_the_variable() -> None:
    settings = Settings.from_env({}, dotenv=False)
    assert settings.redis_url is None
    assert settings.redis_prefix == "parla:"
    assert settings.cache_redis_mb == 256
    assert RECHECK_SECONDS == 10
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"REDIS_URL": "http://nope"}, dotenv=False)
    assert caught.value.variable == "REDIS_URL"
    with pytest.raises(ConfigError):
        Settings.from_env({"REDIS_URL": "redis://127.0.0.1:notaport/0"}, dotenv=False)
    ok = Settings.from_env({"REDIS_URL": "redis://:pw-secret-1@127.0.0.1:6379/0"}, dotenv=False)
    assert ok.redis_url is not None and "pw-secret-1" not in repr(ok)


async def test_link_is_available_and_namespaces_keys() -> None:
    async with open_link() as link:
        assert link.available
        assert link.key("audio", "x") == link.prefix + "audio:x"
        await link.call(lambda r: r.set(link.key("k"), b"v"), None)
        assert await link.call(lambda r: r.get(link.key("k")), None) == b"v"


async def test_unreachable_at_start_runs_local_then_picks_redis_up() -> None:
    server = RedisProcess()
    link = ClusterLink.from_url(server.url, prefix=unique_prefix())
    reconnects: list[int] = []
    link.on_reconnect(lambda: reconnects.append(1))
    await link.start()
    try:
        assert not link.available
        assert await link.call(lambda r: r.get("x"), "local") == "local"  # nothing thrown
        await server.start()
        assert await link.check()
        assert link.available and reconnects == [1]
        # Lost mid-run: the next call falls back and marks the link down; back on the next check.
        await server.stop()
        assert await link.call(lambda r: r.set("x", 1), "fallback") == "fallback"
        assert not link.available
        await server.start()
        assert await link.check() and link.available and reconnects == [1, 1]
    finally:
        await link.close()
        await server.stop()


async def test_lease_lock_excludes_and_a_dead_holder_frees_it_within_the_lease() -> None:
    async with open_link(lease=0.6) as link:
        first = LeaseLock(link, link.key("lock", "a"))
        second = LeaseLock(link, link.key("lock", "a"))
        assert await first.acquire() is True
        assert await second.acquire() is False
        assert await second.holder() == first.token
        await asyncio.sleep(0.9)  # renewed past its lease while held
        assert await second.acquire() is False
        await first.release()
        assert await second.acquire() is True
        # The holder "dies": it stops renewing without releasing.
        assert second._renewer is not None
        second._renewer.cancel()
        third = LeaseLock(link, link.key("lock", "a"))
        assert await third.acquire() is False
        await asyncio.sleep(0.7)
        assert await third.acquire() is True
        await third.release()


async def test_rolling_window_admits_the_limit_and_a_pause_holds_everyone() -> None:
    async with open_link() as link:
        a = RollingWindow(link, "w", limit=3, per=1.0)
        b = RollingWindow(link, "w", limit=3, per=1.0)
        assert [await a.try_take(), await b.try_take(), await a.try_take()] == [0.0, 0.0, 0.0]
        wait = await b.try_take()
        assert wait is not None and 0 < wait <= 1.0
        await a.pause(5.0)
        paused = await RollingWindow(link, "w2", limit=3, per=1.0).try_take()
        assert paused == 0.0  # another window is not paused
        wait = await b.try_take()
        assert wait is not None and 4.0 < wait <= 5.0


async def test_leased_semaphore_caps_holders_and_a_dead_holder_gives_back_its_slot() -> None:
    async with open_link() as link:
        sem = LeasedSemaphore(link, "s", limit=2, lease=0.6)
        one, two = await sem.try_acquire(), await sem.try_acquire()
        assert isinstance(one, Slot) and isinstance(two, Slot)
        assert await sem.try_acquire() is False
        await one.release()
        three = await sem.try_acquire()
        assert isinstance(three, Slot)
        two._task.cancel()  # dies holding its slot
        await asyncio.sleep(0.9)
        four = await sem.try_acquire()
        assert isinstance(four, Slot)  # two's slot came back; three's is still renewed
        assert await sem.try_acquire() is False
        await three.release()
        await four.release()
        assert await sem.holders() == 0


async def test_admission_takes_window_and_slot_together_or_neither() -> None:
    async with open_link() as link:
        window = RollingWindow(link, "w", limit=2, per=1.0)
        sem = LeasedSemaphore(link, "s", limit=1, lease=5.0)
        held = await admit(window, sem)
        assert isinstance(held, Slot) and await window.count() == 1 and await sem.holders() == 1
        assert await admit(window, sem) is False  # no free slot: the window is not charged
        assert await window.count() == 1
        await held.release()
        await window.try_take()  # the window is full now (2 of 2)
        wait = await admit(window, sem)
        assert isinstance(wait, float) and 0 < wait <= 1.0
        assert await sem.holders() == 0  # a full window takes no slot while it waits
        await window.pause(5.0)
        wait = await admit(RollingWindow(link, "w", limit=10, per=1.0), sem)
        assert isinstance(wait, float) and 4.0 < wait <= 5.0  # the cluster's pause holds it too


async def test_without_redis_every_primitive_answers_none() -> None:
    server = RedisProcess()
    link = ClusterLink.from_url(server.url, prefix=unique_prefix())
    await link.start()
    try:
        assert await LeaseLock(link, link.key("l")).acquire() is None
        assert await RollingWindow(link, "w", 1).try_take() is None
        assert await LeasedSemaphore(link, "s", 1).try_acquire() is None
        assert await admit(RollingWindow(link, "w", 1), LeasedSemaphore(link, "s", 1)) is None
    finally:
        await link.close()
        await delete_prefix(link.prefix)
