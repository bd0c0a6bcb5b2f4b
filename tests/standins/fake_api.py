"""A faithful fake of the speech endpoint, for tests and benchmarks.

Same contract as the real one in both API styles (the relay's flat body at /v1/audio/speech
and DashScope's native body at /api/v1/services/aigc/multimodal-generation/generation):
bearer-token check, validation with the real error codes, JSON answers with an expiring
`url` served by the fake itself (a real WAV) or base64 `data`, and SSE streams of real PCM in
DashScope's framing at a configurable pace.

Audio is deterministic: a sine tone whose pitch comes from a hash of voice and text, with a
length proportional to the text (see `tone_hz` and `expected_pcm`).

Faults, per request (header `X-Fake-Fault: NAME`, or `[[fault:NAME]]` in the text), queued
(`fake.faults.append(NAME)`: one per incoming request) or for every request (`fake.fault`):
  error:<Code>            the API error with its real HTTP status and body
  retry-after:<s>         429 Throttling.RateQuota with a Retry-After header
  html502                 a proxy's HTML 502 page
  badjson                 HTTP 200 with a truncated JSON body
  reset                   the connection is dropped before any answer
  stall-first:<s>         nothing at all for <s> seconds, then the normal answer
  stall-after:<n>:<s>     (SSE) a pause of <s> seconds after n chunks
  cut-after:<n>           (SSE) the connection drops after n chunks
  sse-error-after:<n>     (SSE) `event:error` (InternalError) after n chunks
  no-stop                 (SSE) the stream ends cleanly without the final `stop` event
  drip                    (SSE) tiny odd-sized chunks, each its own event, slowly
  url-expired             (JSON) the returned URL has already expired

Run alone: `python -m tests.standins.fake_api --port 8099 --first-chunk-delay 0.3 --realtime-factor 4`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import hashlib
import itertools
import json
import math
import re
import struct
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

RATE = 24_000
MODEL = "qwen3-tts-instruct-flash"
RELAY_PATH = "/v1/audio/speech"
DASHSCOPE_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
# Not the real endpoint's: the fake's own time to the first chunk of its latest stream, for a
# benchmark whose fake runs in another process (the endpoint's time is not the bot's).
LAST_STREAM_PATH = "/fake/last-stream"
VOICE_SET = frozenset(
    (
        "Cherry",
        "Serena",
        "Ethan",
        "Chelsie",
        "Momo",
        "Vivian",
        "Moon",
        "Maia",
        "Kai",
        "Nofish",
        "Bella",
        "Eldric Sage",
        "Mia",
        "Mochi",
        "Bellona",
        "Vincent",
        "Bunny",
        "Neil",
        "Elias",
        "Arthur",
        "Nini",
        "Seren",
        "Pip",
        "Stella",
    )
)
LANGUAGES = frozenset(
    "Auto Chinese English German Italian Portuguese Spanish Japanese Korean French Russian".split()
)
MAX_INPUT = 600
MAX_INSTRUCTIONS = 1600
MAX_FILES = 256

ERRORS: dict[str, tuple[int, str]] = {
    "InvalidApiKey": (401, "Invalid API-key provided."),
    "AccessDenied": (403, "Access denied."),
    "AccessDenied.Unpurchased": (403, "Access to model denied. Please make sure you are eligible."),
    "Model.AccessDenied": (403, "Model access denied."),
    "ModelNotFound": (404, "Model not exist."),
    "InvalidParameter": (400, "The request parameter is invalid."),
    "BadRequest.EmptyInput": (400, "Required input parameter missing from request."),
    "BadRequest.EmptyModel": (400, "Required parameter 'model' missing from request."),
    "BadRequest.EmptyParameters": (400, "Required parameter 'parameters' missing from request."),
    "DataInspectionFailed": (400, "Input data may contain inappropriate content."),
    "Arrearage": (400, "Access denied, please make sure your account is in good standing."),
    "Throttling": (429, "Requests throttling triggered."),
    "Throttling.RateQuota": (429, "Requests rate limit exceeded, please try again later."),
    "Throttling.AllocationQuota": (429, "Free allocated quota exceeded."),
    "InternalError": (500, "An internal error has occured, please try again later."),
    "InternalError.Timeout": (500, "An internal timeout error has occured."),
    "InternalError.Algo": (500, "An internal algorithm error has occured."),
}

_FAULT_IN_TEXT = re.compile(r"\[\[fault:([^\]]+)\]\]")
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@functools.lru_cache(maxsize=256)
def tone_hz(text: str, voice: str) -> float:
    """The pitch of the fake's audio for (text, voice): 200..990 Hz in 10 Hz steps."""
    digest = hashlib.sha256(f"{voice}|{text}".encode()).digest()
    return 200.0 + 10.0 * (digest[0] % 80)


