"""Calls from the voice threads reach the event loop in order, many per wake-up."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import discord
import pytest

from bot.voice.link import DiscordVoiceLink
from bot.voice.loop_calls import LoopCalls, loop_calls
from bot.voice.sender import VoiceSender
from bot.voice.source import StoredOpusSource
from tests.standins.voice_client import PacketVoiceClient


def count_wakeups(loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts `loop.call_soon_threadsafe` (each writes to the loop's self-pipe)."""
    wakeups = [0]
    real = loop.call_soon_threadsafe

    def counted(*args: Any, **kwargs: Any) -> Any:
        wakeups[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    return wakeups


async def test_calls_made_before_the_loop_runs_them_share_one_wake_up_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    wakeups = count_wakeups(loop, monkeypatch)
    calls = LoopCalls(loop)
    seen: list[int] = []
    done = asyncio.Event()
    for i in range(100):
        calls.call(seen.append, i)
    calls.call(done.set)
    await done.wait()
    assert seen == list(range(100))
    assert wakeups[0] == 1
    calls.call(seen.append, 100)  # the queue ran empty: the next call wakes the loop again
    await asyncio.sleep(0)
    assert seen[-1] == 100 and wakeups[0] == 2


async def test_calls_from_another_thread_run_on_the_loop_thread_and_one_failure_stops_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    calls = loop_calls(loop)
    assert loop_calls(loop) is calls  # one per loop: calls through it keep their order
    ran_on: list[int] = []
    done = asyncio.Event()

    def fail() -> None:
        raise RuntimeError("boom")

    def from_thread() -> None:
        calls.call(fail)
        calls.call(lambda: ran_on.append(threading.get_ident()))
        calls.call(done.set)

    with caplog.at_level(logging.ERROR):
        await asyncio.to_thread(from_thread)
        async with asyncio.timeout(5):
            await done.wait()
    assert ran_on == [threading.get_ident()]
    assert "a call from a voice thread failed" in caplog.text


def test_a_call_onto_a_closed_loop_is_dropped_quietly() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    calls = LoopCalls(loop)
    calls.call(print, "never")
    calls.call(print, "never")
    assert calls._calls == []  # nothing kept for a loop that will never run it


async def test_servers_ending_together_wake_the_event_loop_once_not_twice_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """40 replays end while the event loop is busy: their 80 calls for the loop (speaking off,
    end of playback) wake it once, not once each; each server's speaking goes off."""
    loop = asyncio.get_running_loop()
    sender = VoiceSender(encode_processes=0)
    clients = [PacketVoiceClient(loop, ssrc=i + 1) for i in range(40)]
    ended: list[int] = []
    all_ended = asyncio.Event()
    calls = loop_calls(loop)
    queued = [0]
    all_queued = threading.Event()
    call = calls.call

    def counted_call(fn: Any, *args: Any) -> None:
        call(fn, *args)
        queued[0] += 1
        if queued[0] == 2 * len(clients):
            all_queued.set()

    def on_end(i: int) -> Any:
        def end(error: BaseException | None) -> None:
            assert error is None
            ended.append(i)
            if len(ended) == len(clients):
                all_ended.set()

        return end

    try:
        for i, vc in enumerate(clients):
            DiscordVoiceLink(vc, sender=sender).play(StoredOpusSource([b"\xf8\xff\xfe"] * 50), on_end(i))
        await clients[-1].wait_for(lambda ps: any(p.scheduled for p in ps))  # all are playing
        await asyncio.sleep(0)  # the speaking-on tasks
        wakeups = count_wakeups(loop, monkeypatch)
        monkeypatch.setattr(calls, "call", counted_call)
        assert all_queued.wait(10)  # the loop is busy (here) while the sender ends them all
        async with asyncio.timeout(10):
            await all_ended.wait()
        await asyncio.sleep(0)  # the speaking-off tasks
        assert sorted(ended) == list(range(40))
        assert all(vc.recorder.ws.speaking[-1] == discord.SpeakingState.none for vc in clients)
        assert wakeups[0] == 1
    finally:
        sender.close()
        for vc in clients:
            vc.close()
