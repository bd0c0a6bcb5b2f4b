"""A rough guess of the language of a text among the eleven, for "Auto": the script decides
for Japanese, Chinese, Korean and Russian; Latin text is voted on common words.

Used by the cleaner (the words it adds follow the message language) and by the local speech
engine (which espeak voice reads an "Auto" request).
"""

from __future__ import annotations

import re

__all__ = ["detect_language", "is_cjk"]

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_HAN_RE = re.compile(f"[{_HAN}]")
_KANA_RE = re.compile(f"[{_KANA}]")
_HANGUL_RE = re.compile(f"[{_HANGUL}]")
_CYRILLIC_RE = re.compile("[\u0400-\u04ff]")
_LATIN_RE = re.compile("[A-Za-z\u00c0-\u024f]")
_LATIN_WORD_RE = re.compile("[a-z\u00e0-\u00ff']+")
_CJK_CHAR = re.compile(f"[{_HAN}{_KANA}]")
_NOT_LANGUAGE_RE = re.compile(r"https?://\S+|<[^<>\s]*>|```.*?```|`[^`]*`", re.S)

_STOPWORDS: dict[str, frozenset[str]] = {
    "English": frozenset(
        "a the and is are was to you it not that of in this for with what i my me have do just "
        "but be so can on at your they we he she".split()
    ),
    "German": frozenset(
        "und ich nicht das ist der die ein eine zu mit auch du wir sie es den dem ja nein "
        "aber was wie bin hast habe noch schon mal doch".split()
    ),
    "French": frozenset(
        "le la les et est je pas un une que vous des du c'est avec pour tu il elle nous "
        "mais oui non ce qui sur très bien j'ai".split()
    ),
    "Spanish": frozenset(
        "el la que y es no un una los las por con para pero lo yo tu muy está estoy "
        "qué sí como del al también hola gracias".split()
    ),
    "Italian": frozenset(
        "il che e non un una di per sono è ma gli della anche io tu lo la ho hai sei "
        "molto ciao grazie questo come".split()
    ),
    "Portuguese": frozenset(
        "o a que e não um uma os as com para é mas você do da eu tu muito está estou "
        "sim isso obrigado também olá".split()
    ),
}


_STOPWORD_LANGS: dict[str, tuple[str, ...]] = {}
for _lang, _words in _STOPWORDS.items():
    for _word in _words:
        _STOPWORD_LANGS[_word] = (*_STOPWORD_LANGS.get(_word, ()), _lang)


def detect_language(text: str) -> str:
    """A rough guess of the language of `text` among the eleven (never "Auto").

    The script decides for Japanese (kana), Chinese (Han without kana), Korean and Russian;
    Latin text is voted on common words; anything else, or no clear winner, is English.
    """
    sample = text[:600]
    if "://" in sample or "<" in sample or "`" in sample:
        sample = _NOT_LANGUAGE_RE.sub(" ", sample)
    if not sample.isascii():
        kana = len(_KANA_RE.findall(sample))
        han = len(_HAN_RE.findall(sample))
        hangul = len(_HANGUL_RE.findall(sample))
        cyrillic = len(_CYRILLIC_RE.findall(sample))
        if kana or han or hangul or cyrillic:
            latin = len(_LATIN_RE.findall(sample))
            scores = {
                "Japanese": 3 * (kana + han) if kana else 0,
                "Chinese": 0 if kana else 3 * han,
                "Korean": 2 * hangul,
                "Russian": cyrillic,
            }
            best = max(scores, key=lambda k: scores[k])
            if scores[best] >= latin:
                return best
    votes = dict.fromkeys(_STOPWORDS, 0)
    for word in _LATIN_WORD_RE.findall(sample.lower()):
        for lang in _STOPWORD_LANGS.get(word, ()):
            votes[lang] += 1
    winner = max(votes, key=lambda k: votes[k])
    if winner != "English" and votes[winner] >= 2 and votes[winner] > votes["English"]:
        return winner
    return "English"


def is_cjk(ch: str) -> bool:
    """Whether `ch` is a Han or kana character (a line ending in one pauses with "。")."""
    return bool(_CJK_CHAR.match(ch))
