"""The TTS endpoint's HTTP client: request bodies (`body`), reading JSON and SSE answers and
errors (`response`, `sse`), long text split into pieces (`text_split`), and the HTTP flow with
its retries, deadlines and pacing (`client`).

May import: bot.base, bot.audio, bot.speech's own modules (request, errors, engine, voices)."""
