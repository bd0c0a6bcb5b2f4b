"""Three OS processes, each with the full speech stack, sharing one Redis, against one fake
endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.standins.cluster_rig import go, report, run_workers, spawn_all, stop_workers, worker_env
from tests.standins.fake_api import FakeEndpoint
from tests.standins.redis_server import REDIS_URL, delete_prefix, open_link, unique_prefix
from tests.standins.settings import API_KEY

PHRASE = "One phrase for the whole cluster."


async def test_sixty_requests_for_one_phrase_over_three_processes_make_one_endpoint_call(
    tmp_path: Path,
) -> None:
    prefix = unique_prefix()
    async with FakeEndpoint(api_key=API_KEY, first_chunk_delay=0.3, realtime_factor=8) as fake:
        envs = [worker_env(fake.url, tmp_path / f"p{i}", REDIS_URL, prefix) for i in range(3)]
        jobs = [{"requests": [{"text": PHRASE}] * 20, "mode": mode} for mode in ("stream", "stream", "synth")]
        try:
            reports = await run_workers(jobs, envs)
            # A later process with an empty DATA_DIR is served from the shared tier.
            late = await run_workers(
                [{"requests": [{"text": PHRASE}], "mode": "stream"}],
                [worker_env(fake.url, tmp_path / "late", REDIS_URL, prefix)],
            )
        finally:
            await delete_prefix(prefix)
        assert fake.request_count == 1
        assert sum(r["requests"] for r in reports) == 1
        heard = {h for r in reports + late for h in r["results"]}
        assert len(heard) == 1 and not next(iter(heard)).startswith("error")
        assert sum(len(r["results"]) for r in reports) == 60
        assert late[0]["requests"] == 0


async def test_three_processes_hold_the_endpoints_concurrency_and_rate_together(tmp_path: Path) -> None:
    prefix = unique_prefix()
    rpm, window, concurrent = 100, 1.0, 4
    async with FakeEndpoint(api_key=API_KEY, first_chunk_delay=0.02) as fake:
        limits = {
            "TTS_MAX_RPM": str(rpm),
            "TTS_RPM_WINDOW": str(window),
            "TTS_MAX_CONCURRENT": str(concurrent),
        }
        envs = [worker_env(fake.url, tmp_path / f"p{i}", REDIS_URL, prefix, **limits) for i in range(3)]
        jobs = [{"requests": [{"text": f"Distinct phrase {p} {i}."} for i in range(100)]} for p in range(3)]
        try:
            reports = await run_workers(jobs, envs)
        finally:
            await delete_prefix(prefix)
    assert all(not h.startswith("error") for r in reports for h in r["results"])
    assert fake.request_count == 300
    assert fake.max_concurrency <= concurrent  # each process alone would allow 4: together 12
    arrivals = sorted(r.at for r in fake.requests)
    # Admission is counted at send time in Redis; arrivals at the fake trail it by up to tens of
    # ms on a loaded machine, so arrivals are checked over a window 100 ms shorter than the one
    # enforced (against the endpoint's real minute, that is the margin 170 of 180 RPM leaves).
    busiest = max(
        sum(1 for t in arrivals[i:] if t < start + window - 0.1) for i, start in enumerate(arrivals)
    )
    assert busiest <= rpm
    assert arrivals[-1] - arrivals[0] >= (300 / rpm - 1) * window  # paced, not a burst of 300


async def test_a_global_daily_budget_holds_across_three_processes(tmp_path: Path) -> None:
    prefix = unique_prefix()
    budget = 200
    async with FakeEndpoint(api_key=API_KEY, first_chunk_delay=0.05) as fake:
        limits = {"LIMIT_GLOBAL_CHARS_DAY": str(budget), "LIMIT_GUILD_CHARS_DAY": str(budget)}
        envs = [worker_env(fake.url, tmp_path / f"p{i}", REDIS_URL, prefix, **limits) for i in range(3)]
        # 25 characters each: 30 requests at once would be 750 characters.
        jobs = [
            {"requests": [{"text": f"Budget phrases {p}-{i:02d} here."} for i in range(10)], "limits": True}
            for p in range(3)
        ]
        try:
            reports = await run_workers(jobs, envs)
        finally:
            await delete_prefix(prefix)
    spoken = sum(len(r.text) for r in fake.requests)
    assert {len(job["requests"][0]["text"]) for job in jobs} == {25}
    assert budget - 25 < spoken <= budget  # filled, and never passed (not even by one request)
    refused = [h for r in reports for h in r["results"] if h.startswith("limit:")]
    assert len(refused) == 30 - fake.request_count and set(refused) == {"limit:global"}


async def _until(check: Callable[[], Awaitable[object]], what: str) -> None:
    """Poll Redis through `check` until it answers a true value (at most 5 s)."""
    try:
        async with asyncio.timeout(5.0):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.005)  # state in Redis: nothing to wait on but the next look
    except TimeoutError:
        raise AssertionError(f"no sign of {what} within 5 s") from None


async def test_a_429_with_retry_after_in_one_process_pauses_the_others(tmp_path: Path) -> None:
    prefix = unique_prefix()
    retry_after = 1.0
    async with FakeEndpoint(api_key=API_KEY, first_chunk_delay=0.02) as fake, open_link(prefix) as link:
        envs = [worker_env(fake.url, tmp_path / f"p{i}", REDIS_URL, prefix) for i in range(3)]
        jobs = [{"requests": [{"text": f"Throttled phrase {p} {i}."} for i in range(3)]} for p in range(3)]
        jobs[0] = {"requests": [{"text": "The phrase that meets the 429."}]}
        procs = await spawn_all(jobs, envs)
        ok = False
        try:
            fake.faults.append(f"retry-after:{retry_after:g}")  # the next request to arrive
            await go(procs[0])
            pause_key = link.key("window", "tts-rpm", "pause")
            await _until(lambda: link.client.exists(pause_key), "the cluster's pause")
            for proc in procs[1:]:
                await go(proc)
            reports = [await report(proc) for proc in procs]
            ok = True
        finally:
            await stop_workers(procs, kill=not ok)
    throttled, *others = fake.requests
    assert throttled.text == "The phrase that meets the 429."
    assert all(not h.startswith("error") for r in reports for h in r["results"])
    assert fake.request_count == 1 + 1 + 6  # the 429, A's retry, and B's and C's requests
    # Nothing reached the endpoint from any process until the Retry-After had passed (the 5 ms
    # spare is the rounding between Redis's millisecond clock and this process's clock).
    assert min(r.at for r in others) >= throttled.at + retry_after - 0.005
    assert [r["requests"] for r in reports] == [2, 3, 3]


async def test_an_outage_in_one_process_opens_the_breaker_in_all_with_one_probe_in_the_cluster(
    tmp_path: Path,
) -> None:
    prefix = unique_prefix()
    cooldown = 1.0
    async with FakeEndpoint(api_key=API_KEY, first_chunk_delay=0.02) as fake, open_link(prefix) as link:
        fake.fault = "error:Arrearage"  # every request: an account-level failure, the breaker opens
        envs = [
            worker_env(
                fake.url,
                tmp_path / f"p{i}",
                REDIS_URL,
                prefix,
                TTS_ENGINE="auto",
                TTS_BREAKER_COOLDOWN_SECONDS=f"{cooldown:g}",
            )
            for i in range(3)
        ]

        def phrases(p: int, phase: int, n: int) -> list[dict[str, str]]:
            return [{"text": f"Outage phrase {p} {phase} {i}."} for i in range(n)]

        jobs = [
            {
                "phases": [
                    {"requests": phrases(p, 0, 1 if p == 0 else 3), "await_breaker_open": p > 0},
                    {"requests": phrases(p, 1, 3)},
                ],
            }
            for p in range(3)
        ]
        procs = await spawn_all(jobs, envs)
        ok = False
        try:
            channel = link.key("invalidate", "breaker")

            async def all_listening() -> bool:
                (_, listeners), *_ = await link.client.pubsub_numsub(channel)
                return int(listeners) >= 3

            await _until(all_listening, "every process subscribed")
            await go(procs[0])
            first = await report(procs[0])  # A met the outage: its breaker opened
            assert first["primary_down"] and fake.request_count == 1
            for proc in procs[1:]:
                await go(proc)
            heard = [await report(proc) for proc in procs[1:]]
            # B and C never saw a failure: A's news opened their breakers, so their six requests
            # went straight to the backup voice.
            assert all(r["primary_down"] and r["requests"] == 0 for r in heard)
            assert fake.request_count == 1
            # After the cooldown one process wins the cluster's probe; then nine requests at once.
            await _until(lambda: link.client.exists(link.key("breaker", "probe")), "the probe election")
            for proc in procs:
                await go(proc)
            last = [await report(proc) for proc in procs]
            ok = True
        finally:
            await stop_workers(procs, kill=not ok)
    assert fake.request_count == 2  # exactly one half-open probe in the whole cluster
    assert sum(r["requests"] for r in last) == 2  # A's first request and the one probe
    for r in [first, *heard, *last]:
        assert all(not h.startswith("error") for h in r["results"])  # the backup spoke instead