def duration_for(text: str, seconds_per_char: float = 0.02, min_seconds: float = 0.3) -> float:
    return max(min_seconds, seconds_per_char * len(text))


@functools.lru_cache(maxsize=256)
def expected_pcm(text: str, voice: str, seconds_per_char: float = 0.02, min_seconds: float = 0.3) -> bytes:
    """The fake's deterministic audio: 24 kHz mono s16le sine tone."""
    n = int(RATE * duration_for(text, seconds_per_char, min_seconds))
    freq = tone_hz(text, voice)
    try:
        import numpy as np

        t = np.arange(n, dtype=np.float64) / RATE
        return (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2").tobytes()
    except ImportError:  # pragma: no cover - numpy is a dependency
        step = 2 * math.pi * freq / RATE
        return struct.pack(f"<{n}h", *(int(8000 * math.sin(step * i)) for i in range(n)))


def wav_bytes(pcm: bytes, rate: int = RATE) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(pcm))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", len(pcm))
        + pcm
    )


@dataclass
class RecordedRequest:
    style: str
    stream: bool
    body: Any
    headers: dict[str, str]
    text: str = ""
    voice: str = ""
    fault: str | None = None
    at: float = field(default_factory=time.monotonic)  # when the fake had the whole request
    first_chunk_at: float | None = None  # (SSE) when it had written its first audio event


