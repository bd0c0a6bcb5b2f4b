"""Single flight across the processes of a cluster: one engine call per sound in the whole
cluster, the others following the owner's stream.

A miss below memory and disk asks Redis once (`Claim`: the shared tier's lookup-or-claim
script): the audio if the shared tier has it; else the lease lock `flight:<key>` taken for this
process (SET NX PX, in the same round trip) and renewed while it works; else the token of the
process holding it. The owner calls its engine and appends every chunk to the Redis stream
`flight:<key>:<token>`, then, having stored the audio in the shared tier, an end entry (or an
error entry carrying the same error, or an abandon entry when its own requests all left).
Every other process reads that stream (XREAD, blocking at most `BLOCK_MS`) into its local
`Flight`, so its waiters follow along as the audio arrives.

A follower whose owner vanished (killed: its lease ran out with the stream unfinished; or
abandoned) takes over: it claims the lock again and calls its own engine (or follows whichever
process won that claim, or finds the audio in the shared tier). Its waiters may already have
played part of the speech, so the new audio reaches them from the same byte offset on: they
hear the speech continue where it stopped, never its beginning twice (the endpoint's audio for
one request is the same length whoever asks; the cache stores the new rendition whole). The
same holds when Redis goes away while following: the process finishes the flight alone.
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

__all__ = ["Claim", "ClusterFlights", "Relay", "Splice", "delivered"]

log = logging.getLogger(__name__)

BLOCK_MS = 500
STREAM_TTL_MS = 60_000  # a finished stream stays readable this long (late followers)

Own = Callable[["Relay"], Awaitable[Audio]]
# The shared tier's lookup-or-claim for `lock` (one round trip): (audio, "") on a hit, else
# (None, holder of the lock: `lock.token` if it is now ours); None if Redis is unavailable.
Claim = Callable[[LeaseLock], Awaitable[tuple[Audio | None, str] | None]]
Store = Callable[[Audio], Awaitable[None]]


def delivered(flight: Flight) -> int:
    """Bytes of live audio the flight's consumers already have."""
    return sum(len(c) for c in flight.chunks)


class Splice:
    """Feeds a stream of audio into `flight`, leaving out its first `skip` bytes (those the
    flight's consumers already have, from an owner that died part-way)."""

    def __init__(self, flight: Flight, skip: int) -> None:
        self.flight = flight
        self.skip = skip
        self.position = 0

    def feed(self, chunk: bytes) -> None:
        start, self.position = self.position, self.position + len(chunk)
        if self.position <= self.skip:
            return
        self.flight.publish(chunk[self.skip - start :] if start < self.skip else chunk)


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

    def __init__(
        self, link: ClusterLink | None, stream_key: str | None, flight: Flight, rate: int, *, skip: int = 0
    ) -> None:
        """`skip`: bytes the flight's consumers already heard (a takeover): not published
        to them again."""
        self._link = link
        self._key = stream_key
        self.flight = flight
        self.rate = rate
        self.parts: list[bytes] = []  # everything the engine said, whole
        self._splice = Splice(flight, skip)

    async def _add(self, entry: dict[str, bytes | str | int]) -> None:
        if self._link is None or self._key is None:
            return
        key = self._key
        await self._link.call(lambda r: r.xadd(key, entry), None)  # type: ignore[arg-type]

    async def chunk(self, chunk: bytes) -> None:
        """Publish a live chunk (mono PCM at the engine's rate) locally and to the cluster."""
        self.parts.append(chunk)
        self._splice.feed(chunk)
        await self._add({"c": chunk, "r": self.rate, "n": 1})

    def pcm(self) -> bytes:
        return b"".join(self.parts)

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
        self.taken_over = 0  # flights whose owner vanished after this process had heard part

    async def fly(self, flight: Flight, own: Own, claim: Claim | None, store: Store) -> tuple[Audio, bool]:
        """The flight's audio and whether it came from elsewhere (another process's call or
        the shared tier) rather than from `own` (which is called in this process). `claim`:
        the shared tier's lookup-or-claim (None without a shared tier: the lock alone)."""
        lock_key = self._link.key("flight", flight.key)
        took_over = False
        while True:
            lock = LeaseLock(self._link, lock_key)
            found = await self._claim(lock, claim)
            if found is None:  # Redis unavailable: a flight of our own
                return await own(self._local_relay(flight)), False
            audio, holder = found
            if audio is not None:
                self._deliver_rest(flight, audio)
                return audio, True
            if holder == lock.token:
                lock.adopt()
                return await self._own(flight, lock, own, store)
            if not holder:
                continue  # released just now: the audio is probably in the shared tier
            try:
                followed = await self._follow(flight, lock, holder)
            except _OwnerGone:
                if flight.chunks and not took_over:
                    took_over = True
                    self.taken_over += 1
                    log.info("flight %s: its owner stopped part-way; taking over", flight.key[:12])
                continue
            if followed is None:  # Redis lost while following: finish the flight alone
                return await own(self._local_relay(flight)), False
            self.followed += 1
            return followed, True

    def _local_relay(self, flight: Flight) -> Relay:
        return Relay(None, None, flight, self._rate, skip=delivered(flight))

    async def _claim(self, lock: LeaseLock, claim: Claim | None) -> tuple[Audio | None, str] | None:
        if claim is not None:
            return await claim(lock)
        got = await lock.acquire()
        if got is None:
            return None
        return None, (lock.token if got else (await lock.holder()) or "")

    def _deliver_rest(self, flight: Flight, audio: Audio) -> None:
        """Audio found whole after this flight's consumers heard part of another rendition:
        they get the rest of it, from where they are."""
        if not flight.chunks:
            return
        if audio.rate != self._rate or audio.channels != 1:
            raise StreamStalledError(
                "the process making this speech stopped part-way through", audio_delivered=True
            )
        Splice(flight, delivered(flight)).feed(audio.pcm)

    async def _own(self, flight: Flight, lock: LeaseLock, own: Own, store: Store) -> tuple[Audio, bool]:
        key = self._link.key("flight", flight.key, lock.token)
        relay = Relay(self._link, key, flight, self._rate, skip=delivered(flight))
        try:
            self.owned += 1
            try:
                audio = await own(relay)
            except asyncio.CancelledError:
                await asyncio.shield(relay.abandon())
                raise
            except BaseException as exc:
                await relay.error(exc)
                raise
            if flight.mode == "synth" or not relay.parts:
                await relay.whole(audio)
            await store(audio)  # before the lock goes: a late process finds it in the tier
            await relay.end(audio)
            return audio, False
        finally:
            await asyncio.shield(relay.close())
            await asyncio.shield(lock.release())

    async def _follow(self, flight: Flight, lock: LeaseLock, token: str) -> Audio | None:
        """Read the owner's stream into `flight` (from the offset its consumers have reached)
        until its end; None if Redis went away."""
        key = self._link.key("flight", flight.key, token)
        last = "0"
        parts: list[bytes] = []
        rate, channels = self._rate, 1
        live = flight.mode == "stream"
        splice = Splice(flight, delivered(flight))
        while True:
            entries = await self._read(key, last)
            if entries is None:
                return None
            if not entries:
                if await lock.holder() != token:
                    # Killed, its stream unfinished: let the stream expire as a closed one would.
                    await self._link.call(lambda r: r.pexpire(key, STREAM_TTL_MS), None)
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
                        splice.feed(chunk)
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
