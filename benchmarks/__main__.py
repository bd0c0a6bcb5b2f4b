"""Run every benchmark in turn: `python -m benchmarks [--quick]` (each prints its figures).

Each one also runs alone: `python -m benchmarks.bench_cache`, `bench_clean`,
`bench_local_engine`, `bench_load`, `bench_opus_profiles` (the encoder settings of first plays:
CPU and quality), `bench_voice` (the voice one measures both voice senders and
takes ~15 min; `--quick` ~3), `bench_storage` (needs the PostgreSQL server; ~10 s),
`bench_cluster` (needs Redis).
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "bench_clean",
    "bench_cache",
    "bench_local_engine",
    "bench_load",
    "bench_voice",
    "bench_opus_profiles",
    "bench_storage",
    "bench_cluster",
)
QUICK = {
    "bench_load": ["--quick"],
    "bench_voice": ["--quick"],
    "bench_clean": ["--messages", "5000"],
    "bench_storage": ["--messages", "1000"],
}


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    failed = []
    for name in BENCHMARKS:
        print(f"\n===== {name} =====", flush=True)
        args = QUICK.get(name, []) if quick else []
        if subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *args]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
