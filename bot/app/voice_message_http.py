"""Sending a voice message through discord.py's HTTP layer (discord.py has no API for it yet).

`send_voice_message` posts the interaction's followup (`POST /webhooks/{application_id}/
{interaction_token}`) as a multipart form through `bot.http.request` — the bot's one HTTP
client, its rate limits and retries — with `payload_json` from
`bot.commands.voice_message.voice_message_payload` and the Ogg Opus file as `files[0]`. Discord's
refusals arrive as `discord.HTTPException` (`refused(exc)`: the codes that mean "send a file
instead").

The route. A followup sent directly after a deferral (DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE) does
not create a message: Discord edits the "thinking…" message instead (Create Followup Message,
discord-api-docs, a deprecated backwards-compatible behaviour). An edit cannot make a voice
message: voice messages "cannot be edited", Edit Webhook Message / Edit Original Interaction
Response take only SUPPRESS_EMBEDS and IS_COMPONENTS_V2, and a deferred response can carry only
EPHEMERAL (discord/discord-api-docs#7158: IS_VOICE_MESSAGE ignored on that path). So the caller
first replaces the placeholder (`VOICE_MESSAGE_PLACEHOLDER`), then posts the voice message as a
new followup, then deletes the original response.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

import discord
from discord.http import Route

from bot.commands.voice_message import REFUSED_CODES, VoiceMessage, voice_message_payload

SEND_TIMEOUT: Final = 60.0  # seconds for the whole upload, retries included
# What replaces "thinking…" for the moment the voice message is posted (then deleted); no words,
# so the same in every language.
VOICE_MESSAGE_PLACEHOLDER: Final = "🔊"


def voice_message_form(message: VoiceMessage, *, ephemeral: bool) -> list[dict[str, Any]]:
    """The multipart form: `payload_json`, then the file as `files[0]`."""
    return [
        {
            "name": "payload_json",
            "value": json.dumps(voice_message_payload(message, ephemeral=ephemeral)),
            "content_type": "application/json",
        },
        {
            "name": "files[0]",
            "value": message.data,
            "filename": message.filename,
            "content_type": message.content_type,
        },
    ]


async def send_voice_message(
    http: discord.http.HTTPClient,
    application_id: int,
    token: str,
    message: VoiceMessage,
    *,
    ephemeral: bool,
) -> None:
    """Post `message` as the interaction's followup; raises discord.HTTPException when refused."""
    route = Route(
        "POST", "/webhooks/{webhook_id}/{webhook_token}", webhook_id=application_id, webhook_token=token
    )
    async with asyncio.timeout(SEND_TIMEOUT):
        await http.request(route, form=voice_message_form(message, ephemeral=ephemeral))


def refused(exc: discord.HTTPException) -> bool:
    """Whether Discord refused the voice message itself (not the request): send a file instead."""
    return exc.code in REFUSED_CODES
