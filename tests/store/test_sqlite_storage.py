"""Settings storage: schema and migrations, every getter/setter, the resolution order,
persistence across reopening, concurrent writers, WAL, and surviving a killed process.

The tests taking the `storage` fixture are the storage contract: they run on SQLite and on
PostgreSQL (tests/store/conftest.py). The others are about the SQLite file itself."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.base.errors import InputError
from bot.speech.request import MAX_INSTRUCTIONS_CHARS
from bot.speech.voices import VOICE_NAMES
from bot.store.migrate import MIGRATIONS, SCHEMA_VERSION, split_sql
from bot.store.models import (
    BUILTIN_SETTINGS,
    MAX_BOUND_CHANNELS,
    MAX_DICTIONARY_ENTRIES,
    PREF_FIELDS,
    GuildReadAloud,
    MemberReadAloud,
    VoicePrefs,
    VoiceSettings,
    resolve_settings,
)
from bot.store.protocol import Storage, StorageError
from bot.store.sql_storage import SqlStorage
from bot.store.sqlite import SqliteStorage
from bot.text.pronunciation import PronunciationDictionary
from tests.standins.databases import DAY, FakeToday, scalar, sql

ROOT = Path(__file__).resolve().parents[2]
GUILD = 111_111_111_111_111_111
OTHER_GUILD = 222_222_222_222_222_222
USER = 333_333_333_333_333_333
OTHER_USER = 444_444_444_444_444_444


@pytest.fixture
async def sqlite_storage(db_path: Path, today: FakeToday) -> AsyncIterator[SqliteStorage]:
    store = await SqliteStorage.open(db_path, today=today)
    try:
        yield store
    finally:
        await store.close()


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def tables(path: Path) -> set[str]:
    with raw(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def wal_exists(path: Path) -> bool:
    return path.with_name(path.name + "-wal").exists()


def user_version(path: Path) -> int:
    conn = raw(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# Opening, schema, migrations
# ---------------------------------------------------------------------------------------------


async def test_open_creates_directory_schema_and_all_tables(db_path: Path) -> None:
    assert not db_path.parent.exists()
    async with SqliteStorage.open(db_path) as store:
        assert isinstance(store, Storage)
        assert store.applied_migrations == list(range(1, SCHEMA_VERSION + 1))
        assert await store.schema_version() == SCHEMA_VERSION
        assert await store.integrity_check()
    assert user_version(db_path) == SCHEMA_VERSION == len(MIGRATIONS)
    assert {
        "user_prefs",
        "guilds",
        "guild_read_aloud",
        "bound_channels",
        "members",
        "dictionary",
        "usage_guild",
        "usage_global",
        "guild_deletions",
    } <= tables(db_path)


async def test_wal_mode_synchronous_full_for_settings_and_foreign_keys(
    sqlite_storage: SqliteStorage, db_path: Path
) -> None:
    storage = sqlite_storage
    statements: list[str] = []
    db = storage._db  # connection-level pragmas: checked on the storage's own connection
    await db.set_trace_callback(statements.append)
    await storage.set_user_pref(USER, None, "voice", "Ethan")
    assert not any("synchronous" in s for s in statements)
    with raw(db_path) as conn:  # journal mode is a property of the file
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert wal_exists(db_path)
    async with db.execute("PRAGMA synchronous") as cur:
        assert [tuple(r) for r in await cur.fetchall()] == [(2,)]  # FULL: settings writes are durable
    statements.clear()
    # Usage counters alone commit with NORMAL (losing the last few on a power cut is acceptable).
    await storage.add_usage(GUILD, 10)
    await db.set_trace_callback(None)
    pragmas = [s for s in statements if "synchronous" in s]
    assert pragmas == ["PRAGMA synchronous = NORMAL", "PRAGMA synchronous = FULL"]
    upsert = next(i for i, s in enumerate(statements) if "usage_guild" in s)
    assert statements.index(pragmas[0]) < upsert < statements.index(pragmas[1])
    async with db.execute("PRAGMA synchronous") as cur:
        assert [tuple(r) for r in await cur.fetchall()] == [(2,)]
    async with db.execute("PRAGMA foreign_keys") as cur:
        assert [tuple(r) for r in await cur.fetchall()] == [(1,)]


async def test_awaitable_open_and_context_manager_on_the_instance(db_path: Path) -> None:
    store = await SqliteStorage.open(db_path)
    async with store as same:
        assert same is store
        await same.set_user_pref(USER, None, "voice", "Kai")
    with pytest.raises(StorageError):
        await store.set_user_pref(USER, None, "voice", "Ethan")  # closed
    await store.close()  # idempotent


async def test_reopening_applies_no_migration_again(db_path: Path) -> None:
    async with SqliteStorage.open(db_path) as store:
        assert store.applied_migrations == [1, 2, 3, 4]
    async with SqliteStorage.open(db_path) as store:
        assert store.applied_migrations == []
    assert user_version(db_path) == SCHEMA_VERSION


async def test_each_migration_runs_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    steps = ["CREATE TABLE t (n INTEGER NOT NULL);", "INSERT INTO t VALUES (1);"]
    for _ in range(3):
        async with SqliteStorage.open(path, migrations=steps):
            pass
    with raw(path) as conn:
        assert conn.execute("SELECT n FROM t").fetchall() == [(1,)]
    # A new migration appended later runs once, on top of the old ones.
    async with SqliteStorage.open(path, migrations=[*steps, "INSERT INTO t VALUES (2);"]) as store:
        assert store.applied_migrations == [3]
    async with SqliteStorage.open(path, migrations=[*steps, "INSERT INTO t VALUES (2);"]) as store:
        assert store.applied_migrations == []
    with raw(path) as conn:
        assert conn.execute("SELECT n FROM t ORDER BY n").fetchall() == [(1,), (2,)]


async def test_migrating_from_an_older_version_keeps_data(db_path: Path, today: FakeToday) -> None:
    # A database written by a release that only knew migration 1 (voice preferences).
    async with SqliteStorage.open(db_path, migrations=MIGRATIONS[:1]) as old:
        assert old.applied_migrations == [1]
        await old.set_user_pref(USER, None, "voice", "Vincent")
        await old.set_user_pref(USER, GUILD, "language", "German")
        await old.set_guild_default(GUILD, "instructions", "calm narrator")
    assert user_version(db_path) == 1
    assert "guild_read_aloud" not in tables(db_path)

    async with SqliteStorage.open(db_path, today=today) as new:
        assert new.applied_migrations == [2, 3, 4]
        settings = await new.resolve_voice_settings(USER, GUILD)
        assert (settings.voice, settings.language, settings.instructions) == (
            "Vincent",
            "German",
            "calm narrator",
        )
        # The features of the new migrations work on the migrated file.
        assert await new.get_read_aloud(GUILD) == GuildReadAloud()
        assert await new.add_bound_channel(GUILD, 5)
        assert await new.add_dictionary_entry(GUILD, "GIF", "jif")
        assert (await new.add_usage(GUILD, 10)).guild_characters == 10
    assert user_version(db_path) == SCHEMA_VERSION


async def test_failing_migration_is_rolled_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    broken = [MIGRATIONS[0], "CREATE TABLE half_done (a);\nINSERT INTO no_such_table VALUES (1);"]
    with pytest.raises(sqlite3.OperationalError):
        await SqliteStorage.open(path, migrations=broken)
    assert user_version(path) == 1
    assert "half_done" not in tables(path)
    assert "user_prefs" in tables(path)
    async with SqliteStorage.open(path) as store:  # the fixed release migrates from 1
        assert store.applied_migrations == [2, 3, 4]


async def test_database_newer_than_the_code_is_refused(db_path: Path) -> None:
    async with SqliteStorage.open(db_path):
        pass
    with raw(db_path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StorageError, match="newer"):
        await SqliteStorage.open(db_path)


async def test_two_openers_migrate_a_fresh_file_once(db_path: Path) -> None:
    first, second = await asyncio.gather(SqliteStorage.open(db_path), SqliteStorage.open(db_path))
    try:
        applied = first.applied_migrations + second.applied_migrations
        assert sorted(applied) == [1, 2, 3, 4]
        assert user_version(db_path) == SCHEMA_VERSION
    finally:
        await first.close()
        await second.close()


def test_split_sql_keeps_triggers_and_skips_comments() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE a (x TEXT DEFAULT ';');
    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        UPDATE a SET x = 'y;z';
        DELETE FROM a WHERE x = '';
    END;
    """
    statements = split_sql(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(ValueError):
        split_sql("CREATE TABLE b (x")


# ---------------------------------------------------------------------------------------------
# Voice preferences
# ---------------------------------------------------------------------------------------------


async def test_user_prefs_global_and_per_server(storage: SqlStorage) -> None:
    assert await storage.get_user_prefs(USER, None) == VoicePrefs()
    assert await storage.set_user_pref(USER, None, "voice", "  eLDRIC   sage ") == VoicePrefs(
        voice="Eldric Sage"
    )
    await storage.set_user_pref(USER, None, "language", "english")
    await storage.set_user_pref(USER, GUILD, "instructions", "  Speak slowly.  ")
    await storage.set_user_pref(USER, GUILD, "optimize_instructions", True)
    assert await storage.get_user_prefs(USER, None) == VoicePrefs(voice="Eldric Sage", language="English")
    assert await storage.get_user_prefs(USER, 0) == await storage.get_user_prefs(USER, None)
    assert await storage.get_user_prefs(USER, GUILD) == VoicePrefs(
        instructions="Speak slowly.", optimize_instructions=True
    )
    assert await storage.get_user_prefs(USER, OTHER_GUILD) == VoicePrefs()
    assert await storage.get_user_prefs(OTHER_USER, None) == VoicePrefs()
    # Overwrite, including False (a real value, not "unset").
    await storage.set_user_pref(USER, GUILD, "optimize_instructions", False)
    assert (await storage.get_user_prefs(USER, GUILD)).optimize_instructions is False
    # None unsets one field.
    assert await storage.set_user_pref(USER, None, "voice", None) == VoicePrefs(language="English")


async def test_reset_user_prefs_some_or_all(storage: SqlStorage) -> None:
    for field, value in (
        ("voice", "Kai"),
        ("instructions", "whisper"),
        ("language", "Korean"),
        ("optimize_instructions", True),
    ):
        await storage.set_user_pref(USER, GUILD, field, value)  # type: ignore[arg-type]
    assert await storage.reset_user_prefs(USER, GUILD, ["voice", "language"]) == VoicePrefs(
        instructions="whisper", optimize_instructions=True
    )
    assert await storage.reset_user_prefs(USER, GUILD) == VoicePrefs()
    assert await scalar(storage, "SELECT COUNT(*) FROM user_prefs") == 0  # an all-unset row is not kept
    assert await storage.reset_user_prefs(OTHER_USER, None) == VoicePrefs()  # nothing to reset: fine
    with pytest.raises(InputError):
        await storage.reset_user_prefs(USER, GUILD, ["pitch"])  # type: ignore[list-item]


async def test_guild_defaults(storage: SqlStorage) -> None:
    assert await storage.get_guild_defaults(GUILD) == VoicePrefs()
    await storage.set_guild_default(GUILD, "voice", "neil")
    await storage.set_guild_default(GUILD, "instructions", "news anchor")
    await storage.set_guild_default(GUILD, "language", "French")
    await storage.set_guild_default(GUILD, "optimize_instructions", True)
    assert await storage.get_guild_defaults(GUILD) == VoicePrefs("Neil", "news anchor", "French", True)
    assert await storage.get_guild_defaults(OTHER_GUILD) == VoicePrefs()
    assert await storage.reset_guild_defaults(GUILD, ["instructions"]) == VoicePrefs(
        "Neil", None, "French", True
    )
    assert await storage.set_guild_default(GUILD, "voice", None) == VoicePrefs(None, None, "French", True)
    assert await storage.reset_guild_defaults(GUILD) == VoicePrefs()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("voice", "Robot", "Unknown voice"),
        ("voice", 3, "Unknown voice"),
        ("language", "Klingon", "Unknown language"),
        ("instructions", "x" * (MAX_INSTRUCTIONS_CHARS + 1), "too long"),
        ("instructions", 12, "must be text"),
        ("optimize_instructions", "yes", "on or off"),
        ("optimize_instructions", 1, "on or off"),
        ("pitch", "high", "Unknown setting"),
    ],
)
async def test_bad_pref_values_raise_input_error_and_store_nothing(
    storage: SqlStorage, field: str, value: object, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        await storage.set_user_pref(USER, GUILD, field, value)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=message):
        await storage.set_guild_default(GUILD, field, value)  # type: ignore[arg-type]
    assert await storage.get_user_prefs(USER, GUILD) == VoicePrefs()
    assert await storage.get_guild_defaults(GUILD) == VoicePrefs()


