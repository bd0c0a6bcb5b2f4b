"""What only PostgreSQL has: migrations under an advisory lock, several processes charging one
server, a connection killed mid-transaction, the database lost and back mid-run, and start-up
faults. (Everything else runs on both backends in test_sqlite_storage.py.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.app.bot import error_reply
from bot.app.cli import main
from bot.store.migrate import POSTGRES_MIGRATIONS, SCHEMA_VERSION
from bot.store.postgres import PostgresStorage
from bot.store.protocol import StorageError, StorageUnavailable
from tests.standins.databases import DAY, PG_SERVER, FakeToday, Proxy, empty_tables, scalar

ROOT = Path(__file__).resolve().parents[2]
GUILD = 111_111_111_111_111_111
USER = 333_333_333_333_333_333
UNAVAILABLE = "Settings can't be saved right now; try again in a minute"


@pytest.fixture
async def pg_storage(pg_url: str) -> AsyncIterator[PostgresStorage]:
    store = await PostgresStorage.open(pg_url, today=FakeToday())
    await empty_tables(store)
    try:
        yield store
    finally:
        await store.close()


# ---- migrations ---------------------------------------------------------------------------


async def test_two_processes_starting_at_once_migrate_a_fresh_schema_once(fresh_pg_url: str) -> None:
    opening = (PostgresStorage.open(fresh_pg_url), PostgresStorage.open(fresh_pg_url))
    first, second = await asyncio.gather(*opening)
    try:
        assert sorted([first.applied_migrations, second.applied_migrations]) == [[], [1, 2, 3, 4]]
        assert await first.schema_version() == SCHEMA_VERSION == len(POSTGRES_MIGRATIONS) == 4
        assert await first.integrity_check()
    finally:
        await first.close()
        await second.close()
    async with PostgresStorage.open(fresh_pg_url) as again:
        assert again.applied_migrations == []


async def test_a_schema_newer_than_the_code_is_refused(fresh_pg_url: str) -> None:
    async with PostgresStorage.open(fresh_pg_url) as store:
        async with store.database.transaction() as db:
            await db.execute("UPDATE parla_schema SET version = 99")
    with pytest.raises(StorageError, match="version 99, newer than this Parla knows"):
        await PostgresStorage.open(fresh_pg_url)


# ---- several processes --------------------------------------------------------------------

CHARGER = r"""
import asyncio, datetime, sys
from bot.store.postgres import PostgresStorage

async def main() -> None:
    store = await PostgresStorage.open(sys.argv[1], pool_size=4)
    print("ready", flush=True)
    sys.stdin.readline()  # "go": every process charges at the same time
    day = datetime.date(2025, 3, 14)
    await asyncio.gather(*(store.add_usage(int(sys.argv[2]), 7, day=day) for _ in range(50)))
    await store.close()

