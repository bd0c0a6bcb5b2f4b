"""Start-up checks and the process entry for the Discord bot (`parla run`, `parla sync`)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Protocol

from bot.app.logging_setup import setup_logging
from bot.base.config import ConfigError, Settings
from bot.base.heap import settle_heap
from bot.speech.stack import describe_engine, local_engine_available
from bot.store.protocol import StorageError

log = logging.getLogger("parla")


def missing_settings(settings: Settings) -> list[str]:
    """One line per missing setting, naming the variable and what to set."""
    lines: list[str] = []
    if settings.discord_token is None:
        lines.append(
            "DISCORD_TOKEN: not set. Create a bot at https://discord.com/developers/applications, "
            "copy its token (Bot → Reset Token) and put DISCORD_TOKEN=... in .env or the environment."
        )
    from bot.speech.fallback.plan import plan_engines

    try:
        plan_engines(settings, local_available=local_engine_available())
    except ConfigError as exc:
        lines.append(str(exc))
    return lines


class _Startable(Protocol):
    async def login(self, token: str) -> None: ...

    async def connect(self) -> None: ...


async def start_settled(bot: _Startable, token: str) -> None:
    """What `discord.Client.start` does (log in, which runs `setup_hook`, then connect), with
    the start-up heap settled in between (`bot.base.heap`): the long-lived objects are all made
    by then, and full garbage collections, which stall the voice sender, stay short."""
    await bot.login(token)
    log.info("%s", settle_heap().describe())
    await bot.connect()


def run_bot(settings: Settings, *, sync_only: bool = False) -> int:
    problems = missing_settings(settings)
    if problems:
        for line in problems:
            print(f"parla: {line}", file=sys.stderr)
        if settings.api_key is None and settings.engine != "api" and local_engine_available():
            print(
                "parla: (TTS_API_KEY is optional: without it the bot speaks with the local espeak-ng voice; "
                'try `parla synth "hello" --out hello.wav`.)',
                file=sys.stderr,
            )
        return 2
    setup_logging(settings.log_level)
    log.info("starting engine=%r data_dir=%s", describe_engine(settings), settings.data_dir)
    from bot.app.bot import ParlaBot

    bot = ParlaBot(settings, sync_only=sync_only)
    token = settings.require_discord_token().reveal()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stopping.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
                pass
        async with bot:
            runner = asyncio.create_task(start_settled(bot, token), name="discord-gateway")
            stopper = asyncio.create_task(stopping.wait(), name="signal-wait")
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                log.info("shutdown requested: finishing current utterances and closing")
            else:
                stopper.cancel()
            try:
                async with asyncio.timeout(10):
                    await bot.close()
            except TimeoutError:
                log.warning("shutdown took longer than 10 s; exiting anyway")
            if runner.done() and not runner.cancelled() and runner.exception() is not None:
                raise runner.exception()  # type: ignore[misc]
            runner.cancel()

    try:
        asyncio.run(main())
    except ConfigError:
        raise
    except StorageError as exc:  # e.g. PostgreSQL unreachable at start: one sentence, no traceback
        print(f"parla: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # discord.LoginFailure and friends: one clear line
        name = type(exc).__name__
        if name == "LoginFailure":
            print(
                "parla: DISCORD_TOKEN was rejected by Discord. Reset the token and update .env.",
                file=sys.stderr,
            )
            return 2
        if name == "PrivilegedIntentsRequired":
            print(
                "parla: enable the MESSAGE CONTENT intent for the bot in the developer portal "
                "(Bot → Privileged Gateway Intents).",
                file=sys.stderr,
            )
            return 2
        log.exception("the bot stopped with an error")
        return 1
    return 0
