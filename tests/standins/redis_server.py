"""Redis for the tests: the machine's own (127.0.0.1:6379) under a unique key prefix, and a
Redis of a test's own on a free port that the test can stop and start again."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from bot.cluster.connection import ClusterLink

REDIS_URL = "redis://127.0.0.1:6379/0"


def unique_prefix() -> str:
    return f"parla-test-{uuid.uuid4().hex[:12]}:"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def delete_prefix(prefix: str, url: str = REDIS_URL) -> None:
    client = aioredis.Redis.from_url(url, socket_timeout=2)
    try:
        async for key in client.scan_iter(match=prefix + "*", count=500):
            await client.delete(key)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def open_link(
    prefix: str | None = None, *, url: str = REDIS_URL, lease: float = 10.0, recheck: float = 10.0
) -> AsyncIterator[ClusterLink]:
    """A started ClusterLink under a fresh prefix; its keys are deleted afterwards."""
    prefix = prefix or unique_prefix()
    link = ClusterLink.from_url(url, prefix=prefix, lease_seconds=lease, recheck_seconds=recheck)
    await link.start()
    try:
        yield link
    finally:
        await link.close()
        with contextlib.suppress(Exception):
            await delete_prefix(prefix, url)


class RedisProcess:
    """`redis-server` on a free port, nothing kept on disk; stop() and start() again."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = aioredis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            for _ in range(200):
                with contextlib.suppress(Exception):
                    if await client.ping():
                        return
                await asyncio.sleep(0.02)
            raise RuntimeError("redis-server did not start")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            await proc.wait()
