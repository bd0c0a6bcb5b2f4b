"""The async client for the speech endpoint (relay or DashScope-native style).

`synthesize()` returns whole audio (JSON with base64 `data` or an expiring `url`, a redirect,
or audio bytes); `stream()` yields PCM as the SSE events arrive. Long text is split at
sentence, clause, then word boundaries (`max_input_chars`) and the pieces are joined in order.
Retryable failures (rate-quota throttling, 5xx, connect errors, timeouts before any audio) are
retried with jittered exponential backoff, bounded in attempts and total time, honouring
Retry-After; a stream that already delivered audio is never silently restarted.

This module is the HTTP flow (pacing, retries, deadlines); the request body is built in
`body`, and the answers are read in `response`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

from bot.audio.clip import ENDPOINT_RATE, Audio
from bot.audio.wav import is_wav
from bot.base.config import Settings
from bot.speech.endpoint.body import request_body
from bot.speech.endpoint.cluster_pacing import ClusterPacing
from bot.speech.endpoint.response import (
    decode_audio,
    error_from_body,
    join_pieces,
    json_object,
    redirect_target,
    result_audio,
    stream_cut_error,
    stream_event,
)
from bot.speech.endpoint.sse import SSEParser
from bot.speech.endpoint.text_split import split_text
from bot.speech.errors import (
    BadResponseError,
    FirstByteTimeoutError,
    NetworkError,
    StreamStalledError,
    TTSError,
)
from bot.speech.request import SpeechRequest

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    paced: int = 0
    characters: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "paced": self.paced,
            "characters": self.characters,
            "errors": dict(self.errors),
            "in_flight": self.in_flight,
        }


class EndpointClient:
    """Implements `SpeechEngine` against the HTTP endpoint. One per process, sharing the
    bot's single `aiohttp.ClientSession`."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._key = settings.require_api_key()
        self._session = session
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
        self._limit = asyncio.Semaphore(settings.max_concurrent_requests)
        self._sent: deque[float] = deque()  # send times in the last minute (TTS_MAX_RPM)
        self._rate_lock = asyncio.Lock()
        self.stats = ClientStats()
        # Called with the characters the endpoint reports for each successful request.
        self.usage_listener: Callable[[int], None] | None = None
        # In a cluster (REDIS_URL): the limits held by all processes together.
        self.cluster_pacing: ClusterPacing | None = None

    # -- SpeechEngine ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"api:{self._settings.api_style}:{self._settings.model}"

    @property
    def sample_rate(self) -> int:
        return ENDPOINT_RATE

    async def synthesize(self, request: SpeechRequest) -> Audio:
        req = request.validated()
        parts: list[Audio] = []
        for piece in split_text(req.text, self._settings.max_input_chars):
            part = req.with_text(piece)
            parts.append(await self._with_retries(lambda p=part: self._synthesize_once(p)))  # type: ignore[misc]
        return join_pieces(parts)

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        req = request.validated()
        yielded = False
        try:
            for piece in split_text(req.text, self._settings.max_input_chars):
                async with contextlib.aclosing(self._stream_with_retries(req.with_text(piece))) as chunks:
                    async for chunk in chunks:
                        yielded = True
                        yield chunk
        except TTSError as err:
            if yielded:
                err.audio_delivered = True  # earlier pieces were already heard
            raise

    # -- wire format ----------------------------------------------------------------------
    def _headers(self, *, stream: bool) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._key.reveal()}",
            "Content-Type": "application/json",
        }
        if stream:
            headers["X-DashScope-SSE"] = "enable"
            headers["Accept"] = "text/event-stream"
        return headers

    def _timeout(self) -> aiohttp.ClientTimeout:
        s = self._settings
        return aiohttp.ClientTimeout(total=None, connect=s.connect_timeout, sock_connect=s.connect_timeout)

    # -- retries --------------------------------------------------------------------------
    def retry_delay(self, error: TTSError, attempt: int, started: float) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up."""
        if not error.retryable or error.audio_delivered:
            return None
        if attempt + 1 >= self._settings.retry_attempts:
            return None
        if error.retry_after is not None:
            delay = max(0.0, error.retry_after)
        else:
            ceiling = min(8.0, 0.5 * (2**attempt))
            delay = ceiling / 2 + self._rand() * ceiling / 2
        if self._clock() - started + delay > self._settings.retry_budget:
            return None
        return delay

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        started = self._clock()
        attempt = 0
        while True:
            try:
                return await call()
            except TTSError as err:
                if not await self._back_off(err, attempt, started):
                    raise
                attempt += 1

    async def _stream_with_retries(self, req: SpeechRequest) -> AsyncGenerator[bytes, None]:
        started = self._clock()
        attempt = 0
        while True:
            delivered = False
            try:
                async with contextlib.aclosing(self._stream_once(req)) as chunks:
                    async for chunk in chunks:
                        delivered = True
                        yield chunk
                return
            except TTSError as err:
                if delivered:
                    err.audio_delivered = True
                if not await self._back_off(err, attempt, started):
                    raise
                attempt += 1

    async def _back_off(self, err: TTSError, attempt: int, started: float) -> bool:
        """Record `err`; if it may be retried, wait the backoff delay and return True."""
        self._record_error(err)
        if err.retry_after is not None and err.status == 429 and self.cluster_pacing is not None:
            await self.cluster_pacing.pause(err.retry_after)  # the whole cluster waits
        delay = self.retry_delay(err, attempt, started)
        if delay is None:
            return False
        log.info("retrying after %.2fs: %s", delay, err.log_form())
        self.stats.retries += 1
        await self._sleep(delay)
        return True

    def _record_error(self, err: TTSError) -> None:
        self.stats.errors[err.code or type(err).__name__] += 1
        log.warning("endpoint error: %s", err.log_form())

    # -- one attempt ----------------------------------------------------------------------
    async def _pace(self, *, admitted: bool = False) -> None:
        """Keep under TTS_MAX_RPM requests per rolling minute (the endpoint's limit is per
        account, 180 RPM): wait for the oldest send to leave the window when it is full.
        `admitted`: the cluster's window was already taken with the slot (`_slot`)."""
        if admitted:
            return
        limit = self._settings.max_requests_per_minute
        window = self._settings.rpm_window_seconds
        cluster = self.cluster_pacing
        if cluster is not None:
            if await cluster.pace():
                return
            limit = cluster.local_share  # Redis unavailable: this process's share
        async with self._rate_lock:
            while True:
                now = self._clock()
                while self._sent and self._sent[0] <= now - window:
                    self._sent.popleft()
                if len(self._sent) < limit:
                    self._sent.append(now)
                    return
                self.stats.paced += 1
                await self._sleep(self._sent[0] + window - now)

    def _slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """One of the TTS_MAX_CONCURRENT request slots (of the cluster's, with Redis: then it
        yields True when the cluster's window was taken with it, in the same round trip)."""
        if self.cluster_pacing is not None:
            return self.cluster_pacing.slot(self._limit)
        return self._limit

    async def _post(
        self, req: SpeechRequest, *, stream: bool, admitted: bool = False
    ) -> aiohttp.ClientResponse:
        await self._pace(admitted=admitted)
        self.stats.requests += 1
        try:
            async with asyncio.timeout(self._settings.first_byte_timeout):
                return await self._session.post(
                    self._settings.api_url,
                    json=request_body(req, api_style=self._settings.api_style, model=self._settings.model),
                    headers=self._headers(stream=stream),
                    timeout=self._timeout(),
                    allow_redirects=False,
                )
        except TimeoutError:
            raise FirstByteTimeoutError("no answer before the first-byte timeout") from None
        except aiohttp.ClientError as exc:
            raise NetworkError(f"connection failed: {type(exc).__name__}") from None

    async def _read_body(self, resp: aiohttp.ClientResponse) -> bytes:
        try:
            async with asyncio.timeout(self._settings.total_timeout):
                return await resp.read()
        except TimeoutError:
            raise FirstByteTimeoutError("the answer did not arrive in time", status=resp.status) from None
        except aiohttp.ClientError as exc:
            raise NetworkError(f"connection lost: {type(exc).__name__}", status=resp.status) from None

    async def _synthesize_once(self, req: SpeechRequest) -> Audio:
        async with self._slot() as admitted:
            self.stats.in_flight += 1
            try:
                resp = await self._post(req, stream=False, admitted=admitted is True)
                try:
                    location = redirect_target(resp)
                    if location is not None:
                        audio = await self._download(location)
                        self._count_usage({}, req)  # a redirect carries no usage
                        return audio
                    body = await self._read_body(resp)
                    if resp.status != 200:
                        raise error_from_body(resp.status, body, resp.headers)
                    if resp.content_type.startswith("audio/") or is_wav(body):
                        audio = decode_audio(body, resp.content_type)
                        self._count_usage({}, req)  # raw audio carries no usage
                        return audio
                    obj = json_object(body, resp.status)
                    audio = await self._audio_from_result(obj)
                    self._count_usage(obj, req)
                    return audio
                finally:
                    resp.release()
            finally:
                self.stats.in_flight -= 1

    async def _audio_from_result(self, obj: dict[str, Any]) -> Audio:
        found = result_audio(obj)
        return found if isinstance(found, Audio) else await self._download(found)

    async def _download(self, url: str) -> Audio:
        """GET the audio file (no Authorization header: the URL is presigned elsewhere)."""
        try:
            async with asyncio.timeout(self._settings.total_timeout):
                async with self._session.get(url, timeout=self._timeout()) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        raise BadResponseError(
                            f"downloading the audio failed with HTTP {resp.status} (expired URL?)",
                            status=resp.status,
                            retryable=resp.status in (403, 404, 410) or resp.status >= 500,
                        )
                    return decode_audio(body, resp.content_type)
        except TimeoutError:
            raise FirstByteTimeoutError("downloading the audio timed out") from None
        except aiohttp.ClientError as exc:
            raise NetworkError(f"downloading the audio failed: {type(exc).__name__}") from None

    async def _stream_once(self, req: SpeechRequest) -> AsyncGenerator[bytes, None]:
        async with self._slot() as admitted:
            self.stats.in_flight += 1
            resp: aiohttp.ClientResponse | None = None
            finished = False
            try:
                resp = await self._post(req, stream=True, admitted=admitted is True)
                location = redirect_target(resp)
                if location is not None:
                    # A relay that answers with the audio file's location instead of a stream.
                    audio = await self._download(location)
                    self._count_usage({}, req)  # a redirect carries no usage
                    finished = True
                    for chunk in _chunks(audio.pcm, 9600):
                        yield chunk
                    return
                if resp.status != 200:
                    raise error_from_body(resp.status, await self._read_body(resp), resp.headers)
                if "event-stream" not in resp.content_type:
                    # A relay that ignored the streaming header: take the whole answer.
                    body = await self._read_body(resp)
                    if resp.content_type.startswith("audio/") or is_wav(body):
                        audio = decode_audio(body, resp.content_type)
                        self._count_usage({}, req)  # raw audio carries no usage
                    else:
                        obj = json_object(body, resp.status)
                        audio = await self._audio_from_result(obj)
                        self._count_usage(obj, req)
                    finished = True
                    for chunk in _chunks(audio.pcm, 9600):
                        yield chunk
                    return
                async with contextlib.aclosing(self._read_events(resp, req)) as events:
                    async for chunk in events:
                        yield chunk
                finished = True
            finally:
                self.stats.in_flight -= 1
                if resp is not None:
                    if finished:
                        resp.release()
                    else:
                        resp.close()  # drop the connection: the server sees the client leave

    async def _read_events(
        self, resp: aiohttp.ClientResponse, req: SpeechRequest
    ) -> AsyncGenerator[bytes, None]:
        parser = SSEParser()
        carry = b""
        delivered = False
        request_id: str | None = None
        s = self._settings
        loop = asyncio.get_running_loop()
        started = loop.time()
        last_audio = started
        # Deadlines count from the last *audio*: comments, keep-alives or empty events do not
        # keep a stream alive, and no stream outlives the total timeout.
        total_deadline = started + s.total_timeout
        while True:
            wait = s.stall_timeout if delivered else s.first_byte_timeout
            deadline = min(last_audio + wait, total_deadline)
            try:
                async with asyncio.timeout_at(deadline):
                    data = await resp.content.readany()
            except TimeoutError:
                what = (
                    f"the stream passed the total timeout ({s.total_timeout:g}s)"
                    if deadline >= total_deadline
                    else f"no audio for {wait:g}s"
                )
                if delivered:
                    raise StreamStalledError(what, request_id=request_id, audio_delivered=True) from None
                raise FirstByteTimeoutError(f"{what} before the first audio", request_id=request_id) from None
            except aiohttp.ClientError as exc:
                raise stream_cut_error(delivered, request_id, type(exc).__name__) from None
            events = parser.feed(data) if data else parser.close()
            for event in map(stream_event, events):
                request_id = event.request_id or request_id
                if event.pcm:
                    pcm = carry + event.pcm
                    cut = len(pcm) - (len(pcm) & 1)
                    carry = pcm[cut:]
                    if cut:
                        delivered = True
                        yield pcm[:cut]
                        last_audio = loop.time()
                if event.finished:
                    self._count_usage(event.payload, req)
                    if event.finish_reason != "stop":
                        log.info("stream finished with reason %r", event.finish_reason)
                    return
            if not data:
                raise stream_cut_error(delivered, request_id, "the stream ended without a final event")

    def _count_usage(self, obj: dict[str, Any], req: SpeechRequest) -> None:
        """Charge one successful answer: the endpoint's `usage.characters` when the answer has
        it (JSON, the final SSE event), else the characters sent (redirects, raw audio)."""
        usage = obj.get("usage")
        chars = usage.get("characters") if isinstance(usage, dict) else None
        spoken = chars if isinstance(chars, int) and chars >= 0 else len(req.text)
        self.stats.characters += spoken
        if self.usage_listener is not None:
            try:
                self.usage_listener(spoken)
            except Exception:
                log.exception("usage listener failed")


# -- helpers ------------------------------------------------------------------------------
def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]
