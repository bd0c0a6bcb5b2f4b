"""Storage time of a read-aloud message, SQLite vs PostgreSQL, in the same run.

Run: .venv/bin/python -m benchmarks.bench_storage [--postgres URL] [--messages N]

For each backend: the settings a read-aloud message reads (server read-aloud settings, the
member's read mode, the nicknames, the dictionary, the member's resolved voice settings) served
from the in-process cache ("cached", the usual case) and from the database ("uncached": the
caches dropped before each message), and a settings write (`/voice set`). Prints p50/p99 per
operation in milliseconds. The goal: a read-aloud message costs at most 1 ms of storage time at
p99 on either backend (cached). PostgreSQL runs in a schema of its own, dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from bot.speech.voices import VOICE_NAMES
from bot.store.postgres import PostgresStorage
from bot.store.sql_storage import SqlStorage
from bot.store.sqlite import SqliteStorage

GOAL_MS = 1.0
GUILDS, MEMBERS = 50, 40


async def fill(store: SqlStorage) -> None:
    for g in range(1, GUILDS + 1):
        await store.update_read_aloud(g, xsaid=g % 2 == 0, max_length=200)
        await store.add_bound_channel(g, 1000 + g)
        await store.set_guild_default(g, "voice", VOICE_NAMES[g % len(VOICE_NAMES)])
        for word in ("gif", "sql", "brb"):
            await store.add_dictionary_entry(g, word, f"{word} said")
        for m in range(1, MEMBERS + 1, 4):
            await store.set_user_pref(m, g, "language", "English")
            await store.set_nickname(g, m, f"member {m}")


async def read_for_message(store: SqlStorage, guild: int, member: int) -> None:
    await store.get_read_aloud(guild)
    await store.get_member(guild, member)
    await store.get_nicknames(guild)
    await store.list_dictionary(guild)
    await store.resolve_voice_settings(member, guild)


async def timed(
    count: int, step: Callable[[int], Awaitable[None]], before: Callable[[], None] = lambda: None
) -> list[float]:
    samples = []
    for i in range(count):
        before()
        started = time.perf_counter()
        await step(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def figures(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


async def measure(name: str, store: SqlStorage, messages: int) -> dict[str, tuple[float, float]]:
    await fill(store)

    def message(i: int) -> Awaitable[None]:
        return read_for_message(store, 1 + i % GUILDS, 1 + i % MEMBERS)

    await timed(200, message)  # warm the caches and the statement caches
    results = {
        "message, cached": figures(await timed(messages, message)),
        "message, uncached": figures(await timed(max(200, messages // 10), message, store.clear_cache)),
    }

    async def write(i: int) -> None:
        await store.set_user_pref(1 + i % MEMBERS, 1 + i % GUILDS, "voice", VOICE_NAMES[i % len(VOICE_NAMES)])

    results["settings write"] = figures(await timed(max(200, messages // 10), write))
    for operation, (p50, p99) in results.items():
        print(f"{name:<10} {operation:<18} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms", flush=True)
    return results


async def main_async(postgres: str, messages: int) -> int:
    rows: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with SqliteStorage.open(Path(tmp) / "bench.sqlite3") as store:
            rows["sqlite"] = await measure("sqlite", store, messages)
    schema = f"parla_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres, timeout=10)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in postgres else "?"
        async with PostgresStorage.open(f"{postgres}{sep}search_path={schema}") as store:
            rows["postgres"] = await measure("postgres", store, messages)
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()
    worst = max(row["message, cached"][1] for row in rows.values())
    verdict = "meets" if worst <= GOAL_MS else "MISSES"
    print(f"read-aloud message, cached, worst p99 {worst:.3f} ms: {verdict} the {GOAL_MS:g} ms goal")
    return 0 if worst <= GOAL_MS else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    return asyncio.run(main_async(args.postgres, args.messages))


if __name__ == "__main__":
    raise SystemExit(main())
