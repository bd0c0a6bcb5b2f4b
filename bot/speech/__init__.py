"""Making speech: what a request is (`request`, the 24 timbres in `voices`), the engine
protocol (`engine`), the endpoint's failure kinds (`errors`) and the stack that wires the engines
together (`stack`). Subrooms: `endpoint` (the HTTP client of the TTS endpoint), `local` (the
espeak-ng engine), `cache` (audio cache and single flight), `fallback` (engine selection and the
circuit breaker).

May import: bot.base, bot.audio, bot.text. `endpoint`, `local` and `cache` do not import each
other; `fallback` and `stack` put them together. Never discord."""
