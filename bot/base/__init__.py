"""The foundation every room may use: settings from the environment (`config`), secret
wrapping and redaction (`secrets`), the two base errors (`errors`) and the metrics registry
(`metrics`).

May import: the standard library and third-party packages only; no other room, no discord."""
