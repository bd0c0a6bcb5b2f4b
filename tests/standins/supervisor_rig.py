"""The cluster supervisor over stand-in workers (no Discord): each worker appends
`<pid> <SHARD_IDS>` to the report file, then sleeps until SIGTERM (exit 0), or, with `--crash`,
exits 3 at once.

    python -m tests.standins.supervisor_rig REPORT [--crash]
"""

from __future__ import annotations

import asyncio
import os
import sys

from bot.app.cluster_run import Worker, plan_shards, supervise

WORKER = """
import os, signal, sys, time
with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()} {os.environ['SHARD_IDS']}\\n")
if sys.argv[2] == "crash":
    sys.exit(3)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(1)
"""


def main() -> int:
    report, crash = sys.argv[1], "--crash" in sys.argv
    workers = []
    for shards in plan_shards(4, 2):
        env = dict(os.environ, SHARD_COUNT="4", SHARD_IDS=",".join(map(str, shards)))
        argv = [sys.executable, "-c", WORKER, report, "crash" if crash else "run"]
        workers.append(Worker(argv, env, shards))
    return asyncio.run(supervise(workers, backoff=0.01))


if __name__ == "__main__":
    sys.exit(main())
