"""Persistent settings: per-user and per-server voice preferences, read-aloud settings,
per-member settings, pronunciation dictionaries and usage counters.

`Storage` is the interface the cogs use; `SqliteStorage` implements it on one SQLite file
(WAL mode, numbered migrations) through aiosqlite. A PostgreSQL backend can implement the
same Protocol for running several processes.

Settings are read on every message, so `SqliteStorage` keeps an in-memory LRU cache of every
settings row (missing rows included) and drops the entry when it writes it. The cache assumes
this process is the only writer of the file (one bot process per SQLite database).

Values are validated here (voice, language, lengths, ranges); a bad value raises InputError
with a sentence a member can read. Voice resolution is a pure function, `resolve_settings`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import unicodedata
from collections import OrderedDict
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
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, Generic, Literal, Protocol, TypeVar, cast, get_args, runtime_checkable

import aiosqlite

from bot.base.errors import InputError, ParlaError
from bot.speech.request import MAX_INSTRUCTIONS_CHARS, SpeechRequest, sanitize_text
from bot.speech.voices import (
    DEFAULT_LANGUAGE,
    DEFAULT_VOICE,
    LANGUAGES,
    VOICE_NAMES,
    canonical_language,
    canonical_voice,
)
from bot.text.emoji import EmojiMode

# --------------------------------------------------------------------------------------------
# Types and limits
# --------------------------------------------------------------------------------------------

PrefField = Literal["voice", "instructions", "language", "optimize_instructions"]
PREF_FIELDS: Final[tuple[PrefField, ...]] = get_args(PrefField)
PrefValue = str | bool | None

# Where an effective setting came from: the user's choice in this server ("member"), the
# user's global choice ("user"), the server default ("server"), or the built-in default.
Source = Literal["member", "user", "server", "default"]
EMOJI_MODES: Final[tuple[EmojiMode, ...]] = get_args(EmojiMode)
ReadMode = Literal["on", "off", "auto"]
READ_MODES: Final[tuple[ReadMode, ...]] = get_args(ReadMode)

MAX_DICTIONARY_ENTRIES: Final = 200
MAX_WORD_CHARS: Final = 64
MAX_READING_CHARS: Final = 200
MAX_NICKNAME_CHARS: Final = 32
MAX_BOUND_CHANNELS: Final = 25
MAX_PREFIX_CHARS: Final = 8
MIN_MAX_LENGTH: Final = 20
MAX_MAX_LENGTH: Final = 2000
_MAX_ID: Final = 2**63 - 1


class StorageError(ParlaError):
    """The database cannot be used (newer schema, WAL unavailable, ...). Owner's problem."""

    sentence = "The bot's settings database is unavailable. The bot owner should check the logs."


@dataclass(frozen=True, slots=True)
class VoicePrefs:
    """One row of voice preferences. Each field None means "not set" (fall through).

    `instructions == ""` means "explicitly no style" (it overrides a server default style).
    """

    voice: str | None = None
    instructions: str | None = None
    language: str | None = None
    optimize_instructions: bool | None = None

    def value(self, field: PrefField) -> PrefValue:
        return cast(PrefValue, getattr(self, field))

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in PREF_FIELDS)


EMPTY_PREFS: Final = VoicePrefs()


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    """The effective voice settings of a member, with where each value came from."""

    voice: str = DEFAULT_VOICE
    instructions: str | None = None
    language: str = DEFAULT_LANGUAGE
    optimize_instructions: bool | None = None
    voice_source: Source = "default"
    instructions_source: Source = "default"
    language_source: Source = "default"
    optimize_instructions_source: Source = "default"

    def source(self, field: PrefField) -> Source:
        return cast(Source, getattr(self, f"{field}_source"))

    def request(self, text: str) -> SpeechRequest:
        """A SpeechRequest for `text` with these settings (not yet validated)."""
        return SpeechRequest(
            text=text,
            voice=self.voice,
            language=self.language,
            instructions=self.instructions,
            optimize_instructions=self.optimize_instructions,
        )


BUILTIN_SETTINGS: Final = VoiceSettings()


