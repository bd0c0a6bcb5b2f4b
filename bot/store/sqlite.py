"""`SqliteStorage`: the `Storage` protocol (bot.store.protocol) on one SQLite file (WAL mode,
numbered migrations from bot.store.migrate) through aiosqlite.

It puts together one shared connection (`sqlite_db.SqliteDatabase`) and the tables, one module
per job: voice preferences (`sqlite_prefs`), read-aloud settings and members
(`sqlite_read_aloud`), pronunciation dictionaries (`sqlite_dictionary`) and usage counters
(`sqlite_usage`). What spans the tables — opening, closing, forgetting a server or a user,
dropping the caches — is here.

Settings are read on every message, so every settings row (missing rows included) is read
through an in-memory LRU (bot.store.read_cache.ReadThrough) that drops the entry when the row
is written. The cache assumes this process is the only writer of the file (one bot process per
SQLite database). Values are checked by bot.store.validators before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.store.migrate import MIGRATIONS
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
    utc_today,
)
from bot.store.read_cache import ReadThrough
from bot.store.sqlite_db import SqliteDatabase
from bot.store.sqlite_dictionary import DictionaryTable
from bot.store.sqlite_prefs import VoicePrefsTable
from bot.store.sqlite_read_aloud import ReadAloudTable
from bot.store.sqlite_usage import UsageTable
from bot.store.validators import check_id


class SqliteStorage:
    """Storage on one SQLite file. Open with `await SqliteStorage.open(path)` or
    `async with SqliteStorage.open(path) as storage:`."""

    def __init__(self, database: SqliteDatabase, *, today: Callable[[], date], cache_size: int) -> None:
        self._database = database
        self._db = database.connection
        self.path = database.path
        self.applied_migrations = database.applied_migrations
        self._prefs = VoicePrefsTable(database, cache_size)
        self._read_aloud = ReadAloudTable(database, cache_size)
        self._dictionary = DictionaryTable(database, cache_size)
        self._usage = UsageTable(database, today)

    def read_caches(self) -> dict[str, ReadThrough[Any, Any]]:
        """Every read-through cache by name (the cluster's settings invalidation)."""
        return {
            "user_prefs": self._prefs.user_prefs,
            "guild_defaults": self._prefs.guild_defaults,
            "read_aloud": self._read_aloud.settings,
            "read_aloud_members": self._read_aloud.members,
            "nicknames": self._read_aloud.nicknames,
            "dictionary": self._dictionary.entries,
        }

    # ---- opening and closing ------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        migrations: Sequence[str] = MIGRATIONS,
        today: Callable[[], date] = utc_today,
        cache_size: int = 50_000,
        busy_timeout_ms: int = 5000,
    ) -> _Opening:
        """Open (creating the file, its directory and the schema if needed). Awaitable, or
        usable directly as `async with SqliteStorage.open(path) as storage:`."""
        return _Opening(
            cls._open(
                Path(path),
                migrations=migrations,
                today=today,
                cache_size=cache_size,
                busy_timeout_ms=busy_timeout_ms,
            )
        )

    @classmethod
    async def _open(
        cls,
        path: Path,
        *,
        migrations: Sequence[str],
        today: Callable[[], date],
        cache_size: int,
        busy_timeout_ms: int,
    ) -> SqliteStorage:
        database = await SqliteDatabase.open(path, migrations=migrations, busy_timeout_ms=busy_timeout_ms)
        return cls(database, today=today, cache_size=cache_size)

    async def close(self) -> None:
        """Wait for running statements, flush and close. Idempotent; never waits on other
        processes' locks (the last connection to close folds the WAL into the main file)."""
        await self._database.close()

    async def __aenter__(self) -> SqliteStorage:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def schema_version(self) -> int:
        return await self._database.schema_version()

    async def integrity_check(self) -> bool:
        """SQLite's quick_check (for `parla doctor`)."""
        return await self._database.integrity_check()

    def clear_cache(self) -> None:
        for cache in (
            self._prefs.user_prefs,
            self._prefs.guild_defaults,
            self._read_aloud.settings,
            self._read_aloud.members,
            self._read_aloud.nicknames,
            self._dictionary.entries,
        ):
            cache.clear()

    # ---- voice preferences (sqlite_prefs) -----------------------------------------------

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

    # ---- read-aloud (sqlite_read_aloud) -------------------------------------------------

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

    # ---- pronunciation dictionary (sqlite_dictionary) -----------------------------------

    async def add_dictionary_entry(self, guild_id: int, word: str, reading: str) -> bool:
        return await self._dictionary.add_dictionary_entry(guild_id, word, reading)

    async def remove_dictionary_entry(self, guild_id: int, word: str) -> bool:
        return await self._dictionary.remove_dictionary_entry(guild_id, word)

    async def list_dictionary(self, guild_id: int) -> Mapping[str, str]:
        return await self._dictionary.list_dictionary(guild_id)

    # ---- usage counters (sqlite_usage) --------------------------------------------------

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
        """Delete every setting of a server (the bot was removed from it). Usage is kept."""
        check_id(guild_id, "server")
        async with self._database.transaction() as db:
            await db.execute("DELETE FROM guilds WHERE guild_id = ?", (guild_id,))  # cascades
            await db.execute("DELETE FROM user_prefs WHERE guild_id = ?", (guild_id,))
            self._prefs.guild_defaults.invalidate(guild_id)
            self._read_aloud.settings.invalidate(guild_id)
            self._read_aloud.nicknames.invalidate(guild_id)
            self._dictionary.entries.invalidate(guild_id)
            self._prefs.user_prefs.invalidate_where(lambda key: key[1] == guild_id)
            self._read_aloud.members.invalidate_where(lambda key: key[0] == guild_id)

    async def forget_user(self, user_id: int) -> None:
        """Delete every setting of a user, in every server."""
        check_id(user_id, "user")
        async with self._database.transaction() as db:
            rows = await self._database.fetchall(
                "SELECT guild_id FROM members WHERE user_id = ? AND nickname IS NOT NULL", (user_id,)
            )
            await db.execute("DELETE FROM user_prefs WHERE user_id = ?", (user_id,))
            await db.execute("DELETE FROM members WHERE user_id = ?", (user_id,))
            self._prefs.user_prefs.invalidate_where(lambda key: key[0] == user_id)
            self._read_aloud.members.invalidate_where(lambda key: key[1] == user_id)
            for row in rows:
                self._read_aloud.nicknames.invalidate(int(row[0]))


class _Opening:
    """What `SqliteStorage.open()` returns: await it, or use it as an async context manager."""

    def __init__(self, coro: Coroutine[Any, Any, SqliteStorage]) -> None:
        self._coro = coro
        self._storage: SqliteStorage | None = None

    def __await__(self) -> Generator[Any, None, SqliteStorage]:
        return self._coro.__await__()

    async def __aenter__(self) -> SqliteStorage:
        self._storage = await self
        return self._storage

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._storage is not None:
            await self._storage.close()
