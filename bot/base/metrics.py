"""A small Prometheus text-format endpoint (`METRICS_PORT`), with no extra dependency.

Collectors are callables returning samples; the first-audio histogram is fed by the player.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web

log = logging.getLogger(__name__)

Sample = tuple[str, dict[str, str], float]  # name, labels, value
Collector = Callable[[], Iterable[Sample]]


@dataclass
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += value
        self.count += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        running = 0
        for bound, n in zip(self.buckets, self.counts, strict=True):
            running += n
            lines.append(f'{self.name}_bucket{{le="{bound:g}"}} {running}')
        lines.append(f'{self.name}_bucket{{le="+Inf"}} {self.count}')
        lines.append(f"{self.name}_sum {self.total:.6f}")
        lines.append(f"{self.name}_count {self.count}")
        return lines


class Metrics:
    def __init__(self) -> None:
        self._collectors: list[Collector] = []
        self.first_audio = Histogram(
            "parla_time_to_first_audio_seconds", "Time from enqueue to the first audio packet."
        )

    def add_collector(self, collector: Collector) -> None:
        self._collectors.append(collector)

    def render(self) -> str:
        lines: list[str] = []
        seen: set[str] = set()
        for collector in self._collectors:
            try:
                samples = list(collector())
            except Exception:
                log.exception("metrics collector failed")
                continue
            for name, labels, value in samples:
                if name not in seen:
                    seen.add(name)
                    lines.append(f"# TYPE {name} gauge")
                label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
                lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
        lines.extend(self.first_audio.render())
        return "\n".join(lines) + "\n"

    async def serve(self, port: int, host: str = "0.0.0.0") -> web.AppRunner:
        app = web.Application()

        async def handle(_: web.Request) -> web.Response:
            return web.Response(text=self.render(), content_type="text/plain", charset="utf-8")

        app.router.add_get("/metrics", handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("metrics on port %d", port)
        return runner


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


METRICS = Metrics()
