"""The audio cache: the key (`key`), the memory and disk tiers (`memory`, `disk`) under the
two-tier `AudioCache` (`audio_cache`), and the cached engine (`cached_engine`) whose concurrent
requests for one sound share a single flight (`flight`).

May import: bot.base, bot.audio, bot.speech's own modules."""
