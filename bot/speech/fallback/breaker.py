"""The circuit breaker in front of the primary engine.

An outage makes every request wait for timeouts and retries before falling back. After an
account-level failure (billing, quota, auth, access, model), or after `failure_threshold`
consecutive other failures, the breaker opens: requests skip the primary for `cooldown` seconds
(at least the server's Retry-After, at most 5 minutes), and `skip_reason()` is the error that
opened it. After the cooldown exactly one request (the half-open probe) tries the primary again;
the others keep skipping it until the probe's result is known. `cooldown=0` disables it.

In a cluster (`shared_breaker`), `on_open`/`on_close` tell the other processes, `open_remote`
and `close_remote` take their news, and `probe_gate` allows the half-open probe only in the
process that won the cluster's probe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.speech.error_log import AccountAlarm, is_account_error
from bot.speech.errors import TTSError

log = logging.getLogger(__name__)

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
        self.alarm = AccountAlarm(clock=clock)  # account failures at ERROR, once per cooldown
        # The cluster's hooks (None: this process alone).
        self.on_open: Callable[[TTSError, float], None] | None = None
        self.on_close: Callable[[], None] | None = None
        self.probe_gate: Callable[[], bool] | None = None

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
            if self.probe_gate is not None and not self.probe_gate():
                return self._open_reason, False  # another process is the cluster's probe
            self._probing = True
            return None, True
        return reason, False

    def end_probe(self) -> None:
        self._probing = False

    def record_success(self) -> None:
        self._consecutive = 0
        was_open, self._open_reason = self._open_reason is not None, None
        if was_open and self.on_close is not None:
            self.on_close()

    @property
    def is_open(self) -> bool:
        """Opened and not yet closed by a successful probe (skipping now, or about to probe)."""
        return self._open_reason is not None

    def open_remote(self, err: TTSError, wait: float) -> None:
        """Another process opened the breaker for `wait` seconds."""
        self._open_until = max(self._open_until, self._clock() + wait)
        self._open_reason = err

    def close_remote(self) -> None:
        """Another process's probe succeeded."""
        self._consecutive = 0
        self._open_reason = None

    def wait_for(self, err: TTSError) -> float:
        """How long `err` opens the breaker: the cooldown, at least the server's Retry-After
        (at most 5 minutes)."""
        return max(self._cooldown, min(err.retry_after or 0.0, _MAX_COOLDOWN))

    def record_failure(self, err: TTSError) -> None:
        self._consecutive += 1
        if self._cooldown <= 0:
            return
        if is_account_error(err) or self._consecutive >= self._threshold:
            wait = self.wait_for(err)
            self._open_until = self._clock() + wait
            self._open_reason = err
            # The operator's to fix: at ERROR, once per cooldown (failures of requests already
            # in flight when it opened are not repeated).
            using = f"using the backup voice for {wait:.0f}s"
            if not self.alarm.report(err, quiet_for=wait, consequence=using):
                log.warning("primary engine failing; using the backup for %.0fs: %s", wait, err.log_form())
            if self.on_open is not None:
                self.on_open(err, wait)
