"""The foundation every room may use: settings from the environment (`config`), secret
wrapping and redaction (`secrets`), the two base errors (`errors`), the metrics registry
(`metrics`) and the settling of the start-up heap for short garbage collections (`heap`).

May import: the standard library and third-party packages only; no other room, no discord."""
