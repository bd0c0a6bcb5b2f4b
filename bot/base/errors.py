"""The two errors every room may raise: `ParlaError` (the base of everything a member is told)
and `InputError` (the member's input cannot be used as given)."""

from __future__ import annotations

from typing import ClassVar

from bot.base.secrets import redact


class ParlaError(Exception):
    """Base of every error Parla reports to a user."""

    sentence: ClassVar[str] = "Something went wrong."

    def user_message(self) -> str:
        return self.sentence


class InputError(ParlaError, ValueError):
    """The user's input cannot be spoken as given (unknown voice, empty text, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))
        self.message = redact(message)

    def user_message(self) -> str:
        return self.message
