"""One Parla process of a test cluster: the full speech stack from the environment's settings
(`Settings.from_env`, so REDIS_URL etc. apply), driven over stdin/stdout by a test.

    python -m tests.standins.cluster_worker '<json job>'

The job: {"requests": [{"text": ..., "voice": ...}, ...], "mode": "stream"|"synth"}. The
worker opens the stack, prints `ready`, waits for a line on stdin, runs every request at once,
then prints one JSON line: {"results": [sha256 of the audio or "error:<Type>"], "requests":
endpoint requests made by this process}.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys

from bot.base.config import Settings
from bot.speech.request import SpeechRequest
from bot.speech.stack import open_speech_stack


async def _one(engine: object, request: SpeechRequest, mode: str) -> str:
    try:
        if mode == "synth":
            audio = await engine.synthesize(request)  # type: ignore[attr-defined]
            return hashlib.sha256(audio.pcm).hexdigest()
        digest = hashlib.sha256()
        async for chunk in engine.stream(request):  # type: ignore[attr-defined]
            digest.update(chunk)
        return digest.hexdigest()
    except Exception as exc:
        return f"error:{type(exc).__name__}"


async def main(job: dict[str, object]) -> None:
    settings = Settings.from_env(dotenv=False)
    requests = [SpeechRequest(text=r["text"], voice=r.get("voice", "Cherry")) for r in job["requests"]]  # type: ignore[attr-defined, index]
    mode = str(job.get("mode", "stream"))
    async with open_speech_stack(settings) as stack:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        results = await asyncio.gather(*(_one(stack.engine, r, mode) for r in requests))
        made = stack.client.stats.requests if stack.client is not None else 0
        print(json.dumps({"results": results, "requests": made}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
