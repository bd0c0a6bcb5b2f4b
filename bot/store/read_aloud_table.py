"""The read-aloud settings (SQLite or PostgreSQL, through bot.store.sql_db): each server's
settings and bound channels, and each member's read mode and spoken nickname, read through caches."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, cast

from bot.base.errors import InputError
from bot.base.i18n import say
from bot.store.models import (
    BOOL_READ_ALOUD,
    EMOJI_MODES,
    MAX_BOUND_CHANNELS,
    READ_ALOUD_FIELDS,
    READ_MODES,
    GuildReadAloud,
    MemberReadAloud,
    ReadMode,
)
from bot.store.read_cache import ReadThrough
from bot.store.sql_db import SqlDatabase, count_in_guild, ensure_guild, writing
from bot.store.validators import check_id, validate_nickname, validate_read_aloud_change, validate_read_mode


class ReadAloudTable:
    """The `guild_read_aloud`, `bound_channels` and `members` tables (see `Storage` for what each
    method promises)."""

    def __init__(self, database: SqlDatabase, cache_size: int, **cache: Any) -> None:
        self._database = database
        self.settings = ReadThrough(cache_size, database.reading, self._load_read_aloud, **cache)
        self.members = ReadThrough(cache_size, database.reading, self._load_member, **cache)
        small = max(1, cache_size // 10)
        self.nicknames = ReadThrough(small, database.reading, self._load_nicknames, **cache)

    # ---- read-aloud: server settings ----------------------------------------------------

    async def get_read_aloud(self, guild_id: int) -> GuildReadAloud:
        return await self.settings.get(check_id(guild_id, "server"))

    async def _load_read_aloud(self, guild_id: int) -> GuildReadAloud:
        row = await self._database.fetchone("SELECT * FROM guild_read_aloud WHERE guild_id = ?", (guild_id,))
        channels = await self._database.fetchall(
            "SELECT channel_id FROM bound_channels WHERE guild_id = ?", (guild_id,)
        )
        values: dict[str, Any] = {"channel_ids": frozenset(int(r[0]) for r in channels)}
        if row is not None:
            for name in READ_ALOUD_FIELDS:
                value = row[name]
                values[name] = bool(value) if name in BOOL_READ_ALOUD else value
            if values["emoji_mode"] not in EMOJI_MODES:
                values["emoji_mode"] = "name"
        return GuildReadAloud(**values)

    async def update_read_aloud(self, guild_id: int, **changes: Any) -> GuildReadAloud:
        """Change some read-aloud settings, e.g. `update_read_aloud(g, xsaid=False, max_length=200)`.
        Validates every change before writing any. Returns the settings after."""
        check_id(guild_id, "server")
        canonical = {name: validate_read_aloud_change(name, value) for name, value in changes.items()}
        if not canonical:
            return await self.get_read_aloud(guild_id)
        columns = ", ".join(canonical)
        placeholders = ", ".join("?" for _ in canonical)
        updates = ", ".join(f"{name} = excluded.{name}" for name in canonical)
        params = [int(v) if isinstance(v, bool) else v for v in canonical.values()]
        async with writing(self._database, lambda: self.settings.invalidate(guild_id)) as db:
            await ensure_guild(db, guild_id)
            await db.execute(
                f"INSERT INTO guild_read_aloud (guild_id, {columns}) VALUES (?, {placeholders}) "
                f"ON CONFLICT (guild_id) DO UPDATE SET {updates}",
                (guild_id, *params),
            )
        return await self.get_read_aloud(guild_id)

    async def add_bound_channel(self, guild_id: int, channel_id: int) -> bool:
        """Bind a text channel for read-aloud. False if it was already bound."""
        check_id(guild_id, "server")
        check_id(channel_id, "channel")
        async with writing(self._database, lambda: self.settings.invalidate(guild_id)) as db:
            await ensure_guild(db, guild_id)
            count, present = await count_in_guild(db, "bound_channels", "channel_id", channel_id, guild_id)
            if present:
                return False
            if count >= MAX_BOUND_CHANNELS:
                raise InputError(say("input.channels.full", limit=MAX_BOUND_CHANNELS))
            await db.execute(
                "INSERT INTO bound_channels (guild_id, channel_id) VALUES (?, ?)", (guild_id, channel_id)
            )
        return True

    async def remove_bound_channel(self, guild_id: int, channel_id: int) -> bool:
        """Unbind a channel. False if it was not bound."""
        check_id(guild_id, "server")
        check_id(channel_id, "channel")
        async with writing(self._database, lambda: self.settings.invalidate(guild_id)) as db:
            sql = "DELETE FROM bound_channels WHERE guild_id = ? AND channel_id = ?"
            removed = await db.execute(sql, (guild_id, channel_id)) > 0
        return removed

    # ---- read-aloud: members ------------------------------------------------------------

    async def get_member(self, guild_id: int, user_id: int) -> MemberReadAloud:
        return await self.members.get((check_id(guild_id, "server"), check_id(user_id, "user")))

    async def _load_member(self, key: tuple[int, int]) -> MemberReadAloud:
        row = await self._database.fetchone(
            "SELECT read_mode, nickname FROM members WHERE guild_id = ? AND user_id = ?", key
        )
        mode: ReadMode = "on"
        if row is not None and row["read_mode"] in READ_MODES:
            mode = cast(ReadMode, row["read_mode"])
        return MemberReadAloud(mode=mode, nickname=row["nickname"] if row is not None else None)

    async def _write_member(self, guild_id: int, user_id: int, column: str, value: object) -> None:
        key = (guild_id, user_id)

        def drop() -> None:
            self.members.invalidate(key)
            if column == "nickname":
                self.nicknames.invalidate(guild_id)

        async with writing(self._database, drop) as db:
            await ensure_guild(db, guild_id)
            await db.execute(
                f"INSERT INTO members (guild_id, user_id, {column}) VALUES (?, ?, ?) "
                f"ON CONFLICT (guild_id, user_id) DO UPDATE SET {column} = excluded.{column}",
                (*key, value),
            )
            await db.execute(
                "DELETE FROM members WHERE guild_id = ? AND user_id = ? AND read_mode = 'on' "
                "AND nickname IS NULL",
                key,
            )

    async def set_read_mode(self, guild_id: int, user_id: int, mode: ReadMode) -> MemberReadAloud:
        """`/readaloud me on|off|auto`: "off" opts out, "auto" opts in to being followed."""
        check_id(guild_id, "server")
        check_id(user_id, "user")
        await self._write_member(guild_id, user_id, "read_mode", validate_read_mode(mode))
        return await self.get_member(guild_id, user_id)

    async def set_nickname(self, guild_id: int, user_id: int, nickname: str | None) -> MemberReadAloud:
        """The name read for this member in this server (None or blank = clear it)."""
        check_id(guild_id, "server")
        check_id(user_id, "user")
        await self._write_member(guild_id, user_id, "nickname", validate_nickname(nickname))
        return await self.get_member(guild_id, user_id)

    async def get_nicknames(self, guild_id: int) -> Mapping[int, str]:
        """Every spoken nickname set in this server (user id → name), read-only."""
        return await self.nicknames.get(check_id(guild_id, "server"))

    async def _load_nicknames(self, guild_id: int) -> Mapping[int, str]:
        rows = await self._database.fetchall(
            "SELECT user_id, nickname FROM members WHERE guild_id = ? AND nickname IS NOT NULL",
            (guild_id,),
        )
        return MappingProxyType({int(r[0]): str(r[1]) for r in rows})
