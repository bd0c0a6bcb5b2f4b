"""Shared state in Redis, so several Parla processes act as one cluster.

`connection` (`ClusterLink`: the client, `REDIS_PREFIX` keys, a timeout on every call, an
`available` flag that never throws into callers, a reconnect check every 10 s) and the
primitives the features use from their own rooms: `lease_lock` (`LeaseLock`, renewed while
held), `window` (`RollingWindow`, an atomic rolling-window counter with a cluster-wide pause),
`semaphore` (`LeasedSemaphore`: slots that come back when their holder dies), `invalidation`
(`InvalidationChannel`: pub/sub). The budgets' scripts live with the limits (`store.cluster_budget`).
With `REDIS_URL` unset none of this is opened.

May import: bot.base (and the standard library, redis)."""
