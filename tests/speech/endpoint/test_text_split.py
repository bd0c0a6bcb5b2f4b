"""Long text is split at sentence, then clause, then word boundaries; never mid-word."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.speech.endpoint.text_split import split_text


def check_pieces(text: str, pieces: list[str], limit: int) -> None:
    assert pieces, "non-empty text gives at least one piece"
    assert all(piece == piece.strip() and piece for piece in pieces)
    assert all(len(piece) <= limit for piece in pieces), [len(p) for p in pieces]
    assert " ".join(pieces).split() == text.split(), "words lost, reordered or cut"


def test_short_text_is_one_piece() -> None:
    assert split_text("  Hello there.  ", 600) == ["Hello there."]


def test_text_exactly_at_the_limit_is_one_piece() -> None:
    text = "a" * 10 + " " + "b" * 9
    assert split_text(text, 20) == [text]


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_gives_no_pieces(text: str) -> None:
    assert split_text(text, 600) == []


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        split_text("hello", 0)


def test_prefers_sentence_boundaries() -> None:
    sentences = [
        "The quick brown fox jumps over the lazy dog.",
        "Pack my box with five dozen liquor jugs!",
        "How vexingly quick daft zebras jump?",
        "Sphinx of black quartz, judge my vow.",
    ]
    text = " ".join(sentences)
    pieces = split_text(text, 90)
    check_pieces(text, pieces, 90)
    # Every piece ends at the end of a sentence (no sentence is cut when whole ones fit).
    assert all(piece[-1] in ".!?" for piece in pieces)
    assert " ".join(pieces) == text
    # Greedy packing: two sentences fit in 90 characters, so there are two pieces, not four.
    assert len(pieces) == 2


def test_falls_back_to_clause_boundaries() -> None:
    text = (
        "When the rain finally stopped, the children ran outside; they splashed in every puddle, "
        "laughing loudly, until their mother called them home for dinner."
    )
    pieces = split_text(text, 60)
    check_pieces(text, pieces, 60)
    assert all(piece[-1] in ",;." for piece in pieces), pieces


def test_falls_back_to_word_boundaries() -> None:
    text = " ".join(f"word{i}" for i in range(60))  # no punctuation at all
    pieces = split_text(text, 50)
    check_pieces(text, pieces, 50)
    assert len(pieces) > 1


def test_newlines_are_sentence_boundaries() -> None:
    text = "first line without a stop\nsecond line without a stop\nthird line"
    assert split_text(text, 30) == ["first line without a stop", "second line without a stop", "third line"]


def test_chinese_sentences_split_at_full_stops() -> None:
    sentence = "今天天气很好，我们去公园散步吧。"
    text = sentence * 5
    pieces = split_text(text, 40)
    assert "".join(pieces) == text
    assert all(len(p) <= 40 for p in pieces)
    assert all(p.endswith("。") for p in pieces)


def test_a_word_longer_than_the_limit_is_cut_only_as_a_last_resort() -> None:
    url = "https://example.com/" + "x" * 80
    text = f"Look at {url} now"
    pieces = split_text(text, 30)
    assert all(len(p) <= 30 for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    # The short words around the long one are never cut.
    assert pieces[0] == "Look at"
    assert pieces[-1].endswith("now")


def test_hard_cut_never_separates_a_combining_mark() -> None:
    word = "e\u0301" * 30  # 60 code points, no spaces
    pieces = split_text(word, 7)
    assert "".join(pieces) == word
    assert all(len(p) <= 7 for p in pieces)
    assert not any(unicodedata.combining(p[0]) for p in pieces)


def test_1500_characters_at_600() -> None:
    sentence = "This is sentence number {:03d}, and it goes on for a little while. "
    text = "".join(sentence.format(i) for i in range(25)).strip()
    assert len(text) >= 1500
    pieces = split_text(text, 600)
    check_pieces(text, pieces, 600)
    assert len(pieces) == 3
    assert all(p.endswith(".") for p in pieces)


SEPARATORS = [" ", "  ", ", ", ". ", "! ", "? ", "; ", ": ", " - ", "\n", ".\n\n", "… ", " — "]


@st.composite
def texts(draw: st.DrawFn) -> tuple[str, int]:
    limit = draw(st.integers(min_value=8, max_value=120))
    # Words shorter than the limit, so a word with its punctuation attached still fits.
    word = st.text(alphabet=string.ascii_letters + "éüß'0123456789", min_size=1, max_size=limit - 1)
    words = draw(st.lists(word, min_size=1, max_size=80))
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(words), max_size=len(words)))
    text = "".join(w + s for w, s in zip(words, seps, strict=True))
    return text, limit


@settings(max_examples=300, deadline=None, derandomize=True)
@given(texts())
def test_property_pieces_fit_and_rejoin_to_the_original_words(case: tuple[str, int]) -> None:
    text, limit = case
    pieces = split_text(text, limit)
    check_pieces(text, pieces, limit)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(texts())
def test_property_pieces_are_slices_of_the_text_in_order(case: tuple[str, int]) -> None:
    text, limit = case
    position = 0
    for piece in split_text(text, limit):
        found = text.find(piece, position)
        assert found >= 0, "a piece is not a contiguous slice of the text, in order"
        assert text[position:found].strip() == "", "text skipped between pieces"
        position = found + len(piece)
    assert text[position:].strip() == ""
