"""Character- and word-level tidying of text to be spoken: control characters and zalgo out,
fancy letters made plain, repeated characters, words and short phrases capped, lines joined with
pauses, and whitespace, punctuation spacing and stray markers cleaned up.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

from bot.text.language import is_cjk

__all__ = [
    "BOX_DRAWING",
    "HAS_WORD",
    "LEFTOVER_JOINERS",
    "WS",
    "cap_repeated_chars",
    "drop_leftover_marks",
    "drop_rules",
    "join_lines",
    "normalize_chars",
    "tidy_text",
]

# --------------------------------------------------------------------------------------------
# Characters
# --------------------------------------------------------------------------------------------

_REMOVE_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff0-\ufffb\ue000-\uf8ff\ud800-\udfff"
    "\U00040000-\U000dffff\U000e0080-\U0010ffff]"
)
_SPACE_CHARS = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u3164\u115f\u1160\u2800]")
_NEWLINES = re.compile("\r\n?|[\u2028\u2029\x85\x0b\x0c]")
_GENERIC_MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_ANY_MARK = re.compile(f"[{_GENERIC_MARKS}]")
_ZALGO_RUN = re.compile(f"[{_GENERIC_MARKS}]{{3,}}")
_MARKS_AFTER_ASCII = re.compile(f"(?<=[A-Za-z])[{_GENERIC_MARKS}]+")
_STRAY_MARKS = re.compile(f"(?:^|(?<=[A-Za-z\\s]))[{_GENERIC_MARKS}]+")
_OVERLAY_MARKS = re.compile("[\u0334-\u0338\u20d2-\u20d6\u20d8-\u20da\u20e5-\u20ea]")
_FANCY = re.compile(
    "[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff61-\uff9f\u2460-\u24ff\U0001d400-\U0001d7ff]+"
)
LEFTOVER_JOINERS = re.compile("[\u200d\ufe0e\ufe0f\U000e0000-\U000e007f\U0001f3fb-\U0001f3ff\u20e3]")
BOX_DRAWING = re.compile("[\u2500-\u259f\u2b1d-\u2b2f\u30fb\uff65\u2022\u25cf\u25cb\u25a0\u25a1]")


def _fancy_to_plain(m: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", m.group(0))


def normalize_chars(text: str) -> str:
    """Control/format characters out, NFC, zalgo reduced, fancy letters to plain ones."""
    ascii_only = text.isascii()
    if "\r" in text or "\x0b" in text or "\x0c" in text or not ascii_only:
        text = _NEWLINES.sub("\n", text)
    text = _REMOVE_CHARS.sub("", text)
    if ascii_only:
        return text.replace("\t", " ")
    text = _SPACE_CHARS.sub(" ", text)
    if _ANY_MARK.search(text):
        text = _ZALGO_RUN.sub("", text)
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
        text = _MARKS_AFTER_ASCII.sub("", text)
        text = _OVERLAY_MARKS.sub("", text)
    elif not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if _FANCY.search(text):
        text = _FANCY.sub(_fancy_to_plain, text)
    return text


WS = re.compile(r"\s+")
HAS_WORD = re.compile(r"[^\W_]")  # something speakable: a letter or digit


def drop_leftover_marks(text: str) -> str:
    """Joiners, variation selectors and skin tones left over once emoji are read, marks on
    ASCII letters, and box-drawing decoration."""
    text = LEFTOVER_JOINERS.sub("", text)
    if _ANY_MARK.search(text):
        text = _MARKS_AFTER_ASCII.sub("", text)
    return BOX_DRAWING.sub(" ", text)


# --------------------------------------------------------------------------------------------
# Rules, repetition, lines, whitespace
# --------------------------------------------------------------------------------------------

_LEADING_MARKERS = re.compile(r"^(?:(?:#{1,3}|-#|>>>|>|[-+•])(?: |$))+")
_RULE_CHARS = re.compile("[-=+#—–][ \t]*[-=+#—–]")
_RULE_LINES = re.compile(r"[-=+#—–](?:[ \t]*[-=+#—–]){2,}")  # "-----", "= = =", "# # #"
_SENTENCE_END = frozenset(".!?…。！？,;:、，；：")
# Matched only from the start of a whitespace run (the lookbehind): a long run not followed by
# punctuation is then scanned once, not once per position (which was quadratic).
_SPACE_BEFORE_PUNCT = re.compile(r"(?<!\s)\s+([,.!?;…。、，！？；])")
_DUP_SEPARATORS = re.compile(r"([,、，;])(?:\s*[,、，;])+")
_EDGE_CHARS = " ,;、，"
_MARKER_STARTS = frozenset("#->+•")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")
_LEADING_JUNK = re.compile(f"^(?:[{_EDGE_CHARS}]+|[{_GENERIC_MARKS}]+|(?:#{{1,3}}|-#|>>>|>|[-+•])(?: |$))+")
_LEADING_JUNK_STARTS = _MARKER_STARTS | frozenset(_EDGE_CHARS)


@lru_cache(maxsize=16)
def _repeat_char_re(cap: int) -> re.Pattern[str]:
    return re.compile(f"([^\\d\\s])\\1{{{cap},}}")


@lru_cache(maxsize=16)
def _cap_chars(cap: int) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        return m.group(1) * cap

    return replace


@lru_cache(maxsize=16)
def _repeat_word_re(cap: int) -> re.Pattern[str]:
    return re.compile(f"\\b(\\w+)(?:\\s+\\1\\b){{{cap},}}", re.IGNORECASE)


@lru_cache(maxsize=16)
def _repeat_phrase_re(cap: int) -> re.Pattern[str]:
    return re.compile(f"\\b(\\w+(?:\\s+\\w+){{1,3}})(?:\\s+\\1\\b){{{cap},}}", re.IGNORECASE)


@lru_cache(maxsize=16)
def _cap_words(cap: int) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        """The first `cap` repetitions, as written (case kept)."""
        unit = len(m.group(1).split())
        return " ".join(m.group(0).split()[: unit * cap])

    return replace


def cap_repeated_chars(text: str, cap: int) -> str:
    """Runs of one character (not a digit or space) cut to `cap`: "sooooo" -> "sooo"."""
    return _repeat_char_re(cap).sub(_cap_chars(cap), text)


def drop_rules(text: str) -> str:
    """Horizontal rules ("-----", "= = =", "# # #") replaced by a space."""
    if _RULE_CHARS.search(text):
        text = _RULE_LINES.sub(" ", text)
    return text


def join_lines(text: str) -> str:
    """Join lines into one: a pause (". " or "。") where a line has no final punctuation."""
    out = ""
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if out:
            last = out[-1]
            if last in _SENTENCE_END or line[0] in _SENTENCE_END:
                out += " "
            elif is_cjk(last):
                out += "。"
            else:
                out += ". "
        out += line
    return out


_WORD_RE = re.compile(r"\w+")


def _has_repeats(text: str, cap: int) -> bool:
    """Cheap test: could `text` contain a word or short phrase repeated more than `cap` times?"""
    words = _WORD_RE.findall(text.lower())
    return len(words) - len(set(words)) >= cap


def tidy_text(text: str, char_cap: int, word_cap: int) -> str:
    """Repetition caps, whitespace and punctuation spacing; "" if nothing speakable is left.

    The order matters for idempotence: spacing before punctuation is fixed first (it can
    join runs, "word... ." -> "word...."), then runs are capped.
    """
    if "(" in text or "[" in text:
        for _ in range(8):  # "([])" needs two passes
            text, found = _EMPTY_BRACKETS.subn(" ", text)
            if not found:
                break
    if not text.isascii() and _ANY_MARK.search(text):
        text = _STRAY_MARKS.sub("", text)  # marks left on a letter or space by earlier steps
    text = drop_rules(text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = cap_repeated_chars(text, char_cap)
    cap = word_cap
    if _has_repeats(text, cap):
        text = WS.sub(" ", text)
        text = _repeat_word_re(cap).sub(_cap_words(cap), text)
        text = _repeat_phrase_re(cap).sub(_cap_words(cap), text)
    text = _DUP_SEPARATORS.sub(r"\1", text)
    text = " ".join(text.split())
    previous = None
    while previous != text:  # what one strip exposes, the next one removes
        previous = text
        text = text.strip(_EDGE_CHARS)
        if text[:1] in _LEADING_JUNK_STARTS or _ANY_MARK.match(text):
            # The whole leading run of separators, markers and marks in one match: linear (one
            # layer per pass was quadratic on " ,\u0301" repeated).
            text = _LEADING_JUNK.sub("", text)
    if not HAS_WORD.search(text):
        return ""
    return text
