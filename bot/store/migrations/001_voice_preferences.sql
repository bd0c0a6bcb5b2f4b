-- 1: voice preferences (issue 5)
CREATE TABLE user_prefs (
    user_id INTEGER NOT NULL,
    guild_id INTEGER NOT NULL,              -- 0 = the user's global choice
    voice TEXT,
    instructions TEXT,
    language TEXT,
    optimize_instructions INTEGER CHECK (optimize_instructions IN (0, 1)),
    PRIMARY KEY (user_id, guild_id)
) WITHOUT ROWID;
CREATE TABLE guilds (
    guild_id INTEGER PRIMARY KEY,
    voice TEXT,
    instructions TEXT,
    language TEXT,
    optimize_instructions INTEGER CHECK (optimize_instructions IN (0, 1))
);