async def test_instructions_at_the_limit_are_accepted(storage: SqlStorage) -> None:
    text = "y" * MAX_INSTRUCTIONS_CHARS
    assert (await storage.set_user_pref(USER, None, "instructions", text)).instructions == text


@pytest.mark.parametrize("bad_id", [0, -5, 2**63, True, "123", 1.5])
async def test_bad_ids_are_refused(storage: SqlStorage, bad_id: object) -> None:
    with pytest.raises(InputError):
        await storage.get_user_prefs(bad_id, None)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        await storage.get_read_aloud(bad_id)  # type: ignore[arg-type]
    if bad_id != 0:  # 0 is the "global" scope for user prefs
        with pytest.raises(InputError):
            await storage.set_user_pref(USER, bad_id, "voice", "Kai")  # type: ignore[arg-type]


async def test_a_stored_voice_that_no_longer_exists_reads_as_unset(storage: SqlStorage) -> None:
    await storage.set_user_pref(USER, None, "voice", "Kai")
    await storage.set_guild_default(GUILD, "language", "German")
    # e.g. a voice withdrawn by the endpoint in a later release
    await sql(storage, "UPDATE user_prefs SET voice = 'Retired'")
    await sql(storage, "UPDATE guilds SET language = 'Latin'")
    storage.clear_cache()
    settings = await storage.resolve_voice_settings(USER, GUILD)
    assert (settings.voice, settings.voice_source) == ("Cherry", "default")
    assert (settings.language, settings.language_source) == ("Auto", "default")


