"""A member's own settings: `/voice set|list|preview|reset`, `/style set|show|clear|reset|optimize`,
`/language set|reset`.

Each choice is stored for the member everywhere, or with `this_server_only` for this server
only (it then wins over the global choice here). Resolution order: the choice in this server →
the global choice → the server default → the built-in default.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.bot import ParlaBot
from bot.base.errors import InputError
from bot.base.i18n import lines, say
from bot.commands.checks import check_picked_voice
from bot.commands.settings_view import (
    FIELD_LABELS,
    SOURCE_LABELS,
    SettingScope,
    display_value,
    local_style_note,
    shadow_note,
    voice_traits,
)
from bot.commands.speak import preview_request
from bot.speech.request import check_style
from bot.speech.voices import VOICES, check_language
from bot.store.models import PrefField, PrefValue, VoiceSettings

from ._common import (
    LANGUAGE_CHOICES,
    SPEAK_PER,
    SPEAK_RATE,
    Speaker,
    member_key,
    reply_text,
    style_choice_list,
    voice_choice_list,
)

ONOFF_CHOICES = [app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")]
SCOPE_HELP = "Only in this server (otherwise: everywhere)"


def scope_of(interaction: discord.Interaction, this_server_only: bool) -> tuple[int | None, SettingScope]:
    """The storage scope for a member's choice: (guild id or None, scope name)."""
    if not this_server_only:
        return None, "user"
    if interaction.guild_id is None:
        raise InputError(say("prefs.scope.dm"))
    return interaction.guild_id, "member"


