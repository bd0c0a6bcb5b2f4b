"""Replies in the member's language (bot.base.i18n): the catalogues are complete and format with
en's placeholders, every message id the code uses exists, a Text renders in a locale and falls
back to English (aliases, unknown locales, missing ids, broken templates)."""

from __future__ import annotations

import json
import logging
import pickle
import re
import string
from pathlib import Path

import pytest

from bot.base import i18n
from bot.base.errors import InputError
from bot.base.i18n import (
    ENGLISH,
    LOCALES_DIR,
    REPLY_LOCALES,
    Text,
    join,
    lines,
    load_locale_files,
    localize,
    placeholders,
    say,
)
from bot.base.secrets import MASK, register

ROOT = Path(__file__).resolve().parents[2]
FILES = load_locale_files()
SHIPPED = sorted(FILES)  # every catalogue file: the translator's languages, en and the replies' ones
EN = FILES[ENGLISH]["replies"]
ALIAS_ONLY = ("en-US", "en-GB")  # read en.json; they need no file of their own


def sample_params(template: str) -> dict[str, object]:
    """A value for each field of `template`: a number where a format spec asks for one."""
    params: dict[str, object] = {}
    for _, name, spec, _ in string.Formatter().parse(template):
        if name:
            params[name] = 1234.5 if spec else f"<{name}>"
    return params


def test_the_shipped_catalogues() -> None:
    assert {"en", "ja", "de", "fr", "es-ES"} <= set(SHIPPED)
    assert set(REPLY_LOCALES) <= set(SHIPPED) and {"en", "ja"} <= set(REPLY_LOCALES)
    assert not set(ALIAS_ONLY) & set(SHIPPED)  # aliases of en, never files
    assert len(EN) > 200
    for path in LOCALES_DIR.glob("*.json"):  # one shape for every language
        data = json.loads(path.read_text(encoding="utf-8"))
        assert set(data) <= {"commands", "replies"}, path.name


@pytest.mark.parametrize("locale", SHIPPED)
def test_every_message_id_is_in_every_reply_catalogue(locale: str) -> None:
    replies = FILES[locale]["replies"]
    if locale not in REPLY_LOCALES and not replies:
        # not translated yet: its members read English until the lead adds it to REPLY_LOCALES
        return
    assert sorted(EN.keys() - replies.keys()) == [], "missing"
    assert sorted(replies.keys() - EN.keys()) == [], "stale"
    for key, template in replies.items():
        assert placeholders(template) == placeholders(EN[key]), key
        params = sample_params(EN[key])
        rendered = template.format(**params)  # formats with exactly en's placeholders
        assert rendered.strip(), key


@pytest.mark.parametrize("locale", [x for x in REPLY_LOCALES if x != ENGLISH])
def test_a_translated_catalogue_is_translated(locale: str) -> None:
    """A required catalogue is not English copied: of the templates that have words (not only
    placeholders, emoji or punctuation), hardly any equals en's ("HTTP", "min" may)."""
    replies = FILES[locale]["replies"]
    worded = [k for k, v in EN.items() if re.search(r"[A-Za-z]{2,}", re.sub(r"\{[^}]*\}", "", v))]
    same = [k for k in worded if replies[k] == EN[k]]
    assert len(same) < len(worded) // 40, same


def _code_files() -> list[Path]:
    return sorted([*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("cogs").glob("*.py")])


def _used_ids() -> tuple[set[str], list[re.Pattern[str]]]:
    literal: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for path in _code_files():
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"""say\(\s*(f?)"([^"]+)\"""", text):
            fmt, key = match.groups()
            if fmt:
                parts = re.split(r"\{[^}]*\}", key)
                patterns.append(re.compile("[a-z0-9_.]+".join(re.escape(p) for p in parts) + r"\Z"))
            else:
                literal.add(key)
        for match in re.finditer(r"""\(\s*"([a-z_]+\.[a-z_.]+)" if .* else "([a-z_]+\.[a-z_.]+)",""", text):
            literal.update(match.groups())
    return literal, patterns


def test_every_message_id_the_code_uses_exists_and_none_is_unused() -> None:
    literal, patterns = _used_ids()
    assert len(literal) > 150 and patterns
    assert sorted(literal - EN.keys()) == [], "used but not in en.json"
    for pattern in patterns:
        assert any(pattern.match(k) for k in EN), pattern.pattern
    unused = [k for k in EN if k not in literal and not any(p.match(k) for p in patterns)]
    referenced = "\n".join(p.read_text(encoding="utf-8") for p in _code_files())
    assert [k for k in unused if f'"{k}"' not in referenced] == [], "in en.json but never used"


