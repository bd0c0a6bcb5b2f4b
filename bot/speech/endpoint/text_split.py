"""Split long text into pieces the endpoint accepts, at sentence, clause, then word boundaries."""

from __future__ import annotations

import re
import unicodedata

# A boundary is the position just after the separator (and any whitespace after it).
_SENTENCE = re.compile(r"(?:[.!?…]+[\"')\]]*\s+|[。！？]+[」』）\"']*\s*|\n+)")
_CLAUSE = re.compile(r"(?:[,;:–—]\s+|[，；：、]\s*|\s+-\s+)")
_WORD = re.compile(r"\s+")
_LEVELS = (_SENTENCE, _CLAUSE, _WORD)


def split_text(text: str, limit: int) -> list[str]:
    """Split `text` into stripped pieces of at most `limit` characters, in order.

    Words are never cut unless a single word is longer than the limit (a long URL, or a
    run of CJK text with no separators), in which case it is cut between characters.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    text = text.strip()
    if not text:
        return []
    return [p for p in (c.strip() for c in _split(text, limit, 0)) if p]


def _split(text: str, limit: int, level: int) -> list[str]:
    if len(text.strip()) <= limit:
        return [text]
    if level >= len(_LEVELS):
        return _hard_cut(text, limit)
    pieces = _pieces(text, _LEVELS[level])
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if len((current + piece).strip()) <= limit:
            current += piece
            continue
        if current.strip():
            chunks.append(current)
        current = ""
        if len(piece.strip()) <= limit:
            current = piece
        else:
            chunks.extend(_split(piece, limit, level + 1))
    if current.strip():
        chunks.append(current)
    return chunks


def _pieces(text: str, pattern: re.Pattern[str]) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        end = match.end()
        if end > start:
            pieces.append(text[start:end])
            start = end
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _hard_cut(text: str, limit: int) -> list[str]:
    """Cut between characters, never before a combining mark."""
    text = text.strip()
    chunks: list[str] = []
    while len(text) > limit:
        cut = limit
        while cut > 1 and unicodedata.combining(text[cut]):
            cut -= 1
        chunks.append(text[:cut])
        text = text[cut:]
    if text:
        chunks.append(text)
    return chunks
