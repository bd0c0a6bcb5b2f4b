"""One validator per setting: commands, SpeechRequest, the storage and the read-aloud settings
parser all apply the same rules (bot.speech.voices / bot.speech.request for voice, language,
style and text; bot.store.validators for the read-aloud settings); the migrations ship as
numbered SQL files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.base.errors import InputError
from bot.commands.checks import PICK_A_VOICE, check_picked_voice, check_typed_text
from bot.readaloud.settings import SETTINGS_BY_NAME, parse_setting
from bot.speech.request import MAX_INSTRUCTIONS_CHARS, SpeechRequest, check_instructions
from bot.speech.voices import LANGUAGES, VOICE_NAMES, check_language
from bot.speech.voices import check_voice as speech_check_voice
from bot.store.migrate import MIGRATIONS, SCHEMA_VERSION, load_migrations, split_sql
from bot.store.models import MAX_PREFIX_CHARS, READ_ALOUD_FIELDS
from bot.store.validators import validate_pref, validate_read_aloud_change, validate_read_mode

VOICE_INPUTS = [*VOICE_NAMES, "cherry", " Eldric   Sage ", "Robot", "", "Eldric_Sage", "\ud800"]
LANGUAGE_INPUTS = [*LANGUAGES, "english ", "EN", "Klingon", "\x00"]


def outcome(check: object, *args: object) -> object:
    assert callable(check)
    try:
        return check(*args)
    except InputError:
        return InputError


@pytest.mark.parametrize("name", VOICE_INPUTS)
def test_commands_request_and_storage_accept_the_same_voices(name: str) -> None:
    expected = outcome(speech_check_voice, name)
    assert outcome(check_picked_voice, name) == expected
    assert outcome(validate_pref, "voice", name) == expected
    request = outcome(lambda: SpeechRequest("hi", voice=name).validated().voice)
    assert request == expected


@pytest.mark.parametrize("name", LANGUAGE_INPUTS)
def test_commands_request_and_storage_accept_the_same_languages(name: str) -> None:
    expected = outcome(check_language, name)
    assert outcome(validate_pref, "language", name) == expected
    assert outcome(lambda: SpeechRequest("hi", language=name).validated().language) == expected


def test_unknown_voice_messages() -> None:
    with pytest.raises(InputError) as command:
        check_picked_voice("Robot")
    assert command.value.user_message().endswith(f"Unknown voice 'Robot'. {PICK_A_VOICE}")
    with pytest.raises(InputError) as stored:
        validate_pref("voice", "Robot")
    assert f"Unknown voice 'Robot'. Valid voices: {', '.join(VOICE_NAMES)}." in stored.value.user_message()


@pytest.mark.parametrize(
    "text", ["", "  ", "ok", "  padded  ", "x" * MAX_INSTRUCTIONS_CHARS, "y" * (MAX_INSTRUCTIONS_CHARS + 1)]
)
def test_instructions_rule_is_shared(text: str) -> None:
    stored = outcome(validate_pref, "instructions", text)
    assert stored == outcome(check_instructions, text)
    sent = outcome(lambda: SpeechRequest("hi", instructions=text).validated().instructions)
    assert sent == (stored or None if stored is not InputError else InputError)


def test_text_rule_is_shared() -> None:
    assert check_typed_text("  hi  ") == SpeechRequest("  hi  ").validated().text == "hi"
    for empty in ("", " \u200b\x00 "):
        with pytest.raises(InputError, match="nothing to say"):
            check_typed_text(empty)
        with pytest.raises(InputError, match="nothing to say"):
            SpeechRequest(empty).validated()
    with pytest.raises(InputError, match="at most 5"):
        check_typed_text("toolong", limit=5)


@pytest.mark.parametrize(
    ("name", "typed", "value"),
    [
        ("ignore_prefix", ">>", ">>"),
        ("ignore_prefix", "none", ""),
        ("ignore_prefix", "!" * MAX_PREFIX_CHARS, "!" * MAX_PREFIX_CHARS),
        ("ignore_prefix", "!" * (MAX_PREFIX_CHARS + 1), None),
        ("max_length", "20", 20),
        ("max_length", "2,000", 2000),
        ("max_length", "19", None),
        ("max_length", "lots", None),
        ("emoji", "skip", "none"),
        ("xsaid", "on", True),
    ],
)
def test_typed_read_aloud_settings_follow_the_storage_rules(name: str, typed: str, value: object) -> None:
    option = SETTINGS_BY_NAME[name]
    parsed = outcome(parse_setting, option, typed, lambda _: None)
    if value is None:
        assert parsed is InputError
    else:
        assert parsed == value == validate_read_aloud_change(option.field, value)


def test_every_setting_option_names_a_stored_field() -> None:
    assert sorted(o.field for o in SETTINGS_BY_NAME.values()) == sorted(READ_ALOUD_FIELDS)


def test_read_modes() -> None:
    assert validate_read_mode(" AUTO ") == "auto"
    with pytest.raises(InputError, match=r"Read-aloud mode must be one of: on, off, auto\."):
        validate_read_mode("sometimes")


def test_migrations_ship_as_numbered_sql_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_migrations() == MIGRATIONS and SCHEMA_VERSION == len(MIGRATIONS) >= 3
    assert all(split_sql(step) for step in MIGRATIONS)
    package = tmp_path / "parla_fake_migrations"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "001_first.sql").write_text("CREATE TABLE a (x);")
    (package / "migrations" / "README.txt").write_text("not a migration")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_migrations("parla_fake_migrations") == ("CREATE TABLE a (x);",)
    (package / "migrations" / "003_gap.sql").write_text("CREATE TABLE c (x);")
    with pytest.raises(RuntimeError, match="numbered 001 to 002"):
        load_migrations("parla_fake_migrations")
