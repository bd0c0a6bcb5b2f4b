"""Single flight across the processes of a cluster: one engine call per sound in the whole
cluster, the others following the owner's stream.

The first process to take the lease lock `flight:<key>` (`LeaseLock`, renewed while the owner
works) is the owner: it calls its engine and appends every chunk to the Redis stream
`flight:<key>:<token>`, then, having stored the audio in the shared tier, an end entry (or
an error entry carrying the same error, or an abandon entry when its own requests all left).
Every other process reads that stream (XREAD, blocking at most `BLOCK_MS`) into its local
`Flight`, so its waiters follow along as the audio arrives. A follower whose owner vanished
(killed: its lease ran out; or abandoned) before any audio reached it tries again, and may
become the owner; one that already played part of the audio ends with `StreamStalledError`.
With Redis unavailable every process simply runs its own flight.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.audio.clip import Audio
from bot.cluster.connection import ClusterLink
from bot.cluster.lease_lock import LeaseLock
from bot.speech import errors as speech_errors
from bot.speech.cache.flight import Flight
from bot.speech.errors import StreamStalledError, TTSError

__all__ = ["ClusterFlights", "Relay"]

log = logging.getLogger(__name__)

BLOCK_MS = 500
STREAM_TTL_MS = 60_000  # a finished stream stays readable this long (late followers)

Own = Callable[["Relay"], Awaitable[Audio]]
Lookup = Callable[[], Awaitable[Audio | None]]
Store = Callable[[Audio], Awaitable[None]]


def error_fields(exc: BaseException) -> dict[str, Any]:
    fields: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, TTSError):
        fields.update(
            message=exc.message,
            status=exc.status,
            code=exc.code,
            request_id=exc.request_id,
            retryable=exc.retryable,
            retry_after=exc.retry_after,
            audio_delivered=exc.audio_delivered,
        )
    return fields


def error_from_fields(fields: dict[str, Any]) -> TTSError:
    """The same kind of error the owner got (a TTSError subclass by name; else TTSError)."""
    cls = getattr(speech_errors, str(fields.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, TTSError)):
        cls = TTSError
    return cls(
        str(fields.get("message") or ""),
        status=fields.get("status"),
        code=fields.get("code"),
        request_id=fields.get("request_id"),
        retryable=fields.get("retryable"),
        retry_after=fields.get("retry_after"),
        audio_delivered=bool(fields.get("audio_delivered")),
    )


class Relay:
    """The owner's side: what it hears from its engine, appended to the flight's stream."""

    def __init__(self, link: ClusterLink | None, stream_key: str | None, flight: Flight, rate: int) -> None:
        self._link = link
        self._key = stream_key
        self.flight = flight
        self.rate = rate

    async def _add(self, entry: dict[str, bytes | str | int]) -> None:
        if self._link is None or self._key is None:
            return
        key = self._key
        await self._link.call(lambda r: r.xadd(key, entry), None)  # type: ignore[arg-type]

    async def chunk(self, chunk: bytes) -> None:
        """Publish a live chunk (mono PCM at the engine's rate) locally and to the cluster."""
        self.flight.publish(chunk)
        await self._add({"c": chunk, "r": self.rate, "n": 1})

    async def whole(self, audio: Audio) -> None:
        """A synthesize() result, for the followers (local waiters get it at the end)."""
        await self._add({"c": audio.pcm, "r": audio.rate, "n": audio.channels})

    async def end(self, audio: Audio) -> None:
        await self._add({"end": 1, "r": audio.rate, "n": audio.channels})

    async def error(self, exc: BaseException) -> None:
        await self._add({"err": json.dumps(error_fields(exc))})

    async def abandon(self) -> None:
        await self._add({"abandon": 1})

    async def close(self) -> None:
        if self._link is not None and self._key is not None:
            key = self._key
            await self._link.call(lambda r: r.pexpire(key, STREAM_TTL_MS), None)


class _OwnerGone(Exception):
    """The owner vanished before finishing (killed, or its requests all left)."""


class ClusterFlights:
    """Runs a `Flight`'s engine call once in the cluster (see the module docstring)."""

    def __init__(self, link: ClusterLink, *, sample_rate: int) -> None:
        self._link = link
        self._rate = sample_rate
        self.owned = 0
        self.followed = 0

    async def fly(self, flight: Flight, own: Own, lookup: Lookup, store: Store) -> tuple[Audio, bool]:
        """The flight's audio and whether it came from elsewhere (another process's call or
        the shared tier) rather than from `own` (which is called in this process)."""
        lock_key = self._link.key("flight", flight.key)
        while True:
            lock = LeaseLock(self._link, lock_key)
            got = await lock.acquire()
            if got is None:  # Redis unavailable: a flight of our own
                return await own(Relay(None, None, flight, self._rate)), False
            if got:
                return await self._own(flight, lock, own, lookup, store)
            token = await lock.holder()
            if token is None:
                continue  # released just now: the audio is probably in the shared tier
            try:
                audio = await self._follow(flight, lock, token)
            except _OwnerGone:
                if flight.chunks:
                    raise StreamStalledError(
                        "the process making this speech stopped part-way through", audio_delivered=True
                    ) from None
                continue
            if audio is None:  # Redis lost while following, before any audio: our own flight
                return await own(Relay(None, None, flight, self._rate)), False
            self.followed += 1
            return audio, True

    async def _own(
        self, flight: Flight, lock: LeaseLock, own: Own, lookup: Lookup, store: Store
    ) -> tuple[Audio, bool]:
        relay = Relay(self._link, self._link.key("flight", flight.key, lock.token), flight, self._rate)
        try:
            found = await lookup()  # finished by another process while we looked below memory
            if found is not None:
                return found, True
            self.owned += 1
            try:
                audio = await own(relay)
            except asyncio.CancelledError:
                await asyncio.shield(relay.abandon())
                raise
            except BaseException as exc:
                await relay.error(exc)
                raise
            if flight.mode == "synth" or not flight.chunks:
                await relay.whole(audio)
            await store(audio)  # before the lock goes: a late process finds it in the tier
            await relay.end(audio)
            return audio, False
        finally:
            await asyncio.shield(relay.close())
            await asyncio.shield(lock.release())

    async def _follow(self, flight: Flight, lock: LeaseLock, token: str) -> Audio | None:
        """Read the owner's stream into `flight` until its end; None if Redis went away with
        nothing received yet."""
        key = self._link.key("flight", flight.key, token)
        last = "0"
        parts: list[bytes] = []
        rate, channels = self._rate, 1
        live = flight.mode == "stream"
        while True:
            entries = await self._read(key, last)
            if entries is None:
                if flight.chunks:
                    raise StreamStalledError(
                        "lost the cluster while following the speech", audio_delivered=True
                    )
                return None
            if not entries:
                if await lock.holder() != token:
                    raise _OwnerGone
                continue
            for entry_id, fields in entries:
                last = entry_id
                if b"c" in fields:
                    rate, channels = int(fields[b"r"]), int(fields[b"n"])
                    chunk = fields[b"c"]
                    live = live and rate == self._rate and channels == 1
                    parts.append(chunk)
                    if live and chunk:
                        flight.publish(chunk)
                elif b"end" in fields:
                    rate, channels = int(fields[b"r"]), int(fields[b"n"])
                    return Audio(pcm=b"".join(parts), rate=rate, channels=channels)
                elif b"err" in fields:
                    raise error_from_fields(json.loads(fields[b"err"]))
                elif b"abandon" in fields:
                    raise _OwnerGone

    async def _read(self, key: str, after: str) -> list[tuple[str, dict[bytes, bytes]]] | None:
        """Entries of stream `key` after id `after` (waiting up to BLOCK_MS); None without Redis."""
        reply: Any = await self._link.call(
            lambda r: r.xread({key: after}, count=64, block=BLOCK_MS), None, within=BLOCK_MS / 1000 + 2
        )
        if reply is None and not self._link.available:
            return None
        found: list[tuple[str, dict[bytes, bytes]]] = []
        for _, entries in reply or []:
            for entry_id, fields in entries:
                name = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                found.append((name, dict(fields)))
        return found