def resolve_settings(member: VoicePrefs, user: VoicePrefs, server: VoicePrefs) -> VoiceSettings:
    """Effective settings, field by field: the user's choice in this server (`member`) →
    the user's global choice (`user`) → the server default (`server`) → built-in default.

    Pure; `instructions == ""` at any level is an explicit "no style" and stops the fall-through.
    """
    values: dict[str, Any] = {}
    layers: tuple[tuple[Source, VoicePrefs], ...] = (("member", member), ("user", user), ("server", server))
    for name in PREF_FIELDS:
        for source, row in layers:
            value = row.value(name)
            if value is not None:
                values[name] = value
                values[f"{name}_source"] = source
                break
    if values.get("instructions") == "":
        values["instructions"] = None
    return VoiceSettings(**values)


@dataclass(frozen=True, slots=True)
class GuildReadAloud:
    """A server's read-aloud settings (issue 6). The defaults are the documented ones."""

    channel_ids: frozenset[int] = frozenset()
    text_in_voice: bool = True
    require_voice: bool = True
    read_bots: bool = False
    skip_silent: bool = True
    deny_role_id: int | None = None
    required_role_id: int | None = None
    ignore_prefix: str = "!"
    autojoin: bool = False
    xsaid: bool = True
    emoji_mode: EmojiMode = "name"
    max_length: int = 300


READ_ALOUD_FIELDS: Final[tuple[str, ...]] = tuple(
    f.name for f in dataclass_fields(GuildReadAloud) if f.name != "channel_ids"
)
_BOOL_READ_ALOUD: Final = frozenset(
    {"text_in_voice", "require_voice", "read_bots", "skip_silent", "autojoin", "xsaid"}
)
_ROLE_READ_ALOUD: Final = frozenset({"deny_role_id", "required_role_id"})


@dataclass(frozen=True, slots=True)
class MemberReadAloud:
    """A member's read-aloud settings in one server.

    mode "on" (default: read when the server's rules allow), "off" (`/readaloud me off`:
    never read) or "auto" (opted in: read and followed while in voice). `nickname` is the
    spoken name (None = use the display name).
    """

    mode: ReadMode = "on"
    nickname: str | None = None

    @property
    def opted_out(self) -> bool:
        return self.mode == "off"

    @property
    def auto(self) -> bool:
        return self.mode == "auto"


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Characters and requests spent on one UTC day, in one server and in total."""

    day: date
    guild_characters: int = 0
    guild_requests: int = 0
    global_characters: int = 0
    global_requests: int = 0


@dataclass(frozen=True, slots=True)
class DailyUsage:
    day: date
    characters: int = 0
    requests: int = 0


def utc_today() -> date:
    return datetime.now(UTC).date()


# --------------------------------------------------------------------------------------------
# Validation (public so that cogs can check input before deferring)
# --------------------------------------------------------------------------------------------


def _clean_text(value: str) -> str:
    text = unicodedata.normalize("NFC", sanitize_text(value))
    return " ".join(text.split())


def _check_id(value: object, what: str) -> int:
    if type(value) is not int or not 0 < value <= _MAX_ID:
        raise InputError(f"{value!r} is not a valid {what} id.")
    return value


def _scope(guild_id: int | None) -> int:
    """Key of a user-preference row: 0 for the user's global choice."""
    return 0 if guild_id is None or guild_id == 0 else _check_id(guild_id, "server")


def _check_bool(value: object, what: str) -> bool:
    if type(value) is not bool:
        raise InputError(f"{what} must be on or off (got {value!r}).")
    return value


def validate_pref(field: str, value: object) -> PrefValue:
    """Canonical form of a voice preference value, or InputError. None means "not set"."""
    if field not in PREF_FIELDS:
        raise InputError(f"Unknown setting {field!r}. Settings: {', '.join(PREF_FIELDS)}.")
    if value is None:
        return None
    if field == "voice":
        voice = canonical_voice(value) if isinstance(value, str) else None
        if voice is None:
            raise InputError(f"Unknown voice {str(value)[:40]!r}. Valid voices: {', '.join(VOICE_NAMES)}.")
        return voice
    if field == "language":
        language = canonical_language(value) if isinstance(value, str) else None
        if language is None:
            raise InputError(
                f"Unknown language {str(value)[:40]!r}. Valid languages: {', '.join(LANGUAGES)}."
            )
        return language
    if field == "instructions":
        if not isinstance(value, str):
            raise InputError("The style instructions must be text.")
        text = unicodedata.normalize("NFC", sanitize_text(value)).strip()
        if len(text) > MAX_INSTRUCTIONS_CHARS:
            raise InputError(
                f"The style instructions are too long ({len(text)} characters; "
                f"at most {MAX_INSTRUCTIONS_CHARS})."
            )
        return text  # "" = explicitly no style
    return _check_bool(value, "Optimize instructions")


