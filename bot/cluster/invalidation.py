"""`InvalidationChannel`: tell every other process that something changed (Redis pub/sub).

`publish(message)` sends a JSON object, tagged with this process's sender id, in a task the
channel owns (so a caller never waits on Redis, and never gets an error from it). `start()`
subscribes and hands every other process's message to `on_message`. Pub/sub does not keep
messages: whenever the subscription is (re)made, after Redis was lost, `on_resync` runs,
so the caller drops whatever it may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from bot.cluster.connection import ClusterLink, stop_task

__all__ = ["InvalidationChannel"]

log = logging.getLogger(__name__)

POLL = 1.0  # seconds a read of the subscription waits before looking again


class InvalidationChannel:
    def __init__(self, link: ClusterLink, name: str) -> None:
        self._link = link
        self.channel = link.key("invalidate", name)
        self.sender = secrets.token_hex(6)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        self.lost = asyncio.Event()  # set when a subscription breaks, cleared on the next one
        self.received = 0
        self.heard = asyncio.Event()  # set at each message from another process

    def publish(self, message: dict[str, Any]) -> None:
        data = json.dumps({"s": self.sender, **message})
        task = asyncio.create_task(self.publish_now(data), name="parla-invalidate-publish")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def publish_now(self, data: str) -> None:
        await self._link.call(lambda r: r.publish(self.channel, data), None)

    def spawn(self, coro: Any) -> None:
        """Run `coro` in a task this channel owns (cancelled by `close`)."""
        task = asyncio.create_task(coro, name="parla-invalidate-step")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(self, on_message: Callable[[dict[str, Any]], None], on_resync: Callable[[], None]) -> None:
        self._listener = asyncio.create_task(
            self._listen(on_message, on_resync), name="parla-invalidate-listen"
        )

    async def _listen(
        self, on_message: Callable[[dict[str, Any]], None], on_resync: Callable[[], None]
    ) -> None:
        while True:
            if not self._link.available:
                self.subscribed.clear()
                await asyncio.sleep(min(POLL, self._link.recheck_seconds))
                continue
            pubsub = self._link.client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                self.lost.clear()
                on_resync()  # whatever was published while we were not listening is lost
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL)
                    if message is None or message.get("type") != "message":
                        continue
                    self._handle(message.get("data"), on_message)
            except (RedisError, OSError, TimeoutError) as exc:
                self.subscribed.clear()
                self.lost.set()
                self._link.mark_down(exc)
            finally:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    async with asyncio.timeout(2.0):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _handle(self, data: object, on_message: Callable[[dict[str, Any]], None]) -> None:
        try:
            message = json.loads(data) if isinstance(data, bytes | str) else None
        except ValueError:
            message = None
        if not isinstance(message, dict):
            log.warning("invalidation: ignored a message that is not ours on %s", self.channel)
            return
        if message.get("s") == self.sender:
            return
        self.received += 1
        self.heard.set()
        try:
            on_message(message)
        except Exception:
            log.exception("invalidation handler failed")

    async def close(self) -> None:
        tasks = list(self._tasks)
        if self._listener is not None:
            tasks.append(self._listener)
        for task in tasks:
            await stop_task(task)
