"""Kill -9 during heavy use, then restart: settings and the disk cache are intact.

A child Python process hammers the settings database (voice preferences, usage counters) and
the audio cache's disk tier (several concurrent puts) and prints, as JSON lines, each write it
is about to make and each write that returned (confirmed). The test SIGKILLs it at several
moments (while the database is being created, early, and deep into the load), restarting it on
the same data directory each time, and after every kill reopens everything itself:

- every setting the child confirmed reads back (or a later value it was writing when killed);
- the usage counter holds every confirmed addition and at most the ones in flight;
- SQLite's integrity check passes;
- every cache entry `get` returns is byte-identical to what the child wrote for that key, and
  every confirmed entry is there; files damaged on disk are misses (and removed), never served.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.disk import HEADER_SIZE
from bot.store.sqlite import SqliteStorage

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2030, 1, 1)
USAGE_GUILD = 7

# Shared by the child and the test: what the child writes for a cache tag.
PAYLOAD_SOURCE = """
import hashlib

def cache_key_for(tag):
    return hashlib.sha256(("crash-test|" + tag).encode()).hexdigest()

def payload(tag):
    size = 2000 + int(hashlib.sha256(tag.encode()).hexdigest()[:6], 16) % 120_000
    return hashlib.shake_256(tag.encode()).digest(size - size % 2)
"""
_ns: dict[str, Any] = {}
exec(PAYLOAD_SOURCE, _ns)
cache_key_for: Callable[[str], str] = _ns["cache_key_for"]
payload: Callable[[str], bytes] = _ns["payload"]

CHILD = (
    PAYLOAD_SOURCE
    + """
import asyncio, json, sys
from datetime import date
from pathlib import Path

from bot.audio.clip import Audio
from bot.speech.cache.audio_cache import AudioCache
from bot.store.sqlite import SqliteStorage
from bot.speech.voices import VOICE_NAMES

DAY = date(2030, 1, 1)


def say(**record):
    print(json.dumps(record), flush=True)


