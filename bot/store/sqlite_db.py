"""The SQLite connection the storage tables share (the `SqlDatabase` of bot.store.sql_db):
opening it (WAL, pragmas, the migrations, retried while another process holds the file), the
lock that serialises every statement, reads, write transactions, and closing."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import aiosqlite

from bot.store.migrate import apply_migrations, rollback, user_version
from bot.store.protocol import StorageError


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


class SqliteDatabase:
    """One aiosqlite connection in autocommit mode. One lock serialises every statement on it,
    so a transaction is never interleaved with another coroutine's statements and a cache fill
    (under `reading()`) never races a write's invalidation (inside `transaction()`)."""

    def __init__(self, connection: aiosqlite.Connection, path: Path, applied_migrations: list[int]) -> None:
        self.connection = connection
        self.path = path
        self.applied_migrations = applied_migrations
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: Path, *, migrations: Sequence[str], busy_timeout_ms: int) -> SqliteDatabase:
        """Open (creating the file, its directory and the schema if needed)."""
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
            # FULL: a settings write is on disk when it returns (WAL synced at each commit), as
            # the Storage protocol promises. Usage counters opt out (`transaction(durable=False)`).
            await db.execute("PRAGMA synchronous = FULL")
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
        return cls(db, path, applied)

    async def close(self) -> None:
        """Wait for running statements, flush and close. Idempotent; never waits on other
        processes' locks (the last connection to close folds the WAL into the main file)."""
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            try:
                with contextlib.suppress(sqlite3.Error):
                    await self.connection.execute("PRAGMA busy_timeout = 0")
                    await self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    await self.connection.execute("PRAGMA optimize")
            finally:
                await self.connection.close()

    async def schema_version(self) -> int:
        async with self._lock:
            return await user_version(self.connection)

    async def integrity_check(self) -> bool:
        """SQLite's quick_check (for `parla doctor`)."""
        async with self._lock:
            async with self.connection.execute("PRAGMA quick_check") as cursor:
                rows = await cursor.fetchall()
        return [tuple(r) for r in rows] == [("ok",)]

    def check_open(self) -> None:
        if self._closed:
            raise StorageError("the settings database is closed")

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """Hold the connection for a read (the read-through caches fill under it)."""
        self.check_open()
        async with self._lock:
            yield

    @contextlib.asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[SqliteSession]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT), serialised with every other
        statement; rolled back on any exception or cancellation.

        `durable=False` commits with `synchronous = NORMAL` (not synced until the next
        checkpoint: a power cut may lose the last such commits, never corrupt the file). Only for
        writes whose loss is acceptable: the usage counters."""
        self.check_open()
        async with self._lock:
            if not durable:
                await self.connection.execute("PRAGMA synchronous = NORMAL")
            try:
                await self.connection.execute("BEGIN IMMEDIATE")
                try:
                    yield SqliteSession(self)
                except BaseException:
                    await rollback(self.connection)
                    raise
                await self.connection.execute("COMMIT")
            finally:
                if not durable:
                    await self.connection.execute("PRAGMA synchronous = FULL")

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Row | None:
        async with self.connection.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        async with self.connection.execute(sql, params) as cursor:
            return list(await cursor.fetchall())


class SqliteSession:
    """The statements of one write transaction on the shared connection."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Row | None:
        return await self._database.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        return await self._database.fetchall(sql, params)

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        async with self._database.connection.execute(sql, params) as cursor:
            return max(cursor.rowcount, 0)
