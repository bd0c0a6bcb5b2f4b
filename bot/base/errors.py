"""The two errors every room may raise: `ParlaError` (the base of everything a member is told)
and `InputError` (the member's input cannot be used as given)."""

from __future__ import annotations

from typing import ClassVar

from bot.base.i18n import say
from bot.base.secrets import redact


class ParlaError(Exception):
    """Base of every error Parla reports to a user."""

    sentence: ClassVar[str] = say("error.generic")  # a bot.base.i18n.Text, as every sentence

    def user_message(self) -> str:
        return self.sentence


class InputError(ParlaError, ValueError):
    """The user's input cannot be spoken as given (unknown voice, empty text, ...). `message` is
    a `bot.base.i18n.Text` (kept as it is unless redaction had to change it)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))
        self.message = redact(message)

    def user_message(self) -> str:
        return self.message