class FakeEndpoint:
    def __init__(
        self,
        *,
        api_key: str = "test-key-0123456789",
        first_chunk_delay: float = 0.0,
        chunk_bytes: int = 4800,
        realtime_factor: float = 0.0,
        json_audio: str = "url",  # "url" | "data" (base64 WAV) | "data-pcm" (base64 raw PCM)
        relay_mode: str = "json",  # "json" | "redirect" | "audio"
        url_ttl: float = 3600.0,
        seconds_per_char: float = 0.02,
        min_seconds: float = 0.3,
        crlf: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.first_chunk_delay = first_chunk_delay
        self.chunk_bytes = chunk_bytes
        self.realtime_factor = realtime_factor
        self.json_audio = json_audio
        self.relay_mode = relay_mode
        self.url_ttl = url_ttl
        self.seconds_per_char = seconds_per_char
        self.min_seconds = min_seconds
        self.crlf = crlf
        self.host = host
        self.port = port
        self.fault: str | None = None
        self.faults: deque[str] = deque()
        self.requests: list[RecordedRequest] = []
        self.downloads = 0
        self.active = 0
        self.max_concurrency = 0
        self.disconnects = 0
        self.completed_streams = 0
        self._files: dict[str, tuple[bytes, float]] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_post(RELAY_PATH, functools.partial(self._handle, style="relay"))
        self.app.router.add_post(DASHSCOPE_PATH, functools.partial(self._handle, style="dashscope"))
        self.app.router.add_get("/files/{name}", self._file)
        self.app.router.add_get(LAST_STREAM_PATH, self._last_stream)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> FakeEndpoint:
        self._runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeEndpoint:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + RELAY_PATH

    @property
    def dashscope_url(self) -> str:
        return self.base_url + DASHSCOPE_PATH

    @property
    def request_count(self) -> int:
        return len(self.requests)

    def expected_pcm(self, text: str, voice: str = "Cherry") -> bytes:
        return expected_pcm(text, voice, self.seconds_per_char, self.min_seconds)

    tone_hz = staticmethod(tone_hz)

    # -- helpers --------------------------------------------------------------------------
    @staticmethod
    def _error(
        code: str, *, style: str, retry_after: float | None = None, message: str | None = None
    ) -> web.Response:
        status, default = ERRORS.get(code, (500, "Unknown error."))
        body: dict[str, Any] = {"request_id": str(uuid.uuid4()), "code": code, "message": message or default}
        if style == "relay":
            body = {"status_code": status, **body}
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
        return web.json_response(body, status=status, headers=headers)

    def _choose_fault(self, request: web.Request, text: str) -> str | None:
        header = request.headers.get("X-Fake-Fault")
        if header:
            return header
        match = _FAULT_IN_TEXT.search(text)
        if match:
            return match.group(1)
        if self.faults:
            return self.faults.popleft()
        return self.fault

    # -- handlers -------------------------------------------------------------------------
    async def _handle(self, request: web.Request, *, style: str) -> web.StreamResponse:
        self.active += 1
        self.max_concurrency = max(self.max_concurrency, self.active)
        try:
            return await self._synth(request, style)
        finally:
            self.active -= 1

    async def _synth(self, request: web.Request, style: str) -> web.StreamResponse:
        stream = request.headers.get("X-DashScope-SSE", "").lower() == "enable"
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        rec = RecordedRequest(style, stream, body, dict(request.headers))
        self.requests.append(rec)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error("InvalidApiKey", style=style)
        if not isinstance(body, dict):
            return self._error("InvalidParameter", style=style, message="Request body is not valid JSON.")
        if style == "relay":
            text, voice = body.get("input"), body.get("voice")
            language = body.get("language_type", "Auto")
            params = body
        else:
            inp = body.get("input") if isinstance(body.get("input"), dict) else {}
            text, voice, language = inp.get("text"), inp.get("voice"), inp.get("language_type", "Auto")
            params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        rec.text = text if isinstance(text, str) else ""
        rec.voice = voice if isinstance(voice, str) else ""
        fault = rec.fault = self._choose_fault(request, rec.text)
        if fault and fault.startswith("stall-first:"):
            await asyncio.sleep(float(fault.split(":", 1)[1]))
        if fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            raise web.HTTPBadRequest()  # never reaches the client: the socket is gone
        if not body.get("model"):
            return self._error("BadRequest.EmptyModel", style=style)
        if body.get("model") != MODEL:
            return self._error("ModelNotFound", style=style)
        if not isinstance(text, str) or not text.strip():
            return self._error("BadRequest.EmptyInput", style=style)
        if voice not in VOICE_SET:
            return self._error("InvalidParameter", style=style, message=f"Voice {voice!r} is not supported.")
        if language not in LANGUAGES:
            return self._error("InvalidParameter", style=style, message="Invalid language_type.")
        if len(text) > MAX_INPUT:
            return self._error(
                "InvalidParameter", style=style, message=f"Range of input length should be [1, {MAX_INPUT}]"
            )
        if "optimize_instructions" in params and not isinstance(params["optimize_instructions"], bool):
            return self._error(
                "InvalidParameter", style=style, message="optimize_instructions must be a boolean"
            )
        instructions = params.get("instructions")
        if instructions is not None and (
            not isinstance(instructions, str) or len(instructions) > MAX_INSTRUCTIONS
        ):
            return self._error("InvalidParameter", style=style, message="Invalid instructions.")
        if fault:
            kind, _, arg = fault.partition(":")
            if kind == "error":
                return self._error(arg, style=style)
            if kind == "retry-after":
                return self._error("Throttling.RateQuota", style=style, retry_after=float(arg))
            if kind == "html502":
                return web.Response(status=502, text=HTML_502, content_type="text/html")
            if kind == "badjson":
                return web.Response(
                    status=200, text='{"output": {"audio": {"data": "AAAA', content_type="application/json"
                )
        pcm = self.expected_pcm(text, voice)
        request_id = str(uuid.uuid4())
        if stream:
            return await self._sse(request, pcm, rec, request_id, fault)
        # A whole-file answer comes only after the whole audio is generated.
        generation = self.first_chunk_delay
        if self.realtime_factor > 0:
            generation += len(pcm) / (2 * RATE) / self.realtime_factor
        if generation > 0:
            await asyncio.sleep(generation)
        return self._whole(pcm, text, request_id, style, fault)

    def _store(self, pcm: bytes, *, expired: bool = False) -> tuple[str, float]:
        name = f"audio_{next(self._ids)}.wav"
        expires = time.time() + (-1 if expired else self.url_ttl)
        self._files[name] = (wav_bytes(pcm), expires)
        while len(self._files) > MAX_FILES:  # bounded memory in long benchmark runs
            del self._files[next(iter(self._files))]
        return f"{self.base_url}/files/{name}?Expires={int(expires)}&Signature=fake", expires

    def _whole(self, pcm: bytes, text: str, request_id: str, style: str, fault: str | None) -> web.Response:
        if style == "relay" and self.relay_mode == "redirect":
            url, _ = self._store(pcm, expired=fault == "url-expired")
            raise web.HTTPFound(url)
        if style == "relay" and self.relay_mode == "audio":
            return web.Response(body=wav_bytes(pcm), content_type="audio/wav")
        audio: dict[str, Any] = {"id": f"audio_{request_id}", "data": "", "url": "", "expires_at": 0}
        if self.json_audio == "url" or fault == "url-expired":
            audio["url"], expires = self._store(pcm, expired=fault == "url-expired")
            audio["expires_at"] = int(expires)
        elif self.json_audio == "data":
            audio["data"] = base64.b64encode(wav_bytes(pcm)).decode()
        else:
            audio["data"] = base64.b64encode(pcm).decode()
        body = {
            "status_code": 200,
            "request_id": request_id,
            "code": "",
            "message": "",
            "output": {"text": None, "finish_reason": "stop", "choices": None, "audio": audio},
            "usage": {"characters": len(text)},
        }
        return web.json_response(body)

    def _event(self, n: int, payload: dict[str, Any], *, event: str = "result", status: int = 200) -> bytes:
        nl = "\r\n" if self.crlf else "\n"
        lines = [f"id:{n}", f"event:{event}", f":HTTP_STATUS/{status}"]
        if event == "error":
            lines.append(f"status:{status}")
        lines.append("data:" + json.dumps(payload, separators=(",", ":")))
        return (nl.join(lines) + nl + nl).encode()

    async def _sse(
        self, request: web.Request, pcm: bytes, rec: RecordedRequest, request_id: str, fault: str | None
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        kind, _, arg = (fault or "").partition(":")
        chunk_bytes = 7 if kind == "drip" else self.chunk_bytes
        try:
            await resp.prepare(request)
            if self.first_chunk_delay:
                await asyncio.sleep(self.first_chunk_delay)
            n = 0
            started = time.monotonic()
            sent_seconds = 0.0
            for offset in range(0, len(pcm), chunk_bytes):
                if kind == "cut-after" and n >= int(arg):
                    assert request.transport is not None
                    request.transport.abort()
                    return resp
                if kind == "sse-error-after" and n >= int(arg):
                    err = {
                        "code": "InternalError",
                        "message": ERRORS["InternalError"][1],
                        "request_id": request_id,
                    }
                    await resp.write(self._event(n + 1, err, event="error", status=500))
                    return resp
                if kind == "stall-after":
                    after, _, seconds = arg.partition(":")
                    if n == int(after):
                        await asyncio.sleep(float(seconds))
                chunk = pcm[offset : offset + chunk_bytes]
                n += 1
                payload = {
                    "output": {
                        "finish_reason": "null",
                        "audio": {
                            "data": base64.b64encode(chunk).decode(),
                            "id": f"audio_{request_id}",
                            "expires_at": 0,
                        },
                    },
                    "request_id": request_id,
                }
                await resp.write(self._event(n, payload))
                if rec.first_chunk_at is None:
                    rec.first_chunk_at = time.monotonic()
                sent_seconds += len(chunk) / (2 * RATE)
                if kind == "drip":
                    await asyncio.sleep(0.002)
                elif self.realtime_factor > 0:
                    due = started + sent_seconds / self.realtime_factor
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
            if kind != "no-stop":
                url, expires = self._store(pcm)
                final = {
                    "output": {
                        "finish_reason": "stop",
                        "audio": {
                            "data": "",
                            "url": url,
                            "id": f"audio_{request_id}",
                            "expires_at": int(expires),
                        },
                    },
                    "usage": {"characters": len(rec.text)},
                    "request_id": request_id,
                }
                await resp.write(self._event(n + 1, final))
            await resp.write_eof()
            self.completed_streams += 1
        except asyncio.CancelledError:
            self.disconnects += 1
            raise
        except ConnectionError:
            self.disconnects += 1
            return resp
        except Exception as exc:  # aiohttp's ClientConnectionResetError and friends
            if "closing transport" in str(exc).lower() or "reset" in type(exc).__name__.lower():
                self.disconnects += 1
                return resp
            raise
        return resp

    async def _last_stream(self, request: web.Request) -> web.Response:
        """The latest streaming request that sent audio: its text and the seconds from having
        the request to having written the first audio event (404: none yet)."""
        for rec in reversed(self.requests):
            if rec.stream and rec.first_chunk_at is not None:
                seconds = rec.first_chunk_at - rec.at
                return web.json_response({"text": rec.text, "first_chunk_seconds": seconds})
        return web.json_response({"message": "no stream has sent audio yet"}, status=404)

    async def _file(self, request: web.Request) -> web.Response:
        self.downloads += 1
        item = self._files.get(request.match_info["name"])
        if item is None:
            return web.Response(
                status=404, text="<Error><Code>NoSuchKey</Code></Error>", content_type="application/xml"
            )
        data, expires = item
        if time.time() > expires:
            return web.Response(
                status=403,
                text="<Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>",
                content_type="application/xml",
            )
        return web.Response(body=data, content_type="audio/wav")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake speech endpoint.")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--api-key", default="test-key-0123456789")
    parser.add_argument("--first-chunk-delay", type=float, default=0.0)
    parser.add_argument("--chunk-bytes", type=int, default=4800)
    parser.add_argument("--realtime-factor", type=float, default=0.0)
    parser.add_argument("--json-audio", choices=("url", "data", "data-pcm"), default="url")
    parser.add_argument("--fault", default=None)
    args = parser.parse_args(argv)

    async def run() -> None:
        fake = FakeEndpoint(
            api_key=args.api_key,
            first_chunk_delay=args.first_chunk_delay,
            chunk_bytes=args.chunk_bytes,
            realtime_factor=args.realtime_factor,
            json_audio=args.json_audio,
            port=args.port,
        )
        fake.fault = args.fault
        await fake.start()
        print(f"fake endpoint: relay {fake.url}  dashscope {fake.dashscope_url}", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