def normalize_word(word: str) -> str:
    """How a dictionary word is stored and looked up: cleaned, whitespace collapsed, case-folded."""
    return _clean_text(word).casefold()


def validate_read_aloud_change(name: str, value: object) -> object:
    """Canonical form of one read-aloud setting, or InputError."""
    if name == "channel_ids":
        raise InputError("Use add_bound_channel / remove_bound_channel to change the bound channels.")
    if name not in READ_ALOUD_FIELDS:
        raise InputError(f"Unknown read-aloud setting {name!r}.")
    if name in _BOOL_READ_ALOUD:
        return _check_bool(value, name.replace("_", " ").capitalize())
    if name in _ROLE_READ_ALOUD:
        return None if value is None else _check_id(value, "role")
    if name == "ignore_prefix":
        if not isinstance(value, str):
            raise InputError("The ignore prefix must be text.")
        prefix = _clean_text(value)
        if len(prefix) > MAX_PREFIX_CHARS:
            raise InputError(f"The ignore prefix is too long (at most {MAX_PREFIX_CHARS} characters).")
        return prefix  # "" = no prefix
    if name == "emoji_mode":
        mode = value.strip().lower() if isinstance(value, str) else value
        if mode not in EMOJI_MODES:
            raise InputError(f"Emoji mode must be one of: {', '.join(EMOJI_MODES)}.")
        return mode
    # max_length
    if type(value) is not int or not MIN_MAX_LENGTH <= value <= MAX_MAX_LENGTH:
        raise InputError(
            f"The length limit must be a whole number from {MIN_MAX_LENGTH} to {MAX_MAX_LENGTH}."
        )
    return value


def validate_nickname(nickname: str | None) -> str | None:
    if nickname is None:
        return None
    text = _clean_text(nickname)
    if len(text) > MAX_NICKNAME_CHARS:
        raise InputError(f"The spoken nickname is too long (at most {MAX_NICKNAME_CHARS} characters).")
    return text or None


# --------------------------------------------------------------------------------------------
# The interface
# --------------------------------------------------------------------------------------------


@runtime_checkable
class Storage(Protocol):
    """What the bot needs from a settings store. All methods are coroutines; writes are
    durable when they return; bad values raise InputError."""

    # Voice preferences. guild_id None (or 0) = the user's global choice.
    async def get_user_prefs(self, user_id: int, guild_id: int | None) -> VoicePrefs: ...
    async def set_user_pref(
        self, user_id: int, guild_id: int | None, field: PrefField, value: PrefValue
    ) -> VoicePrefs: ...
    async def reset_user_prefs(
        self, user_id: int, guild_id: int | None, fields: Iterable[PrefField] | None = None
    ) -> VoicePrefs: ...
    async def get_guild_defaults(self, guild_id: int) -> VoicePrefs: ...
    async def set_guild_default(self, guild_id: int, field: PrefField, value: PrefValue) -> VoicePrefs: ...
    async def reset_guild_defaults(
        self, guild_id: int, fields: Iterable[PrefField] | None = None
    ) -> VoicePrefs: ...
    async def resolve_voice_settings(self, user_id: int, guild_id: int | None) -> VoiceSettings: ...

    # Read-aloud
    async def get_read_aloud(self, guild_id: int) -> GuildReadAloud: ...
    async def update_read_aloud(self, guild_id: int, **changes: Any) -> GuildReadAloud: ...
    async def add_bound_channel(self, guild_id: int, channel_id: int) -> bool: ...
    async def remove_bound_channel(self, guild_id: int, channel_id: int) -> bool: ...
    async def get_member(self, guild_id: int, user_id: int) -> MemberReadAloud: ...
    async def set_read_mode(self, guild_id: int, user_id: int, mode: ReadMode) -> MemberReadAloud: ...
    async def set_nickname(self, guild_id: int, user_id: int, nickname: str | None) -> MemberReadAloud: ...
    async def get_nicknames(self, guild_id: int) -> Mapping[int, str]: ...

    # Pronunciation dictionary
    async def add_dictionary_entry(self, guild_id: int, word: str, reading: str) -> bool: ...
    async def remove_dictionary_entry(self, guild_id: int, word: str) -> bool: ...
    async def list_dictionary(self, guild_id: int) -> Mapping[str, str]: ...

    # Usage counters (UTC days)
    async def add_usage(
        self, guild_id: int | None, characters: int, *, requests: int = 1, day: date | None = None
    ) -> UsageTotals: ...
    async def get_usage(self, guild_id: int | None, day: date | None = None) -> UsageTotals: ...
    async def usage_history(
        self, guild_id: int | None, days: int = 7, *, until: date | None = None
    ) -> list[DailyUsage]: ...

    # Housekeeping
    async def forget_guild(self, guild_id: int) -> None: ...
    async def forget_user(self, user_id: int) -> None: ...
    async def close(self) -> None: ...


