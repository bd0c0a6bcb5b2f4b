"""The TTS endpoint's HTTP client: request bodies, JSON and SSE responses, long text split into
pieces, retries and deadlines.

May import: bot.base, bot.audio, bot.speech's own modules (request, errors, engine, voices)."""
