"""A benchmark prints a figure only if what it measured was what it claims: `premise(ok, what)`
before each print; a failed premise stops the benchmark with a non-zero exit and no figure."""

from __future__ import annotations


class PremiseFailed(SystemExit):
    def __init__(self, what: str) -> None:
        super().__init__(f"premise failed, no figure printed: {what}")


def premise(ok: bool, what: str) -> None:
    if not ok:
        raise PremiseFailed(what)