async def test_reads_are_cached_and_writes_invalidate(storage: SqlStorage) -> None:
    await storage.set_user_pref(USER, None, "voice", "Kai")
    assert (await storage.get_user_prefs(USER, None)).voice == "Kai"
    # a change behind the storage's back is not seen: served from memory
    await sql(storage, "UPDATE user_prefs SET voice = 'Ethan'")
    assert (await storage.get_user_prefs(USER, None)).voice == "Kai"
    # Its own writes are seen at once.
    await storage.set_user_pref(USER, None, "language", "Italian")
    assert await storage.get_user_prefs(USER, None) == VoicePrefs(voice="Ethan", language="Italian")
    assert (await storage.resolve_voice_settings(USER, GUILD)).language == "Italian"


# ---------------------------------------------------------------------------------------------
# Resolution order
# ---------------------------------------------------------------------------------------------

LAYER_VALUES: dict[str, tuple[object, object, object]] = {
    # field: (member value, user value, server value)
    "voice": ("Ethan", "Serena", "Kai"),
    "instructions": ("member style", "user style", "server style"),
    "language": ("German", "French", "Japanese"),
    "optimize_instructions": (True, False, True),
}
BUILTIN = {"voice": "Cherry", "instructions": None, "language": "Auto", "optimize_instructions": None}
LAYERS = ("member", "user", "server")


@pytest.mark.parametrize("field", PREF_FIELDS)
@pytest.mark.parametrize("present", list(itertools.product([False, True], repeat=3)))
def test_resolution_order_table(field: str, present: tuple[bool, bool, bool]) -> None:
    rows = [
        VoicePrefs(**{field: LAYER_VALUES[field][i]}) if present[i] else VoicePrefs()  # type: ignore[arg-type]
        for i in range(3)
    ]
    settings = resolve_settings(*rows)
    first = next((i for i in range(3) if present[i]), None)
    expected_value = BUILTIN[field] if first is None else LAYER_VALUES[field][first]
    expected_source = "default" if first is None else LAYERS[first]
    assert getattr(settings, field) == expected_value
    assert settings.source(field) == expected_source  # type: ignore[arg-type]
    # Other fields are untouched built-in defaults.
    for other in PREF_FIELDS:
        if other != field:
            assert getattr(settings, other) == BUILTIN[other]
            assert settings.source(other) == "default"


def test_resolution_mixes_layers_field_by_field() -> None:
    settings = resolve_settings(
        VoicePrefs(language="Spanish"),
        VoicePrefs(voice="Moon", language="Russian"),
        VoicePrefs(voice="Kai", instructions="calm", optimize_instructions=True),
    )
    assert settings == VoiceSettings(
        voice="Moon",
        instructions="calm",
        language="Spanish",
        optimize_instructions=True,
        voice_source="user",
        instructions_source="server",
        language_source="member",
        optimize_instructions_source="server",
    )
    assert resolve_settings(VoicePrefs(), VoicePrefs(), VoicePrefs()) == BUILTIN_SETTINGS
    request = settings.request("hello").validated()
    assert (request.voice, request.language, request.instructions, request.optimize_instructions) == (
        "Moon",
        "Spanish",
        "calm",
        True,
    )


