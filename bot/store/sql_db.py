"""What the table modules need from a database, whichever it is (`sqlite_db.SqliteDatabase`,
`postgres_db.PostgresDatabase`): reads, write transactions and the statements inside them.

The table modules write their SQL once, with `?` placeholders and SQL both dialects share; the
PostgreSQL side rewrites the placeholders to `$1, $2, ...`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class Row(Protocol):
    """A result row: by position or column name (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: Any, /) -> Any: ...


class SqlSession(Protocol):
    """The statements of one read or one write transaction."""

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Row | None: ...
    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> Sequence[Row]: ...


class SqlDatabase(Protocol):
    """A settings database. `reading()` guards a cached read (the read-through caches fill under
    it); `transaction()` is one write transaction, committed when the block ends and rolled back
    on any exception or cancellation, and on disk when it returns. `durable=False` lets a
    database skip that last sync where it can (SQLite: the usage counters only); PostgreSQL
    commits are durable either way."""

    applied_migrations: list[int]

    def reading(self) -> AbstractAsyncContextManager[object]: ...
    def transaction(self, *, durable: bool = True) -> AbstractAsyncContextManager[SqlSession]: ...
    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Row | None: ...
    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> Sequence[Row]: ...
    async def schema_version(self) -> int: ...
    async def integrity_check(self) -> bool: ...
    async def close(self) -> None: ...


async def ensure_guild(db: SqlSession, guild_id: int) -> None:
    """The server's row in `guilds` (what its other rows refer to), created if missing, and
    locked until the transaction ends: writes that check a per-server limit (bound channels,
    dictionary size) run one at a time per server on PostgreSQL too."""
    await db.execute(
        "INSERT INTO guilds (guild_id) VALUES (?) ON CONFLICT (guild_id) DO UPDATE SET voice = guilds.voice",
        (guild_id,),
    )


async def count_in_guild(
    db: SqlSession, table: str, column: str, value: object, guild_id: int
) -> tuple[int, bool]:
    """(rows of `table` for the server, whether one of them has `column` = `value`): what a
    per-server cap checks before an insert. `table` and `column` are the caller's constants."""
    row = await db.fetchone(
        f"SELECT COUNT(*), SUM(CASE WHEN {column} = ? THEN 1 ELSE 0 END) FROM {table} WHERE guild_id = ?",
        (value, guild_id),
    )
    return (int(row[0]), bool(row[1])) if row else (0, False)


@contextlib.asynccontextmanager
async def writing(database: SqlDatabase, *drops: Callable[[], None]) -> AsyncIterator[SqlSession]:
    """`database.transaction()`, then `drops` (the cache invalidations of what it wrote) once it
    has ended, committed or not: a read that overlapped the write is never cached after it."""
    try:
        async with database.transaction() as db:
            yield db
    finally:
        for drop in drops:
            drop()
