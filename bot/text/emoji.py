"""Emoji read aloud: custom emoji (<:name:id>) become their name, Unicode emoji their CLDR short
name in the message's language, or nothing in the "none" mode.

Every Unicode emoji name comes from the `emoji` package (the CLDR annotations of Unicode's emoji,
maintained upstream), in every endpoint language: English, Chinese, German, Italian, Portuguese,
Spanish, Japanese, Korean, French and Russian (each loaded on first use, about 30 ms for all).
There is no hand-written table. What the package lacks falls back, in order, to its English name,
then to names built from the sequence's parts, then to the Unicode character name.

Two readings are rules, not names:
- keycaps (1️⃣ #️⃣) read as their character in every language: CLDR's "keycap: 1" says "keycap"
  before every digit of a number typed in keycaps;
- English flags read "flag of Japan": the package's English names drop CLDR's "flag:" prefix
  (🇯🇵 is just "Japan"), which would read a flag as a bare country name; the other languages
  keep it ("flagge japan").
Skin tones are never read. Symbols that are text by default (★ ♪ ✓) and have no emoji name are
decoration and dropped. Custom emoji keep their own names.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Final, Literal

import emoji as emoji_data

__all__ = ["EmojiMode", "remove_emoji", "replace_emoji"]

# How Unicode emoji are read: "name" reads the short name, "none" drops them (custom emoji are
# always read by name). Persisted in the store and shown to members.
EmojiMode = Literal["name", "none"]

_VS_AND_TONES = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")
_TAG_CHARS = re.compile("[\U000e0000-\U000e007f]")


_PEOPLE = frozenset(_VS_AND_TONES.sub("", e) for e in "👨👩👦👧🧑🧒")
_GENDER_SIGNS = frozenset("♀♂⚧")

_EMOJI_BASE = (
    "[\u203c\u2049\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
    "\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf\u2934\u2935"
    "\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299"
    "\U0001f000-\U0001f1e5\U0001f200-\U0001faff]"
)
_EMOJI_MOD = "[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]"
_UNICODE_EMOJI = (
    "(?:[\U0001f1e6-\U0001f1ff]{2}"
    "|[0-9#*]\ufe0f?\u20e3"
    f"|{_EMOJI_BASE}{_EMOJI_MOD}*[\U000e0020-\U000e007f]*(?:\u200d{_EMOJI_BASE}{_EMOJI_MOD}*)*)"
)
_CUSTOM_EMOJI = r"<a?:(?P<cname>\w{1,64}):\d{1,20}>"
_EMOJI_ELEMENT = re.compile(f"{_CUSTOM_EMOJI}|(?P<uni>{_UNICODE_EMOJI})")
_EMOJI_RUN = re.compile(
    f"(?:{_CUSTOM_EMOJI}|{_UNICODE_EMOJI})(?:\\s*(?:<a?:\\w{{1,64}}:\\d{{1,20}}>|{_UNICODE_EMOJI}))*"
)
# The endpoint's languages and their codes in the `emoji` package.
CLDR_LANGUAGES: Final[dict[str, str]] = {
    "English": "en",
    "Chinese": "zh",
    "German": "de",
    "Italian": "it",
    "Portuguese": "pt",
    "Spanish": "es",
    "Japanese": "ja",
    "Korean": "ko",
    "French": "fr",
    "Russian": "ru",
}
_LOADED: set[str] = {"en"}  # the package always carries English
_LOAD_LOCK = threading.Lock()
_FAMILY = "\U0001f46a"  # 👪: the name of a family sequence the package does not know


def _is_flag(seq: str) -> bool:
    """A country flag (two regional indicators) or a subdivision flag (🏴 and tag characters)."""
    return "\U0001f1e6" <= seq[0] <= "\U0001f1ff" or _TAG_CHARS.search(seq) is not None


def _cldr_name(seq: str, code: str) -> str:
    """The CLDR name of emoji `seq` in language `code`, or "" when the package has none."""
    if code not in _LOADED:
        with _LOAD_LOCK:
            if code not in _LOADED:
                emoji_data.config.load_language(code)
                _LOADED.add(code)
    key = _VS_AND_TONES.sub("", seq)
    if not key:
        return ""  # a skin tone or variation selector alone
    data = emoji_data.EMOJI_DATA
    for candidate in (key, key + "\ufe0f", seq):
        entry = data.get(candidate)
        if entry is not None and entry.get(code):
            name = " ".join(str(entry[code]).strip(":").replace("_", " ").split())
            return f"flag of {name}" if code == "en" and _is_flag(seq) else name
    return ""


_BAD_NAME_PREFIXES = ("emoji modifier", "regional indicator", "variation selector", "emoji component")


def _codepoint_name(ch: str) -> str:
    name = unicodedata.name(ch, "").lower()
    if not name or name.startswith(_BAD_NAME_PREFIXES):
        return ""
    return name.removesuffix(" sign") if name.endswith(" sign") and " " in name[:-5] else name


@lru_cache(maxsize=8192)
def _emoji_name(seq: str, language: str = "English") -> str:
    """The spoken name of one Unicode emoji (a ZWJ sequence, flag or keycap) in `language`
    (its English name when the `emoji` package has none in that language), or ""."""
    if seq.endswith("\u20e3"):
        return seq[0]  # keycaps read as their character
    code = CLDR_LANGUAGES.get(language, "en")
    name = _cldr_name(seq, code) or (_cldr_name(seq, "en") if code != "en" else "")
    if name:
        return name
    # Not in the package (newer than it, or a sequence nobody standardised): build a name.
    if "\U0001f1e6" <= seq[0] <= "\U0001f1ff":
        return ""  # two regional indicators that name no region (letters used as decoration)
    key = _TAG_CHARS.sub("", _VS_AND_TONES.sub("", seq))
    if not key:
        return ""
    parts = [p for p in key.split("\u200d") if p]
    if len(parts) > 1:
        if sum(1 for p in parts if p in _PEOPLE) >= 3:
            return _emoji_name(_FAMILY, language)
        names: list[str] = []
        for part in parts:
            if part in _GENDER_SIGNS:
                continue
            name = _emoji_name(part, language)
            if name and name not in names:
                names.append(name)
        return " ".join(names)
    if key != seq and (found := _emoji_name(key, language)):
        return found  # a subdivision flag the package lacks: its black flag
    if len(key) != 1:
        return ""
    if ord(key) < 0x1F000 and "\ufe0f" not in seq:
        return ""  # a text symbol used as decoration (★ ♪ ☆ ...), not an emoji
    return _codepoint_name(key)


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


@lru_cache(maxsize=4096)
def _custom_emoji_name(name: str) -> str:
    return " ".join(_CAMEL.sub(" ", name.replace("_", " ")).split()).lower()


@lru_cache(maxsize=4096)
def _emoji_run_text(run: str, mode: EmojiMode, language: str = "English") -> str:
    names: list[str] = []
    for m in _EMOJI_ELEMENT.finditer(run):
        custom = m.group("cname")
        if custom is not None:
            name = _custom_emoji_name(custom)
        elif mode == "none":
            continue
        else:
            name = _emoji_name(m.group("uni"), language)
        if name and (not names or names[-1] != name):
            names.append(name)
    if not names:
        return " "
    return " " + ", ".join(names) + " "


def replace_emoji(text: str, mode: EmojiMode, budget: int | None = None, language: str = "English") -> str:
    """Every run of emoji in `text` replaced by its names in `language` (" thumbs up, fire ";
    German " daumen hoch, feuer "), or a space.

    With a `budget`, once the names said come to more than `budget` characters, the rest of the
    emoji are replaced by a space (what is that far into a message is cut before it is spoken).
    """
    if budget is None:
        return _EMOJI_RUN.sub(lambda m: _emoji_run_text(m.group(0), mode, language), text)
    spent = 0

    def name(m: re.Match[str]) -> str:
        nonlocal spent
        if spent > budget:
            return " "
        said = _emoji_run_text(m.group(0), mode, language)
        spent += len(said)
        return said

    return _EMOJI_RUN.sub(name, text)


def remove_emoji(text: str) -> str:
    """Every emoji in `text` replaced by a space (for names)."""
    return _EMOJI_ELEMENT.sub(" ", text)
