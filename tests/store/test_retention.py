"""What is kept and for how long: a server's data is deleted 30 days after the bot is removed
(cancelled if it is added back; the schedule survives a restart), usage rows after 90 days.
On both backends (tests/store/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.store import retention
from bot.store.models import VoicePrefs
from bot.store.sql_storage import SqlStorage
from tests.standins.databases import FakeToday

GUILD, OTHER, USER = 111_111_111_111_111_111, 222_222_222_222_222_222, 333_333_333_333_333_333
REMOVED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def fill(storage: SqlStorage, guild_id: int) -> None:
    await storage.set_guild_default(guild_id, "voice", "Kai")
    await storage.add_bound_channel(guild_id, 10)
    await storage.set_nickname(guild_id, USER, "Bob")
    await storage.add_dictionary_entry(guild_id, "gif", "jif")
    await storage.add_usage(guild_id, 10)


async def kept(storage: SqlStorage, guild_id: int) -> bool:
    storage.clear_cache()
    return (await storage.get_guild_defaults(guild_id)).voice == "Kai" and bool(
        await storage.list_dictionary(guild_id)
    )


async def test_a_removed_servers_data_is_deleted_after_30_days_even_across_a_restart(
    reopen: Callable[[], Any],
) -> None:
    assert (retention.GUILD_DATA_DAYS, retention.USAGE_KEEP_DAYS) == (30, 90)
    async with reopen() as storage:
        await fill(storage, GUILD)
        await fill(storage, OTHER)
        due = await retention.schedule_forget(storage, GUILD, now=REMOVED)
        assert due == REMOVED + timedelta(days=30)
    # The bot restarts.
    async with reopen() as storage:
        day_29 = REMOVED + timedelta(days=29, hours=23)
        assert await retention.sweep(storage, present=lambda g: False, now=day_29) == []
        assert await kept(storage, GUILD)
        assert await retention.sweep(storage, present=lambda g: False, now=due) == [GUILD]
        storage.clear_cache()
        assert await storage.get_guild_defaults(GUILD) == VoicePrefs()
        assert dict(await storage.list_dictionary(GUILD)) == {}
        assert dict(await storage.get_nicknames(GUILD)) == {}
        assert (await storage.get_usage(GUILD)).guild_characters == 0
        assert await kept(storage, OTHER)
        # Done once: nothing is due any more.
        assert await storage.due_guild_deletions(due + timedelta(days=1)) == []


async def test_adding_the_bot_back_cancels_the_deletion(storage: SqlStorage) -> None:
    await fill(storage, GUILD)
    await fill(storage, OTHER)
    await retention.schedule_forget(storage, GUILD, now=REMOVED)
    assert await retention.cancel_forget(storage, GUILD)  # on_guild_join
    assert not await retention.cancel_forget(storage, GUILD)  # nothing left to cancel
    later = REMOVED + timedelta(days=31)
    assert await retention.sweep(storage, present=lambda g: False, now=later) == []
    assert await kept(storage, GUILD)
    # Added back while the bot was offline: the sweep sees the server and cancels.
    await retention.schedule_forget(storage, OTHER, now=REMOVED)
    assert await retention.sweep(storage, present=lambda g: g == OTHER, now=later) == []
    assert await kept(storage, OTHER)
    assert await storage.due_guild_deletions(later) == []


async def test_removed_again_the_later_date_counts(storage: SqlStorage) -> None:
    await retention.schedule_forget(storage, GUILD, now=REMOVED)
    again = REMOVED + timedelta(days=10)
    await retention.schedule_forget(storage, GUILD, now=again)
    assert await storage.due_guild_deletions(REMOVED + timedelta(days=30)) == []
    assert await storage.due_guild_deletions(again + timedelta(days=30)) == [GUILD]


async def test_usage_older_than_90_days_is_pruned(storage: SqlStorage, today: FakeToday) -> None:
    today.day = date(2026, 6, 1)
    await storage.add_usage(GUILD, 5, day=today.day - timedelta(days=91))
    await storage.add_usage(GUILD, 7, day=today.day - timedelta(days=90))
    await retention.sweep(storage, present=lambda g: True, now=REMOVED)
    history = await storage.usage_history(GUILD, 92)
    assert [d.characters for d in history if d.characters] == [7]
