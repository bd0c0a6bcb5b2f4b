"""The schema's numbered migrations and how they are applied.

`migrations/NNN_name.sql` brings the schema from version NNN - 1 to NNN (PRAGMA user_version);
they ship in the package and are read with importlib.resources. Never edit a released
migration; add the next number. A database newer than this code is refused (StorageError).
`NNN_name.postgres.sql` is the PostgreSQL variant of a step, only where the SQL truly differs
(64-bit ids, no WITHOUT ROWID); PostgreSQL applies them in bot.store.postgres_migrate.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Sequence
from importlib import resources
from typing import Final

import aiosqlite

from bot.store.protocol import StorageError

_MIGRATION_NAME: Final = re.compile(r"(\d{3})_[a-z0-9_]+(\.postgres)?\.sql")


def load_migrations(
    package: str = "bot.store", folder: str = "migrations", *, dialect: str = "sqlite"
) -> tuple[str, ...]:
    """The SQL of every migration, in order; the files must be numbered 001, 002, ... without gaps.
    `dialect="postgres"` takes a step's `.postgres.sql` variant where there is one."""
    found: dict[int, str] = {}
    variants: dict[int, str] = {}
    for entry in resources.files(package).joinpath(folder).iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match is None:
            continue
        number = int(match.group(1))
        chosen = variants if match.group(2) else found
        if number in chosen:
            raise RuntimeError(f"two migrations numbered {number:03d}")
        chosen[number] = entry.read_text(encoding="utf-8")
    if set(variants) - set(found):
        raise RuntimeError(f"a dialect variant without its migration: {sorted(set(variants) - set(found))}")
    if dialect == "postgres":
        found.update(variants)
    if sorted(found) != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 001 to {len(found):03d}: found {sorted(found)}")
    return tuple(found[n] for n in sorted(found))


# MIGRATIONS[n - 1] brings the schema from version n - 1 to n.
MIGRATIONS: Final[tuple[str, ...]] = load_migrations()
POSTGRES_MIGRATIONS: Final[tuple[str, ...]] = load_migrations(dialect="postgres")
SCHEMA_VERSION: Final = len(MIGRATIONS)


def newer_schema_error(current: int, target: int) -> StorageError:
    return StorageError(
        f"the database schema is version {current}, newer than this Parla knows ({target}); "
        "upgrade Parla or restore a matching backup"
    )


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


async def user_version(db: aiosqlite.Connection) -> int:
    """The schema version of the database (PRAGMA user_version)."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def rollback(db: aiosqlite.Connection) -> None:
    """Roll back the open transaction, if any, ignoring errors."""
    with contextlib.suppress(Exception):
        if db.in_transaction:
            await db.execute("ROLLBACK")


async def apply_migrations(db: aiosqlite.Connection, migrations: Sequence[str] = MIGRATIONS) -> list[int]:
    """Bring the database to `len(migrations)`; each migration runs once, in its own
    transaction (a failing one leaves the schema at the previous version). Returns the
    versions applied now. The connection must be in autocommit mode (isolation_level=None)."""
    applied: list[int] = []
    target = len(migrations)
    while True:
        current = await user_version(db)
        if current > target:
            raise newer_schema_error(current, target)
        if current == target:
            return applied
        statements = split_sql(migrations[current])
        await db.execute("BEGIN IMMEDIATE")
        try:
            if await user_version(db) != current:  # another process migrated meanwhile
                await db.execute("ROLLBACK")
                continue
            for statement in statements:
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {current + 1:d}")
            await db.execute("COMMIT")
        except BaseException:
            await rollback(db)
            raise
        applied.append(current + 1)
