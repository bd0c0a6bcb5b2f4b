"""The circuit breaker shared by the cluster: an outage seen by one process opens the breaker
in all of them, and after the cooldown exactly one process in the cluster probes.

An opening is published on the `breaker` channel (`InvalidationChannel`) with the error and the
cooldown; every other process opens its own breaker for the same time (`open_remote`). When a
cooldown ends, each process tries to take the probe key (SET NX, leased for the cooldown); only
the winner's `probe_gate` lets a request through. Its success is published (every breaker
closes); its failure opens the breaker again everywhere. If the winner dies, its key expires
and the others hold a new election. Without Redis each process's breaker works alone.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from bot.cluster.connection import ClusterLink, stop_task
from bot.cluster.invalidation import InvalidationChannel
from bot.speech.cache.cluster_flight import error_fields, error_from_fields
from bot.speech.errors import TTSError
from bot.speech.fallback.breaker import CircuitBreaker

__all__ = ["SharedBreaker"]

log = logging.getLogger(__name__)


class SharedBreaker:
    def __init__(self, link: ClusterLink, breaker: CircuitBreaker, *, cooldown: float = 30.0) -> None:
        """`cooldown`: TTS_BREAKER_COOLDOWN_SECONDS, the same as the local breaker's; an opening
        announced without its own wait holds the breaker this long."""
        self._link = link
        self.cooldown = cooldown
        self._breaker = breaker
        self._channel = InvalidationChannel(link, "breaker")
        self._probe_key = link.key("breaker", "probe")
        self._token = secrets.token_hex(6)
        self._won = False
        self.probe_won = asyncio.Event()  # set while this process holds the cluster's probe
        self._election: asyncio.Task[None] | None = None
        self._generation = 0  # an election ends as soon as a newer one starts
        breaker.on_open = self._opened_here
        breaker.on_close = self._closed_here
        breaker.probe_gate = self._may_probe

    def start(self) -> None:
        self._channel.start(self._on_message, lambda: None)

    @property
    def channel(self) -> InvalidationChannel:
        return self._channel

    # -- this process's news -------------------------------------------------------------
    def _opened_here(self, err: TTSError, wait: float) -> None:
        if self._won:  # our probe failed: the next election starts afresh
            self._channel.spawn(self._link.call(lambda r: r.delete(self._probe_key), None))
        self._set_won(False)
        self._channel.publish({"open": error_fields(err), "wait": wait})
        self._schedule_election(wait)

    def _closed_here(self) -> None:
        self._set_won(False)
        self._channel.publish({"closed": True})
        self._channel.spawn(self._link.call(lambda r: r.delete(self._probe_key), None))

    # -- the others' news ----------------------------------------------------------------
    def _on_message(self, message: dict[str, Any]) -> None:
        if "open" in message:
            wait = float(message.get("wait") or self.cooldown)
            self._breaker.open_remote(error_from_fields(message["open"]), wait)
            self._set_won(False)
            self._schedule_election(wait)
        elif message.get("closed"):
            self._breaker.close_remote()
            self._set_won(False)

    # -- the probe -----------------------------------------------------------------------
    def _set_won(self, won: bool) -> None:
        self._won = won
        if won:
            self.probe_won.set()
        else:
            self.probe_won.clear()

    def _may_probe(self) -> bool:
        return self._won or not self._link.available

    def _schedule_election(self, wait: float) -> None:
        if self._election is not None:
            self._election.cancel()
        self._generation += 1
        self._election = asyncio.create_task(
            self._elect(wait, self._generation), name="parla-breaker-probe-election"
        )

    async def _elect(self, wait: float, generation: int) -> None:
        """After the cooldown, take the cluster's probe (or wait out the holder's lease and
        try again, in case it died) until this process won or the breaker closed."""
        lease = max(2.0, wait)
        await asyncio.sleep(max(0.0, wait))
        while generation == self._generation and self._breaker.is_open and not self._won:
            won: object = await self._link.call(
                lambda r: r.set(self._probe_key, self._token, nx=True, px=int(lease * 1000)), "down"
            )
            if generation != self._generation:
                return
            if won is True or won == "down":  # ours (or Redis gone: each process alone)
                self._set_won(True)
                return
            await asyncio.sleep(lease)

    async def close(self) -> None:
        self._breaker.on_open = self._breaker.on_close = self._breaker.probe_gate = None
        if self._election is not None:
            await stop_task(self._election)
        await self._channel.close()
