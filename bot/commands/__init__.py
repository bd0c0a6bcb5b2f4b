"""What the slash commands do, without Discord: checking options, resolving a member's
request, choice lists, describing settings, and rendering audio files.

May import: every room below it (base, audio, text, speech, store, voice, readaloud). Never discord."""
