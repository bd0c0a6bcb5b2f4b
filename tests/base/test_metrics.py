"""The metrics port: prometheus_client exposition with the names dashboards use, process and GC
metrics, and a port that cannot be used to hold sockets open."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp

from bot.base.config import Settings
from bot.base.metrics import KEEPALIVE_SECONDS, MAX_CONNECTIONS, Histogram, Metrics, queue_samples


def test_histogram_buckets() -> None:
    h = Histogram("t_seconds", "test", buckets=(0.1, 1.0))
    for v in (0.05, 0.5, 0.7, 3.0):
        h.observe(v)
    assert h.counts == [1, 2]
    assert h.count == 4
    assert abs(h.total - 4.25) < 1e-9


async def scrape(port: int) -> str:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=")
        return await r.text()


async def test_endpoint_serves_collectors_and_survives_a_broken_one(unused_tcp_port: int) -> None:
    metrics = Metrics()
    metrics.add_collector(
        lambda: [
            ("parla_requests_total", {}, 3),
            ("parla_errors_total", {"code": 'X"'}, 1),
            ("parla_cache_bytes", {"tier": "memory"}, 10),
        ]
    )

    def broken() -> list[tuple[str, dict[str, str], float]]:
        raise RuntimeError("boom")

    metrics.add_collector(broken)
    metrics.first_audio.observe(0.2)
    runner = await metrics.serve(unused_tcp_port)
    try:
        body = await scrape(unused_tcp_port)
    finally:
        await runner.cleanup()
    # The names dashboards use are kept; counters are typed as counters.
    assert "# TYPE parla_requests_total counter" in body
    assert "parla_requests_total 3.0" in body
    assert 'parla_errors_total{code="X\\""} 1.0' in body
    assert "# TYPE parla_cache_bytes gauge" in body
    assert 'parla_cache_bytes{tier="memory"} 10.0' in body
    assert "parla_time_to_first_audio_seconds_count 1.0" in body
    assert 'parla_time_to_first_audio_seconds_bucket{le="0.25"} 1.0' in body
    # The library's process and GC metrics come along.
    assert "process_resident_memory_bytes" in body
    assert "python_gc_collections_total" in body


def test_metrics_bind_localhost_and_hide_server_ids_by_default() -> None:
    settings = Settings.from_env({}, dotenv=False)
    assert settings.metrics_host == "127.0.0.1"
    assert settings.metrics_guild_labels is False
    opted_in = Settings.from_env({"METRICS_HOST": "0.0.0.0", "METRICS_GUILD_LABELS": "true"}, dotenv=False)
    assert (opted_in.metrics_host, opted_in.metrics_guild_labels) == ("0.0.0.0", True)


def test_queue_lengths_carry_no_server_id_unless_asked() -> None:
    lengths = [(111111111111111111, 3), (222222222222222222, 2)]
    assert queue_samples(lengths, guild_labels=False) == [("parla_queue_length", {}, 5)]
    assert queue_samples(lengths, guild_labels=True) == [
        ("parla_queue_length", {"guild": "111111111111111111"}, 3),
        ("parla_queue_length", {"guild": "222222222222222222"}, 2),
    ]


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        async with asyncio.timeout(within):
            return await reader.read() == b""
    except TimeoutError:
        return False


async def test_idle_and_surplus_connections_are_closed(unused_tcp_port: int) -> None:
    assert (MAX_CONNECTIONS, KEEPALIVE_SECONDS) == (16, 5.0)
    metrics = Metrics()
    runner = await metrics.serve(unused_tcp_port, max_connections=4, keepalive=0.3)
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for _ in range(6):
            conns.append(await asyncio.open_connection("127.0.0.1", unused_tcp_port))
        # Over the cap: closed at once.
        assert await closed_by_server(conns[5][0], within=2.0)
        # Idle, never sending a request: closed after the keep-alive.
        assert all([await closed_by_server(r, within=3.0) for r, _ in conns[:4]])
        # The port still answers afterwards.
        assert "parla_time_to_first_audio_seconds" in await scrape(unused_tcp_port)
    finally:
        for _, w in conns:
            w.close()
        await runner.cleanup()


def test_multiprocess_mode_aggregates_the_histograms_of_every_process(tmp_path: Path) -> None:
    # Two shard processes observe; a third answers the scrape with both observations.
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": os.getcwd()}
    observe = "from bot.base.metrics import METRICS; METRICS.first_audio.observe(0.2)"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", observe], env=env, check=True, timeout=60)
    render = "from bot.base.metrics import METRICS; print(METRICS.render())"
    out = subprocess.run(
        [sys.executable, "-c", render], env=env, check=True, timeout=60, capture_output=True, text=True
    ).stdout
    assert "parla_time_to_first_audio_seconds_count 2.0" in out
