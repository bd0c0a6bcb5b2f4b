"""The audio cache: the key (`key`), the memory and disk tiers (`memory`, `disk`) under the
two-tier `AudioCache` (`audio_cache`), and the cached engine (`cached_engine`) whose concurrent
requests for one sound share a single flight (`flight`). In a cluster (REDIS_URL) a third tier
is shared by every process (`shared`) and a flight runs once in the cluster (`cluster_flight`).

May import: bot.base, bot.cluster, bot.audio, bot.speech's own modules."""
