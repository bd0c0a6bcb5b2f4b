"""Parla: a Discord read-aloud bot. The core is organised in rooms (see docs/architecture.md);
only `bot.app` and `bot.voice` import discord."""

__version__ = "0.1.0"
