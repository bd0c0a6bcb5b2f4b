"""What a GuildPlayer reports: the time to first audio goes into the histogram once playback
starts, and a stream with no audio, a link that refuses to play while connected and unexpected
errors all reach the requester (the last with an error id that is also in the log).

The player runs on small stand-ins (engine, sources, link, clock) and needs no Opus.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import discord
import pytest

from bot.base.errors import ParlaError
from bot.base.metrics import METRICS, Histogram
from bot.speech.request import SpeechRequest
from bot.voice.errors import NoAudioError, UnexpectedError
from bot.voice.frame_buffer import FrameBuffer
from bot.voice.manager import PlayerManager
from bot.voice.player import GuildPlayer
from bot.voice.utterance import PlayerOptions, Utterance
from tests.standins.clock import ManualClock

CHUNK = b"\x01\x00" * 2400  # 0.1 s at 24 kHz


# --------------------------------------------------------------------------- player stand-ins
class ScriptedEngine:
    """stream(): texts starting with "empty" yield nothing, "boom" raises a bug, "gate" waits
    for `gate` before its audio, "long" yields one chunk then waits forever; others 3 chunks."""

    name = "scripted"
    sample_rate = 24_000

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.opened = 0
        self.closed = 0
        self.a_stream_closed = asyncio.Event()

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        self.opened += 1
        try:
            text = request.text
            if text.startswith("empty"):
                return
            if text.startswith("boom"):
                raise ValueError("a bug in the engine")
            if text.startswith("gate"):
                await self.gate.wait()
            if text.startswith("long"):
                yield CHUNK
                await asyncio.Event().wait()
            for _ in range(3):
                yield CHUNK
        finally:
            self.closed += 1
            self.a_stream_closed.set()


class Source:
    def __init__(self, buffer: FrameBuffer | None) -> None:
        self.buffer = buffer
        self.finished = False


class Sources:
    profile = "test"

    def streaming(
        self,
        buffer: FrameBuffer,
        *,
        on_complete: Callable[[list[bytes]], None] | None,
        on_abort: Callable[[], None] | None,
    ) -> Source:
        return Source(buffer)

    def stored(self, packets: Sequence[bytes]) -> Source:
        return Source(None)


class Link:
    """Plays each source to the end at once; `refuse` makes play() raise while connected,
    `fail_with` makes the playback end with that error."""

    def __init__(self, *, refuse: bool = False, fail_with: BaseException | None = None) -> None:
        self.refuse = refuse
        self.fail_with = fail_with
        self.played: list[Source] = []

    def is_connected(self) -> bool:
        return True

    def play(self, source: Any, on_end: Callable[[BaseException | None], None]) -> None:
        if self.refuse:
            raise discord.ClientException("Already playing audio.")
        self.played.append(source)
        loop = asyncio.get_running_loop()
        if self.fail_with is not None:
            loop.call_soon(on_end, self.fail_with)
        else:
            source.finished = True
            loop.call_soon(on_end, None)

    def stop(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class Harness:
    def __init__(self, link: Link, **kwargs: Any) -> None:
        self.engine = ScriptedEngine()
        self.link = link
        self.idle = asyncio.Event()
        self.errors: list[tuple[str, ParlaError]] = []
        self.player = GuildPlayer(
            7,
            self.engine,
            Sources(),
            options=PlayerOptions(preroll_ms=20, stop_wait=0.05),
            on_idle_change=lambda idle: self.idle.set() if idle else self.idle.clear(),
            **kwargs,
        )
        self.player.attach(link)

    def say(self, text: str) -> Utterance:
        def on_error(utterance: Utterance, error: ParlaError) -> None:
            self.errors.append((utterance.text, error))

        u = Utterance(SpeechRequest(text), requester_id=1, requester_name="ann", on_error=on_error)
        self.player.enqueue(u)
        return u

    async def until_idle(self) -> None:
        async with asyncio.timeout(5):
            await self.idle.wait()
        for _ in range(3):  # let the report tasks run
            await asyncio.sleep(0)


# --------------------------------------------------------------------------- first audio
async def test_time_to_first_audio_is_observed_once_playback_starts() -> None:
    histogram = Histogram("t", "t")
    clock = ManualClock(100.0)
    h = Harness(Link(), first_audio=histogram, clock=clock)
    try:
        h.say("gate one")
        for _ in range(5):
            await asyncio.sleep(0)
        assert histogram.count == 0  # nothing played yet
        clock.advance(0.35)  # the engine takes 350 ms to answer
        h.engine.gate.set()
        await h.until_idle()
        assert len(h.link.played) == 1
        assert histogram.count == 1 and histogram.total == pytest.approx(0.35)
        assert histogram.counts[histogram.buckets.index(0.5)] == 1
    finally:
        await h.player.close()


async def test_players_feed_the_global_first_audio_histogram_by_default() -> None:
    manager = PlayerManager(ScriptedEngine(), Sources())
    player = manager.get_or_create(1)
    idle = asyncio.Event()
    manager.set_idle_listener(lambda _gid, is_idle: idle.set() if is_idle else idle.clear())
    before = METRICS.first_audio.count
    try:
        player.attach(Link())
        player.enqueue(Utterance(SpeechRequest("hello there"), 1, "ann"))
        async with asyncio.timeout(5):
            await idle.wait()
        assert METRICS.first_audio.count == before + 1
    finally:
        await manager.close_all()


# --------------------------------------------------------------------------- reports
async def test_a_stream_with_no_audio_is_reported_and_the_queue_moves_on() -> None:
    h = Harness(Link())
    try:
        h.say("empty answer")
        h.say("hello there")
        await h.until_idle()
        assert [text for text, _ in h.errors] == ["empty answer"]
        error = h.errors[0][1]
        assert isinstance(error, NoAudioError)
        assert error.user_message() == "The speech service returned no audio for this message."
        assert len(h.link.played) == 1 and h.link.played[0].finished  # the next one played
        assert h.player.failed == 1 and h.player.played == 1
    finally:
        await h.player.close()


async def test_a_link_refusing_to_play_while_connected_aborts_and_reports(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(Link(refuse=True))
    try:
        with caplog.at_level(logging.ERROR, logger="bot.voice.player"):
            h.say("long story")
            await h.until_idle()
            # The producer was stopped: the engine stream is closed, not left running.
            async with asyncio.timeout(2):
                await h.engine.a_stream_closed.wait()
        assert h.engine.opened == 1
        assert [text for text, _ in h.errors] == ["long story"]
        error = h.errors[0][1]
        assert isinstance(error, UnexpectedError)
        assert error.error_id in caplog.text and "could not start playback" in caplog.text
    finally:
        await h.player.close()


async def test_unexpected_errors_carry_an_error_id_that_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(Link())
    try:
        with caplog.at_level(logging.ERROR, logger="bot.voice.player"):
            h.say("boom goes the engine")
            h.say("hello there")
            await h.until_idle()
        ((text, error),) = h.errors
        assert text == "boom goes the engine"
        message = error.user_message()
        match = re.fullmatch(r"Sorry, something went wrong \(error id ([0-9a-f]+)\)\.", message)
        assert match is not None, message
        logged = [r for r in caplog.records if match.group(1) in r.getMessage()]
        assert len(logged) == 1 and logged[0].exc_info is not None  # with the traceback
        assert len(h.link.played) == 1  # the queue went on
    finally:
        await h.player.close()


async def test_a_playback_error_is_reported_with_an_error_id(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(Link(fail_with=RuntimeError("opus encoder broke")))
    try:
        with caplog.at_level(logging.ERROR, logger="bot.voice.player"):
            h.say("hello there")
            await h.until_idle()
        ((_, error),) = h.errors
        assert isinstance(error, UnexpectedError)
        assert error.error_id in caplog.text and "opus encoder broke" in caplog.text
        assert h.player.failed == 1
    finally:
        await h.player.close()