# --------------------------------------------------------------------------------------------
# Migrations
# --------------------------------------------------------------------------------------------

# Numbered migrations: MIGRATIONS[n - 1] brings the schema from version n - 1 to n
# (PRAGMA user_version). Never edit a released migration; append a new one.
MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: voice preferences (issue 5)
    """
    CREATE TABLE user_prefs (
        user_id INTEGER NOT NULL,
        guild_id INTEGER NOT NULL,              -- 0 = the user's global choice
        voice TEXT,
        instructions TEXT,
        language TEXT,
        optimize_instructions INTEGER CHECK (optimize_instructions IN (0, 1)),
        PRIMARY KEY (user_id, guild_id)
    ) WITHOUT ROWID;
    CREATE TABLE guilds (
        guild_id INTEGER PRIMARY KEY,
        voice TEXT,
        instructions TEXT,
        language TEXT,
        optimize_instructions INTEGER CHECK (optimize_instructions IN (0, 1))
    );
    """,
    # 2: read-aloud settings, members, pronunciation dictionary (issue 6)
    """
    CREATE TABLE guild_read_aloud (
        guild_id INTEGER PRIMARY KEY REFERENCES guilds (guild_id) ON DELETE CASCADE,
        text_in_voice INTEGER NOT NULL DEFAULT 1,
        require_voice INTEGER NOT NULL DEFAULT 1,
        read_bots INTEGER NOT NULL DEFAULT 0,
        skip_silent INTEGER NOT NULL DEFAULT 1,
        deny_role_id INTEGER,
        required_role_id INTEGER,
        ignore_prefix TEXT NOT NULL DEFAULT '!',
        autojoin INTEGER NOT NULL DEFAULT 0,
        xsaid INTEGER NOT NULL DEFAULT 1,
        emoji_mode TEXT NOT NULL DEFAULT 'name' CHECK (emoji_mode IN ('name', 'none')),
        max_length INTEGER NOT NULL DEFAULT 300
    );
    CREATE TABLE bound_channels (
        guild_id INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
        channel_id INTEGER NOT NULL,
        PRIMARY KEY (guild_id, channel_id)
    ) WITHOUT ROWID;
    CREATE TABLE members (
        guild_id INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL,
        read_mode TEXT NOT NULL DEFAULT 'on' CHECK (read_mode IN ('on', 'off', 'auto')),
        nickname TEXT,
        PRIMARY KEY (guild_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE dictionary (
        guild_id INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
        word TEXT NOT NULL,
        reading TEXT NOT NULL,
        PRIMARY KEY (guild_id, word)
    ) WITHOUT ROWID;
    """,
    # 3: usage counters for cost control (issue 8); day = UTC 'YYYY-MM-DD'
    """
    CREATE TABLE usage_guild (
        guild_id INTEGER NOT NULL,
        day TEXT NOT NULL,
        characters INTEGER NOT NULL DEFAULT 0,
        requests INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (guild_id, day)
    ) WITHOUT ROWID;
    CREATE TABLE usage_global (
        day TEXT PRIMARY KEY,
        characters INTEGER NOT NULL DEFAULT 0,
        requests INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    """,
)

SCHEMA_VERSION: Final = len(MIGRATIONS)


