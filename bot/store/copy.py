"""Moving a server's data between stores (`parla db copy`), and counting it (`parla db check`).

Every table is copied whole, rows compared as values: a target holding exactly the source's rows
is left alone (copying twice changes nothing); an empty target is filled; a target holding other
rows is refused unless `replace`, which empties it first. The target is written in one
transaction, so a failed copy leaves it as it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.store.protocol import StorageError
from bot.store.sql_storage import SqlStorage

# Parents before children (the foreign keys), with the columns that identify a row first.
TABLES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("guilds", ("guild_id", "voice", "instructions", "language", "optimize_instructions")),
    ("user_prefs", ("user_id", "guild_id", "voice", "instructions", "language", "optimize_instructions")),
    (
        "guild_read_aloud",
        (
            "guild_id",
            "text_in_voice",
            "require_voice",
            "read_bots",
            "skip_silent",
            "deny_role_id",
            "required_role_id",
            "ignore_prefix",
            "autojoin",
            "xsaid",
            "emoji_mode",
            "max_length",
        ),
    ),
    ("bound_channels", ("guild_id", "channel_id")),
    ("members", ("guild_id", "user_id", "read_mode", "nickname")),
    ("dictionary", ("guild_id", "word", "reading")),
    ("usage_guild", ("guild_id", "day", "characters", "requests")),
    ("usage_global", ("day", "characters", "requests")),
    ("guild_deletions", ("guild_id", "due_at")),
)

Rows = dict[str, list[tuple[object, ...]]]


class CopyRefused(StorageError):
    """The target already holds different data and `--replace` was not given."""


@dataclass(frozen=True)
class CopyReport:
    counts: dict[str, int]
    changed: bool

    def line(self) -> str:
        shown = ", ".join(f"{table} {count}" for table, count in self.counts.items())
        verb = "copied" if self.changed else "already identical, nothing changed"
        return f"{verb}: {shown} ({sum(self.counts.values())} rows)"


async def read_rows(storage: SqlStorage) -> Rows:
    """Every row of every table, as value tuples in a stable order."""
    rows: Rows = {}
    for table, columns in TABLES:
        found = await storage.database.fetchall(f"SELECT {', '.join(columns)} FROM {table}")
        rows[table] = sorted((tuple(r[i] for i in range(len(columns))) for r in found), key=repr)
    return rows


async def count_rows(storage: SqlStorage) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table, _ in TABLES:
        row = await storage.database.fetchone(f"SELECT COUNT(*) FROM {table}")
        counts[table] = int(row[0]) if row is not None else 0
    return counts


async def copy_data(source: SqlStorage, target: SqlStorage, *, replace: bool = False) -> CopyReport:
    """Copy every setting, dictionary entry, read-aloud binding, nickname, usage row and
    scheduled server deletion."""
    wanted = await read_rows(source)
    counts = {table: len(rows) for table, rows in wanted.items()}
    present = await read_rows(target)
    if present == wanted:
        return CopyReport(counts, changed=False)
    if any(present.values()) and not replace:
        raise CopyRefused(
            "the target already holds different data; nothing was copied "
            "(add --replace to overwrite it with the source's)"
        )
    async with target.database.transaction() as db:
        for table, _ in reversed(TABLES):
            await db.execute(f"DELETE FROM {table}")
        for table, columns in TABLES:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
            for row in wanted[table]:
                await db.execute(sql, row)
    target.clear_cache()
    return CopyReport(counts, changed=True)
