"""`SqliteStorage`: the `Storage` protocol (bot.store.protocol) on one SQLite file (WAL mode,
numbered migrations from bot.store.migrate) through aiosqlite.

Settings are read on every message, so every settings row (missing rows included) is read
through an in-memory LRU (bot.store.read_cache.ReadThrough) that drops the entry when the row
is written. The cache assumes this process is the only writer of the file (one bot process per
SQLite database). Values are checked by bot.store.validators before anything is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, TypeVar, cast

import aiosqlite

from bot.base.errors import InputError
from bot.speech.voices import canonical_language, canonical_voice
from bot.store.migrate import MIGRATIONS, apply_migrations, rollback, user_version
from bot.store.models import (
    BOOL_READ_ALOUD,
    EMOJI_MODES,
    EMPTY_PREFS,
    MAX_BOUND_CHANNELS,
    MAX_DICTIONARY_ENTRIES,
    PREF_FIELDS,
    READ_ALOUD_FIELDS,
    READ_MODES,
    DailyUsage,
    GuildReadAloud,
    MemberReadAloud,
    PrefField,
    PrefValue,
    ReadMode,
    UsageTotals,
    VoicePrefs,
    VoiceSettings,
    resolve_settings,
    utc_today,
)
from bot.store.protocol import StorageError
from bot.store.read_cache import ReadThrough
from bot.store.validators import (
    check_history_days,
    check_id,
    check_usage_counts,
    normalize_word,
    pref_fields,
    pref_scope,
    validate_dictionary_entry,
    validate_nickname,
    validate_pref,
    validate_read_aloud_change,
    validate_read_mode,
)


async def _set_wal(db: aiosqlite.Connection) -> str:
    async with db.execute("PRAGMA journal_mode = WAL") as cursor:
        row = await cursor.fetchone()
    return str(row[0]).lower() if row else ""


R = TypeVar("R")


async def _retry_locked(step: Callable[[], Awaitable[R]], deadline: float) -> R:
    """Run `step`, retrying with a short back-off while SQLite reports the file locked/busy."""
    loop = asyncio.get_running_loop()
    delay = 0.005
    while True:
        try:
            return await step()
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if ("locked" not in text and "busy" not in text) or loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


_PREF_COLUMNS: Final = ", ".join(PREF_FIELDS)
_ALL_NULL: Final = " AND ".join(f"{f} IS NULL" for f in PREF_FIELDS)


def _prefs_from_row(row: sqlite3.Row | None) -> VoicePrefs:
    """A stored row as VoicePrefs; values no longer valid (a voice removed later) read as unset."""
    if row is None:
        return EMPTY_PREFS
    voice = canonical_voice(row["voice"]) if row["voice"] is not None else None
    language = canonical_language(row["language"]) if row["language"] is not None else None
    optimize = row["optimize_instructions"]
    return VoicePrefs(
        voice=voice,
        instructions=row["instructions"],
        language=language,
        optimize_instructions=None if optimize is None else bool(optimize),
    )


def _db_value(value: PrefValue) -> str | int | None:
    return int(value) if isinstance(value, bool) else value


class SqliteStorage:
    """Storage on one SQLite file. Open with `await SqliteStorage.open(path)` or
    `async with SqliteStorage.open(path) as storage:`."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: Path,
        *,
        today: Callable[[], date],
        cache_size: int,
        applied_migrations: list[int],
    ) -> None:
        self._db = db
        self.path = path
        self._today = today
        self.applied_migrations = applied_migrations
        # One lock serialises every statement on the shared connection, so a transaction
        # is never interleaved with another coroutine's statements and a cache fill never
        # races a write's invalidation.
        self._lock = asyncio.Lock()
        self._closed = False
        small = max(1, cache_size // 10)
        reading = self._reading
        self._user_prefs = ReadThrough(cache_size, reading, self._load_user_prefs)
        self._guild_defaults = ReadThrough(cache_size, reading, self._load_guild_defaults)
        self._read_aloud = ReadThrough(cache_size, reading, self._load_read_aloud)
        self._members = ReadThrough(cache_size, reading, self._load_member)
        self._nicknames = ReadThrough(small, reading, self._load_nicknames)
        self._dictionaries = ReadThrough(small, reading, self._load_dictionary)

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
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            # Switching a new file to WAL (and WAL recovery after a crash) can report "locked"
            # without waiting on the busy timeout when another process opens the file at the
            # same moment, so the start-up steps retry for as long as the busy timeout.
            deadline = asyncio.get_running_loop().time() + busy_timeout_ms / 1000
            mode = await _retry_locked(lambda: _set_wal(db), deadline)
            if mode != "wal":
                raise StorageError(f"cannot switch {path} to WAL mode (journal mode {mode!r})")
            applied = await _retry_locked(lambda: apply_migrations(db, migrations), deadline)
        except BaseException:
            await db.close()
            raise
        return cls(db, path, today=today, cache_size=cache_size, applied_migrations=applied)

    async def close(self) -> None:
        """Wait for running statements, flush and close. Idempotent; never waits on other
        processes' locks (the last connection to close folds the WAL into the main file)."""
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            try:
                with contextlib.suppress(sqlite3.Error):
                    await self._db.execute("PRAGMA busy_timeout = 0")
                    await self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    await self._db.execute("PRAGMA optimize")
            finally:
                await self._db.close()

    async def __aenter__(self) -> SqliteStorage:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def schema_version(self) -> int:
        async with self._lock:
            return await user_version(self._db)

    async def integrity_check(self) -> bool:
        """SQLite's quick_check (for `parla doctor`)."""
        async with self._lock:
            async with self._db.execute("PRAGMA quick_check") as cursor:
                rows = await cursor.fetchall()
        return [tuple(r) for r in rows] == [("ok",)]

    def clear_cache(self) -> None:
        for cache in (
            self._user_prefs,
            self._guild_defaults,
            self._read_aloud,
            self._members,
            self._nicknames,
            self._dictionaries,
        ):
            cache.clear()

    # ---- low-level helpers --------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the settings database is closed")

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[None]:
        """Hold the connection for a read (the read-through caches fill under it)."""
        self._check_open()
        async with self._lock:
            yield

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT), serialised with every other
        statement; rolled back on any exception or cancellation."""
        self._check_open()
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await rollback(self._db)
                raise
            await self._db.execute("COMMIT")

    async def _fetchone(self, sql: str, params: Sequence[object]) -> sqlite3.Row | None:
        async with self._db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def _fetchall(self, sql: str, params: Sequence[object]) -> list[sqlite3.Row]:
        async with self._db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _ensure_guild(self, db: aiosqlite.Connection, guild_id: int) -> None:
        await db.execute("INSERT OR IGNORE INTO guilds (guild_id) VALUES (?)", (guild_id,))

    # ---- voice preferences --------------------------------------------------------------

    async def get_user_prefs(self, user_id: int, guild_id: int | None) -> VoicePrefs:
        """The user's own preferences in `guild_id` (None = their global choice)."""
        return await self._user_prefs.get((check_id(user_id, "user"), pref_scope(guild_id)))

    async def _load_user_prefs(self, key: tuple[int, int]) -> VoicePrefs:
        row = await self._fetchone(
            f"SELECT {_PREF_COLUMNS} FROM user_prefs WHERE user_id = ? AND guild_id = ?", key
        )
        return _prefs_from_row(row)

    async def set_user_pref(
        self, user_id: int, guild_id: int | None, field: PrefField, value: PrefValue
    ) -> VoicePrefs:
        """Set one preference (None = unset it). Returns the row after the change."""
        key = (check_id(user_id, "user"), pref_scope(guild_id))
        canonical = validate_pref(field, value)
        if canonical is None:
            return await self.reset_user_prefs(user_id, guild_id, (field,))
        async with self._transaction() as db:
            await db.execute(
                f"INSERT INTO user_prefs (user_id, guild_id, {field}) VALUES (?, ?, ?) "
                f"ON CONFLICT (user_id, guild_id) DO UPDATE SET {field} = excluded.{field}",
                (*key, _db_value(canonical)),
            )
            self._user_prefs.invalidate(key)
        return await self.get_user_prefs(user_id, guild_id)

    async def reset_user_prefs(
        self, user_id: int, guild_id: int | None, fields: Iterable[PrefField] | None = None
    ) -> VoicePrefs:
        """Unset the given preferences (all four by default). Returns the row after."""
        key = (check_id(user_id, "user"), pref_scope(guild_id))
        chosen = pref_fields(fields)
        if chosen:
            assignments = ", ".join(f"{f} = NULL" for f in chosen)
            async with self._transaction() as db:
                await db.execute(
                    f"UPDATE user_prefs SET {assignments} WHERE user_id = ? AND guild_id = ?", key
                )
                await db.execute(
                    f"DELETE FROM user_prefs WHERE user_id = ? AND guild_id = ? AND {_ALL_NULL}", key
                )
                self._user_prefs.invalidate(key)
        return await self.get_user_prefs(user_id, guild_id)

    async def get_guild_defaults(self, guild_id: int) -> VoicePrefs:
        return await self._guild_defaults.get(check_id(guild_id, "server"))

    async def _load_guild_defaults(self, guild_id: int) -> VoicePrefs:
        row = await self._fetchone(f"SELECT {_PREF_COLUMNS} FROM guilds WHERE guild_id = ?", (guild_id,))
        return _prefs_from_row(row)

    async def set_guild_default(self, guild_id: int, field: PrefField, value: PrefValue) -> VoicePrefs:
        check_id(guild_id, "server")
        canonical = validate_pref(field, value)
        if canonical is None:
            return await self.reset_guild_defaults(guild_id, (field,))
        async with self._transaction() as db:
            await self._ensure_guild(db, guild_id)
            await db.execute(
                f"UPDATE guilds SET {field} = ? WHERE guild_id = ?", (_db_value(canonical), guild_id)
            )
            self._guild_defaults.invalidate(guild_id)
        return await self.get_guild_defaults(guild_id)

    async def reset_guild_defaults(
        self, guild_id: int, fields: Iterable[PrefField] | None = None
    ) -> VoicePrefs:
        check_id(guild_id, "server")
        chosen = pref_fields(fields)
        if chosen:
            assignments = ", ".join(f"{f} = NULL" for f in chosen)
            async with self._transaction() as db:
                await db.execute(f"UPDATE guilds SET {assignments} WHERE guild_id = ?", (guild_id,))
                self._guild_defaults.invalidate(guild_id)
        return await self.get_guild_defaults(guild_id)

    async def resolve_voice_settings(self, user_id: int, guild_id: int | None) -> VoiceSettings:
        """Effective settings of `user_id` speaking in `guild_id` (None: outside a server)."""
        scope = pref_scope(guild_id)
        user = await self.get_user_prefs(user_id, None)
        if scope == 0:
            return resolve_settings(EMPTY_PREFS, user, EMPTY_PREFS)
        member = await self.get_user_prefs(user_id, scope)
        server = await self.get_guild_defaults(scope)
        return resolve_settings(member, user, server)

    # ---- read-aloud: server settings ----------------------------------------------------

    async def get_read_aloud(self, guild_id: int) -> GuildReadAloud:
        return await self._read_aloud.get(check_id(guild_id, "server"))

    async def _load_read_aloud(self, guild_id: int) -> GuildReadAloud:
        row = await self._fetchone("SELECT * FROM guild_read_aloud WHERE guild_id = ?", (guild_id,))
        channels = await self._fetchall(
            "SELECT channel_id FROM bound_channels WHERE guild_id = ?", (guild_id,)
        )
        values: dict[str, Any] = {"channel_ids": frozenset(int(r[0]) for r in channels)}
        if row is not None:
            for name in READ_ALOUD_FIELDS:
                value = row[name]
                values[name] = bool(value) if name in BOOL_READ_ALOUD else value
            if values["emoji_mode"] not in EMOJI_MODES:
                values["emoji_mode"] = "name"
        return GuildReadAloud(**values)

    async def update_read_aloud(self, guild_id: int, **changes: Any) -> GuildReadAloud:
        """Change some read-aloud settings, e.g. `update_read_aloud(g, xsaid=False, max_length=200)`.
        Validates every change before writing any. Returns the settings after."""
        check_id(guild_id, "server")
        canonical = {name: validate_read_aloud_change(name, value) for name, value in changes.items()}
        if not canonical:
            return await self.get_read_aloud(guild_id)
        columns = ", ".join(canonical)
        placeholders = ", ".join("?" for _ in canonical)
        updates = ", ".join(f"{name} = excluded.{name}" for name in canonical)
        params = [int(v) if isinstance(v, bool) else v for v in canonical.values()]
        async with self._transaction() as db:
            await self._ensure_guild(db, guild_id)
            await db.execute(
                f"INSERT INTO guild_read_aloud (guild_id, {columns}) VALUES (?, {placeholders}) "
                f"ON CONFLICT (guild_id) DO UPDATE SET {updates}",
                (guild_id, *params),
            )
            self._read_aloud.invalidate(guild_id)
        return await self.get_read_aloud(guild_id)

    async def add_bound_channel(self, guild_id: int, channel_id: int) -> bool:
        """Bind a text channel for read-aloud. False if it was already bound."""
        check_id(guild_id, "server")
        check_id(channel_id, "channel")
        async with self._transaction() as db:
            row = await self._fetchone(
                "SELECT COUNT(*), SUM(channel_id = ?) FROM bound_channels WHERE guild_id = ?",
                (channel_id, guild_id),
            )
            count, present = (int(row[0]), int(row[1] or 0)) if row else (0, 0)
            if present:
                return False
            if count >= MAX_BOUND_CHANNELS:
                raise InputError(
                    f"This server already has {MAX_BOUND_CHANNELS} read-aloud channels; remove one first."
                )
            await self._ensure_guild(db, guild_id)
            await db.execute(
                "INSERT INTO bound_channels (guild_id, channel_id) VALUES (?, ?)", (guild_id, channel_id)
            )
            self._read_aloud.invalidate(guild_id)
        return True

    async def remove_bound_channel(self, guild_id: int, channel_id: int) -> bool:
        """Unbind a channel. False if it was not bound."""
        check_id(guild_id, "server")
        check_id(channel_id, "channel")
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM bound_channels WHERE guild_id = ? AND channel_id = ?", (guild_id, channel_id)
            )
            removed = cursor.rowcount > 0
            await cursor.close()
            self._read_aloud.invalidate(guild_id)
        return removed

    # ---- read-aloud: members ------------------------------------------------------------

    async def get_member(self, guild_id: int, user_id: int) -> MemberReadAloud:
        return await self._members.get((check_id(guild_id, "server"), check_id(user_id, "user")))

    async def _load_member(self, key: tuple[int, int]) -> MemberReadAloud:
        row = await self._fetchone(
            "SELECT read_mode, nickname FROM members WHERE guild_id = ? AND user_id = ?", key
        )
        mode: ReadMode = "on"
        if row is not None and row["read_mode"] in READ_MODES:
            mode = cast(ReadMode, row["read_mode"])
        return MemberReadAloud(mode=mode, nickname=row["nickname"] if row is not None else None)

    async def _write_member(self, guild_id: int, user_id: int, column: str, value: object) -> None:
        key = (guild_id, user_id)
        async with self._transaction() as db:
            await self._ensure_guild(db, guild_id)
            await db.execute(
                f"INSERT INTO members (guild_id, user_id, {column}) VALUES (?, ?, ?) "
                f"ON CONFLICT (guild_id, user_id) DO UPDATE SET {column} = excluded.{column}",
                (*key, value),
            )
            await db.execute(
                "DELETE FROM members WHERE guild_id = ? AND user_id = ? AND read_mode = 'on' "
                "AND nickname IS NULL",
                key,
            )
            self._members.invalidate(key)
            if column == "nickname":
                self._nicknames.invalidate(guild_id)

    async def set_read_mode(self, guild_id: int, user_id: int, mode: ReadMode) -> MemberReadAloud:
        """`/readaloud me on|off|auto`: "off" opts out, "auto" opts in to being followed."""
        check_id(guild_id, "server")
        check_id(user_id, "user")
        await self._write_member(guild_id, user_id, "read_mode", validate_read_mode(mode))
        return await self.get_member(guild_id, user_id)

    async def set_nickname(self, guild_id: int, user_id: int, nickname: str | None) -> MemberReadAloud:
        """The name read for this member in this server (None or blank = clear it)."""
        check_id(guild_id, "server")
        check_id(user_id, "user")
        await self._write_member(guild_id, user_id, "nickname", validate_nickname(nickname))
        return await self.get_member(guild_id, user_id)

    async def get_nicknames(self, guild_id: int) -> Mapping[int, str]:
        """Every spoken nickname set in this server (user id → name), read-only."""
        return await self._nicknames.get(check_id(guild_id, "server"))

    async def _load_nicknames(self, guild_id: int) -> Mapping[int, str]:
        rows = await self._fetchall(
            "SELECT user_id, nickname FROM members WHERE guild_id = ? AND nickname IS NOT NULL",
            (guild_id,),
        )
        return MappingProxyType({int(r[0]): str(r[1]) for r in rows})

    # ---- pronunciation dictionary -------------------------------------------------------

    async def add_dictionary_entry(self, guild_id: int, word: str, reading: str) -> bool:
        """Add or replace `word → reading`. True if the word is new. The word is stored
        case-folded; at most MAX_DICTIONARY_ENTRIES per server."""
        check_id(guild_id, "server")
        key, spoken = validate_dictionary_entry(word, reading)
        async with self._transaction() as db:
            row = await self._fetchone(
                "SELECT COUNT(*), SUM(word = ?) FROM dictionary WHERE guild_id = ?", (key, guild_id)
            )
            count, present = (int(row[0]), int(row[1] or 0)) if row else (0, 0)
            if not present and count >= MAX_DICTIONARY_ENTRIES:
                raise InputError(
                    f"This server's dictionary is full ({MAX_DICTIONARY_ENTRIES} words); remove some first."
                )
            await self._ensure_guild(db, guild_id)
            await db.execute(
                "INSERT INTO dictionary (guild_id, word, reading) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id, word) DO UPDATE SET reading = excluded.reading",
                (guild_id, key, spoken),
            )
            self._dictionaries.invalidate(guild_id)
        return not present

    async def remove_dictionary_entry(self, guild_id: int, word: str) -> bool:
        """Remove a word (matched case-insensitively). False if it was not there."""
        check_id(guild_id, "server")
        key = normalize_word(word) if isinstance(word, str) else ""
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM dictionary WHERE guild_id = ? AND word = ?", (guild_id, key)
            )
            removed = cursor.rowcount > 0
            await cursor.close()
            self._dictionaries.invalidate(guild_id)
        return removed

    async def list_dictionary(self, guild_id: int) -> Mapping[str, str]:
        """The server's dictionary (case-folded word → reading), sorted by word, read-only."""
        return await self._dictionaries.get(check_id(guild_id, "server"))

    async def _load_dictionary(self, guild_id: int) -> Mapping[str, str]:
        rows = await self._fetchall(
            "SELECT word, reading FROM dictionary WHERE guild_id = ? ORDER BY word", (guild_id,)
        )
        return MappingProxyType({str(r[0]): str(r[1]) for r in rows})

    # ---- usage counters -----------------------------------------------------------------

    async def add_usage(
        self, guild_id: int | None, characters: int, *, requests: int = 1, day: date | None = None
    ) -> UsageTotals:
        """Count `characters` (and `requests`) spent today (UTC) in `guild_id` (None: outside
        a server, counted globally only). Returns the day's totals after the addition."""
        scope = pref_scope(guild_id)
        check_usage_counts(characters, requests)
        when = day or self._today()
        iso = when.isoformat()
        async with self._transaction() as db:
            if scope:
                await db.execute(
                    "INSERT INTO usage_guild (guild_id, day, characters, requests) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (guild_id, day) DO UPDATE SET "
                    "characters = characters + excluded.characters, requests = requests + excluded.requests",
                    (scope, iso, characters, requests),
                )
            await db.execute(
                "INSERT INTO usage_global (day, characters, requests) VALUES (?, ?, ?) "
                "ON CONFLICT (day) DO UPDATE SET characters = characters + excluded.characters, "
                "requests = requests + excluded.requests",
                (iso, characters, requests),
            )
            totals = await self._usage_totals(scope, when)
        return totals

    async def _usage_totals(self, scope: int, when: date) -> UsageTotals:
        iso = when.isoformat()
        guild_row = (
            await self._fetchone(
                "SELECT characters, requests FROM usage_guild WHERE guild_id = ? AND day = ?", (scope, iso)
            )
            if scope
            else None
        )
        global_row = await self._fetchone(
            "SELECT characters, requests FROM usage_global WHERE day = ?", (iso,)
        )
        return UsageTotals(
            day=when,
            guild_characters=int(guild_row[0]) if guild_row else 0,
            guild_requests=int(guild_row[1]) if guild_row else 0,
            global_characters=int(global_row[0]) if global_row else 0,
            global_requests=int(global_row[1]) if global_row else 0,
        )

    async def get_usage(self, guild_id: int | None, day: date | None = None) -> UsageTotals:
        """The day's totals (default today, UTC) for `guild_id` and globally."""
        scope = pref_scope(guild_id)
        async with self._reading():
            return await self._usage_totals(scope, day or self._today())

    async def usage_history(
        self, guild_id: int | None, days: int = 7, *, until: date | None = None
    ) -> list[DailyUsage]:
        """One entry per day, oldest first, for the `days` days ending at `until` (default
        today), zero-filled. `guild_id` None = the global totals."""
        scope = pref_scope(guild_id)
        check_history_days(days)
        last = until or self._today()
        first = last - timedelta(days=days - 1)
        async with self._reading():
            if scope:
                rows = await self._fetchall(
                    "SELECT day, characters, requests FROM usage_guild "
                    "WHERE guild_id = ? AND day BETWEEN ? AND ?",
                    (scope, first.isoformat(), last.isoformat()),
                )
            else:
                rows = await self._fetchall(
                    "SELECT day, characters, requests FROM usage_global WHERE day BETWEEN ? AND ?",
                    (first.isoformat(), last.isoformat()),
                )
        found = {str(r[0]): (int(r[1]), int(r[2])) for r in rows}
        history = []
        for offset in range(days):
            when = first + timedelta(days=offset)
            chars, reqs = found.get(when.isoformat(), (0, 0))
            history.append(DailyUsage(day=when, characters=chars, requests=reqs))
        return history

    async def prune_usage(self, keep_days: int = 400) -> int:
        """Delete usage rows older than `keep_days` days. Returns the rows deleted."""
        cutoff = (self._today() - timedelta(days=keep_days)).isoformat()
        async with self._transaction() as db:
            first = await db.execute("DELETE FROM usage_guild WHERE day < ?", (cutoff,))
            second = await db.execute("DELETE FROM usage_global WHERE day < ?", (cutoff,))
            deleted = max(first.rowcount, 0) + max(second.rowcount, 0)
        return deleted

    # ---- housekeeping -------------------------------------------------------------------

    async def forget_guild(self, guild_id: int) -> None:
        """Delete every setting of a server (the bot was removed from it). Usage is kept."""
        check_id(guild_id, "server")
        async with self._transaction() as db:
            await db.execute("DELETE FROM guilds WHERE guild_id = ?", (guild_id,))  # cascades
            await db.execute("DELETE FROM user_prefs WHERE guild_id = ?", (guild_id,))
            self._guild_defaults.invalidate(guild_id)
            self._read_aloud.invalidate(guild_id)
            self._nicknames.invalidate(guild_id)
            self._dictionaries.invalidate(guild_id)
            self._user_prefs.invalidate_where(lambda key: key[1] == guild_id)
            self._members.invalidate_where(lambda key: key[0] == guild_id)

    async def forget_user(self, user_id: int) -> None:
        """Delete every setting of a user, in every server."""
        check_id(user_id, "user")
        async with self._transaction() as db:
            rows = await self._fetchall(
                "SELECT guild_id FROM members WHERE user_id = ? AND nickname IS NOT NULL", (user_id,)
            )
            await db.execute("DELETE FROM user_prefs WHERE user_id = ?", (user_id,))
            await db.execute("DELETE FROM members WHERE user_id = ?", (user_id,))
            self._user_prefs.invalidate_where(lambda key: key[0] == user_id)
            self._members.invalidate_where(lambda key: key[1] == user_id)
            for row in rows:
                self._nicknames.invalidate(int(row[0]))


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
