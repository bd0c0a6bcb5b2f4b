"""The embedded local speech engine: espeak-ng, so the bot speaks with no API key and in outages.

espeak-ng (libespeak-ng and its voice data, shipped by the PyPI package `espeakng-loader`)
is called through ctypes in synchronous mode with a sample callback (`bot.speech.local.espeak`).
It produces 22.05 kHz mono s16 PCM about 1000 times faster than real time (~1 ms CPU per
audio-second). espeak-ng is licensed GPL-3.0-or-later, so it is an optional dependency: install
it with the `local` extra (`pip install '.[local]'`). Without it, `LocalEngine.available()` is
False and constructing a `LocalEngine` raises `LocalEngineUnavailable`.

The library keeps process-wide state and is not thread-safe. Every call into it runs on the
engine's one worker thread (never on the event loop) and under a module-wide lock, so even
several `LocalEngine` instances never call it concurrently.

Mapping of a `SpeechRequest` to espeak-ng (`bot.speech.local.plan`):
- language: the 11 endpoint languages map to espeak voices (`profiles.LANGUAGE_VOICES`); "Auto"
  guesses the text's language (`bot.text.language.detect_language`: Han → Chinese, kana →
  Japanese, Hangul → Korean, Cyrillic → Russian, Latin text by its common words, else English).
- voice: each of the 24 endpoint voices has a distinct espeak variant (female voices use
  female variants) with its own base pitch, pitch range and speed (`profiles.VOICE_PROFILES`).
- style instruction: only what espeak can do is applied (`style.interpret_style`): faster/slower
  change the speed, louder/softer the volume, whisper the whisper variant, higher/lower the
  pitch (English words and Chinese equivalents). The rest is ignored;
  `style.describe_style()` tells `/style show` what is applied and whether anything was ignored.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor

from bot.audio.clip import Audio
from bot.speech.local.espeak import LocalEngineError, installed, load_library
from bot.speech.local.plan import SynthesisPlan, plan_for
from bot.speech.request import SpeechRequest

__all__ = ["ENGINE_NAME", "LocalEngine"]

ENGINE_NAME = "local:espeak-ng"


class LocalEngine:
    """`SpeechEngine` backed by espeak-ng, running on one dedicated worker thread.

    Construction loads and initialises the library once per process (a few ms). `close()`
    aborts the running synthesis and stops the worker; later calls raise LocalEngineError.
    """

    def __init__(self) -> None:
        self._lib = load_library()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")
        self._closed = False
        self._abort = threading.Event()  # set by close(): stop whatever is running

    @staticmethod
    def available() -> bool:
        """Whether espeakng-loader is installed (the `local` extra)."""
        return installed()

    @property
    def name(self) -> str:
        return ENGINE_NAME

    @property
    def sample_rate(self) -> int:
        return self._lib.sample_rate

    async def synthesize(self, request: SpeechRequest) -> Audio:
        req = request.validated()
        plan = plan_for(req)
        chunks: list[bytes] = []

        def collect(chunk: bytes) -> bool:
            chunks.append(chunk)
            return not self._abort.is_set()

        await self._run(req.text, plan, collect)
        return Audio(b"".join(chunks), self.sample_rate)

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        """Yield PCM as espeak produces it (about 100 ms of audio per chunk)."""
        req = request.validated()
        plan = plan_for(req)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        stop = threading.Event()

        def push(chunk: bytes) -> bool:
            if stop.is_set() or self._abort.is_set():
                return False
            try:
                loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except RuntimeError:  # the loop is closed
                return False
            return True

        job = asyncio.ensure_future(self._run(req.text, plan, push))
        # The end marker follows every chunk: the worker scheduled those before its result.
        job.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
            job.result()  # raise the job's error, if any
        finally:
            # Stop espeak at its next chunk; the worker is then free for the next job. The job
            # is not awaited here (that could swallow this task's cancellation).
            stop.set()
            job.add_done_callback(_retrieve)

    async def _run(self, text: str, plan: SynthesisPlan, sink: Callable[[bytes], bool]) -> None:
        if self._closed:
            raise LocalEngineError("the local speech engine is closed")
        future: Future[None] = self._executor.submit(self._lib.synth, text, plan, sink)
        try:
            await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if future.cancelled() and self._closed:
                raise LocalEngineError("the local speech engine was closed") from None
            raise

    def close(self) -> None:
        """Abort the running synthesis and stop the worker thread (does not block)."""
        if self._closed:
            return
        self._closed = True
        self._abort.set()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _retrieve(job: asyncio.Future[None]) -> None:
    """Mark an abandoned job's outcome as seen (no "exception never retrieved" noise)."""
    if not job.cancelled():
        job.exception()
