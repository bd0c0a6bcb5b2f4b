"""The incremental SSE parser: DashScope captures split at any byte, every line ending and
field spelling the wire may use."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from bot.speech.endpoint.sse import SSEEvent, SSEParser

DATA = Path(__file__).parent / "data"
STREAM = (DATA / "dashscope_stream.sse").read_bytes()
ERROR = (DATA / "dashscope_error.sse").read_bytes()
REQUEST_ID = "0f8e5b7c-1d2a-4c3b-9e8f-7a6b5c4d3e2f"

# A short capture exercising every tricky bit at once: a keep-alive comment, `data: ` with a
# space, a two-line data field, non-ASCII text (2-, 3- and 4-byte UTF-8), an unknown field,
# an error status comment on the second event only, and no blank line after the last event.
TRICKY = (
    ": keep-alive\n"
    "id:1\n"
    "event:result\n"
    'data: {"t":"é€😀",\n'
    'data:"n":1}\n'
    "retry:100\n"
    "\n"
    "id:2\n"
    "event:error\n"
    ":HTTP_STATUS/500\n"
    'data:{"code":"InternalError"}'
).encode()
TRICKY_EVENTS = [
    SSEEvent(event="result", data='{"t":"é€😀",\n"n":1}', id="1", status=None),
    SSEEvent(event="error", data='{"code":"InternalError"}', id="2", status=500),
]


def parse(chunks: Iterable[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return events


def with_endings(capture: bytes, ending: bytes) -> bytes:
    return capture.replace(b"\n", ending)


def expected_stream_events() -> list[SSEEvent]:
    events = parse([STREAM])
    assert len(events) == 3
    return events


def test_capture_parsed_in_one_piece() -> None:
    events = expected_stream_events()
    assert [e.id for e in events] == ["1", "2", "3"]
    assert {e.event for e in events} == {"result"}
    assert {e.status for e in events} == {200}
    payloads = [json.loads(e.data) for e in events]
    audio = b"".join(base64.b64decode(p["output"]["audio"]["data"]) for p in payloads)
    assert audio == bytes(range(20))
    assert [p["output"]["finish_reason"] for p in payloads] == ["null", None, "stop"]
    assert payloads[2]["output"]["audio"]["url"].startswith("http://127.0.0.1:9/files/")
    assert {p["request_id"] for p in payloads} == {REQUEST_ID}


def test_error_capture() -> None:
    (event,) = parse([ERROR])
    assert event.event == "error"
    assert event.status == 400
    payload = json.loads(event.data)
    assert payload["code"] == "DataInspectionFailed"
    assert payload["request_id"] == "7d1c2b3a-0000-4000-8000-000000000001"


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_capture_split_at_every_byte_boundary(ending: bytes) -> None:
    capture = with_endings(STREAM, ending)
    expected = expected_stream_events()
    for cut in range(len(capture) + 1):
        assert parse([capture[:cut], capture[cut:]]) == expected, f"split at byte {cut}"


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_capture_fed_one_byte_at_a_time(ending: bytes) -> None:
    capture = with_endings(STREAM + ERROR, ending)
    events = parse(capture[i : i + 1] for i in range(len(capture)))
    assert events == [*expected_stream_events(), *parse([ERROR])]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_tricky_capture_split_at_every_pair_of_boundaries(ending: bytes) -> None:
    capture = with_endings(TRICKY, ending)
    assert parse([capture]) == TRICKY_EVENTS
    n = len(capture)
    for i in range(n + 1):
        for j in range(i, n + 1):
            assert parse([capture[:i], capture[i:j], capture[j:]]) == TRICKY_EVENTS, (i, j)


def test_mixed_line_endings_in_one_stream() -> None:
    capture = b"data:a\r\ndata:b\rdata:c\n\r\ndata:d\r\r"
    assert [e.data for e in parse([capture])] == ["a\nb\nc", "d"]


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    # If the CR were taken as a line end on its own, the LF would read as a blank line and
    # dispatch the event early, splitting one event's data in two.
    parser = SSEParser()
    assert parser.feed(b"data:a\r") == []
    assert parser.feed(b"\ndata:b\r") == []
    assert parser.feed(b"\n\r") == []
    assert parser.feed(b"\n") == [SSEEvent(data="a\nb")]
    assert parser.close() == []


def test_data_with_and_without_space() -> None:
    events = parse([b'data:{"a":1}\n\ndata: {"a":1}\n\ndata:  two spaces\n\n'])
    assert [e.data for e in events] == ['{"a":1}', '{"a":1}', " two spaces"]


def test_comment_lines_are_ignored() -> None:
    events = parse([b": hello\n:\ndata:x\n: between\ndata:y\n\n: trailing comment\n\n"])
    assert events == [SSEEvent(data="x\ny")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    (event,) = parse([b'data:{"output":\ndata:{"finish_reason":"stop"}}\n\n'])
    assert json.loads(event.data) == {"output": {"finish_reason": "stop"}}


def test_utf8_character_split_across_reads() -> None:
    text = "données 语音 🎤"
    raw = f"data:{text}\n\n".encode()
    for cut in range(len(raw) + 1):
        assert parse([raw[:cut], raw[cut:]]) == [SSEEvent(data=text)], cut


def test_final_event_without_trailing_blank_line_is_delivered_on_close() -> None:
    parser = SSEParser()
    assert parser.feed(b'event:result\ndata:{"x":1}') == []
    assert parser.close() == [SSEEvent(event="result", data='{"x":1}')]


@pytest.mark.parametrize("tail", [b"\n", b"\r", b"\r\n"])
def test_final_event_with_single_line_end_is_delivered_on_close(tail: bytes) -> None:
    parser = SSEParser()
    assert parser.feed(b"data:last" + tail) == []
    assert parser.close() == [SSEEvent(data="last")]


def test_status_line_and_status_comment() -> None:
    events = parse([b"event:error\nstatus:429\ndata:{}\n\nevent:error\n:HTTP_STATUS/503\ndata:{}\n\n"])
    assert [e.status for e in events] == [429, 503]


def test_fields_do_not_leak_into_the_next_event() -> None:
    events = parse([b"id:1\nevent:error\n:HTTP_STATUS/500\ndata:a\n\ndata:b\n\n"])
    assert (events[1].event, events[1].data, events[1].status) == ("message", "b", None)


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert parse([b"\n\n\r\n: only a comment\n\nid:7\n\n"]) == []


def test_unknown_fields_are_ignored() -> None:
    assert parse([b"retry:3000\nfoo:bar\ndata:x\n\n"]) == [SSEEvent(data="x")]


def test_close_on_empty_parser_returns_nothing() -> None:
    parser = SSEParser()
    assert parser.close() == []
