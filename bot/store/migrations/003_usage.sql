-- 3: usage counters for cost control (issue 8); day = UTC 'YYYY-MM-DD'
CREATE TABLE usage_guild (
    guild_id INTEGER NOT NULL,
    day TEXT NOT NULL,
    characters INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, day)
) WITHOUT ROWID;
CREATE TABLE usage_global (
    day TEXT PRIMARY KEY,
    characters INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
