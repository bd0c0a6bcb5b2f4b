"""`parla doctor`: check configuration, database, cache directory, voice support, the endpoint
(one tiny request) and the Discord token, each with a pass/fail line and a fix."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import aiohttp

from bot.base.config import Settings

DISCORD_ME = "https://discord.com/api/v10/users/@me"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False

    def line(self) -> str:
        mark = "PASS" if self.ok else ("SKIP" if self.optional else "FAIL")
        text = f"[{mark}] {self.name}: {self.detail}"
        if not self.ok and self.fix:
            text += f"\n       fix: {self.fix}"
        return text


async def check_database(settings: Settings) -> Check:
    """The configured database: reachable, its schema version, its integrity, a write rolled back."""
    from bot.store.open import open_storage

    if settings.database_url is not None:
        from bot.store.postgres_db import describe

        where = f"PostgreSQL at {describe(settings.database_url.reveal())}"
        fix = "check DATABASE_URL and that PostgreSQL is running"
    else:
        where, fix = str(settings.database_path), "check DATA_DIR is writable"
    try:
        storage = await open_storage(settings)
        try:
            version = await storage.schema_version()
            healthy = await storage.integrity_check()
            await storage.probe_write()
        finally:
            await storage.close()
    except Exception as exc:
        return Check("database", False, f"{where}: {exc}", fix)
    if not healthy:
        return Check("database", False, f"{where}: integrity check failed", "restore from a backup")
    return Check("database", True, f"{where} (schema version {version}, integrity ok, a write rolled back)")


async def check_cache_dir(settings: Settings) -> Check:
    if settings.cache_disk_mb <= 0:
        return Check("audio cache", True, "disk tier off (CACHE_DISK_MB=0)")
    path = settings.cache_dir

    def probe() -> None:
        path.mkdir(parents=True, exist_ok=True)
        test = path / f".doctor-{time.time_ns()}"
        test.write_bytes(b"ok")
        test.unlink()

    try:
        await asyncio.to_thread(probe)
    except OSError as exc:
        return Check("audio cache", False, f"{path}: {exc}", "make DATA_DIR writable by the bot's user")
    return Check("audio cache", True, f"{path} writable, {settings.cache_disk_mb:g} MB on disk")


def check_voice_support() -> list[Check]:
    from bot.voice.link import voice_available

    support = voice_available()
    libopus_missing = any("libopus" in m for m in support.missing)
    nacl_missing = any("PyNaCl" in m for m in support.missing)
    dave_missing = any("davey" in m for m in support.missing)
    return [
        Check(
            "libopus",
            not libopus_missing,
            "loaded" if not libopus_missing else "not found",
            "apt-get install libopus0",
        ),
        Check(
            "PyNaCl",
            not nacl_missing,
            "installed" if not nacl_missing else "missing",
            "pip install 'discord.py[voice]'",
        ),
        Check(
            "DAVE (davey)",
            not dave_missing,
            "installed" if not dave_missing else "missing",
            "pip install 'discord.py[voice]>=2.7.1' (Discord requires DAVE since March 2026)",
        ),
    ]


def check_local_engine() -> Check:
    from bot.speech.stack import local_engine_available

    ok = local_engine_available()
    return Check(
        "local engine",
        ok,
        "espeak-ng available" if ok else "not installed",
        "pip install '.[local]' (needed without TTS_API_KEY and as the outage backup)",
        optional=True,
    )


async def check_endpoint(settings: Settings, session: aiohttp.ClientSession) -> Check:
    if settings.api_key is None:
        return Check(
            "endpoint", False, "TTS_API_KEY not set", "set TTS_API_KEY to use the Qwen voices", optional=True
        )
    from bot.speech.endpoint.client import EndpointClient
    from bot.speech.errors import TTSError
    from bot.speech.request import SpeechRequest

    client = EndpointClient(settings, session)
    started = time.perf_counter()
    try:
        audio = await client.synthesize(SpeechRequest("Hi.", voice="Cherry", language="English"))
    except TTSError as exc:
        return Check(
            "endpoint", False, exc.user_message(), "see the message; check TTS_API_URL and TTS_API_KEY"
        )
    ms = (time.perf_counter() - started) * 1000
    return Check(
        "endpoint", True, f"{settings.api_url} answered with {audio.duration:.2f} s of audio in {ms:.0f} ms"
    )


async def check_discord(settings: Settings, session: aiohttp.ClientSession) -> Check:
    if settings.discord_token is None:
        return Check(
            "discord token",
            False,
            "DISCORD_TOKEN not set",
            "create a bot at https://discord.com/developers/applications and set DISCORD_TOKEN",
        )
    headers = {"Authorization": f"Bot {settings.discord_token.reveal()}"}
    try:
        async with asyncio.timeout(10), session.get(DISCORD_ME, headers=headers) as resp:
            if resp.status == 200:
                data = await resp.json()
                from bot.app.invite import invite_url

                invite = f"; invite: {invite_url(data['id'])}" if data.get("id") else ""
                return Check("discord token", True, f"valid (bot user {data.get('username', '?')}){invite}")
            return Check(
                "discord token",
                False,
                f"Discord answered HTTP {resp.status}",
                "reset the token in the developer portal and update DISCORD_TOKEN",
            )
    except (TimeoutError, aiohttp.ClientError) as exc:
        return Check(
            "discord token",
            False,
            f"could not reach Discord ({type(exc).__name__})",
            "check the network",
            optional=True,
        )


async def check_redis(settings: Settings) -> Check:
    """Redis (only with REDIS_URL): reachable, its version, one round trip."""
    if settings.redis_url is None:
        return Check("redis", True, "not used (REDIS_URL unset: one process, local state)")
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.Redis.from_url(settings.redis_url.reveal(), socket_timeout=3, socket_connect_timeout=3)
    try:
        async with asyncio.timeout(5):
            started = time.perf_counter()
            await client.ping()
            rtt = (time.perf_counter() - started) * 1000
            info = await client.info("server")
    except (RedisError, OSError, TimeoutError) as exc:
        return Check("redis", False, f"unreachable ({type(exc).__name__})", "start Redis or fix REDIS_URL")
    finally:
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await client.aclose()
    version = info.get("redis_version", "?")
    detail = f"version {version}, round trip {rtt:.1f} ms, prefix {settings.redis_prefix!r}"
    return Check("redis", True, detail)


async def run_doctor(settings: Settings, *, offline: bool = False) -> int:
    checks: list[Check] = [Check("configuration", True, "environment and .env parsed")]
    checks.append(await check_database(settings))
    checks.append(await check_cache_dir(settings))
    if not offline:
        checks.append(await check_redis(settings))
    checks.extend(check_voice_support())
    checks.append(check_local_engine())
    if not offline:
        async with aiohttp.ClientSession() as session:
            checks.append(await check_endpoint(settings, session))
            checks.append(await check_discord(settings, session))
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok and not c.optional]
    print(
        f"{len(checks) - len(failed)} of {len(checks)} checks passed"
        if not failed
        else f"{len(failed)} check(s) failed"
    )
    return 1 if failed else 0
