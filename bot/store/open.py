"""`open_storage`: the settings store the configuration names — PostgreSQL when DATABASE_URL is
a postgresql:// URL, else the SQLite file (DATABASE_URL=sqlite:///path, or DATA_DIR's
parla.sqlite3)."""

from __future__ import annotations

from bot.base.config import Settings
from bot.store.sql_storage import Opening, SqlStorage


def open_storage(settings: Settings, url: str | None = None) -> Opening[SqlStorage]:
    """Open the configured store (or the one `url` names: `parla db copy`). Awaitable, or an
    async context manager. Unreachable PostgreSQL: DatabaseUnreachable."""
    return Opening(_open(settings, url))


def is_postgres(url: str | None) -> bool:
    return url is not None and url.startswith(("postgresql://", "postgres://"))


async def _open(settings: Settings, url: str | None) -> SqlStorage:
    target = settings.database_url.reveal() if url is None and settings.database_url else url
    if target is not None and is_postgres(target):
        from bot.store.postgres import PostgresStorage

        return await PostgresStorage.open(target, pool_size=settings.database_pool)
    from bot.store.sqlite import SqliteStorage

    return await SqliteStorage.open(settings.database_path if target is None else sqlite_path(target))


def sqlite_path(url: str) -> str:
    """The file of a sqlite:///path URL (a plain path is taken as it is)."""
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
