"""Settings from the environment: defaults, and a ConfigError naming the variable for every
missing or malformed value. (The CLI's exit status and one-line output are tested elsewhere.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.base.config import DASHSCOPE_URL, DEFAULT_MODEL, RELAY_URL, ConfigError, Settings
from bot.base.secrets import Secret

KEY = "sk-config-test-4242424242"
TOKEN = "MTIz.discord-token-for-config-tests.xyz"


def parse(**env: str) -> Settings:
    return Settings.from_env(env, dotenv=False)


def test_defaults() -> None:
    s = parse()
    assert s.api_key is None and s.discord_token is None
    assert (s.api_url, s.api_style, s.model) == (RELAY_URL, "relay", DEFAULT_MODEL)
    assert s.max_input_chars == 600
    assert s.retry_attempts >= 1
    assert s.engine == "auto" and not s.use_api
    assert s.database_path == Path("data") / "parla.sqlite3"
    assert s.cache_dir == Path("data") / "cache"


def test_full_environment() -> None:
    s = parse(
        TTS_API_KEY=KEY,
        DISCORD_TOKEN=TOKEN,
        TTS_API_STYLE="DashScope",
        TTS_MODEL="qwen3-tts-flash",
        TTS_CONNECT_TIMEOUT="2.5",
        TTS_FIRST_BYTE_TIMEOUT="7",
        TTS_MAX_INPUT_CHARS="300",
        TTS_RETRY_ATTEMPTS="5",
        TTS_MAX_CONCURRENT="2",
        DATA_DIR="/tmp/parla-data",
        SHARD_COUNT="4",
        SHARD_IDS="0, 2",
        LOG_LEVEL="debug",
        TTS_ENGINE="API",
    )
    assert s.api_key == Secret(KEY) and s.api_key.reveal() == KEY
    assert s.require_discord_token().reveal() == TOKEN
    assert s.api_style == "dashscope"
    assert s.api_url == DASHSCOPE_URL
    assert s.model == "qwen3-tts-flash"
    assert (s.connect_timeout, s.first_byte_timeout) == (2.5, 7.0)
    assert (s.max_input_chars, s.retry_attempts, s.max_concurrent_requests) == (300, 5, 2)
    assert s.data_dir == Path("/tmp/parla-data")
    assert (s.shard_count, s.shard_ids) == (4, (0, 2))
    assert s.log_level == "DEBUG"
    assert s.engine == "api" and s.use_api


def test_explicit_url_wins_over_the_styles_default() -> None:
    s = parse(TTS_API_STYLE="dashscope", TTS_API_URL="http://127.0.0.1:8099/custom")
    assert s.api_url == "http://127.0.0.1:8099/custom"


def test_blank_values_count_as_unset() -> None:
    # `.env.example` ships `DISCORD_TOKEN=` and `TTS_API_KEY=` empty.
    s = parse(DISCORD_TOKEN="", TTS_API_KEY="   ", TTS_MAX_INPUT_CHARS=" ", TTS_API_URL="")
    assert s.api_key is None and s.discord_token is None
    assert s.max_input_chars == 600 and s.api_url == RELAY_URL


def test_missing_api_key_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        parse().require_api_key()
    assert info.value.variable == "TTS_API_KEY"
    assert str(info.value).startswith("TTS_API_KEY")


def test_missing_discord_token_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        parse(TTS_API_KEY=KEY).require_discord_token()
    assert info.value.variable == "DISCORD_TOKEN"
    assert "DISCORD_TOKEN" in str(info.value)


NUMERIC = [
    "TTS_CONNECT_TIMEOUT",
    "TTS_FIRST_BYTE_TIMEOUT",
    "TTS_STALL_TIMEOUT",
    "TTS_TOTAL_TIMEOUT",
    "TTS_MAX_INPUT_CHARS",
    "TTS_RETRY_ATTEMPTS",
    "TTS_RETRY_BUDGET",
    "TTS_MAX_CONCURRENT",
    "CACHE_MEMORY_MB",
    "CACHE_DISK_MB",
    "VOICE_PREROLL_MS",
    "VOICE_LOOKAHEAD",
    "VOICE_QUEUE_MAX",
    "VOICE_ALONE_GRACE",
    "VOICE_IDLE_TIMEOUT",
    "VOICE_ENCODE_PROCESSES",
    "DEV_GUILD_ID",
    "SHARD_COUNT",
    "LIMIT_MEMBER_RPM",
    "LIMIT_MEMBER_CPM",
    "LIMIT_GUILD_CHARS_DAY",
    "LIMIT_GLOBAL_CHARS_DAY",
    "METRICS_PORT",
    "TTS_BREAKER_COOLDOWN_SECONDS",
]


@pytest.mark.parametrize("variable", NUMERIC)
def test_non_numeric_value_names_the_variable(variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(**{variable: "twelve"})
    assert info.value.variable == variable
    assert str(info.value).startswith(f"{variable}:")
    assert "'twelve'" in str(info.value)


@pytest.mark.parametrize("variable", NUMERIC)
def test_negative_value_names_the_variable(variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(**{variable: "-5"})
    assert info.value.variable == variable
    assert "at least" in str(info.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TTS_MAX_INPUT_CHARS", "12.5"),  # a whole number is required
        ("TTS_MAX_INPUT_CHARS", "5"),  # below the minimum piece size
        ("TTS_RETRY_ATTEMPTS", "0"),
        ("TTS_MAX_CONCURRENT", "0"),
        ("TTS_FIRST_BYTE_TIMEOUT", "0"),
        ("TTS_API_STYLE", "openai"),
        ("TTS_API_URL", "ftp://example.com/speech"),
        ("TTS_API_URL", "not a url"),
        ("TTS_ENGINE", "cloud"),
        ("LOG_LEVEL", "LOUD"),
        ("SHARD_IDS", "0,one"),
    ],
)
def test_malformed_value_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(**{variable: value})
    assert info.value.variable == variable
    assert str(info.value).startswith(f"{variable}:")
    assert "\n" not in str(info.value)


def test_shard_ids_need_shard_count() -> None:
    with pytest.raises(ConfigError) as info:
        parse(SHARD_IDS="0,1")
    assert info.value.variable == "SHARD_COUNT"


def test_shard_ids_must_be_below_shard_count() -> None:
    with pytest.raises(ConfigError) as info:
        parse(SHARD_IDS="0,4", SHARD_COUNT="4")
    assert info.value.variable == "SHARD_IDS"


@pytest.mark.parametrize("variable", ["TTS_API_KEY", "DISCORD_TOKEN"])
@pytest.mark.parametrize("value", ["s3cr3t", "k3y with a space inside"])
def test_malformed_secret_names_the_variable_without_echoing_it(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(**{variable: value})
    assert info.value.variable == variable
    assert value not in str(info.value)
    assert value not in repr(info.value)


def test_settings_repr_hides_the_secrets() -> None:
    s = parse(TTS_API_KEY=KEY, DISCORD_TOKEN=TOKEN)
    for text in (repr(s), str(s), repr(s.api_key), str(s.discord_token), f"{s.api_key}"):
        assert KEY not in text and TOKEN not in text
    assert "api_key=Secret('***')" in repr(s)


def test_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_API_KEY", KEY)
    monkeypatch.setenv("TTS_MAX_INPUT_CHARS", "450")
    s = Settings.from_env(dotenv=False)
    assert s.api_key is not None and s.api_key.reveal() == KEY
    assert s.max_input_chars == 450


def test_reads_dot_env_from_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(f"TTS_API_KEY={KEY}\nTTS_MAX_INPUT_CHARS=450\n")
    monkeypatch.chdir(tmp_path)
    # A private, empty environment: load_dotenv writes into os.environ.
    monkeypatch.setattr(os, "environ", {})
    s = Settings.from_env()
    assert s.api_key is not None and s.api_key.reveal() == KEY
    assert s.max_input_chars == 450


def test_environment_wins_over_dot_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("TTS_MAX_INPUT_CHARS=450\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "environ", {"TTS_MAX_INPUT_CHARS": "300"})
    assert Settings.from_env().max_input_chars == 300


@pytest.mark.parametrize(
    "variable",
    ["TTS_FIRST_BYTE_TIMEOUT", "TTS_STALL_TIMEOUT", "TTS_RETRY_BUDGET", "TTS_BREAKER_COOLDOWN_SECONDS"],
)
def test_nan_is_not_a_number_of_seconds(variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(**{variable: "nan"})
    assert info.value.variable == variable


def test_database_url_selects_the_settings_store() -> None:
    s = parse()
    assert (s.database_url, s.database_pool) == (None, 10)  # SQLite in DATA_DIR, pool of 10
    s = parse(DATABASE_URL="sqlite:///srv/parla/settings.db", DATA_DIR="/elsewhere")
    assert s.database_url is None and s.database_path == Path("srv/parla/settings.db")
    s = parse(DATABASE_URL="sqlite:////srv/parla/settings.db")
    assert s.database_path == Path("/srv/parla/settings.db")
    url = "postgresql://parla:pg-pass-4242@db.internal:5433/parla"
    s = parse(DATABASE_URL=url, DATABASE_POOL="4")
    assert isinstance(s.database_url, Secret) and s.database_url.reveal() == url
    assert s.database_pool == 4
    assert "pg-pass-4242" not in repr(s)
    from bot.base.secrets import redact

    assert "pg-pass-4242" not in redact("auth failed for password pg-pass-4242")


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://u:secret-pw@host:port/db",
        "mysql://u:secret-pw@host/db",
        "postgresql:///db",
        "sqlite:///",
    ],
)
def test_malformed_database_url_names_the_variable_without_echoing_it(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(DATABASE_URL=value)
    assert caught.value.variable == "DATABASE_URL" and "secret-pw" not in str(caught.value)
    with pytest.raises(ConfigError, match="DATABASE_POOL"):
        parse(DATABASE_POOL="0")
