"""The audio cache: the key, the memory and disk tiers, and the cached engine (single flight).

May import: bot.base, bot.audio, bot.speech's own modules."""
