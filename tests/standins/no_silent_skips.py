"""No silent skips: under `CI=true` a test skipped for a missing dependency fails the run, and so
does a missing voice dependency (libopus, PyNaCl, davey) even if no test notices it. A developer
run may still skip, with a visible summary of what was skipped and why.

Loaded by `tests/conftest.py` (`pytest_plugins`). Every skip in this suite is a missing-dependency
skip, so under CI every skip counts.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

_MISSING_KEY = pytest.StashKey[tuple[str, ...]]()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_voice_dependencies() -> tuple[str, ...]:
    from bot.voice.link import voice_available

    return voice_available().missing


def pytest_sessionstart(session: pytest.Session) -> None:
    session.stash[_MISSING_KEY] = missing_voice_dependencies()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI ({reason}): CI must install every dependency (scripts/setup)"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if in_ci() and session.stash.get(_MISSING_KEY, ()) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    missing = missing_voice_dependencies()
    skipped = terminalreporter.stats.get("skipped", [])
    if not missing and not skipped:
        return
    title = (
        "missing dependencies: this run FAILS in CI"
        if in_ci()
        else "missing dependencies (CI fails on these)"
    )
    terminalreporter.write_sep("=", title, yellow=not in_ci(), red=in_ci(), bold=True)
    for line in missing:
        terminalreporter.write_line(f"voice: {line}")
    reasons: dict[str, int] = {}
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in sorted(reasons.items()):
        terminalreporter.write_line(f"{count} test(s) skipped: {reason}")
