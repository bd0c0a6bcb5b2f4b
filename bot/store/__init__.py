"""Persistent settings and budgets: the settings models and their validators, the `Storage`
protocol and its SQLite backend, and the usage limits (`limits`).

May import: bot.base, bot.audio, bot.text, bot.speech. Never discord."""
