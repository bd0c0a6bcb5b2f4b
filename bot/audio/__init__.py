"""Audio values and formats: the `Audio` clip (s16le PCM with its rate), WAV files (`wav`), Ogg
pages (`ogg`) and Ogg Opus files on them (`ogg_opus`), and streaming resampling to Discord's
48 kHz stereo (`pcm`).

May import: bot.base. Never discord."""
