"""Reading members' messages aloud: which messages are read (acceptance rules), in what order,
the whole flow from an incoming message to a queued utterance, and the read-aloud settings as
members type them.

May import: bot.base, bot.audio, bot.text, bot.speech, bot.store, bot.voice (its Discord-free
parts). Never discord."""
