"""Names made speakable: a member's, role's, channel's or sticker's name without emoji,
decoration, markdown or zalgo, at most 40 characters.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bot.text.cut import cut
from bot.text.emoji import remove_emoji
from bot.text.tidy import BOX_DRAWING, HAS_WORD, LEFTOVER_JOINERS, WS, cap_repeated_chars, normalize_chars

__all__ = ["NAME_MAX", "clean_name"]

_NAME_JUNK = re.compile(r"[*_~|`\\<>\[\]{}]+")
NAME_MAX = 40


@lru_cache(maxsize=8192)
def clean_name(name: str) -> str:
    """A display name ready to be spoken: no emoji, decoration, markdown or zalgo; at most
    40 characters; "" if nothing speakable is left (the caller then says "someone")."""
    text = normalize_chars(name)
    text = remove_emoji(text)
    text = LEFTOVER_JOINERS.sub("", text)
    text = _NAME_JUNK.sub(" ", text)
    text = BOX_DRAWING.sub(" ", text)
    text = cap_repeated_chars(text, 3)
    text = WS.sub(" ", text).strip()
    if not HAS_WORD.search(text):
        return ""
    if len(text) > NAME_MAX:
        text = cut(text, NAME_MAX)
    return text
