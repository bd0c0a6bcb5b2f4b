"""`PostgresStorage`: the settings store (bot.store.sql_storage.SqlStorage) in PostgreSQL, for a
bot run as several processes or machines (`DATABASE_URL=postgresql://...`), over an asyncpg
pool (`postgres_db.PostgresDatabase`).

Other processes write too, so a cached setting is read again once it is `CACHE_SECONDS` old
(a change made elsewhere is seen within that time; this process's own writes at once). While
the database is unreachable, reads are served from the cache (the last known settings) and
writes raise `StorageUnavailable`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Final

from bot.store.migrate import POSTGRES_MIGRATIONS
from bot.store.models import utc_today
from bot.store.postgres_db import PostgresDatabase
from bot.store.protocol import StorageUnavailable
from bot.store.sql_storage import Opening, SqlStorage

CACHE_SECONDS: Final = 5.0
DEFAULT_POOL: Final = 10
DEFAULT_TIMEOUT: Final = 5.0


class PostgresStorage(SqlStorage):
    """Storage in one PostgreSQL database (the URL's schema search path). Open with
    `await PostgresStorage.open(url)` or `async with PostgresStorage.open(url) as storage:`."""

    def __init__(
        self,
        database: PostgresDatabase,
        *,
        today: Callable[[], date],
        cache_size: int,
        cache_seconds: float,
    ) -> None:
        super().__init__(
            database,
            today=today,
            cache_size=cache_size,
            max_age=cache_seconds,
            stale_on=(StorageUnavailable,),
        )
        self.where = database.where

    @classmethod
    def open(
        cls,
        url: str,
        *,
        pool_size: int = DEFAULT_POOL,
        migrations: Sequence[str] = POSTGRES_MIGRATIONS,
        today: Callable[[], date] = utc_today,
        cache_size: int = 50_000,
        cache_seconds: float = CACHE_SECONDS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Opening[PostgresStorage]:
        """Connect, migrate (once across processes) and return the storage."""

        async def opening() -> PostgresStorage:
            database = await PostgresDatabase.open(
                url, migrations=migrations, pool_size=pool_size, timeout_s=timeout
            )
            return cls(database, today=today, cache_size=cache_size, cache_seconds=cache_seconds)

        return Opening(opening())
