"""Structured logging: one line per event, key=value fields, secrets scrubbed."""

from __future__ import annotations

import logging
import sys

from bot.base.secrets import RedactingFilter

_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s"


def setup_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_parla", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._parla = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("discord").setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
