"""Playing speech into Discord voice channels: the per-server queue (`player`, Discord-free),
the frame buffer between the event loop and the sender, the Opus audio source and the voice
service that joins, moves and leaves channels (the only modules here that touch discord.py).

May import: bot.base, bot.audio, bot.text, bot.speech, bot.store, and discord."""
