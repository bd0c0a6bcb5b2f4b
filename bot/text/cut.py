"""Cutting text to a length: at a word boundary (or after CJK punctuation, never inside a
character cluster), with "and so on" in the text's language when there is room for it.
"""

from __future__ import annotations

import unicodedata

from bot.text.phrases import PHRASES, resolve_language
from bot.text.tidy import HAS_WORD

__all__ = ["cut", "truncate"]

_CUT_TRAILING = " \t\n,;:.!?…、，。！？；：-—–(\"'«「『"
_CJK_BREAKS = "。！？、，；：」』）"


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Me", "Mc") or ch in "\u200d\ufe0f\ufe0e"


def cut(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, cut at a word boundary when there is one."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    if text[limit].isspace():
        head = text[:limit]
    else:
        space = text.rfind(" ", 0, limit + 1)
        if space >= limit // 2:
            head = text[:space]
        else:
            # No usable space (CJK, or one very long word): cut after punctuation near the
            # end if there is some, else between characters (never inside a cluster).
            end = max(text.rfind(p, max(0, limit - 30), limit) for p in _CJK_BREAKS) + 1
            if end <= limit // 2:
                end = limit
                while end > 1 and _is_mark(text[end]):
                    end -= 1
            head = text[:end]
    stripped = head.rstrip(_CUT_TRAILING)
    return stripped or head.rstrip()


def truncate(text: str, limit: int, language: str = "Auto") -> str:
    """`text` if it fits in `limit` characters, else cut at a word boundary with "and so on"
    (in `language`; "Auto" guesses from the text) appended. Never longer than `limit`.

    When the phrase would take more than half of a small limit (under 20 characters or so),
    the text is only cut, without the phrase. A single word longer than the limit (or CJK
    text without spaces) is cut between characters, after punctuation when there is some.
    """
    if limit <= 0:
        return ""
    text = text.strip()
    if len(text) <= limit:
        return text
    ph = PHRASES[resolve_language(language, text)]
    suffix = ph.and_so_on_sep + ph.and_so_on
    budget = limit - len(suffix)
    if budget < min(10, limit // 2) or budget < 1:  # the phrase would crowd out the text
        return cut(text, limit)
    head = cut(text, budget)
    if not head or not HAS_WORD.search(head):
        return cut(text, limit)
    return head + suffix
