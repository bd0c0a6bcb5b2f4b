"""Prometheus metrics (`METRICS_PORT`) through `prometheus_client`: standard metric types, the
process and GC metrics, correct exposition, and multiprocess mode when
`PROMETHEUS_MULTIPROC_DIR` is set (several shard processes: each process's /metrics then
aggregates the histograms of all of them; the gauges are the answering process's own).

Collectors are callables returning samples (a name ending in `_total` is a counter, any other a
gauge); the first-audio histogram is fed by the player. The server binds `METRICS_HOST`
(127.0.0.1 unless set), closes idle connections after a few seconds and refuses connections over
a small cap, so an open port cannot be used to hold sockets.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import prometheus_client
from aiohttp import web
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector as _PromCollector

log = logging.getLogger(__name__)

Sample = tuple[str, dict[str, str], float]  # name, labels, value
Collector = Callable[[], Iterable[Sample]]

DEFAULT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
MAX_CONNECTIONS = 16  # concurrent connections to the metrics port; more are closed at once
KEEPALIVE_SECONDS = 5.0  # an idle connection (before or between requests) is closed after this


class Histogram:
    """A `prometheus_client.Histogram` plus the figures the tests and logs read."""

    def __init__(
        self,
        name: str,
        help: str,
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.buckets = tuple(buckets)
        self._histogram = prometheus_client.Histogram(name, help, buckets=self.buckets, registry=registry)

    def observe(self, value: float) -> None:
        self._histogram.observe(value)

    def _samples(self) -> dict[tuple[str, str], float]:
        found: dict[tuple[str, str], float] = {}
        for metric in self._histogram.collect():
            for s in metric.samples:
                found[(s.name, s.labels.get("le", ""))] = s.value
        return found

    @property
    def count(self) -> int:
        return int(self._samples().get((f"{self.name}_count", ""), 0))

    @property
    def total(self) -> float:
        return self._samples().get((f"{self.name}_sum", ""), 0.0)

    @property
    def counts(self) -> list[int]:
        """Observations per bucket (not cumulative), in bucket order."""
        samples = self._samples()
        by_bound = {float(le): n for (name, le), n in samples.items() if name == f"{self.name}_bucket"}
        cumulative = [int(by_bound.get(b, 0)) for b in self.buckets]
        return [n - (cumulative[i - 1] if i else 0) for i, n in enumerate(cumulative)]


class _Samples(_PromCollector):
    """The collector callables as Prometheus metric families."""

    def __init__(self, collectors: list[Collector]) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for collector in self._collectors:
            try:
                samples = list(collector())
            except Exception:
                log.exception("metrics collector failed")
                continue
            for name, labels, value in samples:
                counter = name.endswith("_total")
                base = name.removesuffix("_total") if counter else name
                family = families.get(base)
                if family is None:
                    family = families[base] = Metric(base, name, "counter" if counter else "gauge")
                family.add_sample(name, dict(labels), float(value))
        yield from families.values()


class Metrics:
    def __init__(self) -> None:
        self._collectors: list[Collector] = []
        self.registry = CollectorRegistry(auto_describe=False)
        self.first_audio = Histogram(
            "parla_time_to_first_audio_seconds",
            "Time from enqueue to the first audio packet.",
            registry=self.registry,
        )
        self.registry.register(_Samples(self._collectors))
        self._multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        if not self._multiprocess:  # process metrics are per process: not in multiprocess mode
            prometheus_client.ProcessCollector(registry=self.registry)
            prometheus_client.GCCollector(registry=self.registry)
            prometheus_client.PlatformCollector(registry=self.registry)

    def add_collector(self, collector: Collector) -> None:
        self._collectors.append(collector)

    def _exposed(self) -> CollectorRegistry:
        if not self._multiprocess:
            return self.registry
        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # every process
        registry.register(_Samples(self._collectors))
        return registry

    def render(self) -> str:
        return prometheus_client.generate_latest(self._exposed()).decode()

    async def serve(
        self,
        port: int,
        host: str = "127.0.0.1",
        *,
        max_connections: int = MAX_CONNECTIONS,
        keepalive: float = KEEPALIVE_SECONDS,
    ) -> web.AppRunner:
        app = web.Application()

        async def handle(_: web.Request) -> web.Response:
            body = await asyncio.to_thread(self.render)  # process metrics read /proc
            return web.Response(
                body=body.encode(), headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST}
            )

        listening: list[asyncio.Server] = []

        async def stop_listening(_: web.Application) -> None:
            for listener in listening:
                listener.close()
                await listener.wait_closed()

        app.router.add_get("/metrics", handle)
        app.on_shutdown.append(stop_listening)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=keepalive)
        await runner.setup()
        server = runner.server
        assert server is not None

        def protocol() -> asyncio.BaseProtocol:
            if len(server.connections) >= max_connections:
                return _Refused()
            return server()

        loop = asyncio.get_running_loop()
        listening.append(await loop.create_server(protocol, host, port, reuse_address=True))
        log.info("metrics on %s:%d", host, port)
        return runner


def queue_samples(lengths: Iterable[tuple[int, int]], *, guild_labels: bool) -> list[Sample]:
    """`parla_queue_length` from (server id, queue length) pairs: one total, or one sample per
    server when `METRICS_GUILD_LABELS` is on (server ids are not shown by default)."""
    pairs = list(lengths)
    if guild_labels:
        return [("parla_queue_length", {"guild": str(guild)}, n) for guild, n in pairs]
    return [("parla_queue_length", {}, sum(n for _, n in pairs))]


class _Refused(asyncio.Protocol):
    """A connection over the cap: closed as soon as it is accepted."""

    def connection_made(self, transport: Any) -> None:
        transport.close()


METRICS = Metrics()
