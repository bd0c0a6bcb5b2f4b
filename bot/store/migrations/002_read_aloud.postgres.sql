-- 2: read-aloud settings, members, pronunciation dictionary (issue 6); PostgreSQL: 64-bit ids
CREATE TABLE guild_read_aloud (
    guild_id BIGINT PRIMARY KEY REFERENCES guilds (guild_id) ON DELETE CASCADE,
    text_in_voice INTEGER NOT NULL DEFAULT 1,
    require_voice INTEGER NOT NULL DEFAULT 1,
    read_bots INTEGER NOT NULL DEFAULT 0,
    skip_silent INTEGER NOT NULL DEFAULT 1,
    deny_role_id BIGINT,
    required_role_id BIGINT,
    ignore_prefix TEXT NOT NULL DEFAULT '!',
    autojoin INTEGER NOT NULL DEFAULT 0,
    xsaid INTEGER NOT NULL DEFAULT 1,
    emoji_mode TEXT NOT NULL DEFAULT 'name' CHECK (emoji_mode IN ('name', 'none')),
    max_length INTEGER NOT NULL DEFAULT 300
);
CREATE TABLE bound_channels (
    guild_id BIGINT NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);
CREATE TABLE members (
    guild_id BIGINT NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL,
    read_mode TEXT NOT NULL DEFAULT 'on' CHECK (read_mode IN ('on', 'off', 'auto')),
    nickname TEXT,
    PRIMARY KEY (guild_id, user_id)
);
CREATE TABLE dictionary (
    guild_id BIGINT NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    word TEXT NOT NULL,
    reading TEXT NOT NULL,
    PRIMARY KEY (guild_id, word)
);
