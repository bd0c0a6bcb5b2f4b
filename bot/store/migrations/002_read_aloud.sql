-- 2: read-aloud settings, members, pronunciation dictionary (issue 6)
CREATE TABLE guild_read_aloud (
    guild_id INTEGER PRIMARY KEY REFERENCES guilds (guild_id) ON DELETE CASCADE,
    text_in_voice INTEGER NOT NULL DEFAULT 1,
    require_voice INTEGER NOT NULL DEFAULT 1,
    read_bots INTEGER NOT NULL DEFAULT 0,
    skip_silent INTEGER NOT NULL DEFAULT 1,
    deny_role_id INTEGER,
    required_role_id INTEGER,
    ignore_prefix TEXT NOT NULL DEFAULT '!',
    autojoin INTEGER NOT NULL DEFAULT 0,
    xsaid INTEGER NOT NULL DEFAULT 1,
    emoji_mode TEXT NOT NULL DEFAULT 'name' CHECK (emoji_mode IN ('name', 'none')),
    max_length INTEGER NOT NULL DEFAULT 300
);
CREATE TABLE bound_channels (
    guild_id INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
) WITHOUT ROWID;
CREATE TABLE members (
    guild_id INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    read_mode TEXT NOT NULL DEFAULT 'on' CHECK (read_mode IN ('on', 'off', 'auto')),
    nickname TEXT,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;
CREATE TABLE dictionary (
    guild_id INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    word TEXT NOT NULL,
    reading TEXT NOT NULL,
    PRIMARY KEY (guild_id, word)
) WITHOUT ROWID;