asyncio.run(main())
"""


async def test_four_processes_charging_one_server_lose_no_charge(
    pg_storage: PostgresStorage, pg_url: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHARGER,
            pg_url,
            str(GUILD),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        for _ in range(4)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    assert [await asyncio.wait_for(proc.wait(), 30) for proc in procs] == [0, 0, 0, 0]
    usage = await pg_storage.get_usage(GUILD, DAY)
    assert (usage.guild_characters, usage.guild_requests) == (4 * 50 * 7, 200)
    assert (usage.global_characters, usage.global_requests) == (1400, 200)


# ---- faults -------------------------------------------------------------------------------


async def test_connection_killed_mid_transaction_writes_nothing_and_the_next_command_works(
    pg_storage: PostgresStorage, pg_url: str
) -> None:
    admin = await asyncpg.connect(pg_url)
    blocker = await asyncpg.connect(pg_url)
    try:
        # The storage's transaction creates the server's row, then waits on this lock.
        blocking = blocker.transaction()
        await blocking.start()
        await blocker.execute("LOCK TABLE guild_read_aloud IN EXCLUSIVE MODE")
        write = asyncio.create_task(pg_storage.update_read_aloud(GUILD, xsaid=False))
        pid = None
        for _ in range(500):
            pid = await admin.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'INSERT INTO guild_read_aloud%'"
            )
            if pid is not None:
                break
            await asyncio.sleep(0.01)  # no event tells when a backend starts waiting
        assert pid is not None
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(StorageUnavailable) as caught:
            await write
        await blocking.rollback()
    finally:
        await blocker.close()
        await admin.close()
    # The member is told, in the bot's usual reply path (not an unexpected error).
    assert caught.value.user_message() == UNAVAILABLE
    assert error_reply(caught.value) == (UNAVAILABLE, False)
    # Nothing of the transaction is visible: not even the server row it had inserted.
    assert await scalar(pg_storage, f"SELECT COUNT(*) FROM guilds WHERE guild_id = {GUILD}") == 0
    # The pool opens a new connection: the next command works.
    assert (await pg_storage.update_read_aloud(GUILD, xsaid=False)).xsaid is False


async def test_database_lost_mid_run_reads_last_known_settings_refuses_writes_then_reconnects(
    pg_url: str,
) -> None:
    proxy = Proxy()
    await proxy.start()
    url = proxy.url(pg_url)
    assert url != pg_url
    store = await PostgresStorage.open(url, today=FakeToday(), cache_seconds=0.0)  # always reload
    try:
        await empty_tables(store)
        await store.set_user_pref(USER, None, "voice", "Kai")
        await store.add_dictionary_entry(GUILD, "gif", "jif")
        assert (await store.resolve_voice_settings(USER, GUILD)).voice == "Kai"
        assert dict(await store.list_dictionary(GUILD)) == {"gif": "jif"}
        await proxy.cut()
        # Speaking goes on with the last known settings.
        assert (await store.resolve_voice_settings(USER, GUILD)).voice == "Kai"
        assert dict(await store.list_dictionary(GUILD)) == {"gif": "jif"}
        # No write is acknowledged unless it committed.
        with pytest.raises(StorageUnavailable) as caught:
            await store.set_user_pref(USER, None, "voice", "Ethan")
        assert caught.value.user_message() == UNAVAILABLE
        await proxy.start()  # back on the same port: the pool reconnects by itself
        assert (await store.set_user_pref(USER, None, "voice", "Ethan")).voice == "Ethan"
        assert (await store.resolve_voice_settings(USER, GUILD)).voice == "Ethan"
    finally:
        await store.close()
        await proxy.cut()


# ---- start-up faults (the CLI) --------------------------------------------------------------


def test_unreachable_postgres_at_start_is_one_sentence_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DATABASE_URL", "postgresql://parla:s3cret-pass@127.0.0.1:1/parla")
    for command in (["db", "migrate"], ["db", "check"]):
        code = main(command)
        err = capsys.readouterr().err
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert "DATABASE_URL" in lines[0] and "127.0.0.1:1/parla" in lines[0]
        assert "s3cret-pass" not in err and "Traceback" not in err
    # `parla doctor` reports it as its failed database check.
    assert main(["doctor", "--offline"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] database: PostgreSQL at 127.0.0.1:1/parla" in out and "s3cret-pass" not in out


async def test_doctor_checks_postgres_with_a_write_rolled_back(
    pg_storage: PostgresStorage, pg_url: str
) -> None:
    from bot.app.doctor import check_database
    from bot.base.config import Settings

    check = await check_database(Settings.from_env({"DATABASE_URL": pg_url}, dotenv=False))
    assert check.ok, check.detail
    assert "schema version 4, integrity ok, a write rolled back" in check.detail
    assert await scalar(pg_storage, "SELECT COUNT(*) FROM guilds") == 0  # the probe row is not kept


@pytest.mark.parametrize(
    "url", ["postgresql://host:notaport/db", "mysql://u@h/db", "postgresql:///nohost", "sqlite:///"]
)
def test_a_malformed_database_url_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["db", "check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("parla: configuration error: DATABASE_URL:") and len(err.splitlines()) == 1


def test_db_migrate_then_check_on_postgres(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    schema = "parla_test_cli_" + os.urandom(4).hex()
    subprocess.run(["psql", PG_SERVER, "-qc", f"CREATE SCHEMA {schema}"], check=True)
    try:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("DATABASE_URL", f"{PG_SERVER}?search_path={schema}")
        assert main(["db", "migrate"]) == 0
        assert capsys.readouterr().out.strip() == "schema version 4 (applied 1, 2, 3, 4)"
        assert main(["db", "migrate"]) == 0
        assert capsys.readouterr().out.strip() == "schema version 4 (nothing to apply)"
        assert main(["db", "check"]) == 0
        out = capsys.readouterr().out
        assert "schema version 4 (this Parla: 4)" in out and "integrity: ok" in out
        assert "usage_global" in out and "guild_deletions" in out
        assert main(["db", "prune"]) == 0
        assert capsys.readouterr().out.strip() == (
            "deleted 0 usage rows older than 90 days from PostgreSQL at 127.0.0.1:5432/test"
        )
    finally:
        subprocess.run(["psql", PG_SERVER, "-qc", f"DROP SCHEMA {schema} CASCADE"], check=True)


async def test_another_process_s_change_is_seen_once_the_5_second_cache_window_passes(
    pg_storage: PostgresStorage, pg_url: str
) -> None:
    assert pg_storage._prefs.user_prefs._max_age == 5.0  # the README's "within 5 s"
    async with PostgresStorage.open(pg_url, cache_seconds=0.0) as other:  # a window already passed
        await pg_storage.set_user_pref(USER, None, "voice", "Kai")
        assert (await other.get_user_prefs(USER, None)).voice == "Kai"
        await pg_storage.set_user_pref(USER, None, "voice", "Ethan")  # another process writes
        assert (await other.get_user_prefs(USER, None)).voice == "Ethan"
