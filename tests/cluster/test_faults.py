"""Redis lost mid-run: every request still ends in audio (local state), and shared state
resumes once Redis is back."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

from bot.base.secrets import Secret
from bot.speech.request import SpeechRequest
from bot.speech.stack import open_speech_stack
from tests.standins.cluster_rig import (
    go,
    report,
    run_workers,
    spawn_ready,
    start_worker,
    stop_workers,
    worker_env,
)
from tests.standins.fake_api import FakeEndpoint
from tests.standins.redis_server import REDIS_URL, RedisProcess, delete_prefix, unique_prefix
from tests.standins.settings import API_KEY, make_settings


async def _speak(engine: object, text: str) -> bytes:
    return b"".join([c async for c in engine.stream(SpeechRequest(text=text))])  # type: ignore[attr-defined]


async def test_redis_stopped_mid_run_then_restarted(tmp_path: Path) -> None:
    server = RedisProcess()
    await server.start()
    async with FakeEndpoint(api_key=API_KEY) as fake:
        settings = make_settings(
            fake,
            tmp_path,
            engine="api",
            redis_url=Secret(server.url),
            redis_prefix=unique_prefix(),
            cache_disk_mb=0,
            max_requests_per_minute=170,
        )
        try:
            async with open_speech_stack(settings) as stack:
                link = stack.cluster
                assert link is not None and link.available
                assert await _speak(stack.engine, "Before the outage.") == fake.expected_pcm(
                    "Before the outage."
                )
                await server.stop()
                # Lost mid-run: requests still end in audio, from local state.
                heard = await asyncio.gather(
                    *(_speak(stack.engine, f"During the outage {i}.") for i in range(5))
                )
                assert heard == [fake.expected_pcm(f"During the outage {i}.") for i in range(5)]
                assert not link.available
                await server.start()  # an empty Redis, as after a restart
                assert await link.check()  # the 10 s recheck, run now
                assert link.available
                assert await _speak(stack.engine, "After the outage.") == fake.expected_pcm(
                    "After the outage."
                )
                assert stack.cache is not None and stack.cache.shared is not None
                assert (
                    await stack.cache.shared.read(
                        "pcm",
                        stack.engine.key_for(  # type: ignore[attr-defined]
                            SpeechRequest(text="After the outage.").validated()
                        ),
                    )
                    is not None
                )  # shared state resumed
                window = (
                    stack.client.cluster_pacing.window
                    if stack.client and stack.client.cluster_pacing
                    else None
                )
                assert window is not None and await window.count() == 1
        finally:
            await server.stop()


async def test_a_process_killed_holding_the_flight_lock_and_a_slot_does_not_wedge_the_others(
    tmp_path: Path,
) -> None:
    prefix = unique_prefix()
    phrase = "Spoken by a process that dies."
    # The victim's answer takes long: it dies holding the single-flight lock and the only slot.
    async with (
        FakeEndpoint(api_key=API_KEY, first_chunk_delay=30) as slow,
        FakeEndpoint(api_key=API_KEY) as fast,
    ):
        limits = {"TTS_MAX_CONCURRENT": "1", "CLUSTER_LEASE_SECONDS": "1"}
        try:
            victim = await start_worker(
                {"requests": [{"text": phrase}]},
                worker_env(slow.url, tmp_path / "v", REDIS_URL, prefix, **limits),
            )
            while slow.request_count == 0:  # noqa: ASYNC110 - another process's request
                await asyncio.sleep(0.02)
            victim.kill()
            await victim.wait()
            started = time.monotonic()
            (report,) = await run_workers(
                [{"requests": [{"text": phrase}] * 3}],
                [worker_env(fast.url, tmp_path / "o", REDIS_URL, prefix, **limits)],
            )
            waited = time.monotonic() - started
        finally:
            await delete_prefix(prefix)
    assert report["results"] == [hashlib.sha256(fast.expected_pcm(phrase)).hexdigest()] * 3
    assert fast.request_count == 1
    assert waited < 10  # within the 1 s leases (plus a process start), not wedged


async def test_a_follower_that_heard_part_of_a_phrase_takes_over_when_the_owner_is_sigkilled(
    tmp_path: Path,
) -> None:
    """The owner process streams two chunks, then is SIGKILLed with its stream unfinished. The
    follower, whose listener has those two chunks, claims the lock once the lease runs out,
    calls the endpoint itself, and its listener hears the rest from where it was: the phrase
    whole, once (no stall error, no repeated beginning)."""
    prefix = unique_prefix()
    phrase = "A long phrase whose owner is killed half-way through its stream."
    async with FakeEndpoint(api_key=API_KEY) as dying, FakeEndpoint(api_key=API_KEY) as fresh:
        dying.fault = "stall-after:2:60"  # two chunks, then nothing for a minute
        limits = {"CLUSTER_LEASE_SECONDS": "1"}
        follower = None
        try:
            victim = await start_worker(
                {"requests": [{"text": phrase}]},
                worker_env(dying.url, tmp_path / "v", REDIS_URL, prefix, **limits),
            )
            while dying.request_count == 0:  # noqa: ASYNC110 - another process's request
                await asyncio.sleep(0.02)
            follower = await spawn_ready(
                {"requests": [{"text": phrase}], "tell_first_chunk": True},
                worker_env(fresh.url, tmp_path / "f", REDIS_URL, prefix, **limits),
            )
            await go(follower)
            assert follower.stdout is not None
            assert await asyncio.wait_for(follower.stdout.readline(), 30) == b"heard\n"
            victim.kill()
            await victim.wait()
            heard = await report(follower)
        finally:
            if follower is not None:
                await stop_workers([follower])
            await delete_prefix(prefix)
    whole = fresh.expected_pcm(phrase)
    assert len(whole) > 3 * 4800  # more than the two chunks the victim streamed
    assert dying.request_count == 1 and fresh.request_count == 1
    assert heard["requests"] == 1  # the follower made the one call of its takeover
    assert heard["results"] == [hashlib.sha256(whole).hexdigest()]
