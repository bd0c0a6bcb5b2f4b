"""The settings models: voice preferences (`VoicePrefs`) and their resolution into effective
`VoiceSettings` (`resolve_settings`, a pure function), a server's and a member's read-aloud
settings, usage records, and the limits the validators enforce."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, date, datetime
from typing import Any, Final, Literal, cast, get_args

from bot.speech.request import SpeechRequest
from bot.speech.voices import DEFAULT_LANGUAGE, DEFAULT_VOICE
from bot.text.emoji import EmojiMode

PrefField = Literal["voice", "instructions", "language", "optimize_instructions"]
PREF_FIELDS: Final[tuple[PrefField, ...]] = get_args(PrefField)
PrefValue = str | bool | None

# Where an effective setting came from: the user's choice in this server ("member"), the
# user's global choice ("user"), the server default ("server"), or the built-in default.
Source = Literal["member", "user", "server", "default"]
EMOJI_MODES: Final[tuple[EmojiMode, ...]] = get_args(EmojiMode)
ReadMode = Literal["on", "off", "auto"]
READ_MODES: Final[tuple[ReadMode, ...]] = get_args(ReadMode)

MAX_DICTIONARY_ENTRIES: Final = 200
MAX_WORD_CHARS: Final = 64
MAX_READING_CHARS: Final = 200
MAX_NICKNAME_CHARS: Final = 32
MAX_BOUND_CHANNELS: Final = 25
MAX_PREFIX_CHARS: Final = 8
MIN_MAX_LENGTH: Final = 20
MAX_MAX_LENGTH: Final = 2000
MAX_ID: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class VoicePrefs:
    """One row of voice preferences. Each field None means "not set" (fall through).

    `instructions == ""` means "explicitly no style" (it overrides a server default style).
    """

    voice: str | None = None
    instructions: str | None = None
    language: str | None = None
    optimize_instructions: bool | None = None

    def value(self, field: PrefField) -> PrefValue:
        return cast(PrefValue, getattr(self, field))

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in PREF_FIELDS)


EMPTY_PREFS: Final = VoicePrefs()


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    """The effective voice settings of a member, with where each value came from."""

    voice: str = DEFAULT_VOICE
    instructions: str | None = None
    language: str = DEFAULT_LANGUAGE
    optimize_instructions: bool | None = None
    voice_source: Source = "default"
    instructions_source: Source = "default"
    language_source: Source = "default"
    optimize_instructions_source: Source = "default"

    def source(self, field: PrefField) -> Source:
        return cast(Source, getattr(self, f"{field}_source"))

    def request(self, text: str) -> SpeechRequest:
        """A SpeechRequest for `text` with these settings (not yet validated)."""
        return SpeechRequest(
            text=text,
            voice=self.voice,
            language=self.language,
            instructions=self.instructions,
            optimize_instructions=self.optimize_instructions,
        )


BUILTIN_SETTINGS: Final = VoiceSettings()


def resolve_settings(member: VoicePrefs, user: VoicePrefs, server: VoicePrefs) -> VoiceSettings:
    """Effective settings, field by field: the user's choice in this server (`member`) →
    the user's global choice (`user`) → the server default (`server`) → built-in default.

    Pure; `instructions == ""` at any level is an explicit "no style" and stops the fall-through.
    """
    values: dict[str, Any] = {}
    layers: tuple[tuple[Source, VoicePrefs], ...] = (("member", member), ("user", user), ("server", server))
    for name in PREF_FIELDS:
        for source, row in layers:
            value = row.value(name)
            if value is not None:
                values[name] = value
                values[f"{name}_source"] = source
                break
    if values.get("instructions") == "":
        values["instructions"] = None
    return VoiceSettings(**values)


@dataclass(frozen=True, slots=True)
class GuildReadAloud:
    """A server's read-aloud settings (issue 6). The defaults are the documented ones."""

    channel_ids: frozenset[int] = frozenset()
    text_in_voice: bool = True
    require_voice: bool = True
    read_bots: bool = False
    skip_silent: bool = True
    deny_role_id: int | None = None
    required_role_id: int | None = None
    ignore_prefix: str = "!"
    autojoin: bool = False
    xsaid: bool = True
    emoji_mode: EmojiMode = "name"
    max_length: int = 300


READ_ALOUD_FIELDS: Final[tuple[str, ...]] = tuple(
    f.name for f in dataclass_fields(GuildReadAloud) if f.name != "channel_ids"
)
BOOL_READ_ALOUD: Final = frozenset(
    {"text_in_voice", "require_voice", "read_bots", "skip_silent", "autojoin", "xsaid"}
)
ROLE_READ_ALOUD: Final = frozenset({"deny_role_id", "required_role_id"})


@dataclass(frozen=True, slots=True)
class MemberReadAloud:
    """A member's read-aloud settings in one server.

    mode "on" (default: read when the server's rules allow), "off" (`/readaloud me off`:
    never read) or "auto" (opted in: read and followed while in voice). `nickname` is the
    spoken name (None = use the display name).
    """

    mode: ReadMode = "on"
    nickname: str | None = None

    @property
    def opted_out(self) -> bool:
        return self.mode == "off"

    @property
    def auto(self) -> bool:
        return self.mode == "auto"


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Characters and requests spent on one UTC day, in one server and in total."""

    day: date
    guild_characters: int = 0
    guild_requests: int = 0
    global_characters: int = 0
    global_requests: int = 0


@dataclass(frozen=True, slots=True)
class DailyUsage:
    day: date
    characters: int = 0
    requests: int = 0


def utc_today() -> date:
    return datetime.now(UTC).date()
