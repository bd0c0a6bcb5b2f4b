"""Persistent settings and budgets.

- `models`: the settings models (voice preferences and their resolution, read-aloud settings,
  usage records) and their limits; `validators`: the one place their values are checked (voice,
  language and style through the speech room's checks).
- `protocol`: the `Storage` interface, `StorageError`, `StorageUnavailable` (lost mid-run) and
  `DatabaseUnreachable` (at start).
- `sql_storage`: `SqlStorage`, the protocol over any `sql_db.SqlDatabase`, put together from
  `prefs_table`, `read_aloud_table`, `dictionary_table`, `usage_table` (one module per group of
  tables, SQL written once for both backends) and `read_cache` (the LRU and the read-through
  step). Backends: `sqlite` (`SqliteStorage` over `sqlite_db`) and `postgres`
  (`PostgresStorage` over `postgres_db`, an asyncpg pool); `open.open_storage` picks the one
  DATABASE_URL names. The schema is `migrations/NNN_*.sql` (with `.postgres.sql` variants),
  applied by `migrate` (SQLite) and `postgres_migrate`. `copy`: `parla db copy` and `check`.
- `limits`: the usage limits.

May import: bot.base, bot.audio, bot.text, bot.speech. Never discord."""
