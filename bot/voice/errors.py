"""The voice room's errors, each with the sentence a member sees: the player's (a full queue, a
player shutting down, an engine that sent no audio, an unexpected failure with its error id)
and the voice channel's (`VoiceError` and its kinds: no voice support, not in a channel, busy
elsewhere, missing permissions, cannot connect)."""

from __future__ import annotations

import secrets

from bot.base.errors import ParlaError


# --------------------------------------------------------------------------- player
class QueueFullError(ParlaError):
    """The server's queue is at its limit: the new utterance is refused."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(self.user_message())

    def user_message(self) -> str:
        return (
            f"The speech queue is full ({self.limit} messages waiting). "
            "Wait for it to play, or use skip / stop."
        )


class PlayerClosedError(ParlaError):
    sentence = "The voice player is shutting down."


class NoAudioError(ParlaError):
    """The engine's stream ended normally but carried no audio at all.

    (bot.commands.audio_file has `EmptyAudioError`, a TTSError for the audio-file commands; this
    one is the player's own, so that the player does not depend on the command layer.)"""

    sentence = "The speech service returned no audio for this message."


class UnexpectedError(ParlaError):
    """A bug or an unforeseen failure. The id is in the user's message and in the log line
    (with the traceback), so a report can be matched to its cause."""

    def __init__(self, error_id: str | None = None) -> None:
        self.error_id = error_id or secrets.token_hex(4)
        super().__init__(self.user_message())

    def user_message(self) -> str:
        return f"Sorry, something went wrong (error id {self.error_id})."


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
        super().__init__(
            "Voice is not available on this bot right now; I can send the audio as a file instead."
        )


class NotInVoiceError(VoiceError):
    def __init__(self) -> None:
        super().__init__("Join a voice channel first, then ask again.")


class VoiceBusyError(VoiceError):
    def __init__(self, channel_name: str) -> None:
        super().__init__(
            f"I'm already speaking in {channel_name}. Wait until I'm done, or use join to move me."
        )


class VoicePermissionError(VoiceError):
    def __init__(self, channel_name: str) -> None:
        super().__init__(f"I need the Connect and Speak permissions in {channel_name}.")


class VoiceConnectError(VoiceError):
    def __init__(self, channel_name: str) -> None:
        super().__init__(f"I couldn't connect to {channel_name}. Please try again in a moment.")
