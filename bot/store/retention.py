"""How long Parla keeps what it stores, and the sweep that enforces it (no Discord).

- A server's data (settings, dictionary, read-aloud bindings, members' nicknames and read modes,
  per-server voice choices, its usage counters) is deleted `GUILD_DATA_DAYS` after the bot is
  removed from the server, unless the bot is added back before then (`schedule_forget`,
  `cancel_forget`). The schedule is in the database, so it survives restarts.
- Usage counters older than `USAGE_KEEP_DAYS` days are deleted (daily by the bot, or
  `parla db prune`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.store.protocol import Storage

log = logging.getLogger(__name__)

GUILD_DATA_DAYS = 30
USAGE_KEEP_DAYS = 90
SWEEP_SECONDS = 3600.0  # how often the bot looks for deletions that are due


def utc_now() -> datetime:
    return datetime.now(UTC)


async def schedule_forget(storage: Storage, guild_id: int, now: datetime | None = None) -> datetime:
    """The bot was removed from `guild_id`: delete its data `GUILD_DATA_DAYS` from now."""
    due = (now or utc_now()) + timedelta(days=GUILD_DATA_DAYS)
    await storage.schedule_guild_deletion(guild_id, due)
    return due


async def cancel_forget(storage: Storage, guild_id: int) -> bool:
    """The bot is in `guild_id` (again): keep its data. Whether a deletion was scheduled."""
    return await storage.cancel_guild_deletion(guild_id)


async def sweep(storage: Storage, present: Callable[[int], bool], now: datetime | None = None) -> list[int]:
    """Delete the data of every server whose deletion is due, except servers the bot is in
    again (their deletion is cancelled); prune old usage. Returns the servers forgotten."""
    forgotten: list[int] = []
    for guild_id in await storage.due_guild_deletions(now or utc_now()):
        if present(guild_id):
            await storage.cancel_guild_deletion(guild_id)
            continue
        await storage.forget_guild(guild_id)
        forgotten.append(guild_id)
        log.info("forgot the data of server %s (removed %d days ago)", guild_id, GUILD_DATA_DAYS)
    pruned = await storage.prune_usage(USAGE_KEEP_DAYS)
    if pruned:
        log.info("pruned %d usage rows older than %d days", pruned, USAGE_KEEP_DAYS)
    return forgotten
