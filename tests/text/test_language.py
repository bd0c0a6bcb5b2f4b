"""The one language guess (bot.text.language.detect_language), shared by the cleaner and the
local speech engine."""

from __future__ import annotations

import pytest

from bot.speech.local.profiles import LANGUAGE_VOICES, espeak_language
from bot.text.clean import CleanOptions, MessageInfo, clean_message
from bot.text.language import detect_language, is_cjk


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ich bin nicht sicher, ob das geht", "German"),
        ("je ne sais pas, c'est pour vous", "French"),
        ("今日は雨です", "Japanese"),
        ("你好，世界", "Chinese"),
        ("안녕하세요", "Korean"),
        ("Привет, мир", "Russian"),
        ("Hello, world", "English"),
        ("12345 !!! 🙂", "English"),
    ],
)
def test_the_local_engine_reads_auto_in_the_language_the_cleaner_guesses(text: str, language: str) -> None:
    assert detect_language(text) == language
    assert espeak_language("Auto", text) == LANGUAGE_VOICES[language]


def test_the_cleaner_adds_its_words_in_the_guessed_language() -> None:
    info = MessageInfo("ich bin nicht sicher, ob das geht", author_name="Ann")
    assert clean_message(info, CleanOptions(), say_name=True).startswith("Ann sagt: ")
    assert espeak_language("Auto", info.content) == "de"


def test_links_and_code_do_not_decide_the_language() -> None:
    assert detect_language("смотри https://ya.ru") == "Russian"
    assert detect_language("見て https://example.jp") == "Japanese"
    assert detect_language("`ich bin nicht das` hello how are you") == "English"


def test_is_cjk() -> None:
    assert is_cjk("漢") and is_cjk("か")
    assert not is_cjk("한") and not is_cjk("a") and not is_cjk("。")
