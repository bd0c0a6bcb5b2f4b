from __future__ import annotations

import aiohttp

from bot.base.metrics import Histogram, Metrics


def test_histogram_buckets_are_cumulative() -> None:
    h = Histogram("t_seconds", "test", buckets=(0.1, 1.0))
    for v in (0.05, 0.5, 0.7, 3.0):
        h.observe(v)
    text = "\n".join(h.render())
    assert 't_seconds_bucket{le="0.1"} 1' in text
    assert 't_seconds_bucket{le="1"} 3' in text
    assert 't_seconds_bucket{le="+Inf"} 4' in text
    assert "t_seconds_count 4" in text


async def test_endpoint_serves_collectors_and_survives_a_broken_one(unused_tcp_port: int) -> None:
    metrics = Metrics()
    metrics.add_collector(
        lambda: [("parla_requests_total", {}, 3), ("parla_errors_total", {"code": 'X"'}, 1)]
    )

    def broken() -> list[tuple[str, dict[str, str], float]]:
        raise RuntimeError("boom")

    metrics.add_collector(broken)
    metrics.first_audio.observe(0.2)
    runner = await metrics.serve(unused_tcp_port, host="127.0.0.1")
    try:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{unused_tcp_port}/metrics") as r:
            body = await r.text()
    finally:
        await runner.cleanup()
    assert "parla_requests_total 3" in body
    assert 'parla_errors_total{code="X\\""} 1' in body
    assert "parla_time_to_first_audio_seconds_count 1" in body
