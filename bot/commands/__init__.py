"""What the slash commands do, without Discord: checking options (`service`), resolving a
member's request (`speak`), choice lists (`choices`), describing settings (`settings_view`),
rendering audio files (`audio_file`), and the policies the cogs apply: voice or file
(`delivery`), who may control the player (`control`), the usage limits of a request
(`admission`).

May import: every room below it (base, audio, text, speech, store, voice, readaloud). Never discord."""
