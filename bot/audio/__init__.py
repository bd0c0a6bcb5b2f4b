"""Audio values and formats: the `Audio` clip (s16le PCM with its rate), WAV and Ogg/Opus
files, and streaming resampling to Discord's 48 kHz stereo (`pcm`).

May import: bot.base. Never discord."""
