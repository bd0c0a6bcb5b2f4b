"""Persistent settings and budgets.

- `models`: the settings models (voice preferences and their resolution, read-aloud settings,
  usage records) and their limits; `validators`: the one place their values are checked (voice,
  language and style through the speech room's checks).
- `protocol`: the `Storage` interface and `StorageError`.
- `sqlite`: `SqliteStorage`, the SQLite backend, put together from `sqlite_db` (the shared
  connection), `sqlite_prefs`, `sqlite_read_aloud`, `sqlite_dictionary`, `sqlite_usage` (one
  module per group of tables) and `read_cache` (the LRU and the read-through step); the schema
  is `migrations/NNN_*.sql`, applied by `migrate`.
- `limits`: the usage limits.

May import: bot.base, bot.audio, bot.text, bot.speech. Never discord."""
