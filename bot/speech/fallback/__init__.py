"""Choosing the engines (`plan`: `plan_engines`, `select_engine`) and falling back to the local
voice when the endpoint fails (`engine`: `FallbackEngine`), behind a circuit breaker (`breaker`).

May import: bot.base, bot.audio, bot.speech and its subrooms."""
