"""The circuit breaker in front of the primary engine.

An outage makes every request wait for timeouts and retries before falling back. After an
account-level failure (billing, quota, auth, access, model), or after `failure_threshold`
consecutive other failures, the breaker opens: requests skip the primary for `cooldown` seconds
(at least the server's Retry-After, at most 5 minutes), and `skip_reason()` is the error that
opened it. After the cooldown exactly one request (the half-open probe) tries the primary again;
the others keep skipping it until the probe's result is known. `cooldown=0` disables it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.speech.errors import (
    AccessDeniedError,
    AuthError,
    BillingError,
    ModelNotFoundError,
    QuotaExhaustedError,
    TTSError,
)

log = logging.getLogger(__name__)

# Failures that will not go away by themselves: open the breaker at once.
_ACCOUNT_ERRORS: tuple[type[TTSError], ...] = (
    AuthError,
    AccessDeniedError,
    ModelNotFoundError,
    BillingError,
    QuotaExhaustedError,
)
_MAX_COOLDOWN = 300.0


class CircuitBreaker:
    """Whether to skip the primary engine, from the outcomes of the requests it served."""

    def __init__(
        self,
        *,
        cooldown: float = 30.0,
        failure_threshold: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cooldown = cooldown
        self._threshold = max(1, failure_threshold)
        self._clock = clock
        self._consecutive = 0
        self._open_until = 0.0
        self._open_reason: TTSError | None = None
        self._probing = False  # half-open: one request is trying the primary after the cooldown

    def skip_reason(self) -> TTSError | None:
        """The error that opened the breaker while it is open (or a probe is out), else None."""
        if self._open_reason is not None and (self._probing or self._clock() < self._open_until):
            return self._open_reason
        return None

    def enter(self) -> tuple[TTSError | None, bool]:
        """(reason to skip the primary, whether this caller is the half-open probe). After the
        cooldown exactly one caller tries the primary; the others keep using the backup until
        its result is known. The probe calls `end_probe()` when its request is over."""
        reason = self.skip_reason()
        if reason is None and self._open_reason is not None:
            self._probing = True
            return None, True
        return reason, False

    def end_probe(self) -> None:
        self._probing = False

    def record_success(self) -> None:
        self._consecutive = 0
        self._open_reason = None

    def record_failure(self, err: TTSError) -> None:
        self._consecutive += 1
        if self._cooldown <= 0:
            return
        if isinstance(err, _ACCOUNT_ERRORS) or self._consecutive >= self._threshold:
            wait = max(self._cooldown, min(err.retry_after or 0.0, _MAX_COOLDOWN))
            was_open = self._open_reason is not None and self._clock() < self._open_until
            self._open_until = self._clock() + wait
            self._open_reason = err
            if isinstance(err, _ACCOUNT_ERRORS) and not was_open:
                # The operator's to fix: at ERROR, once per cooldown (failures of requests
                # already in flight when it opened are not repeated).
                log.error(
                    "the endpoint refused the bot's account (code %s, request id %s); using the "
                    "backup voice for %.0fs: %s",
                    err.code,
                    err.request_id,
                    wait,
                    err.log_form(),
                )
            else:
                log.warning("primary engine failing; using the backup for %.0fs: %s", wait, err.log_form())
