"""The one place where settings values are checked before they are stored (public, so that
commands can check input before deferring). A bad value raises InputError with a sentence a
member can read.

Voice, language and style rules are the speech room's (`bot.speech.voices.check_voice`,
`check_language`, `bot.speech.request.check_instructions`); the read-aloud settings, member
settings and dictionary rules are here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from bot.base.errors import InputError
from bot.base.i18n import say
from bot.speech.request import check_instructions, sanitize_text
from bot.speech.voices import check_language, check_voice
from bot.store.models import (
    BOOL_READ_ALOUD,
    EMOJI_MODES,
    MAX_ID,
    MAX_MAX_LENGTH,
    MAX_NICKNAME_CHARS,
    MAX_PREFIX_CHARS,
    MAX_READING_CHARS,
    MAX_WORD_CHARS,
    MIN_MAX_LENGTH,
    PREF_FIELDS,
    READ_ALOUD_FIELDS,
    READ_MODES,
    ROLE_READ_ALOUD,
    PrefField,
    PrefValue,
    ReadMode,
)
from bot.text.pronunciation import normalize_key


def clean_text(value: str) -> str:
    """Stored text: speakable, NFC, whitespace collapsed."""
    text = unicodedata.normalize("NFC", sanitize_text(value))
    return " ".join(text.split())


def _shown(value: object, limit: int = 60) -> str:
    """A rejected value as a message shows it: its repr, cut to `limit` characters (a reply
    must fit Discord's 2,000)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_id(value: object, what: str) -> int:
    """A Discord id (`what`: "server", "user", "channel", "role"), or InputError."""
    if type(value) is not int or not 0 < value <= MAX_ID:
        raise InputError(f"{_shown(value)} is not a valid {what} id.")
    return value


def guild_scope(guild_id: int | None) -> int:
    """The server part of a row key: 0 for none (a user's global choice, global usage), else
    the checked server id."""
    return 0 if guild_id is None or guild_id == 0 else check_id(guild_id, "server")


def check_bool(value: object, what: str) -> bool:
    if type(value) is not bool:
        raise InputError(f"{what} must be on or off (got {_shown(value)}).")
    return value


# ---- voice preferences ----------------------------------------------------------------------


def validate_pref(field: str, value: object) -> PrefValue:
    """Canonical form of a voice preference value, or InputError. None means "not set"."""
    if field not in PREF_FIELDS:
        raise InputError(f"Unknown setting {_shown(field)}. Settings: {', '.join(PREF_FIELDS)}.")
    if value is None:
        return None
    if field == "voice":
        return check_voice(value)
    if field == "language":
        return check_language(value)
    if field == "instructions":
        return check_instructions(value)  # "" = explicitly no style
    return check_bool(value, "Optimize instructions")


def pref_fields(fields: Iterable[PrefField] | None) -> tuple[PrefField, ...]:
    """The preference fields named (all of them for None), each once, or InputError."""
    if fields is None:
        return PREF_FIELDS
    chosen = tuple(dict.fromkeys(fields))
    for name in chosen:
        if name not in PREF_FIELDS:
            raise InputError(f"Unknown setting {_shown(name)}. Settings: {', '.join(PREF_FIELDS)}.")
    return chosen


# ---- read-aloud: server settings --------------------------------------------------------------


def validate_read_aloud_change(name: str, value: object) -> object:
    """Canonical form of one read-aloud setting, or InputError."""
    if name == "channel_ids":
        raise InputError("Use add_bound_channel / remove_bound_channel to change the bound channels.")
    if name not in READ_ALOUD_FIELDS:
        raise InputError(f"Unknown read-aloud setting {_shown(name)}.")
    if name in BOOL_READ_ALOUD:
        return check_bool(value, name.replace("_", " ").capitalize())
    if name in ROLE_READ_ALOUD:
        return None if value is None else check_id(value, "role")
    if name == "ignore_prefix":
        if not isinstance(value, str):
            raise InputError(say("input.prefix.not_text"))
        prefix = clean_text(value)
        if len(prefix) > MAX_PREFIX_CHARS:
            raise InputError(say("input.prefix.too_long", limit=MAX_PREFIX_CHARS))
        return prefix  # "" = no prefix
    if name == "emoji_mode":
        mode = value.strip().lower() if isinstance(value, str) else value
        if mode not in EMOJI_MODES:
            raise InputError(say("input.emoji_mode", modes=", ".join(EMOJI_MODES)))
        return mode
    # max_length
    if type(value) is not int or not MIN_MAX_LENGTH <= value <= MAX_MAX_LENGTH:
        raise InputError(say("input.max_length", low=MIN_MAX_LENGTH, high=MAX_MAX_LENGTH))
    return value


# ---- read-aloud: members --------------------------------------------------------------------


def validate_read_mode(mode: object) -> ReadMode:
    """`on`, `off` or `auto` (any case, surrounding spaces ignored), or InputError."""
    wanted = mode.strip().lower() if isinstance(mode, str) else mode
    for known in READ_MODES:
        if wanted == known:
            return known
    raise InputError(say("input.read_mode", modes=", ".join(READ_MODES)))


def validate_nickname(nickname: str | None) -> str | None:
    if nickname is None:
        return None
    text = clean_text(nickname)
    if len(text) > MAX_NICKNAME_CHARS:
        raise InputError(say("input.nickname.too_long", limit=MAX_NICKNAME_CHARS))
    return text or None


# ---- pronunciation dictionary -----------------------------------------------------------------


def normalize_word(word: str) -> str:
    """How a dictionary word is stored and looked up: cleaned, then the dictionary's own key
    normalisation (whitespace collapsed, case-folded), so stored words match the text."""
    return normalize_key(clean_text(word))


def validate_dictionary_entry(word: object, reading: object) -> tuple[str, str]:
    """(stored word, stored reading) of a dictionary entry, or InputError."""
    key = normalize_word(word) if isinstance(word, str) else ""
    spoken = clean_text(reading) if isinstance(reading, str) else ""
    if not key:
        raise InputError(say("input.dictionary.word_empty"))
    if len(key) > MAX_WORD_CHARS:
        raise InputError(say("input.dictionary.word_too_long", limit=MAX_WORD_CHARS))
    if not spoken:
        raise InputError(say("input.dictionary.reading_empty"))
    if len(spoken) > MAX_READING_CHARS:
        raise InputError(say("input.dictionary.reading_too_long", limit=MAX_READING_CHARS))
    return key, spoken


# ---- usage counters -------------------------------------------------------------------------


def check_usage_counts(characters: object, requests: object) -> None:
    if type(characters) is not int or characters < 0 or type(requests) is not int or requests < 0:
        raise InputError("Usage counts must be whole numbers, at least 0.")


def check_history_days(days: object) -> None:
    if type(days) is not int or not 1 <= days <= 3660:
        raise InputError("The number of days must be from 1 to 3660.")