# ----------------------------------------------------------------------------- Text
def test_a_text_is_its_english_rendering_and_renders_in_a_locale() -> None:
    text = say("tts.stop.done.other", count=3)
    assert isinstance(text, str) and isinstance(text, Text)
    assert text == "⏹️ Stopped; 3 messages dropped."
    assert text.key == "tts.stop.done.other" and text.params == {"count": 3}
    assert localize(text, "ja") == "⏹️ 停止しました。3 件のメッセージを破棄しました。"
    assert localize(text, "en-US") == localize(text, "en-GB") == localize(text, None) == text
    plain = "not a Text"
    assert localize(plain, "ja") is plain


def test_params_that_are_texts_render_in_the_same_locale() -> None:
    text = say("prefs.set.everywhere", setting=say("settings.field.language"), value=say("language.japanese"))
    assert text == "Language set to **Japanese** everywhere."
    assert localize(text, "ja") == "全サーバー共通の言語を **日本語** に設定しました。"


def test_joined_texts_stay_localizable() -> None:
    joined = lines(say("tts.resume.done"), None, "", say("tts.pause.already"))
    assert joined == "▶️ Resumed.\nAlready paused (or nothing to pause)."
    ja = "▶️ 再開しました。\nすでに一時停止中です（または一時停止するものがありません）。"
    assert localize(joined, "ja") == ja
    listed = join(say("list.separator"), [say("language.german"), "Klingon"])
    assert listed == "German, Klingon" and localize(listed, "ja") == "ドイツ語、Klingon"
    assert "（ドイツ語、Klingon）" in localize(say("settings.shadowed", setting="x", value=listed), "ja")
    assert "\n".join([say("tts.resume.done")]) == "▶️ Resumed."  # plain str.join: English only


def test_aliases_and_unknown_locales_read_english(monkeypatch: pytest.MonkeyPatch) -> None:
    text = say("tts.resume.done")
    assert localize(text, "xx-XX") == text and localize(text, "") == text
    # es-419 reads the es-ES catalogue (English until es-ES has replies)
    monkeypatch.setitem(i18n._REPLIES, "es-ES", {"tts.resume.done": "▶️ Reanudado."})
    assert localize(text, "es-419") == localize(text, "es-ES") == "▶️ Reanudado."


def test_a_missing_id_or_broken_template_falls_back_to_english_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(i18n, "_warned", set())
    broken = dict(i18n._REPLIES["ja"])
    del broken["tts.resume.done"]
    broken["tts.stop.done.other"] = "{missing} 件"
    monkeypatch.setitem(i18n._REPLIES, "ja", broken)
    caplog.set_level(logging.WARNING, logger="bot.base.i18n")
    for _ in range(3):
        assert localize(say("tts.resume.done"), "ja") == "▶️ Resumed."
        assert localize(say("tts.stop.done.other", count=2), "ja") == "⏹️ Stopped; 2 messages dropped."
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings
    assert localize(say("tts.pause.done"), "ja").startswith("⏸️ 一時停止")  # the rest is still ja


def test_an_unknown_id_shows_the_id_rather_than_crash(caplog: pytest.LogCaptureFixture) -> None:
    assert say("no.such.id") == "no.such.id"
    assert localize(say("no.such.id"), "ja") == "no.such.id"


def test_texts_survive_pickling_and_errors() -> None:
    text = say("voice.busy", channel=say("voice.channel.unknown"))
    again = pickle.loads(pickle.dumps(text))
    assert again == text and isinstance(again, Text) and localize(again, "ja") == localize(text, "ja")
    joined = lines(text, "plain")
    assert localize(pickle.loads(pickle.dumps(joined)), "ja") == localize(joined, "ja")
    error = InputError(say("input.text.empty"))
    assert localize(error.user_message(), "ja") == "読み上げる内容がありません：テキストが空です。"


def test_a_secret_in_a_texts_params_is_still_redacted() -> None:
    secret = "sk-i18n-test-secret-0123456789"
    register(secret)
    error = InputError(say("input.voice.unknown", name=secret, advice=""))
    assert secret not in error.user_message() and MASK in error.user_message()
