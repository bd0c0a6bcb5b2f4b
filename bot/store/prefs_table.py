"""The voice preferences (SQLite or PostgreSQL, through bot.store.sql_db): each user's choices
(everywhere, and per server) and each server's defaults, read through a cache, and the
effective settings they resolve to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from bot.speech.voices import canonical_language, canonical_voice
from bot.store.models import (
    EMPTY_PREFS,
    PREF_FIELDS,
    PrefField,
    PrefValue,
    VoicePrefs,
    VoiceSettings,
    resolve_settings,
)
from bot.store.read_cache import ReadThrough
from bot.store.sql_db import Row, SqlDatabase, ensure_guild, writing
from bot.store.validators import check_id, guild_scope, pref_fields, validate_pref

_PREF_COLUMNS: Final = ", ".join(PREF_FIELDS)
_ALL_NULL: Final = " AND ".join(f"{f} IS NULL" for f in PREF_FIELDS)


def _prefs_from_row(row: Row | None) -> VoicePrefs:
    """A stored row as VoicePrefs; values no longer valid (a voice removed later) read as unset."""
    if row is None:
        return EMPTY_PREFS
    voice = canonical_voice(row["voice"]) if row["voice"] is not None else None
    language = canonical_language(row["language"]) if row["language"] is not None else None
    optimize = row["optimize_instructions"]
    return VoicePrefs(
        voice=voice,
        instructions=row["instructions"],
        language=language,
        optimize_instructions=None if optimize is None else bool(optimize),
    )


def _db_value(value: PrefValue) -> str | int | None:
    return int(value) if isinstance(value, bool) else value


class VoicePrefsTable:
    """The `user_prefs` and `guilds` tables (see `Storage` for what each method promises)."""

    def __init__(self, database: SqlDatabase, cache_size: int, **cache: Any) -> None:
        self._database = database
        self.user_prefs = ReadThrough(cache_size, database.reading, self._load_user_prefs, **cache)
        self.guild_defaults = ReadThrough(cache_size, database.reading, self._load_guild_defaults, **cache)

    async def get_user_prefs(self, user_id: int, guild_id: int | None) -> VoicePrefs:
        """The user's own preferences in `guild_id` (None = their global choice)."""
        return await self.user_prefs.get((check_id(user_id, "user"), guild_scope(guild_id)))

    async def _load_user_prefs(self, key: tuple[int, int]) -> VoicePrefs:
        row = await self._database.fetchone(
            f"SELECT {_PREF_COLUMNS} FROM user_prefs WHERE user_id = ? AND guild_id = ?", key
        )
        return _prefs_from_row(row)

    async def set_user_pref(
        self, user_id: int, guild_id: int | None, field: PrefField, value: PrefValue
    ) -> VoicePrefs:
        """Set one preference (None = unset it). Returns the row after the change."""
        key = (check_id(user_id, "user"), guild_scope(guild_id))
        canonical = validate_pref(field, value)
        if canonical is None:
            return await self.reset_user_prefs(user_id, guild_id, (field,))
        async with writing(self._database, lambda: self.user_prefs.invalidate(key)) as db:
            await db.execute(
                f"INSERT INTO user_prefs (user_id, guild_id, {field}) VALUES (?, ?, ?) "
                f"ON CONFLICT (user_id, guild_id) DO UPDATE SET {field} = excluded.{field}",
                (*key, _db_value(canonical)),
            )
        return await self.get_user_prefs(user_id, guild_id)

    async def reset_user_prefs(
        self, user_id: int, guild_id: int | None, fields: Iterable[PrefField] | None = None
    ) -> VoicePrefs:
        """Unset the given preferences (all four by default). Returns the row after."""
        key = (check_id(user_id, "user"), guild_scope(guild_id))
        chosen = pref_fields(fields)
        if chosen:
            assignments = ", ".join(f"{f} = NULL" for f in chosen)
            async with writing(self._database, lambda: self.user_prefs.invalidate(key)) as db:
                await db.execute(
                    f"UPDATE user_prefs SET {assignments} WHERE user_id = ? AND guild_id = ?", key
                )
                await db.execute(
                    f"DELETE FROM user_prefs WHERE user_id = ? AND guild_id = ? AND {_ALL_NULL}", key
                )
        return await self.get_user_prefs(user_id, guild_id)

    async def get_guild_defaults(self, guild_id: int) -> VoicePrefs:
        return await self.guild_defaults.get(check_id(guild_id, "server"))

    async def _load_guild_defaults(self, guild_id: int) -> VoicePrefs:
        row = await self._database.fetchone(
            f"SELECT {_PREF_COLUMNS} FROM guilds WHERE guild_id = ?", (guild_id,)
        )
        return _prefs_from_row(row)

    async def set_guild_default(self, guild_id: int, field: PrefField, value: PrefValue) -> VoicePrefs:
        check_id(guild_id, "server")
        canonical = validate_pref(field, value)
        if canonical is None:
            return await self.reset_guild_defaults(guild_id, (field,))
        async with writing(self._database, lambda: self.guild_defaults.invalidate(guild_id)) as db:
            await ensure_guild(db, guild_id)
            await db.execute(
                f"UPDATE guilds SET {field} = ? WHERE guild_id = ?", (_db_value(canonical), guild_id)
            )
        return await self.get_guild_defaults(guild_id)

    async def reset_guild_defaults(
        self, guild_id: int, fields: Iterable[PrefField] | None = None
    ) -> VoicePrefs:
        check_id(guild_id, "server")
        chosen = pref_fields(fields)
        if chosen:
            assignments = ", ".join(f"{f} = NULL" for f in chosen)
            async with writing(self._database, lambda: self.guild_defaults.invalidate(guild_id)) as db:
                await db.execute(f"UPDATE guilds SET {assignments} WHERE guild_id = ?", (guild_id,))
        return await self.get_guild_defaults(guild_id)

    async def resolve_voice_settings(self, user_id: int, guild_id: int | None) -> VoiceSettings:
        """Effective settings of `user_id` speaking in `guild_id` (None: outside a server)."""
        scope = guild_scope(guild_id)
        user = await self.get_user_prefs(user_id, None)
        if scope == 0:
            return resolve_settings(EMPTY_PREFS, user, EMPTY_PREFS)
        member = await self.get_user_prefs(user_id, scope)
        server = await self.get_guild_defaults(scope)
        return resolve_settings(member, user, server)
