"""The invite link `parla doctor` prints: the scopes and the permissions, with Send Voice
Messages (the documented number is pinned in tests/system/test_documented_numbers.py)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import doctor
from bot.app.invite import BOT_PERMISSIONS, invite_url
from bot.base.secrets import Secret
from tests.standins.settings import make_settings


def test_the_permissions_include_send_voice_messages_and_voice() -> None:
    assert BOT_PERMISSIONS.send_voice_messages  # /speak answers with a voice message
    assert BOT_PERMISSIONS.value >> 46 & 1
    assert BOT_PERMISSIONS.connect and BOT_PERMISSIONS.speak and BOT_PERMISSIONS.attach_files
    assert not BOT_PERMISSIONS.administrator and not BOT_PERMISSIONS.manage_guild
    assert f"permissions={BOT_PERMISSIONS.value}" in invite_url(1)


async def test_doctor_prints_the_invite_link_for_the_bots_application(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def me(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bot token-123"
        return web.json_response({"id": "987654321", "username": "Parla"})

    app = web.Application()
    app.router.add_get("/users/@me", me)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    monkeypatch.setattr(doctor, "DISCORD_ME", f"http://127.0.0.1:{port}/users/@me")
    settings = make_settings(None, tmp_path, discord_token=Secret("token-123"))
    try:
        async with aiohttp.ClientSession() as session:
            check = await doctor.check_discord(settings, session)
    finally:
        await runner.cleanup()
    assert check.ok
    assert check.detail.endswith(f"invite: {invite_url(987654321)}")
    wanted = f"client_id=987654321&scope=bot+applications.commands&permissions={BOT_PERMISSIONS.value}"
    assert wanted in check.line()
