"""The numbered migrations (bot.store.migrate, `.postgres.sql` variants where the SQL differs)
applied to PostgreSQL: the version is the one row of `parla_schema`, a schema newer than the
code is refused, and a session advisory lock (per schema) makes processes starting at once
migrate once: the others wait, then find the work done."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]
else:
    Connection = asyncpg.Connection

from bot.store.migrate import newer_schema_error

_LOCK_KEY = "hashtext('parla-migrations:' || coalesce(current_schema(), ''))"
VERSION_TABLE = "parla_schema"


async def schema_version(conn: Connection) -> int:
    """The schema version (0: nothing applied yet)."""
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", VERSION_TABLE)
    if not exists:
        return 0
    value = await conn.fetchval(f"SELECT version FROM {VERSION_TABLE} WHERE id = 1")
    return int(value or 0)


async def apply_migrations(conn: Connection, migrations: Sequence[str]) -> list[int]:
    """Bring the schema to `len(migrations)`, each step in its own transaction; the versions
    applied now."""
    applied: list[int] = []
    target = len(migrations)
    await conn.execute(f"SELECT pg_advisory_lock({_LOCK_KEY})")
    try:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} "
            "(id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
        )
        current = await schema_version(conn)
        if current > target:
            raise newer_schema_error(current, target)
        for number in range(current + 1, target + 1):
            async with conn.transaction():
                await conn.execute(migrations[number - 1])
                await conn.execute(
                    f"INSERT INTO {VERSION_TABLE} (id, version) VALUES (1, $1) "
                    "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                    number,
                )
            applied.append(number)
    finally:
        if not conn.is_closed():
            await conn.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY})")
    return applied
