"""The command options' own checks: how long a typed text may be (`SPEAK_MAX_CHARS`, a Discord
message) and the advice given for an unknown voice. The rules themselves are the speech room's
(`bot.speech.request.check_text`, `bot.speech.voices.check_voice`); styles and languages are
checked there directly (`check_style`, `check_language`)."""

from __future__ import annotations

from typing import Final

from bot.base.i18n import say
from bot.speech import request, voices

SPEAK_MAX_CHARS: Final = 2000  # a Discord message; the client splits it for the endpoint
PICK_A_VOICE: Final = say("voice.pick_hint")


def check_typed_text(text: str, *, limit: int = SPEAK_MAX_CHARS) -> str:
    """A text typed to be spoken: cleaned, not empty, at most `limit` characters."""
    return request.check_text(text, limit=limit)


def check_picked_voice(name: str) -> str:
    """A voice picked in a command: its canonical name, or InputError pointing at the list."""
    return voices.check_voice(name, hint=PICK_A_VOICE)
