"""The local espeak-ng engine (the backup voice): the ctypes binding (`espeak`), voice profiles
(`profiles`), style words (`style`), the request-to-settings plan (`plan`) and the engine itself
(`engine`).

May import: bot.base, bot.audio, bot.text, bot.speech's own modules."""
