"""A pytest plugin (`-p tests.standins.hide_libopus`) that makes libopus unfindable, as on a
machine without the libopus0 package: discord.opus looks it up with `ctypes.util.find_library`.
Used to show that a CI run without libopus fails instead of skipping."""

from __future__ import annotations

import ctypes.util

_find_library = ctypes.util.find_library


def _without_opus(name: str) -> str | None:
    return None if "opus" in name else _find_library(name)


ctypes.util.find_library = _without_opus
