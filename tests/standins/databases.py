"""The storage test backends: the machine's PostgreSQL server (PARLA_TEST_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/test), schemas made and dropped for tests, raw SQL
behind a storage's back, and `Proxy`, a way to lose the database mid-run and get it back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import date
from urllib.parse import urlparse

import asyncpg

from bot.store.copy import TABLES
from bot.store.sql_storage import SqlStorage

PG_SERVER = os.environ.get("PARLA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
DAY = date(2025, 3, 14)


class FakeToday:
    def __init__(self, day: date = DAY) -> None:
        self.day = day

    def __call__(self) -> date:
        return self.day


def schema_url(schema: str) -> str:
    return f"{PG_SERVER}?search_path={schema}"


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(PG_SERVER, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def create_schema(schema: str) -> None:
    asyncio.run(_admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE", f"CREATE SCHEMA {schema}"))


def drop_schema(schema: str) -> None:
    asyncio.run(_admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


@contextlib.contextmanager
def fresh_schema() -> Iterator[str]:
    """The URL of a new, empty schema of its own (several runs may share the server); dropped
    afterwards."""
    schema = f"parla_test_{uuid.uuid4().hex[:12]}"
    create_schema(schema)
    try:
        yield schema_url(schema)
    finally:
        drop_schema(schema)


async def empty_tables(storage: SqlStorage) -> None:
    async with storage.database.transaction() as db:
        for table, _ in reversed(TABLES):
            await db.execute(f"DELETE FROM {table}")
    storage.clear_cache()


async def sql(storage: SqlStorage, statement: str) -> None:
    """Change the database behind the storage's back (its caches do not see it)."""
    async with storage.database.transaction() as db:
        await db.execute(statement)


async def scalar(storage: SqlStorage, query: str) -> object:
    row = await storage.database.fetchone(query)
    return row[0] if row is not None else None


class Proxy:
    """A TCP proxy to the PostgreSQL server that can be cut (the database lost) and restored."""

    def __init__(self, upstream: str = PG_SERVER) -> None:
        parsed = urlparse(upstream)
        self.host, self.upstream_port = parsed.hostname or "127.0.0.1", parsed.port or 5432
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def url(self, url: str) -> str:
        """`url` (on the upstream server) through this proxy."""
        return url.replace(f"{self.host}:{self.upstream_port}", f"127.0.0.1:{self.port}", 1)

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}
