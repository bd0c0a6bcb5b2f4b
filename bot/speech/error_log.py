"""The endpoint failures members met, as they are shown to people.

`error_label(err)` is the short name of a failure (its API code, else its HTTP status, else its
kind), `with_details(sentence, err)` adds the code and request id to a sentence in the same form
as every `TTSError.user_message()` ("Sentence. (code X, request id Y)"), and `LastErrors` keeps,
per key (a server), the last failure met: label, request id and when (UTC epoch seconds),
bounded to the most recent `capacity` keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from cachetools import LRUCache

from bot.base.i18n import join, say
from bot.speech.errors import TTSError


def error_label(err: TTSError) -> str:
    """The API code of `err`, else "HTTP <status>", else the kind of failure."""
    if err.code:
        return err.code
    if err.status is not None:
        return f"HTTP {err.status}"
    return type(err).__name__


def with_details(sentence: str, err: TTSError | None) -> str:
    """`sentence` followed by the code and request id of `err`, as API errors are shown."""
    details = err.details() if err is not None else ""
    if err is not None and not details:
        details = error_label(err)
    return say("error.with_details", sentence=sentence, details=details) if details else sentence


@dataclass(frozen=True)
class SeenError:
    label: str
    request_id: str | None
    at: float  # UTC epoch seconds

    def describe(self) -> str:
        rid = say("error.detail.request_id", request_id=self.request_id) if self.request_id else None
        return join(say("list.separator"), (self.label, rid))


class LastErrors:
    """The last endpoint failure per key (e.g. per server)."""

    def __init__(self, *, capacity: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self._last: LRUCache[Hashable, SeenError] = LRUCache(maxsize=capacity)
        self._clock = clock

    def record(self, key: Hashable, err: TTSError) -> SeenError:
        seen = SeenError(error_label(err), err.request_id, self._clock())
        self._last[key] = seen
        return seen

    def get(self, key: Hashable) -> SeenError | None:
        return self._last.get(key)
