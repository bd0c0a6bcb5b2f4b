"""Reading the endpoint's answers: audio bodies (WAV or raw PCM), JSON results (base64 `data`
or an expiring `url`), SSE events, redirects, the pieces of a long text joined, and the
`TTSError` an error answer (or a cut stream) stands for, with its Retry-After. No I/O: the HTTP
flow is in `client`."""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl

from bot.audio.clip import ENDPOINT_RATE, Audio
from bot.audio.wav import WavError, is_wav, parse_wav
from bot.speech.endpoint.sse import SSEEvent
from bot.speech.errors import BadResponseError, StreamIncompleteError, TTSError, error_for

_REDIRECTS = (301, 302, 303, 307, 308)
_RAW_PCM_TYPES = ("audio/pcm", "audio/l16", "audio/x-pcm", "application/octet-stream")


def str_or_none(value: object) -> str | None:
    """`value` if it is a non-empty string."""
    return value if isinstance(value, str) and value else None


def redirect_target(resp: aiohttp.ClientResponse) -> str | None:
    """The absolute target of a redirect answer, or None."""
    location = resp.headers.get("Location")
    if resp.status not in _REDIRECTS or not location:
        return None
    return str(resp.url.join(yarl.URL(location)))


def b64_audio(data: str, obj: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        raise BadResponseError(
            "invalid base64 audio", request_id=str_or_none(obj.get("request_id"))
        ) from None


def decode_audio(body: bytes, content_type: str) -> Audio:
    if is_wav(body):
        try:
            return parse_wav(body)
        except WavError as exc:
            raise BadResponseError(f"unreadable WAV audio: {exc}") from None
    if not content_type or content_type in _RAW_PCM_TYPES:
        return Audio(body[: len(body) - (len(body) & 1)], ENDPOINT_RATE)
    raise BadResponseError(f"unsupported audio format {content_type!r}")


def json_object(body: bytes, status: int) -> dict[str, Any]:
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadResponseError(
            f"the answer is not valid JSON (HTTP {status})", status=status, retryable=status >= 500
        ) from None
    if not isinstance(obj, dict):
        raise BadResponseError(f"the answer is not a JSON object (HTTP {status})", status=status)
    if obj.get("code") and not isinstance(obj.get("output"), dict):
        raise error_from_json(status, obj)
    return obj


def result_audio(obj: dict[str, Any]) -> Audio | str:
    """The audio of a JSON result: decoded from its base64 `data`, or the `url` to download
    it from."""
    output = obj.get("output")
    if not isinstance(output, dict):
        raise (
            error_from_json(200, obj)
            if obj.get("code")
            else BadResponseError(
                "the answer has no output", status=200, request_id=str_or_none(obj.get("request_id"))
            )
        )
    audio = output.get("audio") if isinstance(output.get("audio"), dict) else {}
    assert isinstance(audio, dict)
    data = audio.get("data")
    if isinstance(data, str) and data:
        return decode_audio(b64_audio(data, obj), "")
    url = audio.get("url")
    if isinstance(url, str) and url:
        return url
    raise BadResponseError(
        "the answer has neither audio data nor a URL",
        status=200,
        request_id=str_or_none(obj.get("request_id")),
    )


def error_from_json(status: int | None, obj: dict[str, Any], retry_after: float | None = None) -> TTSError:
    code_status = obj.get("status_code")
    if status in (None, 200) and isinstance(code_status, int):
        status = code_status
    return error_for(
        status,
        str_or_none(obj.get("code")),
        str_or_none(obj.get("message")),
        str_or_none(obj.get("request_id")),
        retry_after=retry_after,
    )


def retry_after_seconds(headers: Any) -> float | None:
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


def error_from_body(status: int, body: bytes, headers: Any) -> TTSError:
    retry_after = retry_after_seconds(headers)
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        obj = None
    if isinstance(obj, dict) and (obj.get("code") or obj.get("message")):
        return error_from_json(status, obj, retry_after)
    if status in (401, 403, 404):
        return error_for(status, None, f"HTTP {status} without the API's JSON body", None)
    # An HTML error page from a proxy, or garbage: transient if the status says so.
    return BadResponseError(
        f"HTTP {status} with a body that is not the API's JSON",
        status=status,
        retryable=status >= 500 or status == 429,
        retry_after=retry_after,
    )


def join_pieces(parts: list[Audio]) -> Audio:
    """The audio of a long text from the audio of its pieces, in order (one format for all)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if any(p.rate != first.rate or p.channels != first.channels for p in parts):
        raise BadResponseError("the endpoint returned pieces with different audio formats")
    return Audio(b"".join(p.pcm for p in parts), first.rate, first.channels)


def stream_cut_error(delivered: bool, request_id: str | None, what: str) -> TTSError:
    """The error for a stream that ended or broke before its final event (retryable only while
    no audio was delivered)."""
    if delivered:
        return StreamIncompleteError(
            f"stream cut after audio: {what}", request_id=request_id, audio_delivered=True
        )
    return StreamIncompleteError(f"stream cut before audio: {what}", request_id=request_id, retryable=True)


def event_payload(event: SSEEvent) -> dict[str, Any]:
    try:
        obj = json.loads(event.data) if event.data else {}
    except (ValueError, RecursionError):
        raise BadResponseError("a stream event is not valid JSON") from None
    if not isinstance(obj, dict):
        raise BadResponseError("a stream event is not a JSON object")
    status = event.status if event.status is not None else None
    if event.event == "error" or (obj.get("code") and not isinstance(obj.get("output"), dict)):
        err_status = status if status not in (None, 200) else obj.get("status_code")
        return _raise(error_from_json(err_status if isinstance(err_status, int) else None, obj))
    if status is not None and status >= 400:
        return _raise(error_from_json(status, obj))
    return obj


def _raise(err: TTSError) -> dict[str, Any]:
    raise err


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One SSE event of an audio stream, read."""

    payload: dict[str, Any]
    request_id: str | None
    pcm: bytes  # the audio it carries (possibly an odd number of bytes), or b""
    finish_reason: object  # None, "null" or "" while the stream goes on

    @property
    def finished(self) -> bool:
        return self.finish_reason not in (None, "null", "")


def stream_event(event: SSEEvent) -> StreamEvent:
    """Read one SSE event: its payload (an error event raises its `TTSError`), the request id,
    the audio and the finish reason."""
    payload = event_payload(event)
    output = payload.get("output")
    audio = output.get("audio") if isinstance(output, dict) else None
    b64 = audio.get("data") if isinstance(audio, dict) else None
    pcm = b64_audio(b64, payload) if isinstance(b64, str) and b64 else b""
    return StreamEvent(
        payload=payload,
        request_id=str_or_none(payload.get("request_id")),
        pcm=pcm,
        finish_reason=output.get("finish_reason") if isinstance(output, dict) else None,
    )
