"""A speech engine whose stream the test holds half way: one second of audio, then it waits
for `gate`, then half a second more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bot.audio.clip import Audio
from bot.speech.request import SpeechRequest


class GatedEngine:
    """One second of audio, then waits for `gate`, then half a second more."""

    name = "test:gated"
    sample_rate = 24_000

    def __init__(self) -> None:
        self.first_sent = asyncio.Event()
        self.gate = asyncio.Event()
        self.closed = False

    async def synthesize(self, request: SpeechRequest) -> Audio:
        raise AssertionError("files are made from the stream")

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        try:
            yield b"\x10\x00" * 24_000
            self.first_sent.set()
            await self.gate.wait()
            yield b"\x10\x00" * 12_000
        finally:
            self.closed = True
