"""The interaction stand-in refuses what Discord refuses, so a reply that Discord would reject
fails a test instead of passing silently."""

from __future__ import annotations

import io

import discord
import pytest

from tests.standins.discord_objects import MockInteraction


def file_of(size: int) -> discord.File:
    return discord.File(io.BytesIO(b"\0" * size), filename="a.wav")


async def test_content_up_to_2000_characters() -> None:
    ok = MockInteraction()
    await ok.response.send_message("x" * 2000)
    over = MockInteraction()
    with pytest.raises(discord.HTTPException) as refused:
        await over.response.send_message("x" * 2001)
    assert refused.value.status == 400 and not over.log.replies
    await ok.followup.send("y" * 2000)
    with pytest.raises(discord.HTTPException):
        await ok.followup.send("y" * 2001)
    with pytest.raises(discord.HTTPException):
        await ok.edit_original_response(content="z" * 2001)


async def test_at_most_10_embeds() -> None:
    await MockInteraction().response.send_message(embeds=[discord.Embed(title=str(i)) for i in range(10)])
    with pytest.raises(discord.HTTPException):
        await MockInteraction().response.send_message(embeds=[discord.Embed(title=str(i)) for i in range(11)])


async def test_files_up_to_the_upload_limit() -> None:
    ok = MockInteraction(filesize_limit=1000)
    await ok.response.send_message(file=file_of(1000))
    assert ok.log.last.file_data() == b"\0" * 1000  # the file is still readable from the start
    over = MockInteraction(filesize_limit=1000)
    with pytest.raises(discord.HTTPException) as refused:
        await over.response.send_message(file=file_of(1001))
    assert refused.value.status == 413 and refused.value.code == 40005
    await over.response.defer()
    with pytest.raises(discord.HTTPException):
        await over.followup.send(file=file_of(1001))
    with pytest.raises(discord.HTTPException):
        await over.edit_original_response(attachments=[file_of(1001)])


async def test_at_most_25_autocomplete_choices() -> None:
    choices = [discord.app_commands.Choice(name=str(i), value=str(i)) for i in range(26)]
    ok = MockInteraction()
    await ok.response.autocomplete(choices[:25])
    assert len(ok.log.choices) == 25
    with pytest.raises(discord.HTTPException):
        await MockInteraction().response.autocomplete(choices)


async def test_only_one_initial_response() -> None:
    interaction = MockInteraction()
    await interaction.response.send_message("first")
    with pytest.raises(discord.InteractionResponded):
        await interaction.response.send_message("second")
    with pytest.raises(discord.InteractionResponded):
        await interaction.response.defer()
