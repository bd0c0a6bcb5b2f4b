"""The `parla` command: run the bot, synthesize to a file, list voices, manage the cache."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bot.base.config import ConfigError, Settings
from bot.base.errors import InputError
from bot.speech.errors import TTSError
from bot.speech.voices import LANGUAGES, VOICES
from bot.store.protocol import StorageError

EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parla", description="Parla: a Discord bot that reads text aloud with Qwen3 voices."
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the Discord bot (the default)")
    run.add_argument(
        "--processes",
        type=int,
        default=1,
        help="worker processes, each on a slice of the shards (needs REDIS_URL)",
    )

    synth = sub.add_parser("synth", help="synthesize text to a WAV file (checks your key and a voice)")
    synth.add_argument("text", help="the text to speak")
    synth.add_argument("--voice", default="Cherry", help="one of the 24 voices (see `parla voices`)")
    synth.add_argument("--style", default=None, help='style instructions, e.g. "calm, a little slower"')
    synth.add_argument("--language", default="Auto", help="one of: " + ", ".join(LANGUAGES))
    opt = synth.add_mutually_exclusive_group()
    opt.add_argument("--optimize", dest="optimize", action="store_true", default=None)
    opt.add_argument("--no-optimize", dest="optimize", action="store_false")
    stream = synth.add_mutually_exclusive_group()
    stream.add_argument("--stream", dest="stream", action="store_true", default=True)
    stream.add_argument("--no-stream", dest="stream", action="store_false")
    synth.add_argument(
        "--engine", choices=("api", "local", "auto"), default=None, help="override TTS_ENGINE for this run"
    )
    synth.add_argument("--no-cache", action="store_true", help="bypass the audio cache")
    synth.add_argument("--out", "-o", default="parla.wav", help="output WAV file (default parla.wav)")

    sub.add_parser("voices", help="list the voices and languages")

    cache = sub.add_parser("cache", help="inspect or clear the audio cache")
    cache.add_argument("action", choices=("stats", "clear"))

    sub.add_parser("sync", help="register the slash commands globally with Discord")
    doctor = sub.add_parser("doctor", help="check configuration, storage, voice support and credentials")
    doctor.add_argument("--offline", action="store_true", help="skip the checks that need the network")
    sub.add_parser("health", help="exit 0 if the running bot wrote its heartbeat recently (for Docker)")
    from bot.app.db_cli import add_db_parser

    add_db_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    try:
        settings = Settings.from_env()
        if command != "run":
            from bot.app.logging_setup import setup_logging

            # One line per failure for the CLI: the details go to the log only with LOG_LEVEL=DEBUG.
            setup_logging("DEBUG" if settings.log_level == "DEBUG" else "ERROR")
            if settings.log_level != "DEBUG":  # the CLI names an account failure itself, once
                logging.getLogger("bot.speech.error_log").setLevel(logging.CRITICAL)
        if command == "voices":
            return _voices(settings)
        if command == "synth":
            return asyncio.run(_synth(settings, args))
        if command == "cache":
            return asyncio.run(_cache(settings, args.action))
        if command == "doctor":
            from bot.app.doctor import run_doctor

            return asyncio.run(run_doctor(settings, offline=args.offline))
        if command == "health":
            return _health(settings)
        if command == "db":
            from bot.app.db_cli import run_db

            return asyncio.run(run_db(settings, args))
        processes = getattr(args, "processes", 1) or 1
        if command == "run" and processes != 1:
            from bot.app.cluster_run import run_cluster

            return run_cluster(settings, processes)
        from bot.app.launcher import run_bot

        return run_bot(settings, sync_only=command == "sync")
    except ConfigError as exc:
        print(f"parla: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InputError as exc:
        print(f"parla: {exc.user_message()}", file=sys.stderr)
        return EXIT_USAGE
    except TTSError as exc:
        print(f"parla: {exc.user_message()}", file=sys.stderr)
        return EXIT_API
    except StorageError as exc:  # PostgreSQL unreachable, a newer schema, a refused copy: one line
        print(f"parla: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _voices(settings: Settings) -> int:
    from bot.speech.stack import describe_engine

    print(f"Engine: {describe_engine(settings)}")
    print(f"{len(VOICES)} voices:")
    for voice in VOICES:
        print(f"  {voice.name:<12} {voice.gender:<7} {voice.character}")
    print(f"{len(LANGUAGES)} languages: {', '.join(LANGUAGES)} (Auto detects the language)")
    return EXIT_OK


async def _synth(settings: Settings, args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bot.audio.wav import to_wav
    from bot.speech.request import SpeechRequest
    from bot.speech.stack import open_speech_stack

    if args.engine:
        settings = replace(settings, engine=args.engine)
    request = SpeechRequest(
        text=args.text,
        voice=args.voice,
        language=args.language,
        instructions=args.style,
        optimize_instructions=args.optimize,
    ).validated()
    out = Path(args.out)
    async with open_speech_stack(settings, use_cache=not args.no_cache) as stack:
        cached = await stack.lookup(request)
        started = time.perf_counter()
        first: float | None = None
        if cached is not None:
            audio = cached
            first = time.perf_counter()
        elif args.stream:
            chunks: list[bytes] = []
            async for chunk in stack.engine.stream(request):
                if first is None:
                    first = time.perf_counter()
                chunks.append(chunk)
            from bot.audio.clip import Audio

            audio = Audio(b"".join(chunks), stack.engine.sample_rate)
        else:
            audio = await stack.engine.synthesize(request)
            first = time.perf_counter()
        total = time.perf_counter() - started
        await asyncio.to_thread(out.write_bytes, to_wav(audio))
        source = "cache (no API call)" if cached is not None else stack.served_by(request)
        mode = "stream" if args.stream else "whole file"
        ttfa = (first - started) * 1000 if first is not None else float("nan")
        print(
            f"wrote {out} ({audio.duration:.2f} s, {audio.rate} Hz mono) voice={request.voice} "
            f"language={request.language} source={source} mode={mode}"
        )
        print(f"time to first audio: {ttfa:.0f} ms; total: {total * 1000:.0f} ms")
    return EXIT_OK


async def _cache(settings: Settings, action: str) -> int:
    from bot.speech.cache.audio_cache import AudioCache

    cache = AudioCache.from_settings(settings)
    try:
        await cache.load()
        if action == "clear":
            await cache.clear()
            print(f"cleared the audio cache in {settings.cache_dir}")
        else:
            for key, value in cache.stats.as_dict().items():
                print(f"{key}: {value}")
    finally:
        await cache.close()
    return EXIT_OK


HEARTBEAT_MAX_AGE = 120.0


def _health(settings: Settings) -> int:
    beat = settings.data_dir / "heartbeat"
    try:
        age = time.time() - beat.stat().st_mtime
    except OSError:
        print(f"unhealthy: no heartbeat file at {beat}", file=sys.stderr)
        return 1
    if age > HEARTBEAT_MAX_AGE:
        print(f"unhealthy: last heartbeat {age:.0f} s ago", file=sys.stderr)
        return 1
    print(f"healthy: last heartbeat {age:.0f} s ago")
    return EXIT_OK
