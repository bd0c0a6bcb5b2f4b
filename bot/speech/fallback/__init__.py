"""Choosing the engines (`plan_engines`) and falling back to the local voice when the endpoint
fails, behind a circuit breaker.

May import: bot.base, bot.audio, bot.speech and its subrooms."""
