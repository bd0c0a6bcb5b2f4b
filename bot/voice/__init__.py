"""Playing speech into Discord voice channels.

Discord-free: the per-server queue (`player`, with `manager` holding one per server), what it
queues (`utterance`), what it needs of the world (`ports`), where a job's audio comes from
(`job_audio`), the frame buffer between the event loop and the sender (`frame_buffer`), the
calls from the voice threads onto the event loop (`loop_calls`) and the room's errors
(`errors`). Over discord.py: the Opus audio sources (`source`), voice support and the voice link
over a VoiceClient (`link`), and the voice service that joins, moves and leaves channels
(`service`).

May import: bot.base, bot.audio, bot.text, bot.speech, bot.store, and discord."""
