"""`/speak` and the message context menu "Read aloud".

Thin: options are checked by bot.commands.checks; the `Speaker` (cogs/_common.py) delivers to
the member's voice channel or as a file, as bot.commands.delivery decides, and talks to Discord.
Every failure is raised and answered by the bot's `tree.on_error` (bot.app.bot.reply_error).
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.bot import ParlaBot
from bot.base.errors import InputError
from bot.base.i18n import say
from bot.commands.checks import SPEAK_MAX_CHARS
from bot.commands.speak import SpeakOrder, resolve_request
from bot.commands.voice_message import AudioFormat
from bot.text.clean import CleanOptions, clean_message

from ._common import (
    AUDIO_FORMAT_CHOICES,
    LANGUAGE_CHOICES,
    SPEAK_PER,
    SPEAK_RATE,
    Speaker,
    errors_stay_private,
    member_key,
    message_info,
    style_choice_list,
    voice_choice_list,
)

log = logging.getLogger(__name__)


class SpeechCog(commands.Cog):
    def __init__(self, bot: ParlaBot) -> None:
        self.bot = bot
        self.speaker = Speaker(bot)
        self.read_aloud_menu = app_commands.ContextMenu(name="Read aloud", callback=self.read_aloud)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.read_aloud_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.read_aloud_menu.name, type=self.read_aloud_menu.type)

    @app_commands.command(name="speak", description="Say something with your voice settings")
    @app_commands.describe(
        text="What to say",
        voice="A voice for this message only",
        style="How to say it, e.g. 'calm narrator' (this message only)",
        language="The language of the text (this message only)",
        attach="Send the audio as a file even if you are in a voice channel",
        audio_format="Outside voice: a voice message (default) or a file to download",
    )
    @app_commands.rename(audio_format="format")
    @app_commands.choices(language=LANGUAGE_CHOICES, audio_format=AUDIO_FORMAT_CHOICES)
    @app_commands.checks.cooldown(SPEAK_RATE, SPEAK_PER, key=member_key)
    async def speak(
        self,
        interaction: discord.Interaction,
        text: app_commands.Range[str, 1, SPEAK_MAX_CHARS],
        voice: str | None = None,
        style: str | None = None,
        language: str | None = None,
        attach: bool = False,
        audio_format: str = AudioFormat.VOICE_MESSAGE.value,
    ) -> None:
        order = SpeakOrder.create(text, voice=voice, style=style, language=language)  # before deferring
        _, delivery = self.speaker.plan(interaction.user, attach=attach)
        public = not delivery.to_voice  # a file for everyone; a voice confirmation for the member only
        await interaction.response.defer(thinking=True, ephemeral=not public)
        async with errors_stay_private(interaction, public=public):
            request = await resolve_request(
                self.bot.storage, interaction.user.id, interaction.guild_id, order
            )
            await self.speaker.deliver(
                interaction, request, attach=attach, audio_format=AudioFormat(audio_format)
            )

    @speak.autocomplete("voice")
    async def speak_voice_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return voice_choice_list(current, interaction)

    @speak.autocomplete("style")
    async def speak_style_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return style_choice_list(current, interaction)

    @app_commands.checks.cooldown(SPEAK_RATE, SPEAK_PER, key=member_key)
    async def read_aloud(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Context menu: speak a message in its author's voice settings (in the member's
        voice channel, else as a file only the member sees)."""
        guild_id = interaction.guild_id
        if guild_id and message.author.id != interaction.user.id:
            author = await self.bot.storage.get_member(guild_id, message.author.id)
            if author.opted_out:  # `/readaloud me off` covers this menu too (their own use aside)
                raise InputError(say("read_aloud.opted_out", name=message.author.display_name))
        nicknames = await self.bot.storage.get_nicknames(interaction.guild_id) if interaction.guild_id else {}
        options = CleanOptions(max_length=SPEAK_MAX_CHARS)
        text = clean_message(message_info(message, nicknames), options)
        if not text:
            raise InputError(say("read_aloud.no_text"))
        order = SpeakOrder.create(text)
        await interaction.response.defer(thinking=True, ephemeral=True)
        request = await resolve_request(self.bot.storage, message.author.id, interaction.guild_id, order)
        await self.speaker.deliver(
            interaction,
            request,
            file_ephemeral=True,
            tag=message.id,
            speaker_name=message.author.display_name,
            audio_format=AudioFormat.VOICE_MESSAGE,
        )


async def setup(bot: ParlaBot) -> None:
    await bot.add_cog(SpeechCog(bot))
