"""`/server voice|style|language|usage|forget`: server-wide defaults, usage, and deleting
everything kept for the server (Manage Server).

A default applies to every member who has not chosen their own; leave the option empty to go
back to the built-in default. `/server forget` asks for a confirmation button first.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.bot import ParlaBot
from bot.base.i18n import lines, localize, say
from bot.commands.checks import check_picked_voice
from bot.commands.settings_view import FIELD_NOUNS, display_value
from bot.speech.request import check_style
from bot.speech.voices import check_language
from bot.store.models import BUILTIN_SETTINGS, PrefField, PrefValue

from ._common import LANGUAGE_CHOICES, locale_of, reply_text, style_choice_list, voice_choice_list

USAGE_DAYS = 7
FORGET_CONFIRM_SECONDS = 60.0
FORGET_QUESTION = say("server.forget.question")
FORGOTTEN = say("server.forget.done")


class ForgetConfirmation(discord.ui.View):
    """The Delete / Cancel buttons of `/server forget`, for the member who asked only."""

    def __init__(self, bot: ParlaBot, guild_id: int, member_id: int, locale: str | None = None) -> None:
        super().__init__(timeout=FORGET_CONFIRM_SECONDS)
        self.bot = bot
        self.guild_id = guild_id
        self.member_id = member_id
        # the labels in the language of the member who asked (only they may press the buttons)
        self.confirm.label = localize(say("server.forget.confirm"), locale)
        self.cancel.label = localize(say("server.forget.cancel"), locale)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.member_id and interaction.permissions.manage_guild

    @discord.ui.button(label="Delete everything", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.stop()
        await self.bot.storage.forget_guild(self.guild_id)
        await interaction.response.edit_message(content=reply_text(interaction, FORGOTTEN), view=None)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.stop()
        cancelled = reply_text(interaction, say("server.forget.cancelled"))
        await interaction.response.edit_message(content=cancelled, view=None)


def _guild_id(interaction: discord.Interaction) -> int:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id


class ServerCog(commands.Cog):
    server = app_commands.Group(
        name="server",
        description="Server-wide voice defaults and usage (Manage Server)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: ParlaBot) -> None:
        self.bot = bot

    async def _set_default(
        self, interaction: discord.Interaction, field: PrefField, value: PrefValue
    ) -> None:
        guild_id = _guild_id(interaction)
        noun = FIELD_NOUNS[field]
        if value is None:
            await self.bot.storage.reset_guild_defaults(guild_id, (field,))
            builtin = display_value(field, getattr(BUILTIN_SETTINGS, field))
            content = say("server.default.cleared", setting=noun, value=builtin)
        else:
            await self.bot.storage.set_guild_default(guild_id, field, value)
            content = say("server.default.set", setting=noun, value=display_value(field, value))
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)

    @server.command(name="voice", description="The voice for members who have not chosen one")
    @app_commands.describe(voice="Leave empty to go back to the built-in default (Cherry)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def server_voice(self, interaction: discord.Interaction, voice: str | None = None) -> None:
        await self._set_default(interaction, "voice", check_picked_voice(voice) if voice else None)

    @server_voice.autocomplete("voice")
    async def server_voice_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return voice_choice_list(current, interaction)

    @server.command(name="style", description="The style for members who have not chosen one")
    @app_commands.describe(instructions="Leave empty for no default style")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def server_style(self, interaction: discord.Interaction, instructions: str | None = None) -> None:
        value = check_style(instructions) if instructions and instructions.strip() else None
        await self._set_default(interaction, "instructions", value)

    @server_style.autocomplete("instructions")
    async def server_style_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return style_choice_list(current, interaction)

    @server.command(name="language", description="The language for members who have not chosen one")
    @app_commands.describe(language="Leave empty to go back to Auto")
    @app_commands.choices(language=LANGUAGE_CHOICES)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def server_language(self, interaction: discord.Interaction, language: str | None = None) -> None:
        await self._set_default(interaction, "language", check_language(language) if language else None)

    @server.command(name="usage", description="Characters spoken today and this week")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def server_usage(self, interaction: discord.Interaction) -> None:
        guild_id = _guild_id(interaction)
        storage = self.bot.storage
        today = await storage.get_usage(guild_id)
        history = await storage.usage_history(guild_id, USAGE_DAYS)
        limit = self.bot.settings.guild_chars_per_day
        share = today.guild_characters / limit if limit else 0.0

        def t(value: str) -> str:
            return reply_text(interaction, value)

        embed = discord.Embed(
            title=t(say("server.usage.title")),
            description=t(say("server.usage.day", day=today.day.isoformat())),
        )
        embed.add_field(
            name=t(say("server.usage.today")),
            value=t(
                say(
                    "server.usage.today.value",
                    characters=today.guild_characters,
                    requests=today.guild_requests,
                    share=share,
                    limit=limit,
                )
            ),
            inline=False,
        )
        week_chars = sum(d.characters for d in history)
        week_requests = sum(d.requests for d in history)
        rows = [
            say("server.usage.day_row", day=d.day.isoformat(), characters=d.characters, requests=d.requests)
            for d in history
        ]
        embed.add_field(
            name=t(say("server.usage.week", days=USAGE_DAYS, characters=week_chars, requests=week_requests)),
            value=t(lines(*rows)),
            inline=False,
        )
        seen = self.bot.last_endpoint_error(guild_id)
        if seen is not None:
            embed.add_field(
                name=t(say("server.usage.last_error")),
                value=t(say("server.usage.last_error.value", error=seen.describe(), at=int(seen.at))),
                inline=False,
            )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @server.command(name="forget", description="Delete everything the bot keeps for this server, now")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def server_forget(self, interaction: discord.Interaction) -> None:
        guild_id = _guild_id(interaction)
        view = ForgetConfirmation(self.bot, guild_id, interaction.user.id, locale_of(interaction))
        await interaction.response.send_message(
            reply_text(interaction, FORGET_QUESTION), view=view, ephemeral=True
        )


async def setup(bot: ParlaBot) -> None:
    await bot.add_cog(ServerCog(bot))
