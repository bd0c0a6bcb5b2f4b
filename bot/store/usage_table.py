"""The usage counters (SQLite or PostgreSQL, through bot.store.sql_db): characters and requests
per UTC day, per server and in total (what the cost limits and `/usage` read)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from bot.store.models import DailyUsage, UsageTotals
from bot.store.sql_db import SqlDatabase, SqlSession
from bot.store.validators import check_history_days, check_usage_counts, guild_scope


class UsageTable:
    """The `usage_guild` and `usage_global` tables (see `Storage` for what each method promises).
    `today` gives the current UTC day."""

    def __init__(self, database: SqlDatabase, today: Callable[[], date]) -> None:
        self._database = database
        self._today = today

    async def add_usage(
        self, guild_id: int | None, characters: int, *, requests: int = 1, day: date | None = None
    ) -> UsageTotals:
        """Count `characters` (and `requests`) spent today (UTC) in `guild_id` (None: outside
        a server, counted globally only). Returns the day's totals after the addition."""
        scope = guild_scope(guild_id)
        check_usage_counts(characters, requests)
        when = day or self._today()
        iso = when.isoformat()
        # Not synced at each commit: counters written per request, and losing the last few on
        # a power cut costs at most a little budget (settings writes stay durable).
        async with self._database.transaction(durable=False) as db:
            if scope:
                await db.execute(
                    "INSERT INTO usage_guild (guild_id, day, characters, requests) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (guild_id, day) DO UPDATE SET "
                    "characters = usage_guild.characters + excluded.characters, "
                    "requests = usage_guild.requests + excluded.requests",
                    (scope, iso, characters, requests),
                )
            await db.execute(
                "INSERT INTO usage_global (day, characters, requests) VALUES (?, ?, ?) "
                "ON CONFLICT (day) DO UPDATE SET "
                "characters = usage_global.characters + excluded.characters, "
                "requests = usage_global.requests + excluded.requests",
                (iso, characters, requests),
            )
            totals = await self._usage_totals(db, scope, when)
        return totals

    async def _usage_totals(self, db: SqlSession | SqlDatabase, scope: int, when: date) -> UsageTotals:
        iso = when.isoformat()
        guild_row = (
            await db.fetchone(
                "SELECT characters, requests FROM usage_guild WHERE guild_id = ? AND day = ?", (scope, iso)
            )
            if scope
            else None
        )
        global_row = await db.fetchone("SELECT characters, requests FROM usage_global WHERE day = ?", (iso,))
        return UsageTotals(
            day=when,
            guild_characters=int(guild_row[0]) if guild_row else 0,
            guild_requests=int(guild_row[1]) if guild_row else 0,
            global_characters=int(global_row[0]) if global_row else 0,
            global_requests=int(global_row[1]) if global_row else 0,
        )

    async def get_usage(self, guild_id: int | None, day: date | None = None) -> UsageTotals:
        """The day's totals (default today, UTC) for `guild_id` and globally."""
        scope = guild_scope(guild_id)
        async with self._database.reading():
            return await self._usage_totals(self._database, scope, day or self._today())

    async def usage_history(
        self, guild_id: int | None, days: int = 7, *, until: date | None = None
    ) -> list[DailyUsage]:
        """One entry per day, oldest first, for the `days` days ending at `until` (default
        today), zero-filled. `guild_id` None = the global totals."""
        scope = guild_scope(guild_id)
        check_history_days(days)
        last = until or self._today()
        first = last - timedelta(days=days - 1)
        async with self._database.reading():
            if scope:
                rows = await self._database.fetchall(
                    "SELECT day, characters, requests FROM usage_guild "
                    "WHERE guild_id = ? AND day BETWEEN ? AND ?",
                    (scope, first.isoformat(), last.isoformat()),
                )
            else:
                rows = await self._database.fetchall(
                    "SELECT day, characters, requests FROM usage_global WHERE day BETWEEN ? AND ?",
                    (first.isoformat(), last.isoformat()),
                )
        found = {str(r[0]): (int(r[1]), int(r[2])) for r in rows}
        history = []
        for offset in range(days):
            when = first + timedelta(days=offset)
            chars, reqs = found.get(when.isoformat(), (0, 0))
            history.append(DailyUsage(day=when, characters=chars, requests=reqs))
        return history

    async def prune_usage(self, keep_days: int = 400) -> int:
        """Delete usage rows older than `keep_days` days. Returns the rows deleted."""
        cutoff = (self._today() - timedelta(days=keep_days)).isoformat()
        async with self._database.transaction() as db:
            deleted = await db.execute("DELETE FROM usage_guild WHERE day < ?", (cutoff,))
            deleted += await db.execute("DELETE FROM usage_global WHERE day < ?", (cutoff,))
        return deleted
