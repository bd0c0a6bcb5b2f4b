"""The pronunciation dictionaries (SQLite or PostgreSQL, through bot.store.sql_db): each
server's `word → reading` entries, read through a cache."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from bot.base.errors import InputError
from bot.base.i18n import say
from bot.store.models import MAX_DICTIONARY_ENTRIES
from bot.store.read_cache import ReadThrough
from bot.store.sql_db import SqlDatabase, count_in_guild, ensure_guild, writing
from bot.store.validators import check_id, normalize_word, validate_dictionary_entry


class DictionaryTable:
    """The `dictionary` table (see `Storage` for what each method promises)."""

    def __init__(self, database: SqlDatabase, cache_size: int, **cache: Any) -> None:
        self._database = database
        self.entries = ReadThrough(max(1, cache_size // 10), database.reading, self._load_dictionary, **cache)

    async def add_dictionary_entry(self, guild_id: int, word: str, reading: str) -> bool:
        """Add or replace `word → reading`. True if the word is new. The word is stored
        case-folded; at most MAX_DICTIONARY_ENTRIES per server."""
        check_id(guild_id, "server")
        key, spoken = validate_dictionary_entry(word, reading)
        async with writing(self._database, lambda: self.entries.invalidate(guild_id)) as db:
            await ensure_guild(db, guild_id)
            count, present = await count_in_guild(db, "dictionary", "word", key, guild_id)
            if not present and count >= MAX_DICTIONARY_ENTRIES:
                raise InputError(say("input.dictionary.full", limit=MAX_DICTIONARY_ENTRIES))
            await db.execute(
                "INSERT INTO dictionary (guild_id, word, reading) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id, word) DO UPDATE SET reading = excluded.reading",
                (guild_id, key, spoken),
            )
        return not present

    async def remove_dictionary_entry(self, guild_id: int, word: str) -> bool:
        """Remove a word (matched case-insensitively). False if it was not there."""
        check_id(guild_id, "server")
        key = normalize_word(word) if isinstance(word, str) else ""
        async with writing(self._database, lambda: self.entries.invalidate(guild_id)) as db:
            sql = "DELETE FROM dictionary WHERE guild_id = ? AND word = ?"
            removed = await db.execute(sql, (guild_id, key)) > 0
        return removed

    async def list_dictionary(self, guild_id: int) -> Mapping[str, str]:
        """The server's dictionary (case-folded word → reading), sorted by word, read-only."""
        return await self.entries.get(check_id(guild_id, "server"))

    async def _load_dictionary(self, guild_id: int) -> Mapping[str, str]:
        rows = await self._database.fetchall(
            "SELECT word, reading FROM dictionary WHERE guild_id = ? ORDER BY word", (guild_id,)
        )
        return MappingProxyType({str(r[0]): str(r[1]) for r in rows})
