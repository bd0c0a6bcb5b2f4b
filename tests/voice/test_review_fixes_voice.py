"""Review fixes in the player and the voice adapter.

- VoiceService.join: two joins at once in one server share one connection; a stale client
  whose disconnect hangs does not hang the join.
- GuildPlayer: time to first audio is observed; a stream with no audio, a link that refuses
  to play while connected and unexpected errors are all reported to the requester (the last
  with an error id that is also in the log).

The player tests use small stand-ins (engine, sources, link) and need no Opus.
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
from bot.voice.service import VoiceOptions
from bot.voice.utterance import PlayerOptions, Utterance
from tests.voice.test_recording_voice_client import needs_opus
from tests.voice.test_service import Channel, GuildVC, World, member

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


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


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
    clock = Clock()
    h = Harness(Link(), first_audio=histogram, clock=clock)
    try:
        h.say("gate one")
        for _ in range(5):
            await asyncio.sleep(0)
        assert histogram.count == 0  # nothing played yet
        clock.now += 0.35  # the engine takes 350 ms to answer
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


# --------------------------------------------------------------------------- concurrent joins
class SlowChannel(Channel):
    """Like discord.py: the voice client is registered on the guild before it is connected;
    a second connect while one is registered fails with "Already connected"."""

    def __init__(self, cid: int, guild: Any) -> None:
        super().__init__(cid, guild)
        self.gate = asyncio.Event()
        self.connects = 0

    async def connect(self, *, timeout: float, reconnect: bool, self_deaf: bool = False) -> GuildVC:  # noqa: ASYNC109
        if self.guild.voice_client is not None:
            raise discord.ClientException("Already connected to a voice channel.")
        self.connects += 1
        vc = GuildVC(asyncio.get_running_loop(), self)
        vc.drop_connection()  # not connected yet
        self.guild.voice_client = vc
        self.guild.client.voice_clients.append(vc)
        self.members.append(self.guild.me)
        await self.gate.wait()  # the voice handshake
        if vc.disconnected:
            raise discord.ClientException("Disconnected while connecting.")
        vc.restore_connection()
        return vc


@needs_opus
async def test_two_joins_at_once_share_one_connection() -> None:
    w = World()
    try:
        slow = SlowChannel(20, w.guild)
        ann = member(1, w.guild, slow)
        bob = member(2, w.guild, slow)
        first = asyncio.create_task(w.service.join(ann))
        second = asyncio.create_task(w.service.join(bob))
        for _ in range(5):
            await asyncio.sleep(0)
        slow.gate.set()
        async with asyncio.timeout(5):
            results = await asyncio.gather(first, second, return_exceptions=True)
        assert results == [slow, slow]
        assert slow.connects == 1
        vc = w.guild.voice_client
        assert vc is not None and vc.is_connected() and not vc.disconnected
        assert w.client.voice_clients == [vc]
        player = w.manager.get(1)
        assert player is not None and player.link is not None and player.link.is_connected()
    finally:
        await w.service.close()


class HangingVC(GuildVC):
    async def disconnect(self, *, force: bool = False) -> None:
        await asyncio.Event().wait()  # never returns


@needs_opus
async def test_a_stale_client_whose_disconnect_hangs_does_not_hang_the_join() -> None:
    w = World()
    w.service.options = VoiceOptions(alone_grace=60, idle_timeout=600, disconnect_timeout=0.05)
    try:
        stale = HangingVC(asyncio.get_running_loop(), w.a)
        stale.drop_connection()  # e.g. still trying to reconnect
        w.guild.voice_client = stale
        ann = member(1, w.guild, w.a)
        async with asyncio.timeout(2):
            channel = await w.service.join(ann)
        assert channel is w.a
        vc = w.guild.voice_client
        assert vc is not None and vc is not stale and vc.is_connected()
    finally:
        await w.service.close()


@needs_opus
async def test_a_leave_then_join_still_works_and_joins_stay_serialised() -> None:
    w = World()
    try:
        ann = member(1, w.guild, w.a)
        await w.service.join(ann)
        assert await w.service.leave(1)
        assert w.service.timers(1) == {"alone": False, "idle": False}
        channel = await w.service.join(ann)
        assert channel is w.a and len(w.client.voice_clients) == 1
    finally:
        await w.service.close()
