"""Parla: a Discord read-aloud bot. The core package imports nothing from discord
except the voice adapter (`bot.voice`) and the Bot class (`bot.discord_bot`)."""

__version__ = "0.1.0"
