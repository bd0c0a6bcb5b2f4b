"""`/dictionary add|remove|list`: how words are pronounced in this server (read aloud and /speak
alike). Thin: validation and storage are bot.store's; the dictionary is applied by the read-aloud
flow (bot.text.pronunciation)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.bot import ParlaBot
from bot.base.i18n import lines, say

from ._common import guild_id_of, reply_text

DICTIONARY_SHOWN = 60  # entries listed by /dictionary list (the embed's size limit)


class DictionaryCog(commands.Cog):
    dictionary = app_commands.Group(
        name="dictionary", description="How words are pronounced in this server", guild_only=True
    )

    def __init__(self, bot: ParlaBot) -> None:
        self.bot = bot

    @dictionary.command(name="add", description="Say a word differently (Manage Server)")
    @app_commands.describe(word="The word as written", reading="How to say it")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def dictionary_add(self, interaction: discord.Interaction, word: str, reading: str) -> None:
        guild_id = guild_id_of(interaction)
        new = await self.bot.storage.add_dictionary_entry(guild_id, word, reading)
        content = say(
            "dictionary.add.new" if new else "dictionary.add.updated",
            word=" ".join(word.split()),
            reading=" ".join(reading.split()),
        )
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)

    @dictionary.command(name="remove", description="Remove a word from the dictionary (Manage Server)")
    @app_commands.describe(word="The word to remove")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def dictionary_remove(self, interaction: discord.Interaction, word: str) -> None:
        guild_id = guild_id_of(interaction)
        removed = await self.bot.storage.remove_dictionary_entry(guild_id, word)
        shown = " ".join(word.split())
        content = say("dictionary.remove.done" if removed else "dictionary.remove.missing", word=shown)
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)

    @dictionary.command(name="list", description="The words this server pronounces its own way")
    async def dictionary_list(self, interaction: discord.Interaction) -> None:
        guild_id = guild_id_of(interaction)
        entries = await self.bot.storage.list_dictionary(guild_id)
        if not entries:
            await interaction.response.send_message(
                reply_text(interaction, say("dictionary.list.empty")), ephemeral=True
            )
            return
        items = list(entries.items())
        rows = [f"**{word}** → {reading}" for word, reading in items[:DICTIONARY_SHOWN]]
        more = (
            say("list.more", count=len(items) - DICTIONARY_SHOWN) if len(items) > DICTIONARY_SHOWN else None
        )
        embed = discord.Embed(
            title=reply_text(interaction, say("dictionary.list.title", count=len(items))),
            description=reply_text(interaction, lines(*rows, more))[:4096],
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: ParlaBot) -> None:
    await bot.add_cog(DictionaryCog(bot))
