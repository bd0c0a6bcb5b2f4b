"""`bot.http.request` for the routes the bot calls itself (a voice message as an interaction
followup): the multipart form is built as discord.py builds it (aiohttp.FormData), serialised,
and parsed back as Discord would; the voice message rules of `discord_limits` apply; the result
reaches the interaction's `ReplyLog` as the member would see it.

`refuse = 50013` (or 50160) makes Discord refuse the next voice messages."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
from discord.http import Route

from tests.standins.discord_limits import check_voice_message, discord_refuses

FOLLOWUP = "/webhooks/{webhook_id}/{webhook_token}"


@dataclass
class SentForm:
    """One multipart request as Discord received it."""

    route: Route
    body: bytes
    payload: dict[str, Any]
    files: list[tuple[str, bytes]] = field(default_factory=list)
    filenames: list[str] = field(default_factory=list)


class _Collector:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, chunk: bytes) -> None:
        self.data += chunk


async def serialise(form: list[dict[str, Any]]) -> tuple[str, bytes]:
    """The Content-Type and body aiohttp sends for discord.py's `form` list."""
    data = aiohttp.FormData(quote_fields=False)
    for params in form:
        data.add_field(**params)
    writer = data()
    sink = _Collector()
    await writer.write(sink)  # type: ignore[arg-type]
    return str(writer.content_type), bytes(sink.data)


def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, str | None, bytes]]:
    """(field name, filename, bytes) of each part, as a server reads them."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = []
    for part in message.iter_parts():
        params = dict(part.get_params(header="content-disposition") or [])
        payload = part.get_payload(decode=True)
        parts.append((str(params.get("name")), part.get_filename(), bytes(payload or b"")))
    return parts


class DiscordHttpStandin:
    def __init__(self) -> None:
        self.sent: list[SentForm] = []
        self.logs: dict[str, Any] = {}  # interaction token -> ReplyLog
        self.refuse: int | None = None

    async def request(self, route: Route, *, files: Any = None, form: Any = None, **kwargs: Any) -> Any:
        assert route.method == "POST" and route.path == FOLLOWUP, f"unexpected route {route.key}"
        assert form is not None and not files
        content_type, body = await serialise(list(form))
        parts = parse_multipart(content_type, body)
        payload = json.loads(next(data for name, _, data in parts if name == "payload_json"))
        uploads = [(name, data) for name, filename, data in parts if filename is not None]
        sent = SentForm(route, body, payload, uploads, [f or "" for _, f, _ in parts if f is not None])
        self.sent.append(sent)
        log = self.logs.get(str(route.webhook_token))
        if log is None:
            raise discord_refuses(404, 10015, "Unknown Webhook")
        if self.refuse is not None:
            status = 403 if self.refuse == 50013 else 400
            raise discord_refuses(
                status, self.refuse, "Missing Permissions" if status == 403 else "Cannot send"
            )
        check_voice_message(payload, uploads, log.filesize_limit)
        file = discord.File(io.BytesIO(uploads[0][1]), filename=sent.filenames[0])
        log.voice_message(file, ephemeral=bool(payload.get("flags", 0) & 64))
        return {"id": "1", "flags": payload["flags"]}
