"""The endpoint failures members met, as they are shown to people.

`error_label(err)` is the short name of a failure (its API code, else its HTTP status, else its
kind), `with_details(sentence, err)` adds the code and request id to a sentence in the same form
as every `TTSError.user_message()` ("Sentence. (code X, request id Y)"), and `LastErrors` keeps,
per key (a server), the last failure met: label, request id and when (UTC epoch seconds),
bounded to the most recent `capacity` keys.

`AccountAlarm` is the one place account failures (the operator's to fix: InvalidApiKey,
AccessDenied, Arrearage, quota, model not found) are logged: at ERROR, with code and request id,
once per cooldown. The circuit breaker raises it when the backup voice takes over; without a
backup voice (`TTS_ENGINE=api`) the `FallbackEngine` raises it when a request fails.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from cachetools import LRUCache

from bot.base.i18n import join, say
from bot.speech.errors import (
    AccessDeniedError,
    AuthError,
    BillingError,
    ModelNotFoundError,
    QuotaExhaustedError,
    TTSError,
)

log = logging.getLogger(__name__)

# Failures of the bot's account, not of a request: they will not go away by themselves.
ACCOUNT_ERRORS: tuple[type[TTSError], ...] = (
    AuthError,
    AccessDeniedError,
    ModelNotFoundError,
    BillingError,
    QuotaExhaustedError,
)


def is_account_error(err: BaseException) -> bool:
    return isinstance(err, ACCOUNT_ERRORS)


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


class AccountAlarm:
    """Logs an account failure at ERROR, with its code and request id, once per cooldown: the
    first one logs and starts a quiet window of `quiet_for` seconds; account failures met in the
    window (requests already in flight, the members' retries) are not logged again."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._quiet_until: float | None = None

    def report(self, err: TTSError, *, quiet_for: float, consequence: str) -> bool:
        """Log `err` if it is an account failure and the window is over; whether it logged.
        `consequence` says what the bot does meanwhile ("using the backup voice for 30s")."""
        if not is_account_error(err):
            return False
        now = self._clock()
        if self._quiet_until is not None and now < self._quiet_until:
            return False
        self._quiet_until = now + quiet_for
        log.error(
            "the endpoint refused the bot's account (code %s, request id %s); %s: %s",
            err.code,
            err.request_id,
            consequence,
            err.log_form(),
        )
        return True
