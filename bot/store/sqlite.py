"""`SqliteStorage`: the settings store (bot.store.sql_storage.SqlStorage) on one SQLite file
(WAL mode, numbered migrations from bot.store.migrate) through aiosqlite, over one shared
connection (`sqlite_db.SqliteDatabase`).

The read cache assumes this process is the only writer of the file (one bot process per SQLite
database); several processes share settings through PostgreSQL (bot.store.postgres).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from bot.store.migrate import MIGRATIONS
from bot.store.models import utc_today
from bot.store.sql_storage import Opening, SqlStorage
from bot.store.sqlite_db import SqliteDatabase


class SqliteStorage(SqlStorage):
    """Storage on one SQLite file. Open with `await SqliteStorage.open(path)` or
    `async with SqliteStorage.open(path) as storage:`."""

    def __init__(self, database: SqliteDatabase, *, today: Callable[[], date], cache_size: int) -> None:
        super().__init__(database, today=today, cache_size=cache_size)
        self._db = database.connection
        self.path = database.path

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        migrations: Sequence[str] = MIGRATIONS,
        today: Callable[[], date] = utc_today,
        cache_size: int = 50_000,
        busy_timeout_ms: int = 5000,
    ) -> Opening[SqliteStorage]:
        """Open (creating the file, its directory and the schema if needed). Awaitable, or
        usable directly as `async with SqliteStorage.open(path) as storage:`."""
        return Opening(
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
        database = await SqliteDatabase.open(path, migrations=migrations, busy_timeout_ms=busy_timeout_ms)
        return cls(database, today=today, cache_size=cache_size)