@pytest.mark.parametrize(
    ("member", "user", "expected", "source"),
    [
        (None, None, "server style", "server"),
        ("", None, None, "member"),  # explicit "no style" in this server beats the server default
        (None, "", None, "user"),  # explicit "no style" everywhere beats the server default
        ("", "user style", None, "member"),
        ("member style", "", "member style", "member"),
    ],
)
def test_explicit_no_style_stops_the_fall_through(
    member: str | None, user: str | None, expected: str | None, source: str
) -> None:
    settings = resolve_settings(
        VoicePrefs(instructions=member),
        VoicePrefs(instructions=user),
        VoicePrefs(instructions="server style"),
    )
    assert (settings.instructions, settings.instructions_source) == (expected, source)


async def test_resolve_voice_settings_from_the_database(storage: SqlStorage) -> None:
    await storage.set_user_pref(USER, None, "voice", "Serena")
    await storage.set_user_pref(USER, GUILD, "voice", "Ethan")
    await storage.set_guild_default(GUILD, "voice", "Kai")
    await storage.set_guild_default(GUILD, "instructions", "cheerful")
    await storage.set_guild_default(OTHER_GUILD, "language", "Korean")

    here = await storage.resolve_voice_settings(USER, GUILD)
    assert (here.voice, here.voice_source, here.instructions, here.instructions_source) == (
        "Ethan",
        "member",
        "cheerful",
        "server",
    )
    elsewhere = await storage.resolve_voice_settings(USER, OTHER_GUILD)
    assert (elsewhere.voice, elsewhere.voice_source, elsewhere.language) == ("Serena", "user", "Korean")
    in_dm = await storage.resolve_voice_settings(USER, None)
    assert (in_dm.voice, in_dm.voice_source, in_dm.instructions) == ("Serena", "user", None)
    stranger = await storage.resolve_voice_settings(OTHER_USER, GUILD)
    assert (stranger.voice, stranger.voice_source) == ("Kai", "server")
    assert await storage.resolve_voice_settings(OTHER_USER, None) == BUILTIN_SETTINGS

    # The member clears the style in this server only.
    await storage.set_user_pref(USER, GUILD, "instructions", "")
    assert (await storage.resolve_voice_settings(USER, GUILD)).instructions is None
    assert (await storage.resolve_voice_settings(OTHER_USER, GUILD)).instructions == "cheerful"
    # Resetting their server choice falls back to the global one.
    await storage.reset_user_prefs(USER, GUILD)
    assert (await storage.resolve_voice_settings(USER, GUILD)).voice == "Serena"


# ---------------------------------------------------------------------------------------------
# Read-aloud settings
# ---------------------------------------------------------------------------------------------


async def test_read_aloud_defaults(storage: SqlStorage) -> None:
    settings = await storage.get_read_aloud(GUILD)
    assert settings == GuildReadAloud(
        channel_ids=frozenset(),
        text_in_voice=True,
        require_voice=True,
        read_bots=False,
        skip_silent=True,
        deny_role_id=None,
        required_role_id=None,
        ignore_prefix="!",
        autojoin=False,
        xsaid=True,
        emoji_mode="name",
        max_length=300,
    )


async def test_read_aloud_row_created_by_one_change_keeps_other_defaults(storage: SqlStorage) -> None:
    # The table's column defaults must agree with the dataclass defaults.
    assert await storage.update_read_aloud(GUILD, autojoin=True) == GuildReadAloud(autojoin=True)


async def test_update_every_read_aloud_setting(storage: SqlStorage) -> None:
    changes = {
        "text_in_voice": False,
        "require_voice": False,
        "read_bots": True,
        "skip_silent": False,
        "deny_role_id": 555,
        "required_role_id": 666,
        "ignore_prefix": "  $$ ",
        "autojoin": True,
        "xsaid": False,
        "emoji_mode": "NONE",
        "max_length": 120,
    }
    updated = await storage.update_read_aloud(GUILD, **changes)
    expected = GuildReadAloud(
        text_in_voice=False,
        require_voice=False,
        read_bots=True,
        skip_silent=False,
        deny_role_id=555,
        required_role_id=666,
        ignore_prefix="$$",
        autojoin=True,
        xsaid=False,
        emoji_mode="none",
        max_length=120,
    )
    assert updated == expected
    assert await storage.get_read_aloud(GUILD) == expected
    assert await storage.get_read_aloud(OTHER_GUILD) == GuildReadAloud()
    # Partial update leaves the rest; roles can be cleared; "" disables the prefix.
    again = await storage.update_read_aloud(GUILD, deny_role_id=None, ignore_prefix="")
    assert (again.deny_role_id, again.required_role_id, again.ignore_prefix, again.max_length) == (
        None,
        666,
        "",
        120,
    )
    assert await storage.update_read_aloud(GUILD) == again  # no change


@pytest.mark.parametrize(
    "changes",
    [
        {"xsaid": "yes"},
        {"read_bots": 1},
        {"deny_role_id": -1},
        {"required_role_id": "role"},
        {"ignore_prefix": "!" * 9},
        {"ignore_prefix": 5},
        {"emoji_mode": "unicode"},
        {"max_length": 19},
        {"max_length": 2001},
        {"max_length": 300.0},
        {"channel_ids": frozenset({1})},
        {"volume": 3},
        {"xsaid": False, "max_length": 5},  # one bad value: nothing is written
    ],
)
async def test_bad_read_aloud_values_raise_and_store_nothing(
    storage: SqlStorage, changes: dict[str, object]
) -> None:
    with pytest.raises(InputError):
        await storage.update_read_aloud(GUILD, **changes)
    assert await storage.get_read_aloud(GUILD) == GuildReadAloud()


