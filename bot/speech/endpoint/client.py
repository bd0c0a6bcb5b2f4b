"""The async client for the speech endpoint (relay or DashScope-native style).

`synthesize()` returns whole audio (JSON with base64 `data` or an expiring `url`, a redirect,
or audio bytes); `stream()` yields PCM as the SSE events arrive. Long text is split at
sentence, clause, then word boundaries (`max_input_chars`) and the pieces are joined in order.
Retryable failures (rate-quota throttling, 5xx, connect errors, timeouts before any audio) are
retried with jittered exponential backoff, bounded in attempts and total time, honouring
Retry-After; a stream that already delivered audio is never silently restarted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.utils
import json
import logging
import random
import time
from collections import Counter, deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import yarl

from bot.audio.clip import ENDPOINT_RATE, Audio
from bot.audio.wav import WavError, is_wav, parse_wav
from bot.base.config import Settings
from bot.speech.endpoint.sse import SSEEvent, SSEParser
from bot.speech.endpoint.text_split import split_text
from bot.speech.errors import (
    BadResponseError,
    FirstByteTimeoutError,
    NetworkError,
    StreamIncompleteError,
    StreamStalledError,
    TTSError,
    error_for,
)
from bot.speech.request import SpeechRequest

log = logging.getLogger(__name__)

T = TypeVar("T")
_REDIRECTS = (301, 302, 303, 307, 308)
_RAW_PCM_TYPES = ("audio/pcm", "audio/l16", "audio/x-pcm", "application/octet-stream")
_STREAM_READ = 64 * 1024


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
        return _join(parts)

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
    def body(self, req: SpeechRequest) -> dict[str, Any]:
        """The JSON body for one request (unset optional fields are omitted, never null)."""
        options: dict[str, Any] = {}
        if req.instructions:
            options["instructions"] = req.instructions
        if req.optimize_instructions is not None:
            options["optimize_instructions"] = req.optimize_instructions
        if self._settings.api_style == "dashscope":
            body: dict[str, Any] = {
                "model": self._settings.model,
                "input": {"text": req.text, "voice": req.voice, "language_type": req.language},
            }
            if options:
                body["parameters"] = options
            return body
        return {
            "model": self._settings.model,
            "input": req.text,
            "voice": req.voice,
            "language_type": req.language,
            **options,
        }

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
    async def _pace(self) -> None:
        """Keep under TTS_MAX_RPM requests per rolling minute (the endpoint's limit is per
        account, 180 RPM): wait for the oldest send to leave the window when it is full."""
        limit = self._settings.max_requests_per_minute
        async with self._rate_lock:
            while True:
                now = self._clock()
                while self._sent and self._sent[0] <= now - 60.0:
                    self._sent.popleft()
                if len(self._sent) < limit:
                    self._sent.append(now)
                    return
                self.stats.paced += 1
                await self._sleep(self._sent[0] + 60.0 - now)

    async def _post(self, req: SpeechRequest, *, stream: bool) -> aiohttp.ClientResponse:
        await self._pace()
        self.stats.requests += 1
        try:
            async with asyncio.timeout(self._settings.first_byte_timeout):
                return await self._session.post(
                    self._settings.api_url,
                    json=self.body(req),
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
        async with self._limit:
            self.stats.in_flight += 1
            try:
                resp = await self._post(req, stream=False)
                try:
                    location = _redirect(resp)
                    if location is not None:
                        return await self._download(location)
                    body = await self._read_body(resp)
                    if resp.status != 200:
                        raise _error_from_body(resp.status, body, resp.headers)
                    if resp.content_type.startswith("audio/") or is_wav(body):
                        return _decode_audio(body, resp.content_type)
                    obj = _json_object(body, resp.status)
                    audio = await self._audio_from_result(obj)
                    self._count_usage(obj, req)
                    return audio
                finally:
                    resp.release()
            finally:
                self.stats.in_flight -= 1

    async def _audio_from_result(self, obj: dict[str, Any]) -> Audio:
        output = obj.get("output")
        if not isinstance(output, dict):
            raise (
                _error_from_json(200, obj)
                if obj.get("code")
                else BadResponseError(
                    "the answer has no output", status=200, request_id=_str(obj.get("request_id"))
                )
            )
        audio = output.get("audio") if isinstance(output.get("audio"), dict) else {}
        assert isinstance(audio, dict)
        data = audio.get("data")
        if isinstance(data, str) and data:
            return _decode_audio(_b64(data, obj), "")
        url = audio.get("url")
        if isinstance(url, str) and url:
            return await self._download(url)
        raise BadResponseError(
            "the answer has neither audio data nor a URL",
            status=200,
            request_id=_str(obj.get("request_id")),
        )

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
                    return _decode_audio(body, resp.content_type)
        except TimeoutError:
            raise FirstByteTimeoutError("downloading the audio timed out") from None
        except aiohttp.ClientError as exc:
            raise NetworkError(f"downloading the audio failed: {type(exc).__name__}") from None

    async def _stream_once(self, req: SpeechRequest) -> AsyncGenerator[bytes, None]:
        async with self._limit:
            self.stats.in_flight += 1
            resp: aiohttp.ClientResponse | None = None
            finished = False
            try:
                resp = await self._post(req, stream=True)
                location = _redirect(resp)
                if location is not None:
                    # A relay that answers with the audio file's location instead of a stream.
                    audio = await self._download(location)
                    finished = True
                    for chunk in _chunks(audio.pcm, 9600):
                        yield chunk
                    return
                if resp.status != 200:
                    raise _error_from_body(resp.status, await self._read_body(resp), resp.headers)
                if "event-stream" not in resp.content_type:
                    # A relay that ignored the streaming header: take the whole answer.
                    body = await self._read_body(resp)
                    if resp.content_type.startswith("audio/") or is_wav(body):
                        audio = _decode_audio(body, resp.content_type)
                    else:
                        obj = _json_object(body, resp.status)
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
                raise _cut(delivered, request_id, type(exc).__name__) from None
            events = parser.feed(data) if data else parser.close()
            for event in events:
                payload = _event_payload(event)
                request_id = _str(payload.get("request_id")) or request_id
                output = payload.get("output")
                audio = output.get("audio") if isinstance(output, dict) else None
                b64 = audio.get("data") if isinstance(audio, dict) else None
                if isinstance(b64, str) and b64:
                    pcm = carry + _b64(b64, payload)
                    cut = len(pcm) - (len(pcm) & 1)
                    carry = pcm[cut:]
                    if cut:
                        delivered = True
                        yield pcm[:cut]
                        last_audio = loop.time()
                finish = output.get("finish_reason") if isinstance(output, dict) else None
                if finish not in (None, "null", ""):
                    self._count_usage(payload, req)
                    if finish != "stop":
                        log.info("stream finished with reason %r", finish)
                    return
            if not data:
                raise _cut(delivered, request_id, "the stream ended without a final event")

    def _count_usage(self, obj: dict[str, Any], req: SpeechRequest) -> None:
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
def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _redirect(resp: aiohttp.ClientResponse) -> str | None:
    """The absolute target of a redirect answer, or None."""
    location = resp.headers.get("Location")
    if resp.status not in _REDIRECTS or not location:
        return None
    return str(resp.url.join(yarl.URL(location)))


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _join(parts: list[Audio]) -> Audio:
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if any(p.rate != first.rate or p.channels != first.channels for p in parts):
        raise BadResponseError("the endpoint returned pieces with different audio formats")
    return Audio(b"".join(p.pcm for p in parts), first.rate, first.channels)


def _cut(delivered: bool, request_id: str | None, what: str) -> TTSError:
    if delivered:
        return StreamIncompleteError(
            f"stream cut after audio: {what}", request_id=request_id, audio_delivered=True
        )
    return StreamIncompleteError(f"stream cut before audio: {what}", request_id=request_id, retryable=True)


def _b64(data: str, obj: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        raise BadResponseError("invalid base64 audio", request_id=_str(obj.get("request_id"))) from None


def _decode_audio(body: bytes, content_type: str) -> Audio:
    if is_wav(body):
        try:
            return parse_wav(body)
        except WavError as exc:
            raise BadResponseError(f"unreadable WAV audio: {exc}") from None
    if not content_type or content_type in _RAW_PCM_TYPES:
        return Audio(body[: len(body) - (len(body) & 1)], ENDPOINT_RATE)
    raise BadResponseError(f"unsupported audio format {content_type!r}")


def _json_object(body: bytes, status: int) -> dict[str, Any]:
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadResponseError(
            f"the answer is not valid JSON (HTTP {status})", status=status, retryable=status >= 500
        ) from None
    if not isinstance(obj, dict):
        raise BadResponseError(f"the answer is not a JSON object (HTTP {status})", status=status)
    if obj.get("code") and not isinstance(obj.get("output"), dict):
        raise _error_from_json(status, obj)
    return obj


def _error_from_json(status: int | None, obj: dict[str, Any], retry_after: float | None = None) -> TTSError:
    code_status = obj.get("status_code")
    if status in (None, 200) and isinstance(code_status, int):
        status = code_status
    return error_for(
        status,
        _str(obj.get("code")),
        _str(obj.get("message")),
        _str(obj.get("request_id")),
        retry_after=retry_after,
    )


def _retry_after(headers: Any) -> float | None:
    raw = headers.get("Retry-After") if headers is not None else None
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_from_body(status: int, body: bytes, headers: Any) -> TTSError:
    retry_after = _retry_after(headers)
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        obj = None
    if isinstance(obj, dict) and (obj.get("code") or obj.get("message")):
        return _error_from_json(status, obj, retry_after)
    if status in (401, 403, 404):
        return error_for(status, None, f"HTTP {status} without the API's JSON body", None)
    # An HTML error page from a proxy, or garbage: transient if the status says so.
    return BadResponseError(
        f"HTTP {status} with a body that is not the API's JSON",
        status=status,
        retryable=status >= 500 or status == 429,
        retry_after=retry_after,
    )


def _event_payload(event: SSEEvent) -> dict[str, Any]:
    try:
        obj = json.loads(event.data) if event.data else {}
    except (ValueError, RecursionError):
        raise BadResponseError("a stream event is not valid JSON") from None
    if not isinstance(obj, dict):
        raise BadResponseError("a stream event is not a JSON object")
    status = event.status if event.status is not None else None
    if event.event == "error" or (obj.get("code") and not isinstance(obj.get("output"), dict)):
        err_status = status if status not in (None, 200) else obj.get("status_code")
        return _raise(_error_from_json(err_status if isinstance(err_status, int) else None, obj))
    if status is not None and status >= 400:
        return _raise(_error_from_json(status, obj))
    return obj


def _raise(err: TTSError) -> dict[str, Any]:
    raise err
