"""The PostgreSQL connection pool the storage tables share (the `SqlDatabase` of
bot.store.sql_db), through asyncpg: opening it (the migrations under an advisory lock), reads,
write transactions, and closing.

Every statement is prepared (asyncpg's per-connection statement cache) and has a timeout. The
tables' `?` placeholders become `$1, $2, ...` here. A lost connection (the server restarting,
`pg_terminate_backend`, a timeout) raises `StorageUnavailable`: the transaction did not commit,
and the pool opens a fresh connection for the next statement."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Final
from urllib.parse import urlparse

import asyncpg

from bot.base.secrets import redact
from bot.store.postgres_migrate import Connection, apply_migrations, schema_version
from bot.store.protocol import DatabaseUnreachable, StorageError, StorageUnavailable

log = logging.getLogger("parla.store")

# What "the database went away" looks like: connection errors (class 08), the server shutting
# down or terminating the backend (class 57), the client's own connection state, and timeouts.
LOST: Final = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
)
RETRY_AFTER_LOSS: Final = 1.0  # seconds during which reads fail at once instead of reconnecting
_PLACEHOLDER: Final = re.compile(r"\?")


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`?` placeholders → `$1, $2, ...` (the tables' SQL has no `?` inside string literals)."""
    counter = itertools.count(1)
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


def describe(dsn: str) -> str:
    """host:port/database of a PostgreSQL URL: what was tried, never the user or password."""
    try:
        parsed = urlparse(dsn)
        port = parsed.port or 5432
    except ValueError:
        return "an unparsable URL"
    return f"{parsed.hostname or 'localhost'}:{port}{parsed.path or ''}"


def _rows_changed(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresSession:
    """The statements of one write transaction on one pooled connection."""

    def __init__(self, conn: Connection, timeout: float) -> None:
        self._conn = conn
        self._timeout = timeout

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        return _rows_changed(await self._conn.execute(numbered(sql), *params, timeout=self._timeout))

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> asyncpg.Record | None:
        return await self._conn.fetchrow(numbered(sql), *params, timeout=self._timeout)

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[asyncpg.Record]:
        return list(await self._conn.fetch(numbered(sql), *params, timeout=self._timeout))


class PostgresDatabase:
    """An asyncpg pool of `pool_size` connections; `timeout` bounds every connect, acquire and
    statement."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        where: str,
        applied_migrations: list[int],
        *,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self.where = where
        self.applied_migrations = applied_migrations
        self._timeout = timeout
        self._clock = clock
        self._closed = False
        self._retry_at = 0.0

    @classmethod
    async def open(
        cls, dsn: str, *, migrations: Sequence[str], pool_size: int, timeout_s: float
    ) -> PostgresDatabase:
        """Connect and migrate. DatabaseUnreachable (one sentence) when the server cannot be
        reached or refuses us; StorageError when its schema is newer than this code."""
        where = describe(dsn)
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min(2, pool_size),
                max_size=pool_size,
                timeout=timeout_s,
                command_timeout=timeout_s,
            )
        except (*LOST, asyncpg.PostgresError, ValueError) as exc:
            reason = redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise DatabaseUnreachable(
                f"DATABASE_URL: cannot connect to PostgreSQL at {where} ({reason}); "
                "check that the server is running and the URL is right."
            ) from None
        try:
            async with pool.acquire(timeout=timeout_s) as conn:
                applied = await apply_migrations(conn, migrations)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, LOST):
                raise DatabaseUnreachable(
                    f"DATABASE_URL: lost the connection to PostgreSQL at {where} while migrating; try again."
                ) from None
            raise
        return cls(pool, where, applied, timeout=timeout_s)

    async def close(self) -> None:
        """Wait (up to the timeout) for running statements and close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            async with asyncio.timeout(self._timeout):
                await self._pool.close()
        except TimeoutError:
            self._pool.terminate()

    def check_open(self) -> None:
        if self._closed:
            raise StorageError("the settings database is closed")

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except LOST as exc:
            self._retry_at = self._clock() + RETRY_AFTER_LOSS
            log.warning("PostgreSQL at %s unavailable: %s", self.where, type(exc).__name__)
            raise StorageUnavailable(f"PostgreSQL at {self.where} unavailable") from exc

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """A cached read: fails at once for a moment after the connection was lost (the read
        caches then serve the last known value) instead of waiting on a reconnect each time."""
        self.check_open()
        if self._clock() < self._retry_at:
            raise StorageUnavailable(f"PostgreSQL at {self.where} unavailable")
        yield

    @contextlib.asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[PostgresSession]:
        """A write transaction (READ COMMITTED, per-server row locks from `ensure_guild`),
        committed when the block ends, rolled back on any exception or cancellation.

        Every commit is durable (the server's own `synchronous_commit`, on by default, flushes
        the WAL before COMMIT returns), so `durable=False` (SQLite's relaxed sync for the usage
        counters) changes nothing here."""
        del durable  # accepted for SqlDatabase; a PostgreSQL commit is always durable
        self.check_open()
        with self._translated():
            async with self._pool.acquire(timeout=self._timeout) as conn, conn.transaction():
                yield PostgresSession(conn, self._timeout)
        self._retry_at = 0.0  # a commit: the database is back

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> asyncpg.Record | None:
        self.check_open()
        with self._translated():
            async with self._pool.acquire(timeout=self._timeout) as conn:
                return await conn.fetchrow(numbered(sql), *params, timeout=self._timeout)

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[asyncpg.Record]:
        self.check_open()
        with self._translated():
            async with self._pool.acquire(timeout=self._timeout) as conn:
                return list(await conn.fetch(numbered(sql), *params, timeout=self._timeout))

    async def schema_version(self) -> int:
        self.check_open()
        with self._translated():
            async with self._pool.acquire(timeout=self._timeout) as conn:
                return await schema_version(conn)

    async def integrity_check(self) -> bool:
        """Every table of the schema is there and the schema is the one this code wrote (the
        server checks its own pages; the foreign keys keep the rows consistent)."""
        found = await self.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return EXPECTED_TABLES <= {str(row[0]) for row in found}


EXPECTED_TABLES: Final = frozenset(
    {
        "parla_schema",
        "user_prefs",
        "guilds",
        "guild_read_aloud",
        "bound_channels",
        "members",
        "dictionary",
        "usage_guild",
        "usage_global",
        "guild_deletions",
    }
)
