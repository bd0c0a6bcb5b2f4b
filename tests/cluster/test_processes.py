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


async def test_without_redis_each_process_buys_the_phrase_itself(tmp_path: Path) -> None:
    async with FakeEndpoint(api_key=API_KEY) as fake:
        envs = [worker_env(fake.url, tmp_path / f"p{i}", None, "unused:") for i in range(2)]
        reports = await run_workers([{"requests": [{"text": PHRASE}] * 5}] * 2, envs)
        assert fake.request_count == 2
        assert [r["requests"] for r in reports] == [1, 1]
