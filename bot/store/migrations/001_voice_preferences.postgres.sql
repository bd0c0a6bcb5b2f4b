-- 1: voice preferences (issue 5); PostgreSQL: 64-bit Discord ids
CREATE TABLE user_prefs (
    user_id BIGINT NOT NULL,
    guild_id BIGINT NOT NULL,               -- 0 = the user's global choice
    voice TEXT,
    instructions TEXT,
    language TEXT,
    optimize_instructions INTEGER CHECK (optimize_instructions IN (0, 1)),
    PRIMARY KEY (user_id, guild_id)
);
CREATE TABLE guilds (
    guild_id BIGINT PRIMARY KEY,
    voice TEXT,
    instructions TEXT,
    language TEXT,
    optimize_instructions INTEGER CHECK (optimize_instructions IN (0, 1))
);
