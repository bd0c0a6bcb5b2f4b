"""Speech as a Discord voice message, without Discord.

A voice message is one Ogg Opus attachment with its `duration_secs` and `waveform` (base64, one
byte per point, at most 256 points), the message flag `IS_VOICE_MESSAGE` (8192) and no other
content. `render_voice_message` makes the file and its fields (blocking: run it in a thread);
`voice_message_payload` is the JSON part of the multipart request. When Discord refuses a voice
message (`REFUSED_CODES`: 50013 Missing Permissions, e.g. no Send Voice Messages; 50160 Cannot
send voice message in this channel or with this content), the audio goes as a file instead with
`FILE_INSTEAD_NOTE`, said once per member.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass
from typing import Any, Final

from bot.audio.clip import Audio
from bot.audio.waveform import duration_secs, waveform
from bot.base.errors import InputError
from bot.base.i18n import say
from bot.commands.audio_file import OpusEncoderFactory, encode_ogg_opus, opus_kbps_for, safe_filename

IS_VOICE_MESSAGE: Final = 8192  # 1 << 13
EPHEMERAL: Final = 64  # 1 << 6
REFUSED_CODES: Final = frozenset({50013, 50160})
FILE_INSTEAD_NOTE: Final = say("voice_message.refused")


class AudioFormat(enum.Enum):
    """How `/speak` sends audio that does not go to a voice channel."""

    VOICE_MESSAGE = "voice message"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class VoiceMessage:
    data: bytes  # Ogg Opus
    filename: str
    duration: float  # seconds, to 10 ms
    waveform: str  # base64 of one byte per point

    content_type: str = "audio/ogg"


def render_voice_message(
    audio: Audio, text: str, limit: int, encoder_factory: OpusEncoderFactory
) -> VoiceMessage:
    """`audio` as a voice message of at most `limit` bytes, or InputError. Blocking."""
    data = encode_ogg_opus(audio, encoder_factory(opus_kbps_for(audio.duration, limit)), title=text[:200])
    if len(data) > limit:
        raise InputError(say("voice_message.too_long"))
    points = base64.b64encode(waveform(audio)).decode("ascii")
    return VoiceMessage(data, safe_filename(text, "ogg"), duration_secs(audio), points)


def voice_message_payload(message: VoiceMessage, *, ephemeral: bool = False) -> dict[str, Any]:
    """The `payload_json` of the request: the flag, no content, one attachment with its fields."""
    return {
        "flags": IS_VOICE_MESSAGE | (EPHEMERAL if ephemeral else 0),
        "attachments": [
            {
                "id": 0,
                "filename": message.filename,
                "duration_secs": message.duration,
                "waveform": message.waveform,
            }
        ],
    }
