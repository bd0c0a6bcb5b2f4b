-- 4: servers the bot was removed from, and when their data is deleted (issue 16).
-- Plain SQL types only (BIGINT: Discord ids and Unix times need 64 bits in PostgreSQL too).
CREATE TABLE guild_deletions (
    guild_id BIGINT PRIMARY KEY,
    due_at BIGINT NOT NULL              -- Unix time (seconds, UTC) when the data is deleted
);
