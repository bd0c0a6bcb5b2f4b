"""One Parla process's settings, for a test cluster: its own storage (`open_storage`: the
SQLite file or PostgreSQL database `DATABASE_URL` names) and its own Redis link (`REDIS_URL`,
`REDIS_PREFIX`), wired as the bot wires them (`share_settings`), driven over stdin/stdout.

    python -m tests.standins.settings_worker

It prints `ready` once subscribed to the settings channel, then answers one line per command:
  resolve                  -> the member's resolved voice
  set <voice>              -> stores the member's global voice; `done`
  await <voice> <seconds>  -> resolves again and again until the voice is <voice> or the
                              deadline passed; {"voice": ..., "after": seconds} as JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from bot.base.config import Settings
from bot.cluster.connection import open_cluster
from bot.store.cluster_settings import share_settings
from bot.store.open import open_storage

USER, GUILD = 1001, 2002
POLL = 0.005  # seconds between two resolutions while awaiting a voice


async def main() -> None:
    settings = Settings.from_env(dotenv=False)
    async with open_cluster(settings) as link, open_storage(settings) as storage:
        assert link is not None and link.available, "REDIS_URL is needed"
        sync = share_settings(link, storage)
        try:
            await asyncio.wait_for(sync.channel.subscribed.wait(), 10)
            print("ready", flush=True)
            while line := (await asyncio.to_thread(sys.stdin.readline)).split():
                command, args = line[0], line[1:]
                if command == "resolve":
                    print((await storage.resolve_voice_settings(USER, GUILD)).voice, flush=True)
                elif command == "set":
                    await storage.set_user_pref(USER, None, "voice", args[0])
                    print("done", flush=True)
                elif command == "await":
                    wanted, deadline = args[0], time.monotonic() + float(args[1])
                    started = time.monotonic()
                    while (voice := (await storage.resolve_voice_settings(USER, GUILD)).voice) != wanted:
                        if time.monotonic() >= deadline:
                            break
                        await asyncio.sleep(POLL)  # the cache changes on a message: look again
                    print(json.dumps({"voice": voice, "after": time.monotonic() - started}), flush=True)
        finally:
            await sync.close()


if __name__ == "__main__":
    asyncio.run(main())
