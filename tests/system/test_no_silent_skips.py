"""CI never skips for a missing dependency: a run without libopus fails under `CI=true`, and a
developer run says plainly what it skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VOICE_TEST = "tests/standins/test_voice_client.py"  # needs libopus


def run_pytest_without_libopus(ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTEST_ADDOPTS"}}
    env["PYTHONPATH"] = str(ROOT)
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.standins.hide_libopus",
            VOICE_TEST,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_ci_run_without_libopus_fails() -> None:
    result = run_pytest_without_libopus(ci=True)
    assert result.returncode != 0, result.stdout
    assert "skipped in CI (Skipped: libopus is not installed)" in result.stdout
    assert "missing dependencies: this run FAILS in CI" in result.stdout
    assert "voice: libopus not found" in result.stdout


def test_a_developer_run_without_libopus_skips_with_a_visible_summary() -> None:
    result = run_pytest_without_libopus(ci=False)
    assert result.returncode == 0, result.stdout
    assert "missing dependencies (CI fails on these)" in result.stdout
    assert "test(s) skipped: Skipped: libopus is not installed" in result.stdout


def test_setup_script_fails_in_ci_when_libopus_cannot_be_installed(tmp_path: Path) -> None:
    # A copy of scripts/setup on a machine where ldconfig knows no libopus and apt-get fails.
    (tmp_path / "scripts").mkdir()
    setup = tmp_path / "scripts" / "setup"
    setup.write_text((ROOT / "scripts" / "setup").read_text())
    setup.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("ldconfig", "exit 0"), ("apt-get", "exit 100"), ("id", "echo 0")):
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "PYTHON": "/bin/false", "CI": "true"}
    result = subprocess.run([str(setup)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "error: libopus0 could not be installed; CI needs it" in result.stderr
    assert not (tmp_path / ".venv").exists()
    # .ci/run runs in CI mode even where the runner does not set CI.
    assert 'export CI="${CI:-true}"' in (ROOT / ".ci" / "run").read_text()
