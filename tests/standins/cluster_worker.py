"""One Parla process of a test cluster: the full speech stack from the environment's settings
(`Settings.from_env`, so REDIS_URL etc. apply), driven over stdin/stdout by a test.

    python -m tests.standins.cluster_worker '<json job>'

The job: {"requests": [{"text": ..., "voice": ...}, ...], "mode": "stream"|"synth",
"limits": true (each request admitted by a UsageLimiter on the cluster's budgets first)}. The
worker opens the stack, prints `ready`, waits for a line on stdin, runs every request at once,
then prints one JSON line: {"results": [sha256 of the audio or "error:<Type>"], "requests":
endpoint requests made by this process}.

With `"tell_first_chunk": true` the worker prints `heard` as soon as any request of a phase
has received its first chunk of audio (before the phase's report).

A job may instead be split into phases, `{"phases": [<job>, ...]}`: the worker waits for a
line on stdin before each phase and prints a report after each (`requests` counts from the
start). A phase with `"await_breaker_open": true` first waits (up to 5 s) until this process's
circuit breaker is open (its cooldown is TTS_BREAKER_COOLDOWN_SECONDS in the environment).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from typing import Any

from bot.base.config import Settings
from bot.speech.request import SpeechRequest
from bot.speech.stack import open_speech_stack
from bot.store.cluster_budget import ClusterBudget
from bot.store.limits import LimitExceeded, UsageLimiter, current_guild

GUILD = 42


class _FirstChunk:
    """Prints `heard` once, at the first chunk any request receives (when asked to)."""

    def __init__(self, wanted: bool) -> None:
        self.pending = wanted

    def seen(self) -> None:
        if self.pending:
            self.pending = False
            print("heard", flush=True)


async def _one(
    engine: object,
    request: SpeechRequest,
    mode: str,
    limiter: UsageLimiter | None,
    n: int,
    first: _FirstChunk,
) -> str:
    try:
        if limiter is not None:
            await limiter.admit(GUILD, 1000 + n, len(request.text), cached=False)
        if mode == "synth":
            audio = await engine.synthesize(request)  # type: ignore[attr-defined]
            return hashlib.sha256(audio.pcm).hexdigest()
        digest = hashlib.sha256()
        async for chunk in engine.stream(request):  # type: ignore[attr-defined]
            digest.update(chunk)
            first.seen()
        return digest.hexdigest()
    except LimitExceeded as exc:
        return f"limit:{exc.scope}"
    except Exception as exc:
        return f"error:{type(exc).__name__}"


async def _breaker_open(engine: object) -> bool:
    for _ in range(500):
        if getattr(engine, "primary_down", False):
            return True
        await asyncio.sleep(0.01)
    return False


async def main(job: dict[str, Any]) -> None:
    settings = Settings.from_env(dotenv=False)
    phases: list[dict[str, Any]] = job.get("phases") or [job]
    async with open_speech_stack(settings) as stack:
        print("ready", flush=True)
        limiter = None
        charges: list[asyncio.Task[None]] = []
        if job.get("limits") and stack.cluster is not None and stack.client is not None:
            limiter = UsageLimiter(settings)
            limiter.cluster = ClusterBudget(stack.cluster)
            stack.client.usage_listener = lambda n: charges.append(
                asyncio.create_task(limiter.charge(current_guild.get(), n))  # type: ignore[union-attr]
            )
        current_guild.set(GUILD)
        for phase in phases:
            await asyncio.to_thread(sys.stdin.readline)
            if phase.get("await_breaker_open"):
                await _breaker_open(stack.engine)
            requests = [
                SpeechRequest(text=r["text"], voice=r.get("voice", "Cherry")) for r in phase["requests"]
            ]
            mode = str(phase.get("mode", "stream"))
            first = _FirstChunk(bool(phase.get("tell_first_chunk")))
            results = await asyncio.gather(
                *(_one(stack.engine, r, mode, limiter, n, first) for n, r in enumerate(requests))
            )
            await asyncio.gather(*charges)
            made = stack.client.stats.requests if stack.client is not None else 0
            report = {
                "results": results,
                "requests": made,
                "primary_down": getattr(stack.engine, "primary_down", False),
            }
            print(json.dumps(report), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