def split_sql(script: str) -> list[str]:
    """Split an SQL script into complete statements (triggers with inner `;` kept whole)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if _has_sql(buffer):
                statements.append(buffer.strip())
            buffer = ""
    if _has_sql(buffer):
        raise ValueError(f"incomplete SQL statement at end of script: {buffer.strip()[:80]!r}")
    return statements


def _has_sql(text: str) -> bool:
    without_comments = re.sub(r"--[^\n]*", "", text)
    return bool(without_comments.strip().strip(";").strip())


async def _user_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def apply_migrations(db: aiosqlite.Connection, migrations: Sequence[str] = MIGRATIONS) -> list[int]:
    """Bring the database to `len(migrations)`; each migration runs once, in its own
    transaction (a failing one leaves the schema at the previous version). Returns the
    versions applied now. The connection must be in autocommit mode (isolation_level=None)."""
    applied: list[int] = []
    target = len(migrations)
    while True:
        current = await _user_version(db)
        if current > target:
            raise StorageError(
                f"the database schema is version {current}, newer than this Parla knows ({target}); "
                "upgrade Parla or restore a matching backup"
            )
        if current == target:
            return applied
        statements = split_sql(migrations[current])
        await db.execute("BEGIN IMMEDIATE")
        try:
            if await _user_version(db) != current:  # another process migrated meanwhile
                await db.execute("ROLLBACK")
                continue
            for statement in statements:
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {current + 1:d}")
            await db.execute("COMMIT")
        except BaseException:
            await _rollback(db)
            raise
        applied.append(current + 1)


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


async def _rollback(db: aiosqlite.Connection) -> None:
    with contextlib.suppress(Exception):
        if db.in_transaction:
            await db.execute("ROLLBACK")


# --------------------------------------------------------------------------------------------
# SQLite implementation
# --------------------------------------------------------------------------------------------

K = TypeVar("K")
V = TypeVar("V")


class _LRU(Generic[K, V]):
    """A small LRU map (values are never None)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = max(1, maxsize)
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        self._data.pop(key, None)

    def drop_where(self, predicate: Callable[[K], bool]) -> None:
        for key in [k for k in self._data if predicate(k)]:
            del self._data[key]

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


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


