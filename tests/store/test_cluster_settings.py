"""Settings invalidation across processes (two storages on one database, each with its own
Redis link): a write in A is what B resolves within 1 s, on SQLite and on PostgreSQL (sooner
than PostgreSQL's 5 s freshness window); a process that resubscribes after losing Redis drops
its whole read cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.cluster.connection import ClusterLink
from bot.cluster.invalidation import InvalidationChannel
from bot.store.cluster_settings import SettingsInvalidation
from bot.store.sql_storage import SqlStorage
from bot.store.sqlite import SqliteStorage
from tests.standins.redis_server import RedisProcess, open_link, unique_prefix

USER, GUILD = 1001, 2002


async def _sync(storage: SqlStorage, link: ClusterLink) -> SettingsInvalidation:
    sync = SettingsInvalidation(InvalidationChannel(link, "settings"), storage.read_caches())
    sync.start()
    return sync


async def _resolves(storage: SqlStorage, voice: str, within: float) -> float:
    started = time.monotonic()
    while (await storage.resolve_voice_settings(USER, GUILD)).voice != voice:
        assert time.monotonic() - started < within, f"still not {voice}"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_a_global_voice_set_in_process_a_is_resolved_by_process_b_within_a_second(
    reopen: Callable[[], Any],
) -> None:
    async with (
        reopen() as a,
        reopen() as b,
        open_link() as link_a,
        open_link(link_a.prefix) as link_b,
    ):
        sync_a, sync_b = await _sync(a, link_a), await _sync(b, link_b)
        try:
            await asyncio.wait_for(sync_b._channel.subscribed.wait(), 5)
            assert (await b.resolve_voice_settings(USER, GUILD)).voice == "Cherry"  # now cached in B
            await a.set_user_pref(USER, None, "voice", "Ethan")
            assert await _resolves(b, "Ethan", within=1.0) < 1.0
            await a.set_guild_default(GUILD, "voice", "Serena")  # the member's own choice still wins
            await a.set_user_pref(USER, GUILD, "voice", "Chelsie")
            assert await _resolves(b, "Chelsie", within=1.0) < 1.0
        finally:
            await sync_a.close()
            await sync_b.close()


async def test_resubscribing_after_redis_was_lost_drops_the_whole_cache(tmp_path: Path) -> None:
    server = RedisProcess()
    await server.start()
    link = ClusterLink.from_url(server.url, prefix=unique_prefix(), recheck_seconds=0.05)
    await link.start()
    try:
        async with SqliteStorage.open(tmp_path / "parla.sqlite3") as storage:
            sync = await _sync(storage, link)
            channel = sync._channel
            await asyncio.wait_for(channel.subscribed.wait(), 5)
            await storage.resolve_voice_settings(USER, GUILD)
            caches = storage.read_caches()
            assert len(caches["user_prefs"]) > 0
            await server.stop()
            await asyncio.wait_for(channel.lost.wait(), 5)
            await storage.resolve_voice_settings(USER, GUILD)  # cached while Redis is away
            await server.start()
            await link.check()
            await asyncio.wait_for(channel.subscribed.wait(), 5)
            assert len(caches["user_prefs"]) == 0
            await sync.close()
    finally:
        await link.close()
        await server.stop()
