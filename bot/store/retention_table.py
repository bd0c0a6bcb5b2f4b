"""The `guild_deletions` table (SQLite or PostgreSQL, through bot.store.sql_db): when each
server the bot left is to be forgotten (see `Storage` and bot.store.retention)."""

from __future__ import annotations

from datetime import datetime

from bot.store.sql_db import SqlDatabase
from bot.store.validators import check_id


class RetentionTable:
    """Scheduled server deletions, one row per server: `due_at` is a Unix time (seconds, UTC)."""

    def __init__(self, database: SqlDatabase) -> None:
        self._database = database

    async def schedule_guild_deletion(self, guild_id: int, due: datetime) -> None:
        check_id(guild_id, "server")
        async with self._database.transaction() as db:
            await db.execute(
                "INSERT INTO guild_deletions (guild_id, due_at) VALUES (?, ?) "
                "ON CONFLICT (guild_id) DO UPDATE SET due_at = excluded.due_at",
                (guild_id, int(due.timestamp())),
            )

    async def cancel_guild_deletion(self, guild_id: int) -> bool:
        check_id(guild_id, "server")
        async with self._database.transaction() as db:
            return await db.execute("DELETE FROM guild_deletions WHERE guild_id = ?", (guild_id,)) > 0

    async def due_guild_deletions(self, now: datetime) -> list[int]:
        async with self._database.reading():
            rows = await self._database.fetchall(
                "SELECT guild_id FROM guild_deletions WHERE due_at <= ? ORDER BY due_at, guild_id",
                (int(now.timestamp()),),
            )
        return [int(r[0]) for r in rows]