def _prefs_fields(fields: Iterable[PrefField] | None) -> tuple[PrefField, ...]:
    if fields is None:
        return PREF_FIELDS
    chosen = tuple(dict.fromkeys(fields))
    for name in chosen:
        if name not in PREF_FIELDS:
            raise InputError(f"Unknown setting {name!r}. Settings: {', '.join(PREF_FIELDS)}.")
    return chosen


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
        self._user_prefs: _LRU[tuple[int, int], VoicePrefs] = _LRU(cache_size)
        self._guild_defaults: _LRU[int, VoicePrefs] = _LRU(cache_size)
        self._read_aloud: _LRU[int, GuildReadAloud] = _LRU(cache_size)
        self._members: _LRU[tuple[int, int], MemberReadAloud] = _LRU(cache_size)
        self._nicknames: _LRU[int, Mapping[int, str]] = _LRU(max(1, cache_size // 10))
        self._dictionaries: _LRU[int, Mapping[str, str]] = _LRU(max(1, cache_size // 10))

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
            return await _user_version(self._db)

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
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT), serialised with every other
        statement; rolled back on any exception or cancellation."""
        self._check_open()
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await _rollback(self._db)
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
        key = (_check_id(user_id, "user"), _scope(guild_id))
        cached = self._user_prefs.get(key)
        if cached is not None:
            return cached
        self._check_open()
        async with self._lock:
            row = await self._fetchone(
                f"SELECT {_PREF_COLUMNS} FROM user_prefs WHERE user_id = ? AND guild_id = ?", key
            )
            prefs = _prefs_from_row(row)
            self._user_prefs.put(key, prefs)
        return prefs

    async def set_user_pref(
        self, user_id: int, guild_id: int | None, field: PrefField, value: PrefValue
    ) -> VoicePrefs:
        """Set one preference (None = unset it). Returns the row after the change."""
        key = (_check_id(user_id, "user"), _scope(guild_id))
        canonical = validate_pref(field, value)
        if canonical is None:
            return await self.reset_user_prefs(user_id, guild_id, (field,))
        async with self._transaction() as db:
            await db.execute(
                f"INSERT INTO user_prefs (user_id, guild_id, {field}) VALUES (?, ?, ?) "
                f"ON CONFLICT (user_id, guild_id) DO UPDATE SET {field} = excluded.{field}",
                (*key, _db_value(canonical)),
            )
            self._user_prefs.pop(key)
        return await self.get_user_prefs(user_id, guild_id)

    async def reset_user_prefs(
        self, user_id: int, guild_id: int | None, fields: Iterable[PrefField] | None = None
    ) -> VoicePrefs:
        """Unset the given preferences (all four by default). Returns the row after."""
        key = (_check_id(user_id, "user"), _scope(guild_id))
        chosen = _prefs_fields(fields)
        if chosen:
            assignments = ", ".join(f"{f} = NULL" for f in chosen)
            async with self._transaction() as db:
                await db.execute(
                    f"UPDATE user_prefs SET {assignments} WHERE user_id = ? AND guild_id = ?", key
                )
                await db.execute(
                    f"DELETE FROM user_prefs WHERE user_id = ? AND guild_id = ? AND {_ALL_NULL}", key
                )
                self._user_prefs.pop(key)
        return await self.get_user_prefs(user_id, guild_id)

    async def get_guild_defaults(self, guild_id: int) -> VoicePrefs:
        _check_id(guild_id, "server")
        cached = self._guild_defaults.get(guild_id)
        if cached is not None:
            return cached
        self._check_open()
        async with self._lock:
            row = await self._fetchone(f"SELECT {_PREF_COLUMNS} FROM guilds WHERE guild_id = ?", (guild_id,))
            prefs = _prefs_from_row(row)
            self._guild_defaults.put(guild_id, prefs)
        return prefs

    async def set_guild_default(self, guild_id: int, field: PrefField, value: PrefValue) -> VoicePrefs:
        _check_id(guild_id, "server")
        canonical = validate_pref(field, value)
        if canonical is None:
            return await self.reset_guild_defaults(guild_id, (field,))
        async with self._transaction() as db:
            await self._ensure_guild(db, guild_id)
            await db.execute(
                f"UPDATE guilds SET {field} = ? WHERE guild_id = ?", (_db_value(canonical), guild_id)
            )
            self._guild_defaults.pop(guild_id)
        return await self.get_guild_defaults(guild_id)

    async def reset_guild_defaults(
        self, guild_id: int, fields: Iterable[PrefField] | None = None
    ) -> VoicePrefs:
        _check_id(guild_id, "server")
        chosen = _prefs_fields(fields)
        if chosen:
            assignments = ", ".join(f"{f} = NULL" for f in chosen)
            async with self._transaction() as db:
                await db.execute(f"UPDATE guilds SET {assignments} WHERE guild_id = ?", (guild_id,))
                self._guild_defaults.pop(guild_id)
        return await self.get_guild_defaults(guild_id)

    async def resolve_voice_settings(self, user_id: int, guild_id: int | None) -> VoiceSettings:
        """Effective settings of `user_id` speaking in `guild_id` (None: outside a server)."""
        scope = _scope(guild_id)
        user = await self.get_user_prefs(user_id, None)
        if scope == 0:
            return resolve_settings(EMPTY_PREFS, user, EMPTY_PREFS)
        member = await self.get_user_prefs(user_id, scope)
        server = await self.get_guild_defaults(scope)
        return resolve_settings(member, user, server)

    # ---- read-aloud: server settings ----------------------------------------------------

    async def get_read_aloud(self, guild_id: int) -> GuildReadAloud:
        _check_id(guild_id, "server")
        cached = self._read_aloud.get(guild_id)
        if cached is not None:
            return cached
        self._check_open()
        async with self._lock:
            settings = await self._load_read_aloud(guild_id)
            self._read_aloud.put(guild_id, settings)
        return settings

    async def _load_read_aloud(self, guild_id: int) -> GuildReadAloud:
        row = await self._fetchone("SELECT * FROM guild_read_aloud WHERE guild_id = ?", (guild_id,))
        channels = await self._fetchall(
            "SELECT channel_id FROM bound_channels WHERE guild_id = ?", (guild_id,)
        )
        values: dict[str, Any] = {"channel_ids": frozenset(int(r[0]) for r in channels)}
        if row is not None:
            for name in READ_ALOUD_FIELDS:
                value = row[name]
                values[name] = bool(value) if name in _BOOL_READ_ALOUD else value
            if values["emoji_mode"] not in EMOJI_MODES:
                values["emoji_mode"] = "name"
        return GuildReadAloud(**values)

    async def update_read_aloud(self, guild_id: int, **changes: Any) -> GuildReadAloud:
        """Change some read-aloud settings, e.g. `update_read_aloud(g, xsaid=False, max_length=200)`.
        Validates every change before writing any. Returns the settings after."""
        _check_id(guild_id, "server")
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
            self._read_aloud.pop(guild_id)
        return await self.get_read_aloud(guild_id)

    async def add_bound_channel(self, guild_id: int, channel_id: int) -> bool:
        """Bind a text channel for read-aloud. False if it was already bound."""
        _check_id(guild_id, "server")
        _check_id(channel_id, "channel")
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
            self._read_aloud.pop(guild_id)
        return True

    async def remove_bound_channel(self, guild_id: int, channel_id: int) -> bool:
        """Unbind a channel. False if it was not bound."""
        _check_id(guild_id, "server")
        _check_id(channel_id, "channel")
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM bound_channels WHERE guild_id = ? AND channel_id = ?", (guild_id, channel_id)
            )
            removed = cursor.rowcount > 0
            await cursor.close()
            self._read_aloud.pop(guild_id)
        return removed

    # ---- read-aloud: members ------------------------------------------------------------

    async def get_member(self, guild_id: int, user_id: int) -> MemberReadAloud:
        key = (_check_id(guild_id, "server"), _check_id(user_id, "user"))
        cached = self._members.get(key)
        if cached is not None:
            return cached
        self._check_open()
        async with self._lock:
            row = await self._fetchone(
                "SELECT read_mode, nickname FROM members WHERE guild_id = ? AND user_id = ?", key
            )
            mode: ReadMode = "on"
            if row is not None and row["read_mode"] in READ_MODES:
                mode = cast(ReadMode, row["read_mode"])
            member = MemberReadAloud(mode=mode, nickname=row["nickname"] if row is not None else None)
            self._members.put(key, member)
        return member

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
            self._members.pop(key)
            if column == "nickname":
                self._nicknames.pop(guild_id)

    async def set_read_mode(self, guild_id: int, user_id: int, mode: ReadMode) -> MemberReadAloud:
        """`/readaloud me on|off|auto`: "off" opts out, "auto" opts in to being followed."""
        _check_id(guild_id, "server")
        _check_id(user_id, "user")
        wanted = mode.strip().lower() if isinstance(mode, str) else mode
        if wanted not in READ_MODES:
            raise InputError(f"Read-aloud mode must be one of: {', '.join(READ_MODES)}.")
        await self._write_member(guild_id, user_id, "read_mode", wanted)
        return await self.get_member(guild_id, user_id)

    async def set_nickname(self, guild_id: int, user_id: int, nickname: str | None) -> MemberReadAloud:
        """The name read for this member in this server (None or blank = clear it)."""
        _check_id(guild_id, "server")
        _check_id(user_id, "user")
        await self._write_member(guild_id, user_id, "nickname", validate_nickname(nickname))
        return await self.get_member(guild_id, user_id)

    async def get_nicknames(self, guild_id: int) -> Mapping[int, str]:
        """Every spoken nickname set in this server (user id → name), read-only."""
        _check_id(guild_id, "server")
        cached = self._nicknames.get(guild_id)
        if cached is not None:
            return cached
        self._check_open()
        async with self._lock:
            rows = await self._fetchall(
                "SELECT user_id, nickname FROM members WHERE guild_id = ? AND nickname IS NOT NULL",
                (guild_id,),
            )
            names: Mapping[int, str] = MappingProxyType({int(r[0]): str(r[1]) for r in rows})
            self._nicknames.put(guild_id, names)
        return names

    # ---- pronunciation dictionary -------------------------------------------------------

    async def add_dictionary_entry(self, guild_id: int, word: str, reading: str) -> bool:
        """Add or replace `word → reading`. True if the word is new. The word is stored
        case-folded; at most MAX_DICTIONARY_ENTRIES per server."""
        _check_id(guild_id, "server")
        key = normalize_word(word) if isinstance(word, str) else ""
        spoken = _clean_text(reading) if isinstance(reading, str) else ""
        if not key:
            raise InputError("The dictionary word is empty.")
        if len(key) > MAX_WORD_CHARS:
            raise InputError(f"The dictionary word is too long (at most {MAX_WORD_CHARS} characters).")
        if not spoken:
            raise InputError("The reading is empty; use remove to delete a word.")
        if len(spoken) > MAX_READING_CHARS:
            raise InputError(f"The reading is too long (at most {MAX_READING_CHARS} characters).")
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
            self._dictionaries.pop(guild_id)
        return not present

    async def remove_dictionary_entry(self, guild_id: int, word: str) -> bool:
        """Remove a word (matched case-insensitively). False if it was not there."""
        _check_id(guild_id, "server")
        key = normalize_word(word) if isinstance(word, str) else ""
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM dictionary WHERE guild_id = ? AND word = ?", (guild_id, key)
            )
            removed = cursor.rowcount > 0
            await cursor.close()
            self._dictionaries.pop(guild_id)
        return removed

    async def list_dictionary(self, guild_id: int) -> Mapping[str, str]:
        """The server's dictionary (case-folded word → reading), sorted by word, read-only."""
        _check_id(guild_id, "server")
        cached = self._dictionaries.get(guild_id)
        if cached is not None:
            return cached
        self._check_open()
        async with self._lock:
            rows = await self._fetchall(
                "SELECT word, reading FROM dictionary WHERE guild_id = ? ORDER BY word", (guild_id,)
            )
            entries: Mapping[str, str] = MappingProxyType({str(r[0]): str(r[1]) for r in rows})
            self._dictionaries.put(guild_id, entries)
        return entries

    # ---- usage counters -----------------------------------------------------------------

    async def add_usage(
        self, guild_id: int | None, characters: int, *, requests: int = 1, day: date | None = None
    ) -> UsageTotals:
        """Count `characters` (and `requests`) spent today (UTC) in `guild_id` (None: outside
        a server, counted globally only). Returns the day's totals after the addition."""
        scope = _scope(guild_id)
        if type(characters) is not int or characters < 0 or type(requests) is not int or requests < 0:
            raise InputError("Usage counts must be whole numbers, at least 0.")
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
        scope = _scope(guild_id)
        self._check_open()
        async with self._lock:
            return await self._usage_totals(scope, day or self._today())

    async def usage_history(
        self, guild_id: int | None, days: int = 7, *, until: date | None = None
    ) -> list[DailyUsage]:
        """One entry per day, oldest first, for the `days` days ending at `until` (default
        today), zero-filled. `guild_id` None = the global totals."""
        scope = _scope(guild_id)
        if type(days) is not int or not 1 <= days <= 3660:
            raise InputError("The number of days must be from 1 to 3660.")
        last = until or self._today()
        first = last - timedelta(days=days - 1)
        self._check_open()
        async with self._lock:
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
        _check_id(guild_id, "server")
        async with self._transaction() as db:
            await db.execute("DELETE FROM guilds WHERE guild_id = ?", (guild_id,))  # cascades
            await db.execute("DELETE FROM user_prefs WHERE guild_id = ?", (guild_id,))
            self._guild_defaults.pop(guild_id)
            self._read_aloud.pop(guild_id)
            self._nicknames.pop(guild_id)
            self._dictionaries.pop(guild_id)
            self._user_prefs.drop_where(lambda key: key[1] == guild_id)
            self._members.drop_where(lambda key: key[0] == guild_id)

    async def forget_user(self, user_id: int) -> None:
        """Delete every setting of a user, in every server."""
        _check_id(user_id, "user")
        async with self._transaction() as db:
            rows = await self._fetchall(
                "SELECT guild_id FROM members WHERE user_id = ? AND nickname IS NOT NULL", (user_id,)
            )
            await db.execute("DELETE FROM user_prefs WHERE user_id = ?", (user_id,))
            await db.execute("DELETE FROM members WHERE user_id = ?", (user_id,))
            self._user_prefs.drop_where(lambda key: key[0] == user_id)
            self._members.drop_where(lambda key: key[1] == user_id)
            for row in rows:
                self._nicknames.pop(int(row[0]))


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
