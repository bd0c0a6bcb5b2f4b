"""The local espeak-ng engine (the backup voice): voice profiles and style words.

May import: bot.base, bot.audio, bot.text, bot.speech's own modules."""
