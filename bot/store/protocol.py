"""The settings store's interface: `Storage`, what the bot needs from any backend (SQLite today,
PostgreSQL for several processes), and `StorageError`, the store being unusable."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from bot.base.errors import ParlaError
from bot.base.i18n import say
from bot.store.models import (
    DailyUsage,
    GuildReadAloud,
    MemberReadAloud,
    PrefField,
    PrefValue,
    ReadMode,
    UsageTotals,
    VoicePrefs,
    VoiceSettings,
)


class StorageError(ParlaError):
    """The database cannot be used (newer schema, WAL unavailable, ...). Owner's problem."""

    sentence = say("error.storage_unavailable")


class StorageUnavailable(StorageError):
    """The database was reachable but is not right now (connection lost, restarting, timed
    out). Nothing was written; the pool reconnects by itself."""

    sentence = say("error.storage_busy")


class DatabaseUnreachable(StorageError):
    """The configured database cannot be reached at start. `str()` is the one sentence for the
    owner: DATABASE_URL and what was tried (host and port, never the password)."""


@runtime_checkable
class Storage(Protocol):
    """What the bot needs from a settings store. All methods are coroutines; settings writes
    (preferences, read-aloud settings, members, dictionary, forgetting) are durable when they
    return; on SQLite `add_usage` may lose its last few writes on a power cut or OS crash (never
    on a process crash), which costs at most a little budget (PostgreSQL commits are durable);
    bad values raise InputError."""

    # Voice preferences. guild_id None (or 0) = the user's global choice.
    async def get_user_prefs(self, user_id: int, guild_id: int | None) -> VoicePrefs: ...
    async def set_user_pref(
        self, user_id: int, guild_id: int | None, field: PrefField, value: PrefValue
    ) -> VoicePrefs: ...
    async def reset_user_prefs(
        self, user_id: int, guild_id: int | None, fields: Iterable[PrefField] | None = None
    ) -> VoicePrefs: ...
    async def get_guild_defaults(self, guild_id: int) -> VoicePrefs: ...
    async def set_guild_default(self, guild_id: int, field: PrefField, value: PrefValue) -> VoicePrefs: ...
    async def reset_guild_defaults(
        self, guild_id: int, fields: Iterable[PrefField] | None = None
    ) -> VoicePrefs: ...
    async def resolve_voice_settings(self, user_id: int, guild_id: int | None) -> VoiceSettings: ...

    # Read-aloud
    async def get_read_aloud(self, guild_id: int) -> GuildReadAloud: ...
    async def update_read_aloud(self, guild_id: int, **changes: Any) -> GuildReadAloud: ...
    async def add_bound_channel(self, guild_id: int, channel_id: int) -> bool: ...
    async def remove_bound_channel(self, guild_id: int, channel_id: int) -> bool: ...
    async def get_member(self, guild_id: int, user_id: int) -> MemberReadAloud: ...
    async def set_read_mode(self, guild_id: int, user_id: int, mode: ReadMode) -> MemberReadAloud: ...
    async def set_nickname(self, guild_id: int, user_id: int, nickname: str | None) -> MemberReadAloud: ...
    async def get_nicknames(self, guild_id: int) -> Mapping[int, str]: ...

    # Pronunciation dictionary
    async def add_dictionary_entry(self, guild_id: int, word: str, reading: str) -> bool: ...
    async def remove_dictionary_entry(self, guild_id: int, word: str) -> bool: ...
    async def list_dictionary(self, guild_id: int) -> Mapping[str, str]: ...

    # Usage counters (UTC days)
    async def add_usage(
        self, guild_id: int | None, characters: int, *, requests: int = 1, day: date | None = None
    ) -> UsageTotals: ...
    async def get_usage(self, guild_id: int | None, day: date | None = None) -> UsageTotals: ...
    async def usage_history(
        self, guild_id: int | None, days: int = 7, *, until: date | None = None
    ) -> list[DailyUsage]: ...

    async def prune_usage(self, keep_days: int = 400) -> int: ...

    # Housekeeping. forget_guild deletes every row of the server, its usage counters included.
    async def forget_guild(self, guild_id: int) -> None: ...
    async def schedule_guild_deletion(self, guild_id: int, due: datetime) -> None: ...
    async def cancel_guild_deletion(self, guild_id: int) -> bool: ...
    async def due_guild_deletions(self, now: datetime) -> list[int]: ...
    async def forget_user(self, user_id: int) -> None: ...
    async def close(self) -> None: ...
