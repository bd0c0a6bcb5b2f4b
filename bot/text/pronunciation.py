"""Per-server pronunciation dictionary: "word" is read as "reading".

Matching rules:
- longest match first (at each position the longest entry wins; leftmost match first);
- whole words only: an entry that starts or ends with a letter or digit of a spaced script
  (Latin, Cyrillic, Greek, Hangul, ...) does not match inside a longer word. Chinese and
  Japanese have no spaces, so an entry edge that is a Han or kana character matches anywhere;
  Korean attaches particles after words, so an entry ending in Hangul may be followed by
  more Hangul ("디스코드에서" matches "디스코드");
- case-insensitive: keys and text are compared case-folded (`str.casefold`, so "Straße",
  "strasse" and "STRASSE" are one word), the same normalisation the store keeps keys in;
- a single pass: a replacement is never itself replaced again.

The entries are compiled once into one trie-shaped regular expression, so applying a
dictionary of hundreds of entries costs one scan of the text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType

__all__ = ["PronunciationDictionary", "apply_dictionary", "normalize_key"]

_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0002fa1f"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_CJK_RE = re.compile(f"[{_CJK}]")
_HANGUL_RE = re.compile(f"[{_HANGUL}]")
_WORD_RE = re.compile(r"\w")
# "a word character of a spaced script": what may not touch a Latin-like entry edge.
_SPACED_WORD = f"[^\\W{_CJK}{_HANGUL}]"
# What may not precede a Hangul entry: any word character except Han/kana.
_HANGUL_LEFT = f"[^\\W{_CJK}]"
_SPACES = re.compile(r"\s+")
_END = ""  # trie terminal marker (never a real one-character edge)


def normalize_key(word: str) -> str:
    """The canonical form of a dictionary key: NFC, single spaces, stripped, case-folded.
    `bot.store.validators.normalize_word` stores keys in this form."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", word)).strip().casefold()


def _fold_with_offsets(text: str) -> tuple[str, dict[int, int]]:
    """`text` case-folded, and for each folded offset where an original character starts (and
    the end), that character's index: "ß" folds to "ss", so positions shift."""
    pieces: list[str] = []
    starts: dict[int, int] = {}
    pos = 0
    for index, ch in enumerate(text):
        starts[pos] = index
        folded = ch.casefold()
        pieces.append(folded)
        pos += len(folded)
    starts[pos] = len(text)
    return "".join(pieces), starts


def _left_guard(ch: str) -> str:
    if _CJK_RE.match(ch):
        return ""
    if _HANGUL_RE.match(ch):
        return f"(?<!{_HANGUL_LEFT})"
    if _WORD_RE.match(ch):
        return f"(?<!{_SPACED_WORD})"
    return ""


def _right_guard(ch: str) -> str:
    if _CJK_RE.match(ch) or _HANGUL_RE.match(ch):
        return ""
    if _WORD_RE.match(ch):
        return f"(?!{_SPACED_WORD})"
    return ""


def _escape(ch: str) -> str:
    return r"\s+" if ch == " " else re.escape(ch)


_Trie = dict[str, "_Trie"]


def _node_pattern(node: _Trie, last: str) -> str:
    """Regex for the rest of the keys below `node`; longer continuations are tried first."""
    alternatives = [
        _escape(ch) + _node_pattern(child, ch) for ch, child in sorted(node.items()) if ch != _END
    ]
    if _END in node:
        alternatives.append(_right_guard(last))  # the key ends here (tried last: shortest)
    if len(alternatives) == 1:
        return alternatives[0]
    return "(?:" + "|".join(alternatives) + ")"


def _build_pattern(keys: Iterable[str], flags: int = 0) -> re.Pattern[str] | None:
    """One regex for all keys: a trie per kind of left edge, each behind one shared guard."""
    roots: dict[str, _Trie] = {}
    for key in keys:
        node = roots.setdefault(_left_guard(key[0]), {})
        for ch in key:
            node = node.setdefault(ch, {})
        node[_END] = {}
    if not roots:
        return None
    groups = []
    for guard, root in sorted(roots.items()):
        branches = [_escape(ch) + _node_pattern(child, ch) for ch, child in sorted(root.items())]
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        groups.append(guard + body)
    return re.compile("|".join(groups), flags)


class PronunciationDictionary:
    """A compiled pronunciation dictionary. Build once per server (and after each change)."""

    __slots__ = ("_entries", "_has_empty", "_lookup", "_pattern")

    def __init__(self, entries: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        items = entries.items() if isinstance(entries, Mapping) else entries
        lookup: dict[str, str] = {}
        shown: dict[str, str] = {}
        # Sorted so that keys equal but for case resolve the same way whatever the input order.
        for word, reading in sorted(items):
            key = normalize_key(word)
            if not key:
                continue
            value = _SPACES.sub(" ", reading).strip()
            lookup[key] = value
            shown[word] = value
        self._lookup = lookup
        self._entries: Mapping[str, str] = MappingProxyType(shown)
        self._has_empty = any(not v for v in lookup.values())
        # Matched against text.casefold() (keys are case-folded): much faster than IGNORECASE.
        self._pattern = _build_pattern(lookup)

    @property
    def entries(self) -> Mapping[str, str]:
        """The entries as given (read-only), with readings whitespace-normalized."""
        return self._entries

    def __len__(self) -> int:
        return len(self._lookup)

    def __bool__(self) -> bool:
        return bool(self._lookup)

    def __repr__(self) -> str:
        return f"PronunciationDictionary({len(self._lookup)} entries)"

    def apply(self, text: str) -> str:
        """Return `text` with every entry replaced by its reading (single pass)."""
        if self._pattern is None or not text:
            return text
        folded = text.casefold()
        starts: dict[int, int] | None = None
        if len(folded) != len(text):  # "ß" -> "ss", "İ" -> "i̇": map folded offsets back
            folded, starts = _fold_with_offsets(text)
        pieces: list[str] = []
        pos = 0
        for m in self._pattern.finditer(folded):
            start, end = m.span()
            if starts is not None:
                if start not in starts or end not in starts:
                    continue  # the match begins or ends inside one folded character
                start, end = starts[start], starts[end]
            pieces.append(text[pos:start])
            pieces.append(self._lookup.get(normalize_key(m.group(0)), text[start:end]))
            pos = end
        if not pieces:
            return text
        pieces.append(text[pos:])
        result = "".join(pieces)
        if self._has_empty:
            result = _SPACES.sub(" ", result).strip()
        return result

    __call__ = apply


@lru_cache(maxsize=128)
def _compiled(items: frozenset[tuple[str, str]]) -> PronunciationDictionary:
    return PronunciationDictionary(items)


def apply_dictionary(text: str, entries: Mapping[str, str]) -> str:
    """Apply `entries` to `text`. Compiled dictionaries are cached by content; a caller that
    applies the same dictionary often should keep a `PronunciationDictionary` instead."""
    if not entries or not text:
        return text
    return _compiled(frozenset(entries.items())).apply(text)
