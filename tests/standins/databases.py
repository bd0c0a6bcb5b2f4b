"""The storage test backends: the machine's PostgreSQL server (PARLA_TEST_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/test), schemas made and dropped for tests, and raw SQL
behind a storage's back."""

from __future__ import annotations

import asyncio
import os
from datetime import date

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
