"""Voice or file: where a spoken request goes (`/speak`, "Read aloud", previews).

`plan_delivery` takes plain facts — `attach` asked, the member in a voice channel, voice
available on the bot, the Connect and Speak permissions there — and says whether to queue the
request in the member's voice channel, or to send it as a file (with a note saying why when the
member was in voice). When queueing then fails, `file_instead` says whether the failure means
"send the file instead" (voice unavailable, busy elsewhere, no permission, could not connect),
and with which note; any other failure is the member's to fix and is raised as it is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from bot.base.i18n import join, say

FILE_NOTE_SUFFIX: Final = say("delivery.file_instead")


@dataclass(frozen=True, slots=True)
class Delivery:
    """`to_voice`: queue in the member's voice channel; else send a file, with `note` (or "")."""

    to_voice: bool
    note: str = ""

    def ephemeral(self, file_ephemeral: bool) -> bool:
        """Whether the reply is for the member only: a voice confirmation always is; a file is
        as the caller asks."""
        return True if self.to_voice else file_ephemeral


def plan_delivery(
    *,
    attach: bool,
    in_voice: bool,
    voice_available: bool,
    can_speak: bool,
    channel: str,
) -> Delivery:
    """Voice or file for a request.

    `in_voice`: the member is in a voice channel of the server (False in a DM); `can_speak`:
    the bot has the Connect and Speak permissions in it; `channel`: how to name it in a note.
    """
    if attach or not in_voice:
        return Delivery(False)
    if not voice_available:
        return Delivery(False, say("delivery.voice_unavailable"))
    if not can_speak:
        return Delivery(False, say("delivery.cannot_speak", channel=channel))
    return Delivery(True)


class VoiceSetback(enum.Enum):
    """Why queueing in the member's voice channel failed, as the cog translates the error."""

    UNAVAILABLE = "voice is not available on the bot"
    BUSY = "the bot is busy in another voice channel"
    NO_PERMISSION = "the bot lacks Connect or Speak there"
    CONNECT_FAILED = "the bot could not connect"
    OTHER = "anything else (e.g. the member left voice)"


FILE_INSTEAD: Final = frozenset(
    {VoiceSetback.UNAVAILABLE, VoiceSetback.BUSY, VoiceSetback.NO_PERMISSION, VoiceSetback.CONNECT_FAILED}
)


def file_instead(setback: VoiceSetback, sentence: str) -> str | None:
    """The note of the file sent instead after `setback` (`sentence`: the error's own words for
    the member), or None: the error is raised as it is."""
    if setback not in FILE_INSTEAD:
        return None
    return join(" ", (sentence, FILE_NOTE_SUFFIX))
