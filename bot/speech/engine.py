"""The interface every speech engine offers (the endpoint client, the local engine, the cache)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from bot.audio.clip import Audio
from bot.speech.request import SpeechRequest


@runtime_checkable
class SpeechEngine(Protocol):
    """Turns a SpeechRequest into mono s16le PCM.

    `name` identifies the engine in cache keys ("api:<style>:<model>", "local:espeak-ng").
    `sample_rate` is the rate of the PCM that `stream()` yields.
    `stream()` yields PCM chunks of any even length as they become available; closing the
    iterator early (aclose) releases the underlying connection.
    """

    @property
    def name(self) -> str: ...

    @property
    def sample_rate(self) -> int: ...

    async def synthesize(self, request: SpeechRequest) -> Audio: ...

    def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]: ...


@contextlib.asynccontextmanager
async def opened_stream(stream: AsyncIterator[bytes]) -> AsyncIterator[AsyncIterator[bytes]]:
    """Close an engine `stream` (releasing its connection) when leaving the block, however it
    is left: finished, broken off, failed or cancelled."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
