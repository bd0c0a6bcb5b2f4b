-- 3: usage counters for cost control (issue 8); day = UTC 'YYYY-MM-DD'; PostgreSQL: 64-bit ids
CREATE TABLE usage_guild (
    guild_id BIGINT NOT NULL,
    day TEXT NOT NULL,
    characters BIGINT NOT NULL DEFAULT 0,
    requests BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, day)
);
CREATE TABLE usage_global (
    day TEXT PRIMARY KEY,
    characters BIGINT NOT NULL DEFAULT 0,
    requests BIGINT NOT NULL DEFAULT 0
);
