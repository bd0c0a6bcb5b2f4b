"""`SqlStorage`: the `Storage` protocol (bot.store.protocol) over any `SqlDatabase`
(bot.store.sql_db): SQLite (`sqlite.SqliteStorage`) or PostgreSQL (`postgres.PostgresStorage`).

It puts together the tables, one module per job: voice preferences (`prefs_table`), read-aloud
settings and members (`read_aloud_table`), pronunciation dictionaries (`dictionary_table`),
usage counters (`usage_table`) and scheduled server deletions (`retention_table`). What spans
the tables — closing, forgetting a server or a user, dropping the caches — is here.

Settings are read on every message, so every settings row (missing rows included) is read
through an in-memory LRU (bot.store.read_cache.ReadThrough) that drops the entry when the row
is written. Values are checked by bot.store.validators before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator, Iterable, Mapping
from datetime import date, datetime
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from bot.store.dictionary_table import DictionaryTable
from bot.store.models import (
    DailyUsage,
    GuildReadAloud,
    MemberReadAloud,
    PrefField,
    PrefValue,
    ReadMode,
    UsageTotals,
    VoicePrefs,
    VoiceSettings,
)
from bot.store.prefs_table import VoicePrefsTable
from bot.store.read_aloud_table import ReadAloudTable
from bot.store.read_cache import ReadThrough
from bot.store.retention_table import RetentionTable
from bot.store.sql_db import SqlDatabase, writing
from bot.store.usage_table import UsageTable
from bot.store.validators import check_id


class _RolledBack(Exception):
    """Raised to roll a probe transaction back."""


class SqlStorage:
    """Storage over one `SqlDatabase`. `cache` goes to every ReadThrough (max_age, stale_on)."""

    def __init__(
        self, database: SqlDatabase, *, today: Callable[[], date], cache_size: int, **cache: Any
    ) -> None:
        self._database = database
        self.applied_migrations = database.applied_migrations
        self._prefs = VoicePrefsTable(database, cache_size, **cache)
        self._read_aloud = ReadAloudTable(database, cache_size, **cache)
        self._dictionary = DictionaryTable(database, cache_size, **cache)
        self._usage = UsageTable(database, today)
        self._retention = RetentionTable(database)

    @property
    def database(self) -> SqlDatabase:
        """The database underneath (`parla db copy` and `check` read every table)."""
        return self._database

    async def close(self) -> None:
        """Wait for running statements and close. Idempotent."""
        await self._database.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def schema_version(self) -> int:
        return await self._database.schema_version()

    async def integrity_check(self) -> bool:
        """The database's own consistency check (for `parla doctor` and `parla db check`)."""
        return await self._database.integrity_check()

    async def probe_write(self) -> None:
        """Write a row and roll it back (`parla doctor`): the database accepts writes."""
        try:
            async with self._database.transaction() as db:
                await db.execute("INSERT INTO guilds (guild_id) VALUES (0) ON CONFLICT (guild_id) DO NOTHING")
                raise _RolledBack
        except _RolledBack:
            return

    def read_caches(self) -> dict[str, ReadThrough[Any, Any]]:
        """Every read-through cache by name (the cluster's settings invalidation,
        bot.store.cluster_settings, attaches to them)."""
        return {
            "user_prefs": self._prefs.user_prefs,
            "guild_defaults": self._prefs.guild_defaults,
            "read_aloud": self._read_aloud.settings,
            "read_aloud_members": self._read_aloud.members,
            "nicknames": self._read_aloud.nicknames,
            "dictionary": self._dictionary.entries,
        }

    def clear_cache(self) -> None:
        for cache in self.read_caches().values():
            cache.clear()

    # ---- voice preferences (prefs_table) ------------------------------------------------

    async def get_user_prefs(self, user_id: int, guild_id: int | None) -> VoicePrefs:
        return await self._prefs.get_user_prefs(user_id, guild_id)

    async def set_user_pref(
        self, user_id: int, guild_id: int | None, field: PrefField, value: PrefValue
    ) -> VoicePrefs:
        return await self._prefs.set_user_pref(user_id, guild_id, field, value)

    async def reset_user_prefs(
        self, user_id: int, guild_id: int | None, fields: Iterable[PrefField] | None = None
    ) -> VoicePrefs:
        return await self._prefs.reset_user_prefs(user_id, guild_id, fields)

    async def get_guild_defaults(self, guild_id: int) -> VoicePrefs:
        return await self._prefs.get_guild_defaults(guild_id)

    async def set_guild_default(self, guild_id: int, field: PrefField, value: PrefValue) -> VoicePrefs:
        return await self._prefs.set_guild_default(guild_id, field, value)

    async def reset_guild_defaults(
        self, guild_id: int, fields: Iterable[PrefField] | None = None
    ) -> VoicePrefs:
        return await self._prefs.reset_guild_defaults(guild_id, fields)

    async def resolve_voice_settings(self, user_id: int, guild_id: int | None) -> VoiceSettings:
        return await self._prefs.resolve_voice_settings(user_id, guild_id)

    # ---- read-aloud (read_aloud_table) --------------------------------------------------

    async def get_read_aloud(self, guild_id: int) -> GuildReadAloud:
        return await self._read_aloud.get_read_aloud(guild_id)

    async def update_read_aloud(self, guild_id: int, **changes: Any) -> GuildReadAloud:
        return await self._read_aloud.update_read_aloud(guild_id, **changes)

    async def add_bound_channel(self, guild_id: int, channel_id: int) -> bool:
        return await self._read_aloud.add_bound_channel(guild_id, channel_id)

    async def remove_bound_channel(self, guild_id: int, channel_id: int) -> bool:
        return await self._read_aloud.remove_bound_channel(guild_id, channel_id)

    async def get_member(self, guild_id: int, user_id: int) -> MemberReadAloud:
        return await self._read_aloud.get_member(guild_id, user_id)

    async def set_read_mode(self, guild_id: int, user_id: int, mode: ReadMode) -> MemberReadAloud:
        return await self._read_aloud.set_read_mode(guild_id, user_id, mode)

    async def set_nickname(self, guild_id: int, user_id: int, nickname: str | None) -> MemberReadAloud:
        return await self._read_aloud.set_nickname(guild_id, user_id, nickname)

    async def get_nicknames(self, guild_id: int) -> Mapping[int, str]:
        return await self._read_aloud.get_nicknames(guild_id)

    # ---- pronunciation dictionary (dictionary_table) ------------------------------------

    async def add_dictionary_entry(self, guild_id: int, word: str, reading: str) -> bool:
        return await self._dictionary.add_dictionary_entry(guild_id, word, reading)

    async def remove_dictionary_entry(self, guild_id: int, word: str) -> bool:
        return await self._dictionary.remove_dictionary_entry(guild_id, word)

    async def list_dictionary(self, guild_id: int) -> Mapping[str, str]:
        return await self._dictionary.list_dictionary(guild_id)

    # ---- usage counters (usage_table) ---------------------------------------------------

    async def add_usage(
        self, guild_id: int | None, characters: int, *, requests: int = 1, day: date | None = None
    ) -> UsageTotals:
        return await self._usage.add_usage(guild_id, characters, requests=requests, day=day)

    async def get_usage(self, guild_id: int | None, day: date | None = None) -> UsageTotals:
        return await self._usage.get_usage(guild_id, day)

    async def usage_history(
        self, guild_id: int | None, days: int = 7, *, until: date | None = None
    ) -> list[DailyUsage]:
        return await self._usage.usage_history(guild_id, days, until=until)

    async def prune_usage(self, keep_days: int = 400) -> int:
        return await self._usage.prune_usage(keep_days)

    # ---- housekeeping -------------------------------------------------------------------

    async def forget_guild(self, guild_id: int) -> None:
        """Delete everything kept for a server: settings, dictionary, bindings, members'
        nicknames and read modes, per-server voice choices, its usage counters (the global
        daily totals, which name no server, stay) and any scheduled deletion."""
        check_id(guild_id, "server")

        def drop() -> None:
            self._prefs.guild_defaults.invalidate(guild_id)
            self._read_aloud.settings.invalidate(guild_id)
            self._read_aloud.nicknames.invalidate(guild_id)
            self._dictionary.entries.invalidate(guild_id)
            self._prefs.user_prefs.invalidate_where(lambda key: key[1] == guild_id)
            self._read_aloud.members.invalidate_where(lambda key: key[0] == guild_id)

        async with writing(self._database, drop) as db:
            await db.execute("DELETE FROM guilds WHERE guild_id = ?", (guild_id,))  # cascades
            await db.execute("DELETE FROM user_prefs WHERE guild_id = ?", (guild_id,))
            await db.execute("DELETE FROM usage_guild WHERE guild_id = ?", (guild_id,))
            await db.execute("DELETE FROM guild_deletions WHERE guild_id = ?", (guild_id,))

    # ---- scheduled server deletions (retention_table) -----------------------------------

    async def schedule_guild_deletion(self, guild_id: int, due: datetime) -> None:
        await self._retention.schedule_guild_deletion(guild_id, due)

    async def cancel_guild_deletion(self, guild_id: int) -> bool:
        return await self._retention.cancel_guild_deletion(guild_id)

    async def due_guild_deletions(self, now: datetime) -> list[int]:
        return await self._retention.due_guild_deletions(now)

    async def forget_user(self, user_id: int) -> None:
        """Delete every setting of a user, in every server."""
        check_id(user_id, "user")
        guilds: list[int] = []

        def drop() -> None:
            self._prefs.user_prefs.invalidate_where(lambda key: key[0] == user_id)
            self._read_aloud.members.invalidate_where(lambda key: key[1] == user_id)
            for guild_id in guilds:
                self._read_aloud.nicknames.invalidate(guild_id)

        async with writing(self._database, drop) as db:
            rows = await db.fetchall(
                "SELECT guild_id FROM members WHERE user_id = ? AND nickname IS NOT NULL", (user_id,)
            )
            guilds.extend(int(row[0]) for row in rows)
            await db.execute("DELETE FROM user_prefs WHERE user_id = ?", (user_id,))
            await db.execute("DELETE FROM members WHERE user_id = ?", (user_id,))


S = TypeVar("S", bound=SqlStorage)


class Opening(Generic[S]):
    """What `open()` of a storage returns: await it, or use it as an async context manager."""

    def __init__(self, coro: Coroutine[Any, Any, S]) -> None:
        self._coro = coro
        self._storage: S | None = None

    def __await__(self) -> Generator[Any, None, S]:
        return self._coro.__await__()

    async def __aenter__(self) -> S:
        self._storage = await self
        return self._storage

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._storage is not None:
            await self._storage.close()