async def prefs(storage, rnd):
    i = 0
    while True:
        user, guild = 1 + i % 40, (i // 40) % 3
        field = "instructions" if i % 3 == 0 else "voice"
        if field == "voice":
            value = VOICE_NAMES[(7 * i + rnd) % len(VOICE_NAMES)]
        else:
            value = f"round {rnd} step {i}: calm \\u2728 and slow"
        record = dict(op="pref", user=user, guild=guild, field=field, value=value)
        say(ok=False, **record)
        await storage.set_user_pref(user, guild or None, field, value)
        say(ok=True, **record)
        i += 1


async def usage(storage, rnd):
    i = 0
    while True:
        n = 1 + (i * 37 + rnd) % 500
        say(op="usage", ok=False, n=n)
        await storage.add_usage(7, n, day=DAY)
        say(op="usage", ok=True, n=n)
        i += 1


async def puts(cache, rnd, lane):
    i = 0
    while True:
        tag = f"{rnd}-{lane}-{i}"
        say(op="cache", ok=False, tag=tag)
        await cache.put(cache_key_for(tag), Audio(payload(tag), 24000))
        say(op="cache", ok=True, tag=tag)
        i += 1


async def main():
    data, rnd = Path(sys.argv[1]), int(sys.argv[2])
    say(op="opening")
    storage = await SqliteStorage.open(data / "parla.sqlite3")
    cache = AudioCache(1 << 20, data / "cache", 512 << 20)
    await cache.load()
    say(op="ready")
    await asyncio.gather(prefs(storage, rnd), usage(storage, rnd), *(puts(cache, rnd, k) for k in range(3)))


asyncio.run(main())
"""
)


@dataclass
class Ledger:
    """What the children wrote, across rounds: attempts and confirmations in order."""

    # (user, guild, field) -> [(value, confirmed)] in the order written
    prefs: dict[tuple[int, int, str], list[tuple[str, bool]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    usage_confirmed: int = 0
    usage_in_flight: int = 0
    cache_attempted: set[str] = field(default_factory=set)
    cache_confirmed: set[str] = field(default_factory=set)

    def add(self, record: dict[str, Any]) -> None:
        op, ok = record["op"], record.get("ok")
        if op == "pref":
            key = (record["user"], record["guild"], record["field"])
            self.prefs[key].append((record["value"], bool(ok)))
        elif op == "usage":
            if ok:
                self.usage_confirmed += record["n"]
                self.usage_in_flight -= record["n"]
            else:
                self.usage_in_flight += record["n"]
        elif op == "cache":
            (self.cache_confirmed if ok else self.cache_attempted).add(record["tag"])

    @property
    def prefs_confirmed(self) -> int:
        return sum(ok for history in self.prefs.values() for _, ok in history)

    def allowed(self, key: tuple[int, int, str]) -> set[str | None]:
        """Values the setting may hold: its last confirmed value, or any value attempted after
        it (committed just before the kill, or in an earlier round's flight)."""
        history = self.prefs[key]
        last_confirmed = max((i for i, (_, ok) in enumerate(history) if ok), default=None)
        allowed: set[str | None] = set()
        if last_confirmed is None:
            allowed.add(None)
            start = 0
        else:
            allowed.add(history[last_confirmed][0])
            start = last_confirmed + 1
        allowed.update(value for value, ok in history[start:] if not ok)
        return allowed


async def run_and_kill(
    data: Path,
    rnd: int,
    *,
    after: str,
    ledger: Ledger,
    confirmed: int = 0,
    cached: int = 0,
    prefs: int = 0,
    wait_for_file: Path | None = None,
) -> int:
    """Run the child until it has printed `after`, `confirmed` confirmations (`cached` of them
    cache puts) and, if given, `wait_for_file` exists; SIGKILL it and record everything it
    printed. Returns the number of confirmations seen."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(data),
        str(rnd),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    seen_after = False
    count = 0
    try:
        async with asyncio.timeout(20):
            while not (
                seen_after
                and count >= confirmed
                and len(ledger.cache_confirmed) >= cached
                and ledger.prefs_confirmed >= prefs
            ):
                line = await proc.stdout.readline()
                if not line:
                    stderr = (await proc.stderr.read()).decode(errors="replace")
                    raise AssertionError(f"the child ended on its own:\n{stderr[-3000:]}")
                record = json.loads(line)
                ledger.add(record)
                seen_after = seen_after or record["op"] == after
                count += 1 if record.get("ok") else 0
            if wait_for_file is not None:
                assert await asyncio.to_thread(wait_until_exists, wait_for_file, 10.0)
            os.kill(proc.pid, signal.SIGKILL)
            rest = await proc.stdout.read()
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    for raw in rest.split(b"\n"):
        if not raw:
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue  # a line cut by the kill: it confirmed nothing
        ledger.add(record)
        count += 1 if record.get("ok") else 0
    return count


def wait_until_exists(path: Path, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.0002)
    return True


def full_integrity_check(path: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return [tuple(row) for row in db.execute("PRAGMA integrity_check")]
    finally:
        db.close()


async def verify(data: Path, ledger: Ledger) -> AudioCache:
    """Reopen the settings and the cache as the restarted bot would, and check them."""
    db_path = data / "parla.sqlite3"
    storage = await SqliteStorage.open(db_path)
    try:
        assert await storage.integrity_check()
        for key in ledger.prefs:
            user, guild, name = key
            prefs = await storage.get_user_prefs(user, guild or None)
            value = getattr(prefs, name)
            assert value in ledger.allowed(key), (key, value, ledger.prefs[key][-3:])
        usage = await storage.get_usage(USAGE_GUILD, DAY)
        assert ledger.usage_confirmed <= usage.guild_characters
        assert usage.guild_characters <= ledger.usage_confirmed + max(0, ledger.usage_in_flight)
        assert usage.global_characters == usage.guild_characters
    finally:
        await storage.close()
    assert await asyncio.to_thread(full_integrity_check, db_path) == [("ok",)]

    cache = AudioCache(1 << 20, data / "cache", 512 << 20)
    await cache.load()
    for tag in ledger.cache_attempted:
        audio = await cache.get(cache_key_for(tag))
        if tag in ledger.cache_confirmed:
            assert audio is not None, f"confirmed cache entry {tag} lost"
        if audio is not None:
            assert audio.pcm == payload(tag), f"cache entry {tag} differs from what was written"
            assert (audio.rate, audio.channels) == (24000, 1)
    assert cache.stats.corrupt_removed == 0
    return cache


async def test_kill_9_during_heavy_use_keeps_settings_and_cache_intact(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ledger = Ledger()
    # As soon as the database file appears (while it is being created and migrated); early in
    # the load; deep into it. Each round restarts on what the previous kill left.
    moments: list[dict[str, Any]] = [
        {"after": "opening", "wait_for_file": data / "parla.sqlite3"},
        {"after": "ready", "confirmed": 8},
        {"after": "ready", "cached": 150, "prefs": 60},
    ]
    for rnd, moment in enumerate(moments):
        await run_and_kill(data, rnd, ledger=ledger, **moment)
        cache = await verify(data, ledger)
        await cache.close()
    assert len(ledger.cache_confirmed) >= 150 and ledger.prefs_confirmed >= 60
    assert ledger.usage_confirmed > 0


async def test_damaged_cache_files_are_misses_and_removed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ledger = Ledger()
    await run_and_kill(data, 0, after="ready", cached=8, ledger=ledger)
    cache = await verify(data, ledger)
    await cache.close()
    confirmed = sorted(ledger.cache_confirmed)
    assert len(confirmed) >= 4
    root = data / "cache"

    def path(tag: str) -> Path:
        name = cache_key_for(tag)
        return root / name[:2] / f"{name}.pcm"

    truncated, flipped, header_only, garbage = confirmed[:4]

    def damage() -> None:
        with open(path(truncated), "r+b") as f:  # a write cut short (without the atomic rename)
            f.truncate(os.path.getsize(path(truncated)) // 2)
        with open(path(flipped), "r+b") as f:  # one flipped bit in the payload
            f.seek(HEADER_SIZE + 10)
            byte = f.read(1)
            f.seek(HEADER_SIZE + 10)
            f.write(bytes([byte[0] ^ 0x01]))
        with open(path(header_only), "r+b") as f:
            f.truncate(HEADER_SIZE)
        path(garbage).write_bytes(b"\0" * 4096)

    await asyncio.to_thread(damage)

    cache = AudioCache(1 << 20, root, 512 << 20)
    try:
        for tag in confirmed:
            audio = await cache.get(cache_key_for(tag))
            if tag in (truncated, flipped, header_only, garbage):
                assert audio is None, f"damaged entry {tag} was served"
                assert not await asyncio.to_thread(path(tag).exists), f"damaged {tag} was not removed"
            else:
                assert audio is not None and audio.pcm == payload(tag)
        assert cache.stats.corrupt_removed == 4
    finally:
        await cache.close()
