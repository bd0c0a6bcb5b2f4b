"""`parla db migrate | copy | check | prune`: the settings database from the command line."""

from __future__ import annotations

import argparse
import sys

from bot.base.config import Settings, parse_database_url
from bot.store.copy import copy_data, count_rows
from bot.store.migrate import SCHEMA_VERSION
from bot.store.open import open_storage
from bot.store.retention import USAGE_KEEP_DAYS


def add_db_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="migrate, copy, check or prune the settings database (DATABASE_URL)")
    actions = db.add_subparsers(dest="db_action", required=True)
    actions.add_parser("migrate", help="apply the schema migrations and exit")
    copy = actions.add_parser("copy", help="copy every setting from one database to another")
    copy.add_argument("--from", dest="source", required=True, help="sqlite:///path or postgresql://...")
    copy.add_argument("--to", dest="target", required=True, help="sqlite:///path or postgresql://...")
    copy.add_argument("--replace", action="store_true", help="overwrite a target holding other data")
    actions.add_parser("check", help="row counts, schema version and integrity")
    actions.add_parser("prune", help=f"delete usage rows older than {USAGE_KEEP_DAYS} days")


def _where(settings: Settings) -> str:
    """The configured database, for a message: never the URL's user or password."""
    if settings.database_url is None:
        return str(settings.database_path)
    from bot.store.postgres_db import describe

    return f"PostgreSQL at {describe(settings.database_url.reveal())}"


def _url(raw: str, option: str) -> str:
    parse_database_url(raw if "://" in raw else f"sqlite:///{raw}", option)  # ConfigError names the option
    return raw if "://" in raw else f"sqlite:///{raw}"


async def run_db(settings: Settings, args: argparse.Namespace) -> int:
    """0 on success, 1 when `check` finds a problem; StorageError / ConfigError go to the CLI."""
    if args.db_action == "copy":
        source_url, target_url = _url(args.source, "--from"), _url(args.target, "--to")
        async with open_storage(settings, source_url) as source, open_storage(settings, target_url) as target:
            report = await copy_data(source, target, replace=args.replace)
        print(report.line())
        return 0
    if args.db_action == "prune":  # the bot also does it daily (bot.store.retention)
        async with open_storage(settings) as storage:
            deleted = await storage.prune_usage(USAGE_KEEP_DAYS)
        print(f"deleted {deleted} usage rows older than {USAGE_KEEP_DAYS} days from {_where(settings)}")
        return 0
    async with open_storage(settings) as storage:
        version = await storage.schema_version()
        if args.db_action == "migrate":
            applied = storage.applied_migrations
            done = f"applied {', '.join(map(str, applied))}" if applied else "nothing to apply"
            print(f"schema version {version} ({done})")
            return 0
        healthy = await storage.integrity_check()
        counts = await count_rows(storage)
    print(f"schema version {version} (this Parla: {SCHEMA_VERSION})")
    for table, count in counts.items():
        print(f"  {table:<17} {count:>8} rows")
    print(f"integrity: {'ok' if healthy else 'FAILED'}")
    if not healthy or version != SCHEMA_VERSION:
        problem = "parla: the database needs attention (restore a backup or run `parla db migrate`)"
        print(problem, file=sys.stderr)
        return 1
    return 0