async def test_bound_channels(storage: SqlStorage) -> None:
    assert await storage.add_bound_channel(GUILD, 10)
    assert await storage.add_bound_channel(GUILD, 20)
    assert not await storage.add_bound_channel(GUILD, 10)  # already bound
    await storage.update_read_aloud(GUILD, xsaid=False)
    settings = await storage.get_read_aloud(GUILD)
    assert settings.channel_ids == frozenset({10, 20}) and settings.xsaid is False
    assert (await storage.get_read_aloud(OTHER_GUILD)).channel_ids == frozenset()
    assert await storage.remove_bound_channel(GUILD, 10)
    assert not await storage.remove_bound_channel(GUILD, 10)
    assert (await storage.get_read_aloud(GUILD)).channel_ids == frozenset({20})
    with pytest.raises(InputError):
        await storage.add_bound_channel(GUILD, 0)


async def test_bound_channel_limit(storage: SqlStorage) -> None:
    for channel in range(1, MAX_BOUND_CHANNELS + 1):
        assert await storage.add_bound_channel(GUILD, channel)
    with pytest.raises(InputError, match="remove one"):
        await storage.add_bound_channel(GUILD, 9999)
    assert not await storage.add_bound_channel(GUILD, 1)  # re-adding a bound one is not an error
    assert len((await storage.get_read_aloud(GUILD)).channel_ids) == MAX_BOUND_CHANNELS


async def test_member_read_mode_and_nickname(storage: SqlStorage) -> None:
    assert await storage.get_member(GUILD, USER) == MemberReadAloud(mode="on", nickname=None)
    off = await storage.set_read_mode(GUILD, USER, "off")
    assert off.opted_out and not off.auto
    auto = await storage.set_read_mode(GUILD, USER, "AUTO")  # type: ignore[arg-type]
    assert auto.auto and not auto.opted_out
    assert (await storage.get_member(OTHER_GUILD, USER)).mode == "on"  # per server
    named = await storage.set_nickname(GUILD, USER, "  Captain   Kirk ")
    assert named == MemberReadAloud(mode="auto", nickname="Captain Kirk")
    await storage.set_nickname(GUILD, OTHER_USER, "Spock")
    assert dict(await storage.get_nicknames(GUILD)) == {USER: "Captain Kirk", OTHER_USER: "Spock"}
    assert dict(await storage.get_nicknames(OTHER_GUILD)) == {}
    await storage.set_nickname(GUILD, OTHER_USER, "   ")  # blank clears
    assert dict(await storage.get_nicknames(GUILD)) == {USER: "Captain Kirk"}
    await storage.set_read_mode(GUILD, USER, "on")
    await storage.set_nickname(GUILD, USER, None)
    assert await storage.get_member(GUILD, USER) == MemberReadAloud()
    assert await scalar(storage, "SELECT COUNT(*) FROM members") == 0  # back to defaults: no row kept
    with pytest.raises(InputError):
        await storage.set_read_mode(GUILD, USER, "sometimes")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="too long"):
        await storage.set_nickname(GUILD, USER, "n" * 33)
    nicknames = await storage.get_nicknames(GUILD)
    with pytest.raises(TypeError):
        nicknames[USER] = "x"  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# Pronunciation dictionary
# ---------------------------------------------------------------------------------------------


async def test_dictionary_add_replace_remove_list(storage: SqlStorage) -> None:
    assert dict(await storage.list_dictionary(GUILD)) == {}
    assert await storage.add_dictionary_entry(GUILD, "GIF", "jif")
    assert await storage.add_dictionary_entry(GUILD, "  New   York ", "Noo York")
    assert await storage.add_dictionary_entry(GUILD, "Straße", "strasse")
    assert not await storage.add_dictionary_entry(GUILD, "gif", "gif")  # same word, case-folded: replaced
    entries = await storage.list_dictionary(GUILD)
    assert dict(entries) == {"gif": "gif", "new york": "Noo York", "strasse": "strasse"}
    assert list(entries) == sorted(entries)
    assert dict(await storage.list_dictionary(OTHER_GUILD)) == {}
    assert await storage.remove_dictionary_entry(GUILD, "NEW YORK")
    assert not await storage.remove_dictionary_entry(GUILD, "new york")
    assert not await storage.remove_dictionary_entry(GUILD, "")
    assert dict(await storage.list_dictionary(GUILD)) == {"gif": "gif", "strasse": "strasse"}


