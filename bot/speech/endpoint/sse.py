"""An incremental Server-Sent Events parser for DashScope's framing.

Blocks look like::

    id:1
    event:result
    :HTTP_STATUS/200
    data:{"output": {...}}

separated by a blank line. Bytes may arrive split anywhere (even inside a CRLF or a UTF-8
sequence); lines end with LF, CRLF or CR; `data:` may or may not be followed by a space;
several data lines are joined with newlines; comment lines are ignored except that
`:HTTP_STATUS/NNN` (and a `status:` field) give the event's HTTP status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STATUS_COMMENT = re.compile(r"HTTP_STATUS/(\d{3})")


@dataclass(slots=True)
class SSEEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    status: int | None = None


class SSEParser:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._reset()

    def _reset(self) -> None:
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._status: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Add bytes; return the events completed by them."""
        self._buffer += chunk
        return self._drain(final=False)

    def close(self) -> list[SSEEvent]:
        """End of stream: return a last event that lacked its terminating blank line."""
        events = self._drain(final=True)
        if self._buffer:
            events.extend(self._line(bytes(self._buffer)))
            self._buffer.clear()
        pending = self._dispatch()
        if pending is not None:
            events.append(pending)
        return events

    def _drain(self, *, final: bool) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        buf = self._buffer
        start = 0
        length = len(buf)
        while start < length:
            lf = buf.find(b"\n", start)
            cr = buf.find(b"\r", start)
            if lf < 0 and cr < 0:
                break
            if cr >= 0 and (lf < 0 or cr < lf):
                if cr + 1 >= length and not final:
                    break  # a CR at the end might be the first half of CRLF
                end, nxt = cr, cr + (2 if cr + 1 < length and buf[cr + 1] == 0x0A else 1)
            else:
                end, nxt = lf, lf + 1
            events.extend(self._line(bytes(buf[start:end])))
            start = nxt
        del buf[:start]
        return events

    def _line(self, raw: bytes) -> list[SSEEvent]:
        line = raw.decode("utf-8", "replace")
        if not line:
            event = self._dispatch()
            return [event] if event is not None else []
        if line.startswith(":"):
            match = _STATUS_COMMENT.search(line)
            if match:
                self._status = int(match.group(1))
            return []
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        elif name == "status":
            digits = value.strip()
            if digits.isdigit():
                self._status = int(digits)
        return []

    def _dispatch(self) -> SSEEvent | None:
        if not self._data and self._event is None:
            self._reset()
            return None
        event = SSEEvent(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self._id,
            status=self._status,
        )
        self._reset()
        return event
