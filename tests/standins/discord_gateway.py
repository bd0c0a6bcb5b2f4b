"""A local Discord stand-in: enough REST and gateway for `python -m bot` to log in, get READY
and sync its commands, on 127.0.0.1.

REST (`/api/v10`): `GET /users/@me` (401 for a token other than `token`), `GET
/oauth2/applications/@me`, `GET /gateway/bot` (recommends `shards`; 401 for another token; fails
with `gateway_status` if that is not 200), `PUT /applications/{app}/guilds/{guild}/commands`
(recorded in `synced`) and the global variant. Gateway (`/ws`, JSON text frames): HELLO, then
READY after IDENTIFY, heartbeats ACKed; with `refuse_intents` the gateway closes with 4014
("disallowed intents") as Discord does when Message Content is not enabled.

The started process is pointed here by `sitecustomize_dir()`: a directory whose `sitecustomize`
sets `discord.http.Route.BASE` from `PARLA_TEST_DISCORD_API`; the bot's own code is unchanged.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

APP_ID = 1100000000000000001
BOT_ID = 1100000000000000002
OWNER_ID = 1100000000000000003

_SITECUSTOMIZE = """\
import os

_base = os.environ.get("PARLA_TEST_DISCORD_API")
if _base:
    import discord.http

    discord.http.Route.BASE = _base
"""


def sitecustomize_dir(tmp_path: Path) -> Path:
    """A directory to put first on PYTHONPATH so the child talks to the stand-in."""
    folder = tmp_path / "discord-standin-site"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    return folder


def _json(data: object, status: int = 200) -> web.Response:
    # discord.py parses a body only when Content-Type is exactly "application/json", as Discord sends it.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


class DiscordStandin:
    def __init__(
        self,
        token: str,
        *,
        bot_name: str = "Parla",
        refuse_intents: bool = False,
        shards: int = 1,
        gateway_status: int = 200,
    ) -> None:
        self.token = token
        self.shards = shards  # what GET /gateway/bot recommends
        self.gateway_status = gateway_status  # another status: GET /gateway/bot fails with it
        self.gateway_asked: list[str] = []  # the Authorization header of each GET /gateway/bot
        self.bot_name = bot_name
        self.refuse_intents = refuse_intents
        self.synced: dict[str, list[dict[str, Any]]] = {}  # "guild:<id>" or "global" → commands
        self.identified = asyncio.Event()
        self.ready_sent = asyncio.Event()
        self.identify: dict[str, Any] | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    async def start(self) -> DiscordStandin:
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/oauth2/applications/@me", self._application)
        app.router.add_get("/api/v10/gateway/bot", self._gateway_bot)
        app.router.add_put("/api/v10/applications/{app}/guilds/{guild}/commands", self._sync_guild)
        app.router.add_put("/api/v10/applications/{app}/commands", self._sync_global)
        app.router.add_get("/ws", self._websocket)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- REST ------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    def _user(self) -> dict[str, Any]:
        return {
            "id": str(BOT_ID),
            "username": self.bot_name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
        }

    async def _me(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(self._user())

    async def _application(self, request: web.Request) -> web.Response:
        owner = {"id": str(OWNER_ID), "username": "owner", "discriminator": "0", "avatar": None}
        return _json(
            {
                "id": str(APP_ID),
                "name": "Parla",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": owner,
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        self.gateway_asked.append(request.headers.get("Authorization", ""))
        if not self._authorized(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        if self.gateway_status != 200:
            return _json({"message": "Service unavailable", "code": 0}, status=self.gateway_status)
        limits = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _json(
            {"url": f"ws://127.0.0.1:{self.port}/ws", "shards": self.shards, "session_start_limit": limits}
        )

    async def _sync(self, request: web.Request, key: str) -> web.Response:
        body: list[dict[str, Any]] = await request.json()
        self.synced[key] = body
        answer = [
            {
                **command,
                "id": str(1200000000000000000 + i),
                "application_id": str(APP_ID),
                "description": command.get("description", ""),
                "version": "1",
            }
            for i, command in enumerate(body)
        ]
        return _json(answer)

    async def _sync_guild(self, request: web.Request) -> web.Response:
        return await self._sync(request, f"guild:{request.match_info['guild']}")

    async def _sync_global(self, request: web.Request) -> web.Response:
        return await self._sync(request, "global")

    # -- gateway ---------------------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        seq = 0
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            payload = json.loads(msg.data)
            op = payload.get("op")
            if op == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif op == 2:
                self.identify = payload["d"]
                self.identified.set()
                if self.refuse_intents:
                    await ws.close(code=4014, message=b"Disallowed intent(s).")
                    break
                seq += 1
                shard = payload["d"].get("shard", [0, 1])
                ready = {
                    "v": 10,
                    "user": self._user(),
                    "guilds": [],
                    "session_id": "standin-session",
                    "resume_gateway_url": f"ws://127.0.0.1:{self.port}/ws",
                    "shard": shard,
                    "application": {"id": str(APP_ID), "flags": 0},
                }
                await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": seq, "d": ready}))
                self.ready_sent.set()
        return ws
