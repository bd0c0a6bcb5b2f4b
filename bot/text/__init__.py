"""Turning what members type into what should be spoken: the cleaning pipeline (Discord
markup, emoji, links, repeats, cutting), language guessing, phrases in every language, and a
server's pronunciation dictionary.

May import: bot.base. Never discord."""