@pytest.mark.parametrize(
    ("word", "reading", "message"),
    [
        ("", "x", "empty"),
        ("   ", "x", "empty"),
        ("w" * 65, "x", "too long"),
        ("word", "", "empty"),
        ("word", "r" * 201, "too long"),
    ],
)
async def test_bad_dictionary_entries(storage: SqlStorage, word: str, reading: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        await storage.add_dictionary_entry(GUILD, word, reading)
    assert dict(await storage.list_dictionary(GUILD)) == {}


@pytest.mark.parametrize(
    ("word", "text", "expected"),
    [
        ("Straße", "Die Straße und die STRASSE", "Die Strahsse und die Strahsse"),
        ("strasse", "Die Straße", "Die Strahsse"),
        ("ΣΟΦΟΣ", "σοφος σοφοσ", "Strahsse Strahsse"),
        ("İstanbul", "İstanbul", "Strahsse"),
    ],
)
async def test_stored_dictionary_words_match_whatever_their_case(
    storage: SqlStorage, word: str, text: str, expected: str
) -> None:
    # One normalisation on both sides: what is stored (case-folded) matches the text case-folded.
    await storage.add_dictionary_entry(1, word, "Strahsse")
    dictionary = PronunciationDictionary(await storage.list_dictionary(1))
    assert dictionary.apply(text) == expected


async def test_dictionary_limit_per_server(storage: SqlStorage) -> None:
    for i in range(MAX_DICTIONARY_ENTRIES):
        await storage.add_dictionary_entry(GUILD, f"word{i}", f"reading {i}")
    with pytest.raises(InputError, match="full"):
        await storage.add_dictionary_entry(GUILD, "one more", "x")
    assert not await storage.add_dictionary_entry(GUILD, "WORD0", "changed")  # replacing is allowed
    assert await storage.add_dictionary_entry(OTHER_GUILD, "one more", "x")  # other servers unaffected
    entries = await storage.list_dictionary(GUILD)
    assert len(entries) == MAX_DICTIONARY_ENTRIES and entries["word0"] == "changed"


# ---------------------------------------------------------------------------------------------
# Usage counters
# ---------------------------------------------------------------------------------------------


async def test_usage_counters_per_guild_and_global(storage: SqlStorage, today: FakeToday) -> None:
    totals = await storage.add_usage(GUILD, 120)
    assert (totals.day, totals.guild_characters, totals.guild_requests) == (DAY, 120, 1)
    await storage.add_usage(GUILD, 30, requests=2)
    await storage.add_usage(OTHER_GUILD, 50)
    totals = await storage.add_usage(None, 7)  # outside a server: only the global total
    assert (totals.guild_characters, totals.global_characters, totals.global_requests) == (0, 207, 5)
    usage = await storage.get_usage(GUILD)
    assert (usage.guild_characters, usage.guild_requests, usage.global_characters) == (150, 3, 207)
    assert (await storage.get_usage(OTHER_GUILD)).guild_characters == 50

    # A new UTC day starts from zero; the old day is still readable.
    today.day = DAY + timedelta(days=1)
    assert (await storage.get_usage(GUILD)).guild_characters == 0
    await storage.add_usage(GUILD, 10)
    assert (await storage.get_usage(GUILD, DAY)).guild_characters == 150
    history = await storage.usage_history(GUILD, days=3)
    assert [(h.day, h.characters, h.requests) for h in history] == [
        (DAY - timedelta(days=1), 0, 0),
        (DAY, 150, 3),
        (DAY + timedelta(days=1), 10, 1),
    ]
    global_history = await storage.usage_history(None, days=2)
    assert [h.characters for h in global_history] == [207, 10]
    # Explicit day.
    await storage.add_usage(GUILD, 1, day=DAY)
    assert (await storage.get_usage(GUILD, DAY)).guild_characters == 151


async def test_usage_validation_and_pruning(storage: SqlStorage, today: FakeToday) -> None:
    for bad in (-1, 1.5, True):
        with pytest.raises(InputError):
            await storage.add_usage(GUILD, bad)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        await storage.usage_history(GUILD, days=0)
    await storage.add_usage(GUILD, 5, day=DAY - timedelta(days=500))
    await storage.add_usage(GUILD, 6)
    assert await storage.prune_usage(keep_days=400) == 2  # the guild row and the global row
    assert (await storage.get_usage(GUILD, DAY - timedelta(days=500))).guild_characters == 0
    assert (await storage.get_usage(GUILD)).guild_characters == 6


# ---------------------------------------------------------------------------------------------
# Housekeeping
# ---------------------------------------------------------------------------------------------


async def test_forget_guild_deletes_its_data_only(storage: SqlStorage) -> None:
    await storage.set_guild_default(GUILD, "voice", "Kai")
    await storage.update_read_aloud(GUILD, xsaid=False)
    await storage.add_bound_channel(GUILD, 10)
    await storage.set_nickname(GUILD, USER, "Bob")
    await storage.add_dictionary_entry(GUILD, "gif", "jif")
    await storage.set_user_pref(USER, GUILD, "voice", "Ethan")
    await storage.set_user_pref(USER, None, "voice", "Serena")
    await storage.set_guild_default(OTHER_GUILD, "voice", "Moon")
    await storage.add_usage(GUILD, 10)
    await storage.add_usage(OTHER_GUILD, 7)
    await storage.schedule_guild_deletion(GUILD, datetime(2026, 3, 1, tzinfo=UTC))

    await storage.forget_guild(GUILD)
    assert await storage.due_guild_deletions(datetime(2027, 1, 1, tzinfo=UTC)) == []  # done with
    assert await storage.get_guild_defaults(GUILD) == VoicePrefs()
    assert await storage.get_read_aloud(GUILD) == GuildReadAloud()
    assert await storage.get_member(GUILD, USER) == MemberReadAloud()
    assert dict(await storage.get_nicknames(GUILD)) == {}
    assert dict(await storage.list_dictionary(GUILD)) == {}
    assert await storage.get_user_prefs(USER, GUILD) == VoicePrefs()
    storage.clear_cache()  # and really gone from the file (foreign-key cascades)
    assert await storage.get_read_aloud(GUILD) == GuildReadAloud()
    assert dict(await storage.list_dictionary(GUILD)) == {}
    assert (await storage.get_user_prefs(USER, None)).voice == "Serena"
    assert (await storage.get_guild_defaults(OTHER_GUILD)).voice == "Moon"
    usage = await storage.get_usage(GUILD)
    assert usage.guild_characters == 0  # the server's usage goes too
    assert usage.global_characters == 17  # the global totals name no server: they stay
    assert (await storage.get_usage(OTHER_GUILD)).guild_characters == 7


async def test_forget_user(storage: SqlStorage) -> None:
    await storage.set_user_pref(USER, None, "voice", "Serena")
    await storage.set_user_pref(USER, GUILD, "voice", "Ethan")
    await storage.set_nickname(GUILD, USER, "Bob")
    await storage.set_read_mode(OTHER_GUILD, USER, "off")
    await storage.set_user_pref(OTHER_USER, None, "voice", "Kai")
    await storage.forget_user(USER)
    assert await storage.resolve_voice_settings(USER, GUILD) == BUILTIN_SETTINGS
    assert await storage.get_member(GUILD, USER) == MemberReadAloud()
    assert await storage.get_member(OTHER_GUILD, USER) == MemberReadAloud()
    assert dict(await storage.get_nicknames(GUILD)) == {}
    assert (await storage.get_user_prefs(OTHER_USER, None)).voice == "Kai"


# ---------------------------------------------------------------------------------------------
# Persistence, concurrency, crashes
# ---------------------------------------------------------------------------------------------


async def test_everything_survives_closing_and_reopening(reopen: Callable[[], Any]) -> None:
    async with reopen() as store:
        await store.set_user_pref(USER, None, "voice", "Bella")
        await store.set_user_pref(USER, GUILD, "instructions", "")
        await store.set_user_pref(USER, GUILD, "optimize_instructions", False)
        await store.set_guild_default(GUILD, "instructions", "slower and clearer")
        await store.set_guild_default(GUILD, "language", "Portuguese")
        await store.update_read_aloud(GUILD, xsaid=False, max_length=500, deny_role_id=77, emoji_mode="none")
        await store.add_bound_channel(GUILD, 42)
        await store.set_read_mode(GUILD, USER, "auto")
        await store.set_nickname(GUILD, USER, "Bee")
        await store.add_dictionary_entry(GUILD, "SQL", "sequel")
        await store.add_usage(GUILD, 99)
        before = (
            await store.resolve_voice_settings(USER, GUILD),
            await store.get_user_prefs(USER, GUILD),
            await store.get_read_aloud(GUILD),
            await store.get_member(GUILD, USER),
            dict(await store.get_nicknames(GUILD)),
            dict(await store.list_dictionary(GUILD)),
            await store.get_usage(GUILD),
        )
    async with reopen() as store:
        after = (
            await store.resolve_voice_settings(USER, GUILD),
            await store.get_user_prefs(USER, GUILD),
            await store.get_read_aloud(GUILD),
            await store.get_member(GUILD, USER),
            dict(await store.get_nicknames(GUILD)),
            dict(await store.list_dictionary(GUILD)),
            await store.get_usage(GUILD),
        )
    assert after == before
    settings = after[0]
    assert (settings.voice, settings.instructions, settings.language, settings.optimize_instructions) == (
        "Bella",
        None,
        "Portuguese",
        False,
    )
    assert after[2].channel_ids == frozenset({42}) and after[2].max_length == 500
    if isinstance(store, SqliteStorage):  # close() checkpointed the WAL into the main file.
        assert not wal_exists(store.path)


async def test_concurrent_writers_lose_no_write(reopen: Callable[[], Any]) -> None:
    users = range(1, 201)
    async with reopen() as store:
        await asyncio.gather(
            *(store.set_user_pref(u, None, "voice", VOICE_NAMES[u % len(VOICE_NAMES)]) for u in users),
            *(store.set_user_pref(u, GUILD, "language", "Japanese") for u in users),
            *(store.set_user_pref(USER, g, "instructions", f"style {g}") for g in range(1, 51)),
            *(store.add_usage(GUILD, n) for n in range(1, 301)),
            store.update_read_aloud(GUILD, xsaid=False),
            store.update_read_aloud(GUILD, max_length=111),
            store.update_read_aloud(GUILD, autojoin=True),
            store.update_read_aloud(GUILD, ignore_prefix="?"),
            *(store.add_bound_channel(GUILD, c) for c in range(1, 21)),
            *(store.set_nickname(GUILD, u, f"n{u}") for u in range(1, 31)),
            *(store.set_read_mode(GUILD, u, "off") for u in range(1, 31)),
        )
    async with reopen() as store:
        for u in users:
            assert (await store.get_user_prefs(u, None)).voice == VOICE_NAMES[u % len(VOICE_NAMES)]
            assert (await store.get_user_prefs(u, GUILD)).language == "Japanese"
        for g in range(1, 51):
            assert (await store.get_user_prefs(USER, g)).instructions == f"style {g}"
        usage = await store.get_usage(GUILD)
        assert (usage.guild_characters, usage.guild_requests) == (sum(range(1, 301)), 300)
        assert (usage.global_characters, usage.global_requests) == (sum(range(1, 301)), 300)
        settings = await store.get_read_aloud(GUILD)
        assert (settings.xsaid, settings.max_length, settings.autojoin, settings.ignore_prefix) == (
            False,
            111,
            True,
            "?",
        )
        assert settings.channel_ids == frozenset(range(1, 21))
        for u in range(1, 31):
            assert await store.get_member(GUILD, u) == MemberReadAloud(mode="off", nickname=f"n{u}")


async def test_concurrent_dictionary_adds_respect_the_limit(storage: SqlStorage) -> None:
    results = await asyncio.gather(
        *(storage.add_dictionary_entry(GUILD, f"w{i}", "r") for i in range(MAX_DICTIONARY_ENTRIES + 50)),
        return_exceptions=True,
    )
    assert sum(r is True for r in results) == MAX_DICTIONARY_ENTRIES
    assert sum(isinstance(r, InputError) for r in results) == 50
    assert len(await storage.list_dictionary(GUILD)) == MAX_DICTIONARY_ENTRIES


async def test_two_storages_on_one_database_count_usage_exactly(reopen: Callable[[], Any]) -> None:
    first = await reopen()
    second = await reopen()
    try:
        await asyncio.gather(
            *(first.add_usage(GUILD, 3) for _ in range(100)),
            *(second.add_usage(GUILD, 5) for _ in range(100)),
        )
        usage = await first.get_usage(GUILD)
        assert (usage.guild_characters, usage.guild_requests) == (800, 200)
    finally:
        await first.close()
        await second.close()


async def test_uncommitted_transaction_is_not_in_a_copy_taken_mid_write(
    sqlite_storage: SqlStorage, db_path: Path, tmp_path: Path
) -> None:
    """A crash snapshot: copy the database and its WAL while another connection is in the
    middle of a big write transaction (its dirty pages spilling into the WAL)."""
    storage = sqlite_storage
    await storage.set_user_pref(USER, None, "voice", "Kai")
    await storage.add_dictionary_entry(GUILD, "gif", "jif")
    writer = raw(db_path)
    try:
        writer.execute("PRAGMA cache_size = 2")  # force uncommitted pages into the WAL
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE user_prefs SET voice = 'Ethan'")
        writer.executemany(
            "INSERT INTO dictionary (guild_id, word, reading) VALUES (?, ?, ?)",
            ((GUILD, f"junk{i}", "x" * 300) for i in range(2000)),
        )
        snapshot = tmp_path / "snapshot"
        snapshot.mkdir()
        for suffix in ("", "-wal"):
            shutil.copy(db_path.with_name(db_path.name + suffix), snapshot / (db_path.name + suffix))
        # Readers of the live file are not blocked by the writer and see committed data only.
        storage.clear_cache()
        assert (await storage.get_user_prefs(USER, None)).voice == "Kai"
    finally:
        writer.close()  # never committed
    async with SqliteStorage.open(snapshot / db_path.name) as copy:
        assert await copy.integrity_check()
        assert (await copy.get_user_prefs(USER, None)).voice == "Kai"
        assert dict(await copy.list_dictionary(GUILD)) == {"gif": "jif"}


KILLED_WRITER = r"""
import asyncio, sys
from bot.store.sqlite import SqliteStorage
from bot.speech.voices import VOICE_NAMES

async def main(path):
    storage = await SqliteStorage.open(path)
    await storage.set_guild_default(1, "voice", "Ethan")
    await storage.update_read_aloud(1, xsaid=False)
    print("ready", flush=True)
    i = 0
    while True:
        await storage.set_user_pref(1000 + i, None, "voice", VOICE_NAMES[i % len(VOICE_NAMES)])
        await storage.add_usage(1, 3)
        print(i, flush=True)
        i += 1

asyncio.run(main(sys.argv[1]))
"""

HELD_TRANSACTION = r"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size = 2")
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE user_prefs SET voice = 'Ethan'")
conn.executemany(
    "INSERT INTO dictionary (guild_id, word, reading) VALUES (1, ?, ?)",
    ((f"junk{i}", "x" * 300) for i in range(2000)),
)
print("in transaction", flush=True)
time.sleep(60)
"""


async def spawn(code: str, path: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-u", "-c", code, str(path), stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env
    )


async def kill(proc: asyncio.subprocess.Process) -> bytes:
    proc.send_signal(signal.SIGKILL)
    assert proc.stdout is not None
    rest = await asyncio.wait_for(proc.stdout.read(), 10)
    assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL
    return rest


async def test_sigkill_during_heavy_writes_keeps_every_committed_setting(db_path: Path) -> None:
    proc = await spawn(KILLED_WRITER, db_path)
    assert proc.stdout is not None
    printed: list[int] = []
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"ready\n"
        while len(printed) < 60:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            printed.append(int(line))
    finally:
        rest = await kill(proc)
    printed += [int(x) for x in rest.split()]  # lines flushed before the kill
    count = len(printed)
    assert printed == list(range(count))

    async with SqliteStorage.open(db_path) as store:
        assert store.applied_migrations == []
        assert await store.integrity_check()
        assert (await store.get_guild_defaults(1)).voice == "Ethan"
        assert (await store.get_read_aloud(1)).xsaid is False
        for i in printed:  # every write acknowledged before the kill is there
            assert (await store.get_user_prefs(1000 + i, None)).voice == VOICE_NAMES[i % len(VOICE_NAMES)]
        # At most the one write in flight when killed landed without being acknowledged.
        with raw(db_path) as conn:
            rows = conn.execute("SELECT COUNT(*) FROM user_prefs").fetchone()[0]
        assert count <= rows <= count + 1
        usage = await store.get_usage(1)
        assert 3 * count <= usage.guild_characters <= 3 * (count + 1)
        # The file is writable again.
        await store.set_user_pref(USER, None, "voice", "Kai")


async def test_sigkill_with_an_open_transaction_discards_only_that_transaction(db_path: Path) -> None:
    async with SqliteStorage.open(db_path) as store:
        await store.set_user_pref(USER, None, "voice", "Kai")
        await store.add_dictionary_entry(1, "gif", "jif")
    proc = await spawn(HELD_TRANSACTION, db_path)
    assert proc.stdout is not None
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"in transaction\n"
        # While the other process holds the write lock, opening and reading still work.
        async with SqliteStorage.open(db_path) as reader:
            assert (await reader.get_user_prefs(USER, None)).voice == "Kai"
    finally:
        await kill(proc)
    async with SqliteStorage.open(db_path) as store:
        assert await store.integrity_check()
        assert (await store.get_user_prefs(USER, None)).voice == "Kai"
        assert dict(await store.list_dictionary(1)) == {"gif": "jif"}
        await store.set_user_pref(USER, None, "voice", "Moon")  # the dead writer's lock is gone
        assert (await store.get_user_prefs(USER, None)).voice == "Moon"
