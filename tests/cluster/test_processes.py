"""Three OS processes, each with the full speech stack, sharing one Redis, against one fake
endpoint."""

from __future__ import annotations

from pathlib import Path

from tests.standins.cluster_rig import run_workers, worker_env
from tests.standins.fake_api import FakeEndpoint
from tests.standins.redis_server import REDIS_URL, delete_prefix, unique_prefix
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
