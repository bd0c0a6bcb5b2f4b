"""Local espeak-ng engine: latency to first audio, total time, CPU per audio-second.

Run: `.venv/bin/python -m benchmarks.bench_local_engine`
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import AsyncIterator

from bot.audio.clip import SAMPLE_WIDTH, Audio
from bot.speech.errors import ServerError
from bot.speech.fallback.engine import FallbackEngine
from bot.speech.local.engine import LocalEngine
from bot.speech.local.espeak import load_library
from bot.speech.local.plan import plan_for
from bot.speech.request import SpeechRequest

SHORT = "Hello everyone, welcome to the voice channel."
LONG = (
    "The quick brown fox jumps over the lazy dog, and then it runs into the forest to find its friends. "
    "Along the way it meets a curious rabbit who asks where it is going in such a hurry. "
    "The fox explains that there is a party by the river tonight, with music, games and plenty of food. "
    "The rabbit decides to come along, and together they cross the meadow as the sun begins to set. "
    "When they arrive, the other animals cheer, and everyone dances until the stars come out. "
    "It was, by all accounts, the best evening the forest had seen in a very long time indeed, "
    "and nobody wanted to go home before dawn."
)
RUNS = 15


class _Down:
    """A primary engine that always fails at once (to measure the fallback path)."""

    name = "api:down"
    sample_rate = 24_000

    async def synthesize(self, request: SpeechRequest) -> Audio:
        raise ServerError("down")

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        raise ServerError("down")
        yield b""  # pragma: no cover


async def _stream_once(engine: object, req: SpeechRequest, rate: int) -> tuple[float, float, float]:
    """(seconds to first chunk, seconds total, seconds of audio)."""
    start = time.perf_counter()
    first = 0.0
    size = 0
    async for chunk in engine.stream(req):  # type: ignore[attr-defined]
        if not size:
            first = time.perf_counter() - start
        size += len(chunk)
    return first, time.perf_counter() - start, size / SAMPLE_WIDTH / rate


def _ms(values: list[float]) -> str:
    lo, mid, hi = (f(values) * 1000 for f in (min, statistics.median, max))
    return f"median {mid:6.1f} ms  (min {lo:.1f}, max {hi:.1f})"


async def main() -> None:
    t = time.perf_counter()
    engine = LocalEngine()
    print(f"LocalEngine() cold start (load + espeak_Initialize): {(time.perf_counter() - t) * 1000:.1f} ms")
    print(f"sample rate {engine.sample_rate} Hz, {RUNS} runs each, 2-core box\n")
    t = time.perf_counter()
    await engine.synthesize(SpeechRequest("warm up", "Cherry", "English"))
    print(f"first utterance (loads the English dictionary): {(time.perf_counter() - t) * 1000:.1f} ms")

    for label, text in (("1 sentence", SHORT), (f"{len(LONG)} chars", LONG)):
        req = SpeechRequest(text, "Cherry", "English")
        firsts, totals, audio_s = [], [], 0.0
        cpu0 = time.process_time()
        for _ in range(RUNS):
            first, total, seconds = await _stream_once(engine, req, engine.sample_rate)
            firsts.append(first)
            totals.append(total)
            audio_s += seconds
        cpu = time.process_time() - cpu0
        print(f"[{label}: {audio_s / RUNS:.2f} s of audio]")
        print(f"  stream() first audio   {_ms(firsts)}")
        print(f"  stream() total         {_ms(totals)}")
        whole = []
        for _ in range(RUNS):
            s = time.perf_counter()
            await engine.synthesize(req)
            whole.append(time.perf_counter() - s)
        print(f"  synthesize() total     {_ms(whole)}")
        print(f"  process CPU (stream)   {cpu * 1000 / audio_s:.2f} ms per audio-second")

    # The espeak call alone, measured on the calling thread's CPU clock.
    lib = load_library()
    plan = plan_for(SpeechRequest(LONG, "Cherry", "English").validated())
    produced = 0

    def sink(chunk: bytes) -> bool:
        nonlocal produced
        produced += len(chunk)
        return True

    def synth_many() -> float:
        c0 = time.thread_time()
        for _ in range(RUNS):
            lib.synth(LONG, plan, sink)
        return time.thread_time() - c0

    result: list[float] = []
    worker = threading.Thread(target=lambda: result.append(synth_many()))
    worker.start()
    worker.join()
    seconds = produced / SAMPLE_WIDTH / lib.sample_rate
    print(f"\nespeak synth alone (thread CPU): {result[0] * 1000 / seconds:.2f} ms per audio-second")

    # The fallback path: primary fails at once, backup streamed and resampled 22.05 -> 24 kHz.
    fallback = FallbackEngine(_Down(), engine, cooldown=0)
    req = SpeechRequest(LONG, "Cherry", "English")
    firsts, audio_s = [], 0.0
    cpu0 = time.process_time()
    for _ in range(RUNS):
        first, _total, secs = await _stream_once(fallback, req, fallback.sample_rate)
        firsts.append(first)
        audio_s += secs
    cpu = time.process_time() - cpu0
    print(f"fallback stream (incl. resampling to 24 kHz): first audio {_ms(firsts)}")
    print(f"fallback stream process CPU: {cpu * 1000 / audio_s:.2f} ms per audio-second")
    engine.close()


if __name__ == "__main__":
    asyncio.run(main())
