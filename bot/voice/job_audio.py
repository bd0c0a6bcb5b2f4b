"""Where a job's audio comes from: the Opus packets the store kept of the same sound, else the
engine's stream written into a `FrameBuffer` (playback may start once its pre-roll is in); and
the playable source over either, which hands the packets of a stream played to the end back
for storing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bot.speech.engine import opened_stream
from bot.speech.request import SpeechRequest
from bot.voice.frame_buffer import FrameBuffer
from bot.voice.loop_calls import loop_calls
from bot.voice.ports import OpusStore, PlayableSource, SourceFactory, StreamEngine
from bot.voice.utterance import Job

log = logging.getLogger(__name__)


def engine_key(engine: StreamEngine, request: SpeechRequest) -> str | None:
    """The engine's name for the sound of `request` (see `KeyedEngine`); None for engines
    without `key_for`."""
    key_for = getattr(engine, "key_for", None)
    if key_for is None:
        return None
    key: str | None = key_for(request)
    return key


async def load_audio(
    job: Job,
    engine: StreamEngine,
    sources: SourceFactory,
    store: OpusStore | None,
    *,
    preroll_ms: int,
) -> bool:
    """Fill `job`'s audio: its stored Opus packets, or the engine stream into a FrameBuffer
    (`job.prepared` is set as soon as the pre-roll is in). Returns False if the engine stream
    ended normally with no audio at all. Engine errors propagate."""
    request = job.utterance.request
    job.key = engine_key(engine, request)
    if store is not None and job.key is not None:
        try:
            packets = await store.get_opus(job.key, sources.profile)
        except Exception:
            log.exception("reading stored Opus packets failed")
            packets = None
        if packets:
            job.packets = packets
            return True
    buffer = FrameBuffer(engine.sample_rate, preroll_ms=preroll_ms)
    job.buffer = buffer
    received = 0
    async with opened_stream(engine.stream(request)) as stream:
        async for chunk in stream:
            received += len(chunk)
            buffer.write(chunk)
            if not job.prepared.is_set() and buffer.ready:
                job.prepared.set()
    buffer.end()
    return received > 0


def build_source(
    job: Job,
    sources: SourceFactory,
    loop: asyncio.AbstractEventLoop,
    keep: Callable[[list[bytes]], None] | None,
) -> PlayableSource:
    """The playable source of `job`: over its stored packets, or streaming its buffer. For a
    stream played to the end, `keep(packets)` is called on `loop` (None: nothing is kept)."""
    if job.packets is not None:
        return sources.stored(job.packets)
    assert job.buffer is not None

    def on_abort() -> None:  # any thread
        call_soon(loop, job.abort)

    on_complete: Callable[[list[bytes]], None] | None = None
    if keep is not None:
        keep_packets = keep

        def store_packets(packets: list[bytes]) -> None:  # player thread
            call_soon(loop, keep_packets, packets)

        on_complete = store_packets
    return sources.streaming(job.buffer, on_complete=on_complete, on_abort=on_abort)


def call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> None:
    """Run `callback` on `loop` from any thread, through the loop's `LoopCalls` (the same queue
    as the voice link's end-of-playback calls, so they keep their order and hundreds of first
    plays ending together wake the loop once); a closed loop means shutdown, nothing to do."""
    loop_calls(loop).call(callback, *args)
