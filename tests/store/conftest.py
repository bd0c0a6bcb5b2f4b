"""The storage backends the contract suite runs against: SQLite (a file in tmp_path) and
PostgreSQL (the machine's server; one fresh schema per test run, dropped after; every table
emptied before each test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.base.config import Settings
from bot.store.postgres import PostgresStorage
from bot.store.sql_storage import SqlStorage
from bot.store.sqlite import SqliteStorage
from tests.standins.databases import (
    FakeToday,
    empty_tables,
    fresh_schema,
)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A schema of its own for this test run (several runs may share the server)."""
    with fresh_schema() as url:
        yield url


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """An empty schema for one test (migration tests)."""
    with fresh_schema() as url:
        yield url


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    # The real location: Settings.database_path, whose parent directory does not exist yet.
    return Settings(data_dir=tmp_path / "data" / "nested").database_path


@pytest.fixture
def today() -> FakeToday:
    return FakeToday()


@pytest.fixture(params=["sqlite", "postgres"])
async def storage(
    request: pytest.FixtureRequest, db_path: Path, today: FakeToday, pg_url: str
) -> AsyncIterator[SqlStorage]:
    """The storage contract runs on both backends."""
    store: SqlStorage
    if request.param == "sqlite":
        store = await SqliteStorage.open(db_path, today=today)
    else:
        store = await PostgresStorage.open(pg_url, today=today)
        await empty_tables(store)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def reopen(
    request: pytest.FixtureRequest, db_path: Path, today: FakeToday, pg_url: str
) -> AsyncIterator[Callable[[], Any]]:
    """Opens the same (initially empty) database again, on each backend: persistence and
    several storages on one database."""
    if request.param == "sqlite":
        yield lambda: SqliteStorage.open(db_path, today=today)
        return
    async with PostgresStorage.open(pg_url, today=today) as store:
        await empty_tables(store)
    yield lambda: PostgresStorage.open(pg_url, today=today)
