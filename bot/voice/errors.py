"""The voice room's errors, each with the sentence a member sees: the player's (a full queue, a
player shutting down, an engine that sent no audio, an unexpected failure with its error id)
and the voice channel's (`VoiceError` and its kinds: no voice support, not in a channel, busy
elsewhere, missing permissions, cannot connect)."""

from __future__ import annotations

import secrets

from bot.base.errors import ParlaError
from bot.base.i18n import say


# --------------------------------------------------------------------------- player
class QueueFullError(ParlaError):
    """The server's queue is at its limit: the new utterance is refused."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(self.user_message())

    def user_message(self) -> str:
        return say("voice.queue_full", limit=self.limit)


class PlayerClosedError(ParlaError):
    sentence = say("voice.player_closed")


class NoAudioError(ParlaError):
    """The engine's stream ended normally but carried no audio at all.

    (bot.commands.audio_file has `EmptyAudioError`, a TTSError for the audio-file commands; this
    one is the player's own, so that the player does not depend on the command layer.)"""

    sentence = say("voice.no_audio")


class UnexpectedError(ParlaError):
    """A bug or an unforeseen failure. The id is in the user's message and in the log line
    (with the traceback), so a report can be matched to its cause."""

    def __init__(self, error_id: str | None = None) -> None:
        self.error_id = error_id or secrets.token_hex(4)
        super().__init__(self.user_message())

    def user_message(self) -> str:
        return say("voice.unexpected", error_id=self.error_id)


# --------------------------------------------------------------------------- voice channels
class VoiceError(ParlaError):
    """A voice problem the member can act on; `user_message()` says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def user_message(self) -> str:
        return self.message


class VoiceUnavailableError(VoiceError):
    def __init__(self) -> None:
        super().__init__(say("voice.unavailable"))


class NotInVoiceError(VoiceError):
    def __init__(self) -> None:
        super().__init__(say("voice.not_in_voice"))


class VoiceBusyError(VoiceError):
    def __init__(self, channel_name: str) -> None:
        super().__init__(say("voice.busy", channel=channel_name))


class VoicePermissionError(VoiceError):
    def __init__(self, channel_name: str) -> None:
        super().__init__(say("voice.no_permission", channel=channel_name))


class VoiceConnectError(VoiceError):
    def __init__(self, channel_name: str) -> None:
        super().__init__(say("voice.connect_failed", channel=channel_name))
