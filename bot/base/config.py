"""Settings from the environment and `.env`, validated once at start-up.

A missing or malformed value raises `ConfigError` naming the variable and what to set;
the CLI turns it into one line and exit status 2. Secrets are wrapped in `Secret`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import unquote, urlparse

from bot.base.secrets import Secret, register

# The shared sender's encode processes by default: two where there are two cores or more (one
# core gains nothing from a second process, and loses the memory).
DEFAULT_ENCODE_PROCESSES = 2 if (os.cpu_count() or 1) >= 2 else 0

RELAY_URL = "https://baze-api.powerbuyin.top/v1/audio/speech"
DASHSCOPE_URL = "https://dashscope-intl.aliyuncs.com/api/v1/services/aigc/multimodal-generation/generation"
DEFAULT_MODEL = "qwen3-tts-instruct-flash"

ApiStyle = Literal["relay", "dashscope"]
EngineChoice = Literal["api", "local", "auto"]
VoiceSenderChoice = Literal["shared", "classic"]

T = TypeVar("T")


class ConfigError(Exception):
    """A setting is missing or malformed. The message names the variable and the fix."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


@dataclass(frozen=True)
class Settings:
    # Credentials (never printed: see Secret)
    discord_token: Secret | None = None
    api_key: Secret | None = None
    # Endpoint
    api_url: str = RELAY_URL
    api_style: ApiStyle = "relay"
    model: str = DEFAULT_MODEL
    connect_timeout: float = 5.0
    first_byte_timeout: float = 20.0
    stall_timeout: float = 10.0
    total_timeout: float = 120.0
    max_input_chars: int = 600
    retry_attempts: int = 3
    retry_budget: float = 20.0
    max_concurrent_requests: int = 8
    max_requests_per_minute: int = 170  # the endpoint allows 180 RPM per account
    # Storage and cache
    data_dir: Path = field(default_factory=lambda: Path("data"))
    cache_memory_mb: float = 64.0
    cache_disk_mb: float = 512.0
    database_url: Secret | None = None  # postgresql://... (may hold a password); None = SQLite
    database_pool: int = 10
    sqlite_path: Path | None = None  # DATABASE_URL=sqlite:///path
    # Voice playback
    preroll_ms: int = 100
    lookahead: int = 2
    queue_max: int = 50
    alone_grace_seconds: float = 60.0
    idle_timeout_seconds: float = 600.0
    voice_sender: VoiceSenderChoice = "shared"  # classic: discord.py's thread per playback
    # Child processes that encode first plays for the shared sender (0: encode in threads).
    voice_encode_processes: int = DEFAULT_ENCODE_PROCESSES
    # Discord
    dev_guild_id: int | None = None
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    # Engine
    engine: EngineChoice = "auto"
    # Cost and abuse limits
    member_requests_per_minute: int = 30
    member_chars_per_minute: int = 2000
    guild_chars_per_day: int = 50_000
    global_chars_per_day: int = 500_000
    # Operations
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    metrics_guild_labels: bool = False
    log_level: str = "INFO"
    # Cluster (shared state in Redis; unset: one process, everything local)
    redis_url: Secret | None = None  # may hold a password
    redis_prefix: str = "parla:"
    cache_redis_mb: float = 256.0
    cluster_lease_seconds: float = 10.0  # lease of cluster locks and slots (at most 10 s)
    cluster_processes: int = 1  # processes sharing the endpoint (local pacing share when Redis is down)
    rpm_window_seconds: float = 60.0  # the rolling window of TTS_MAX_RPM
    breaker_cooldown_seconds: float = 30.0  # the circuit breaker stays open this long (0: no breaker)

    @property
    def database_path(self) -> Path:
        return self.sqlite_path or self.data_dir / "parla.sqlite3"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def use_api(self) -> bool:
        return self.engine == "api" or (self.engine == "auto" and self.api_key is not None)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return f"Settings({shown})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Settings:
        """Read settings from `env` (default: os.environ, after loading `.env`)."""
        if env is None:
            if dotenv:
                from dotenv import find_dotenv, load_dotenv

                load_dotenv(find_dotenv(usecwd=True), override=False)
            env = os.environ
        return _parse(env)

    def require_api_key(self) -> Secret:
        if self.api_key is None:
            raise ConfigError(
                "TTS_API_KEY",
                "not set. Set it to your DashScope / relay API key (in the environment or .env).",
            )
        return self.api_key

    def require_discord_token(self) -> Secret:
        if self.discord_token is None:
            raise ConfigError(
                "DISCORD_TOKEN",
                "not set. Set it to your bot token from https://discord.com/developers/applications "
                "(Bot → Reset Token), in the environment or .env.",
            )
        return self.discord_token


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _number(
    env: Mapping[str, str],
    name: str,
    default: T,
    conv: Callable[[str], T],
    *,
    minimum: float | None = None,
    what: str = "a number",
) -> T:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = conv(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not {what}. Set it to {what}.") from None
    if not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise ConfigError(name, f"{raw!r} is not {what}. Set it to {what}.")
    if minimum is not None and float(value) < minimum:  # type: ignore[arg-type]
        raise ConfigError(name, f"{raw!r} is too small. Set it to at least {minimum:g}.")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (_get(env, name) or "false").lower()
    if raw not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ConfigError(name, f"{raw!r} is not valid. Set it to true or false.")
    return raw in ("true", "1", "yes", "on")


def _secret(env: Mapping[str, str], name: str, hint: str) -> Secret | None:
    raw = _get(env, name)
    if raw is None:
        return None
    if any(ch.isspace() for ch in raw) or len(raw) < 8:
        raise ConfigError(name, f"looks malformed (too short or contains spaces). Set it to {hint}.")
    return Secret(raw)


def _database_url(env: Mapping[str, str]) -> tuple[Secret | None, Path | None]:
    """DATABASE_URL: unset (SQLite in DATA_DIR), sqlite:///path, or postgresql://..."""
    raw = _get(env, "DATABASE_URL")
    if raw is None:
        return None, None
    return parse_database_url(raw, "DATABASE_URL")


def parse_database_url(raw: str, variable: str) -> tuple[Secret | None, Path | None]:
    """A database URL: (the postgresql:// URL as a Secret, None) or (None, the sqlite:/// file).
    The value is never echoed: it may hold a password."""
    fix = "Set it to sqlite:///path/to/file or postgresql://user:password@host:5432/database."
    if raw.startswith("sqlite:///"):
        path = raw.removeprefix("sqlite:///")
        if not path:
            raise ConfigError(variable, f"the sqlite URL names no file. {fix}")
        return None, Path(path)
    try:
        parsed = urlparse(raw)
        parsed.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ConfigError(variable, f"is not a valid URL (bad host or port). {fix}") from None
    if parsed.scheme not in ("postgresql", "postgres") or not parsed.hostname:
        raise ConfigError(variable, f"is not a sqlite:/// or postgresql:// URL with a host. {fix}")
    if parsed.password:
        register(unquote(parsed.password))  # scrubbed from logs and errors on its own too
    return Secret(raw), None


def _parse(env: Mapping[str, str]) -> Settings:
    style = (_get(env, "TTS_API_STYLE") or "relay").lower()
    if style not in ("relay", "dashscope"):
        raise ConfigError("TTS_API_STYLE", f"{style!r} is not valid. Set it to relay or dashscope.")
    api_url = _get(env, "TTS_API_URL") or (RELAY_URL if style == "relay" else DASHSCOPE_URL)
    parsed = urlparse(api_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError("TTS_API_URL", f"{api_url!r} is not an http(s) URL. Set it to the endpoint URL.")
    engine = (_get(env, "TTS_ENGINE") or "auto").lower()
    if engine not in ("api", "local", "auto"):
        raise ConfigError("TTS_ENGINE", f"{engine!r} is not valid. Set it to api, local or auto.")
    voice_sender = (_get(env, "VOICE_SENDER") or "shared").lower()
    if voice_sender not in ("shared", "classic"):
        raise ConfigError("VOICE_SENDER", f"{voice_sender!r} is not valid. Set it to shared or classic.")
    shard_ids_raw = _get(env, "SHARD_IDS")
    shard_ids: tuple[int, ...] | None = None
    if shard_ids_raw:
        try:
            shard_ids = tuple(int(x) for x in shard_ids_raw.replace(" ", "").split(",") if x)
        except ValueError:
            raise ConfigError("SHARD_IDS", "must be a comma-separated list of integers, e.g. 0,1.") from None
    shard_count = _number(env, "SHARD_COUNT", None, int, minimum=1, what="a whole number")
    if shard_ids and shard_count is None:
        raise ConfigError("SHARD_COUNT", "must be set when SHARD_IDS is set.")
    if shard_ids and shard_count is not None and any(s >= shard_count for s in shard_ids):
        raise ConfigError("SHARD_IDS", "every shard id must be below SHARD_COUNT.")
    log_level = (_get(env, "LOG_LEVEL") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("LOG_LEVEL", "set it to DEBUG, INFO, WARNING or ERROR.")
    integer = "a whole number"
    redis_url = _get(env, "REDIS_URL")
    if redis_url is not None:
        parsed_redis = urlparse(redis_url)
        if parsed_redis.scheme not in ("redis", "rediss", "unix") or not (
            parsed_redis.hostname or parsed_redis.path
        ):
            raise ConfigError("REDIS_URL", "is not a redis:// URL. Set it like redis://127.0.0.1:6379/0.")
        try:
            parsed_redis.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ConfigError("REDIS_URL", "has a bad port. Set it like redis://127.0.0.1:6379/0.") from None
    database_url, sqlite_path = _database_url(env)
    return Settings(
        discord_token=_secret(env, "DISCORD_TOKEN", "your Discord bot token"),
        api_key=_secret(env, "TTS_API_KEY", "your endpoint API key"),
        api_url=api_url,
        api_style=style,  # type: ignore[arg-type]
        model=_get(env, "TTS_MODEL") or DEFAULT_MODEL,
        connect_timeout=_number(env, "TTS_CONNECT_TIMEOUT", 5.0, float, minimum=0.1),
        first_byte_timeout=_number(env, "TTS_FIRST_BYTE_TIMEOUT", 20.0, float, minimum=0.1),
        stall_timeout=_number(env, "TTS_STALL_TIMEOUT", 10.0, float, minimum=0.1),
        total_timeout=_number(env, "TTS_TOTAL_TIMEOUT", 120.0, float, minimum=1),
        max_input_chars=_number(env, "TTS_MAX_INPUT_CHARS", 600, int, minimum=20, what=integer),
        retry_attempts=_number(env, "TTS_RETRY_ATTEMPTS", 3, int, minimum=1, what=integer),
        retry_budget=_number(env, "TTS_RETRY_BUDGET", 20.0, float, minimum=0),
        max_concurrent_requests=_number(env, "TTS_MAX_CONCURRENT", 8, int, minimum=1, what=integer),
        max_requests_per_minute=_number(env, "TTS_MAX_RPM", 170, int, minimum=1, what=integer),
        data_dir=Path(_get(env, "DATA_DIR") or "data"),
        cache_memory_mb=_number(env, "CACHE_MEMORY_MB", 64.0, float, minimum=0),
        cache_disk_mb=_number(env, "CACHE_DISK_MB", 512.0, float, minimum=0),
        database_url=database_url,
        database_pool=_number(env, "DATABASE_POOL", 10, int, minimum=1, what=integer),
        sqlite_path=sqlite_path,
        preroll_ms=_number(env, "VOICE_PREROLL_MS", 100, int, minimum=0, what=integer),
        lookahead=_number(env, "VOICE_LOOKAHEAD", 2, int, minimum=0, what=integer),
        queue_max=_number(env, "VOICE_QUEUE_MAX", 50, int, minimum=1, what=integer),
        alone_grace_seconds=_number(env, "VOICE_ALONE_GRACE", 60.0, float, minimum=0),
        idle_timeout_seconds=_number(env, "VOICE_IDLE_TIMEOUT", 600.0, float, minimum=0),
        voice_sender=voice_sender,  # type: ignore[arg-type]
        voice_encode_processes=_number(
            env, "VOICE_ENCODE_PROCESSES", DEFAULT_ENCODE_PROCESSES, int, minimum=0, what=integer
        ),
        dev_guild_id=_number(env, "DEV_GUILD_ID", None, int, minimum=1, what="a server id"),
        shard_count=shard_count,
        shard_ids=shard_ids,
        engine=engine,  # type: ignore[arg-type]
        member_requests_per_minute=_number(env, "LIMIT_MEMBER_RPM", 30, int, minimum=1, what=integer),
        member_chars_per_minute=_number(env, "LIMIT_MEMBER_CPM", 2000, int, minimum=1, what=integer),
        guild_chars_per_day=_number(env, "LIMIT_GUILD_CHARS_DAY", 50_000, int, minimum=1, what=integer),
        global_chars_per_day=_number(env, "LIMIT_GLOBAL_CHARS_DAY", 500_000, int, minimum=1, what=integer),
        metrics_port=_number(env, "METRICS_PORT", None, int, minimum=1, what="a port number"),
        metrics_host=_get(env, "METRICS_HOST") or "127.0.0.1",
        metrics_guild_labels=_flag(env, "METRICS_GUILD_LABELS"),
        log_level=log_level,
        redis_url=Secret(redis_url) if redis_url is not None else None,
        redis_prefix=_get(env, "REDIS_PREFIX") or "parla:",
        cache_redis_mb=_number(env, "CACHE_REDIS_MB", 256.0, float, minimum=0),
        cluster_lease_seconds=min(10.0, _number(env, "CLUSTER_LEASE_SECONDS", 10.0, float, minimum=0.5)),
        cluster_processes=_number(env, "CLUSTER_PROCESSES", 1, int, minimum=1, what=integer),
        rpm_window_seconds=_number(env, "TTS_RPM_WINDOW", 60.0, float, minimum=0.1),
        breaker_cooldown_seconds=_number(env, "TTS_BREAKER_COOLDOWN_SECONDS", 30.0, float, minimum=0),
    )
