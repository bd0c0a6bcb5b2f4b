"""The fake endpoint itself keeps the real contract (spoken to with plain aiohttp, not the client)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import sys
from typing import Any

import aiohttp
import pytest

from bot.audio.wav import parse_wav
from bot.speech.endpoint.sse import SSEEvent, SSEParser
from tests.standins.audio_checks import dominant_hz
from tests.standins.fake_api import ERRORS, MODEL, RATE, FakeEndpoint, tone_hz
from tests.standins.settings import API_KEY

TEXT = "Hello there, this is the fake endpoint."


def relay_body(text: str = TEXT, voice: str = "Cherry", **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "input": text, "voice": voice, "language_type": "English", **extra}


def dashscope_body(text: str = TEXT, voice: str = "Cherry", **parameters: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "input": {"text": text, "voice": voice, "language_type": "English"},
    }
    if parameters:
        body["parameters"] = parameters
    return body


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: Any,
    *,
    stream: bool = False,
    key: str = API_KEY,
    fault: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {key}"}
    if stream:
        headers["X-DashScope-SSE"] = "enable"
    if fault:
        headers["X-Fake-Fault"] = fault
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with session.post(url, data=data, headers=headers, allow_redirects=False) as resp:
        return resp.status, dict(resp.headers), await resp.read()


def events_of(raw: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    return [*parser.feed(raw), *parser.close()]


def audio_of(events: list[SSEEvent]) -> bytes:
    return b"".join(
        base64.b64decode(json.loads(e.data)["output"]["audio"]["data"]) for e in events if e.event == "result"
    )


# -- deterministic audio -------------------------------------------------------------------
def test_expected_pcm_is_deterministic_and_proportional_to_the_text() -> None:
    fake = FakeEndpoint()
    short, long = fake.expected_pcm("Hi.", "Cherry"), fake.expected_pcm("x" * 300, "Cherry")
    assert short == fake.expected_pcm("Hi.", "Cherry")
    assert len(short) == int(RATE * 0.3) * 2  # the minimum length
    assert len(long) == int(RATE * 300 * 0.02) * 2  # 0.02 s per character
    assert len(fake.expected_pcm("x" * 600, "Cherry")) == 2 * len(long)


def test_the_audio_is_a_tone_whose_pitch_comes_from_voice_and_text() -> None:
    fake = FakeEndpoint()
    pitches = {tone_hz(TEXT, voice) for voice in ("Cherry", "Ethan", "Serena", "Kai", "Moon", "Pip")}
    assert len(pitches) > 1, "the voice changes the pitch"
    assert all(200 <= hz <= 990 for hz in pitches)
    for voice in ("Cherry", "Ethan"):
        pcm = fake.expected_pcm(TEXT, voice)
        assert dominant_hz(pcm, RATE) == pytest.approx(tone_hz(TEXT, voice), abs=2)


# -- JSON mode -----------------------------------------------------------------------------
async def test_json_url_serves_a_real_wav(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession
) -> None:
    status, _, raw = await post(session, fake_endpoint.url, relay_body())
    assert status == 200
    body = json.loads(raw)
    assert body["output"]["finish_reason"] == "stop"
    assert body["usage"]["characters"] == len(TEXT)
    audio = body["output"]["audio"]
    assert audio["data"] == "" and audio["expires_at"] > 0
    async with session.get(audio["url"]) as resp:
        assert resp.status == 200 and resp.content_type == "audio/wav"
        wav = parse_wav(await resp.read())
    assert (wav.pcm, wav.rate, wav.channels) == (fake_endpoint.expected_pcm(TEXT), 24000, 1)
    assert fake_endpoint.downloads == 1


async def test_expired_url_is_refused(fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession) -> None:
    _, _, raw = await post(session, fake_endpoint.url, relay_body(), fault="url-expired")
    url = json.loads(raw)["output"]["audio"]["url"]
    async with session.get(url) as resp:
        assert resp.status == 403
        assert "expired" in (await resp.text())


@pytest.mark.parametrize("mode", ["data", "data-pcm"])
async def test_json_base64_data(mode: str, session: aiohttp.ClientSession) -> None:
    async with FakeEndpoint(api_key=API_KEY, json_audio=mode) as fake:
        status, _, raw = await post(session, fake.url, relay_body())
        audio = json.loads(raw)["output"]["audio"]
        assert status == 200 and audio["url"] == ""
        data = base64.b64decode(audio["data"])
        pcm = parse_wav(data).pcm if mode == "data" else data
        assert pcm == fake.expected_pcm(TEXT)


async def test_relay_redirect_mode(session: aiohttp.ClientSession) -> None:
    async with FakeEndpoint(api_key=API_KEY, relay_mode="redirect") as fake:
        status, headers, _ = await post(session, fake.url, relay_body())
        assert status == 302
        async with session.get(headers["Location"]) as resp:
            assert parse_wav(await resp.read()).pcm == fake.expected_pcm(TEXT)


async def test_relay_audio_mode(session: aiohttp.ClientSession) -> None:
    async with FakeEndpoint(api_key=API_KEY, relay_mode="audio") as fake:
        status, headers, raw = await post(session, fake.url, relay_body())
        assert status == 200 and headers["Content-Type"] == "audio/wav"
        assert parse_wav(raw).pcm == fake.expected_pcm(TEXT)


async def test_dashscope_style(fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession) -> None:
    body = dashscope_body(instructions="Speak slowly.", optimize_instructions=False)
    status, _, raw = await post(session, fake_endpoint.dashscope_url, body)
    assert status == 200
    assert "url" in json.loads(raw)["output"]["audio"]
    rec = fake_endpoint.requests[-1]
    assert (rec.style, rec.text, rec.voice, rec.stream) == ("dashscope", TEXT, "Cherry", False)
    assert rec.body == body


# -- SSE mode ------------------------------------------------------------------------------
@pytest.mark.parametrize("crlf", [False, True])
async def test_sse_stream_framing_and_audio(crlf: bool, session: aiohttp.ClientSession) -> None:
    async with FakeEndpoint(api_key=API_KEY, chunk_bytes=1000, crlf=crlf) as fake:
        status, headers, raw = await post(session, fake.url, relay_body(), stream=True)
        assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
        assert (b"\r\n\r\n" in raw) == crlf
        assert raw.startswith(b"id:1" + (b"\r\n" if crlf else b"\n") + b"event:result")
        assert b":HTTP_STATUS/200" in raw
        events = events_of(raw)
        pcm = fake.expected_pcm(TEXT)
        assert len(events) == -(-len(pcm) // 1000) + 1
        payloads = [json.loads(e.data) for e in events]
        assert all(p["output"]["finish_reason"] == "null" for p in payloads[:-1])
        final = payloads[-1]
        assert final["output"]["finish_reason"] == "stop"
        assert final["output"]["audio"]["data"] == "" and final["output"]["audio"]["url"]
        assert final["usage"]["characters"] == len(TEXT)
        assert audio_of(events) == pcm
        assert fake.completed_streams == 1


async def test_sse_error_event(fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession) -> None:
    _, _, raw = await post(session, fake_endpoint.url, relay_body(), stream=True, fault="sse-error-after:2")
    events = events_of(raw)
    assert [e.event for e in events] == ["result", "result", "error"]
    assert events[-1].status == 500
    assert json.loads(events[-1].data)["code"] == "InternalError"


async def test_sse_no_stop(fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession) -> None:
    _, _, raw = await post(session, fake_endpoint.url, relay_body(), stream=True, fault="no-stop")
    events = events_of(raw)
    assert all(json.loads(e.data)["output"]["finish_reason"] == "null" for e in events)
    assert audio_of(events) == fake_endpoint.expected_pcm(TEXT)


async def test_sse_drip_sends_odd_sized_chunks(session: aiohttp.ClientSession) -> None:
    async with FakeEndpoint(api_key=API_KEY, min_seconds=0.005, seconds_per_char=0.0) as fake:
        _, _, raw = await post(session, fake.url, relay_body("Hi"), stream=True, fault="drip")
        events = events_of(raw)[:-1]
        sizes = {len(base64.b64decode(json.loads(e.data)["output"]["audio"]["data"])) for e in events}
        assert 7 in sizes
        assert audio_of(events) == fake.expected_pcm("Hi")


async def test_sse_cut_after(fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(session, fake_endpoint.url, relay_body(), stream=True, fault="cut-after:1")


# -- authentication and validation ---------------------------------------------------------
@pytest.mark.parametrize("style", ["relay", "dashscope"])
async def test_wrong_key_is_401(
    style: str, fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession
) -> None:
    url, body = (
        (fake_endpoint.url, relay_body())
        if style == "relay"
        else (
            fake_endpoint.dashscope_url,
            dashscope_body(),
        )
    )
    status, _, raw = await post(session, url, body, key="wrong-key-000000")
    assert status == 401
    obj = json.loads(raw)
    assert obj["code"] == "InvalidApiKey" and obj["request_id"]
    # The relay adds status_code like the SDK does; DashScope's native body has none.
    assert ("status_code" in obj) == (style == "relay")


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (relay_body(model=""), 400, "BadRequest.EmptyModel", None),
        (relay_body(model="qwen-nope"), 404, "ModelNotFound", None),
        (relay_body(text="   "), 400, "BadRequest.EmptyInput", None),
        (relay_body(voice="Jennifer"), 400, "InvalidParameter", "Jennifer"),
        (relay_body(language_type="Klingon"), 400, "InvalidParameter", "language"),
        (relay_body(text="a" * 601), 400, "InvalidParameter", "Range of input length"),
        (relay_body(optimize_instructions=None), 400, "InvalidParameter", "boolean"),
        (relay_body(optimize_instructions="yes"), 400, "InvalidParameter", "boolean"),
        (relay_body(instructions="x" * 1601), 400, "InvalidParameter", "instructions"),
        (b"{not json", 400, "InvalidParameter", "JSON"),
    ],
    ids=[
        "empty-model",
        "unknown-model",
        "empty-text",
        "voice",
        "language",
        "601-chars",
        "null-optimize",
        "string-optimize",
        "long-instructions",
        "not-json",
    ],
)
async def test_validation_uses_the_real_codes(
    body: Any,
    status: int,
    code: str,
    message: str | None,
    fake_endpoint: FakeEndpoint,
    session: aiohttp.ClientSession,
) -> None:
    got, _, raw = await post(session, fake_endpoint.url, body)
    obj = json.loads(raw)
    assert (got, obj["code"]) == (status, code)
    if message:
        assert message in obj["message"]


async def test_600_characters_are_accepted(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession
) -> None:
    status, _, _ = await post(session, fake_endpoint.url, relay_body(text="a" * 600))
    assert status == 200


# -- faults --------------------------------------------------------------------------------
@pytest.mark.parametrize("code", list(ERRORS))
async def test_every_error_code_has_its_real_status(
    code: str, fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession
) -> None:
    status, _, raw = await post(session, fake_endpoint.url, relay_body(), fault=f"error:{code}")
    obj = json.loads(raw)
    assert status == ERRORS[code][0] == obj["status_code"]
    assert (obj["code"], obj["message"]) == (code, ERRORS[code][1])


async def test_retry_after_header(fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession) -> None:
    status, headers, raw = await post(session, fake_endpoint.url, relay_body(), fault="retry-after:7")
    assert status == 429 and headers["Retry-After"] == "7"
    assert json.loads(raw)["code"] == "Throttling.RateQuota"


async def test_html_502_and_bad_json(fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession) -> None:
    status, headers, raw = await post(session, fake_endpoint.url, relay_body(), fault="html502")
    assert status == 502 and headers["Content-Type"].startswith("text/html") and b"<html>" in raw
    status, _, raw = await post(session, fake_endpoint.url, relay_body(), fault="badjson")
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(raw)


async def test_reset_drops_the_connection(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.ClientError):
        await post(session, fake_endpoint.url, relay_body(), fault="reset")


async def test_stall_first_delays_the_answer(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await post(session, fake_endpoint.url, relay_body(), fault="stall-first:0.3")


async def test_fault_sources(fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession) -> None:
    fake = fake_endpoint
    # A magic word in the text.
    status, _, _ = await post(session, fake.url, relay_body("Hi [[fault:error:Arrearage]]"))
    assert status == 400
    # A queue, one per request, then normal again.
    fake.faults.extend(["error:InternalError", "error:Throttling"])
    statuses = [(await post(session, fake.url, relay_body()))[0] for _ in range(3)]
    assert statuses == [500, 429, 200]
    # Every request.
    fake.fault = "error:ModelNotFound"
    statuses = [(await post(session, fake.url, relay_body()))[0] for _ in range(2)]
    assert statuses == [404, 404]
    assert [r.fault for r in fake.requests] == [
        "error:Arrearage",
        "error:InternalError",
        "error:Throttling",
        None,
        "error:ModelNotFound",
        "error:ModelNotFound",
    ]


async def test_concurrency_is_measured(session: aiohttp.ClientSession) -> None:
    async with FakeEndpoint(api_key=API_KEY, first_chunk_delay=0.05) as fake:
        await asyncio.gather(*(post(session, fake.url, relay_body(), stream=True) for _ in range(3)))
        assert fake.max_concurrency == 3 and fake.active == 0
        assert fake.request_count == 3


# -- runnable alone ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_runs_alone_from_the_command_line(session: aiohttp.ClientSession) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "tests.standins.fake_api", "--port", str(port), "--json-audio", "data-pcm"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert f"127.0.0.1:{port}/v1/audio/speech" in line.decode()
        status, _, raw = await post(session, f"http://127.0.0.1:{port}/v1/audio/speech", relay_body())
        assert status == 200
        pcm = base64.b64decode(json.loads(raw)["output"]["audio"]["data"])
        assert pcm == FakeEndpoint().expected_pcm(TEXT)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 5)


async def test_client_leaving_mid_stream_is_counted(session: aiohttp.ClientSession) -> None:
    async with FakeEndpoint(api_key=API_KEY, realtime_factor=4.0) as fake:
        headers = {"Authorization": f"Bearer {API_KEY}", "X-DashScope-SSE": "enable"}
        async with session.post(fake.url, json=relay_body("x" * 100), headers=headers) as resp:
            await resp.content.readany()
            resp.close()
        for _ in range(100):
            if fake.disconnects:
                break
            await asyncio.sleep(0.01)
        assert fake.disconnects == 1 and fake.completed_streams == 0


async def test_client_leaving_mid_stream_is_not_a_server_error(
    caplog: pytest.LogCaptureFixture, session: aiohttp.ClientSession
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeEndpoint(api_key=API_KEY, realtime_factor=4.0) as fake:
        headers = {"Authorization": f"Bearer {API_KEY}", "X-DashScope-SSE": "enable"}
        async with session.post(fake.url, json=relay_body("x" * 100), headers=headers) as resp:
            await resp.content.readany()
            resp.close()
        for _ in range(100):
            if fake.disconnects:
                break
            await asyncio.sleep(0.01)
    assert fake.disconnects == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_the_fake_tells_its_own_time_to_the_first_chunk_of_its_latest_stream(
    session: aiohttp.ClientSession,
) -> None:
    """A benchmark whose fake runs in another process subtracts the endpoint's own time from
    the bot's latency: the time from having the request to having written the first audio."""
    async with FakeEndpoint(api_key=API_KEY, first_chunk_delay=0.05) as fake:
        last = fake.base_url + "/fake/last-stream"
        async with session.get(last) as resp:
            assert resp.status == 404  # no stream yet
        await post(session, fake.url, relay_body(text="the first one"), stream=True)
        await post(session, fake.url, relay_body(text="the second one"), stream=True)
        await post(session, fake.url, relay_body(text="not streamed"))
        async with session.get(last) as resp:
            found = await resp.json()
        assert found["text"] == "the second one"
        assert 0.05 <= found["first_chunk_seconds"] < 0.5