class PreferencesCog(commands.Cog):
    voice = app_commands.Group(name="voice", description="Choose the voice the bot uses for you")
    style = app_commands.Group(name="style", description="How your voice speaks (tone, pace, emotion)")
    language = app_commands.Group(name="language", description="The language of your messages")

    def __init__(self, bot: ParlaBot) -> None:
        self.bot = bot
        self.speaker = Speaker(bot)

    # ------------------------------------------------------------------ shared
    async def _settings(self, interaction: discord.Interaction) -> VoiceSettings:
        return await self.bot.storage.resolve_voice_settings(interaction.user.id, interaction.guild_id)

    async def _set(
        self, interaction: discord.Interaction, field: PrefField, value: PrefValue, this_server_only: bool
    ) -> None:
        guild_id, scope = scope_of(interaction, this_server_only)
        await self.bot.storage.set_user_pref(interaction.user.id, guild_id, field, value)
        settings = await self._settings(interaction)
        done = say(
            "prefs.set.server" if scope == "member" else "prefs.set.everywhere",
            setting=FIELD_LABELS[field],
            value=display_value(field, value),
        )
        content = lines(done, shadow_note(settings, field, scope))
        await interaction.response.send_message(reply_text(interaction, content), ephemeral=True)

    async def _reset(self, interaction: discord.Interaction, field: PrefField) -> None:
        """Clear the member's choice everywhere and in this server."""
        user_id = interaction.user.id
        await self.bot.storage.reset_user_prefs(user_id, None, (field,))
        if interaction.guild_id is not None:
            await self.bot.storage.reset_user_prefs(user_id, interaction.guild_id, (field,))
        settings = await self._settings(interaction)
        line = say(
            "prefs.reset.server_default" if settings.source(field) == "server" else "prefs.reset.builtin",
            setting=FIELD_LABELS[field],
            value=display_value(field, getattr(settings, field)),
        )
        await interaction.response.send_message(reply_text(interaction, line), ephemeral=True)

    # ------------------------------------------------------------------ /voice
    @voice.command(name="set", description="Choose your voice")
    @app_commands.describe(voice="One of the 24 voices", this_server_only=SCOPE_HELP)
    async def voice_set(
        self, interaction: discord.Interaction, voice: str, this_server_only: bool = False
    ) -> None:
        await self._set(interaction, "voice", check_picked_voice(voice), this_server_only)

    @voice_set.autocomplete("voice")
    async def voice_set_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return voice_choice_list(current, interaction)

    @voice.command(name="list", description="All the voices")
    async def voice_list(self, interaction: discord.Interaction) -> None:
        settings = await self._settings(interaction)
        rows: list[str] = [
            say(
                "voice.list.yours" if v.name == settings.voice else "voice.list.line",
                name=v.name,
                **voice_traits(v),
            )
            for v in VOICES
        ]
        embed = discord.Embed(
            title=reply_text(interaction, say("voice.list.title", count=len(VOICES))),
            description=reply_text(interaction, lines(*rows)),
        )
        embed.set_footer(text=reply_text(interaction, say("voice.list.footer")))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @voice.command(name="preview", description="Hear a short sample line in a voice")
    @app_commands.describe(voice="The voice to hear")
    @app_commands.checks.cooldown(SPEAK_RATE, SPEAK_PER, key=member_key)
    async def voice_preview(self, interaction: discord.Interaction, voice: str) -> None:
        request = preview_request(voice)
        await self.speaker.deliver(interaction, request, file_ephemeral=True)

    @voice_preview.autocomplete("voice")
    async def voice_preview_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return voice_choice_list(current, interaction)

    @voice.command(name="reset", description="Go back to the server's default voice")
    async def voice_reset(self, interaction: discord.Interaction) -> None:
        await self._reset(interaction, "voice")

    # ------------------------------------------------------------------ /style
    @style.command(name="set", description="Describe how your voice should speak")
    @app_commands.describe(
        instructions="e.g. 'calm narrator', 'cheerful', 'whisper' (free text allowed)",
        this_server_only=SCOPE_HELP,
    )
    async def style_set(
        self, interaction: discord.Interaction, instructions: str, this_server_only: bool = False
    ) -> None:
        await self._set(interaction, "instructions", check_style(instructions), this_server_only)

    @style_set.autocomplete("instructions")
    async def style_set_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return style_choice_list(current, interaction)

    @style.command(name="show", description="Show your style and where it comes from")
    async def style_show(self, interaction: discord.Interaction) -> None:
        settings = await self._settings(interaction)
        source = settings.source("instructions")
        rows: list[str] = [
            say(
                "style.show.style",
                style=display_value("instructions", settings.instructions),
                source=SOURCE_LABELS[source],
            ),
            say(
                "style.show.optimize",
                value=display_value("optimize_instructions", settings.optimize_instructions),
            ),
        ]
        stack = self.bot.stack
        if stack.client is None:
            rows.append(local_style_note(settings.instructions))
        elif stack.backup is not None and settings.instructions:
            rows.append(say("style.show.backup", note=local_style_note(settings.instructions)))
        await interaction.response.send_message(reply_text(interaction, lines(*rows)), ephemeral=True)

    @style.command(name="clear", description="Speak with no style (even if the server has a default)")
    @app_commands.describe(this_server_only=SCOPE_HELP)
    async def style_clear(self, interaction: discord.Interaction, this_server_only: bool = False) -> None:
        await self._set(interaction, "instructions", "", this_server_only)

    @style.command(name="reset", description="Forget your style choice (the server default applies)")
    async def style_reset(self, interaction: discord.Interaction) -> None:
        await self._reset(interaction, "instructions")

    @style.command(name="optimize", description="Let the speech service refine your style wording")
    @app_commands.describe(mode="on or off", this_server_only=SCOPE_HELP)
    @app_commands.choices(mode=ONOFF_CHOICES)
    async def style_optimize(
        self, interaction: discord.Interaction, mode: str, this_server_only: bool = False
    ) -> None:
        if mode not in ("on", "off"):
            raise InputError(say("style.optimize.on_off"))
        await self._set(interaction, "optimize_instructions", mode == "on", this_server_only)

    # ------------------------------------------------------------------ /language
    @language.command(name="set", description="The language your messages are in")
    @app_commands.describe(language="Auto detects it from the text", this_server_only=SCOPE_HELP)
    @app_commands.choices(language=LANGUAGE_CHOICES)
    async def language_set(
        self, interaction: discord.Interaction, language: str, this_server_only: bool = False
    ) -> None:
        await self._set(interaction, "language", check_language(language), this_server_only)

    @language.command(name="reset", description="Go back to the server's default language")
    async def language_reset(self, interaction: discord.Interaction) -> None:
        await self._reset(interaction, "language")


async def setup(bot: ParlaBot) -> None:
    await bot.add_cog(PreferencesCog(bot))
