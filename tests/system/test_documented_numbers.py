"""Every number README.md and docs/commands.md state, read from the docs and checked against the
behaviour at the number and just over it.

Each row quotes the doc (a regex over the doc's own words) and the numbers it must say, as
literals: a changed doc fails `test_the_docs_state_these_numbers`, a changed behaviour fails the
row's check."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from discord import app_commands

from bot.app.bot import HEARTBEAT_SECONDS
from bot.base.config import Settings
from bot.base.errors import InputError
from bot.commands.choices import AUTOCOMPLETE_LIMIT, voice_choices
from bot.readaloud.flow import ReadAloudCore
from bot.speech.request import check_style
from bot.speech.voices import LANGUAGES, VOICES
from bot.store.limits import LimitExceeded, UsageLimiter
from bot.store.models import GuildReadAloud
from bot.store.sqlite import SqliteStorage
from bot.voice.utterance import PlayerOptions
from tests.standins.clock import ManualClock
from tests.standins.discord_objects import MockGuild, MockInteraction, MockMember

ROOT = Path(__file__).resolve().parents[2]
DOCS = {name: (ROOT / name).read_text() for name in ("README.md", "docs/commands.md")}


def stated(doc: str, pattern: str) -> tuple[float, ...]:
    """The numbers the doc states where `pattern` (its own words) matches; fails if it does not."""
    match = re.search(pattern, DOCS[doc], re.DOTALL)
    assert match is not None, f"{doc} no longer says {pattern!r}"
    return tuple(float(g.replace(",", "").replace(" ", "")) for g in match.groups())


# (doc, pattern over the doc's words, the numbers it states)
STATED: dict[str, tuple[str, str, tuple[float, ...]]] = {
    "speak cooldown": (
        "docs/commands.md",
        r"\| `/speak text \[voice\] \[style\] \[language\] \[attach\] \[format\]` "
        r"\| everyone \((\d+) uses per (\d+) s\)",
        (3, 10),
    ),
    "read aloud cooldown": (
        "docs/commands.md",
        r"\| \*\*Read aloud\*\* .*? \| everyone \((\d+) uses per (\d+) s\)",
        (3, 10),
    ),
    "preview cooldown": (
        "docs/commands.md",
        r"\| `/voice preview voice` \| everyone \((\d+) uses per (\d+) s\)",
        (3, 10),
    ),
    "autocomplete": ("docs/commands.md", r"\"Name — gender, character\", (\d+) at most", (25,)),
    "voices": ("docs/commands.md", r"Lists the (\d+) voices", (24,)),
    "languages": ("README.md", r"(\d+) human-sounding voices, (\d+)\s+languages", (24, 10)),
    "language choices": ("README.md", r"\| one of the (\d+) languages, or Auto \|", (10,)),
    "style length": ("docs/commands.md", r"type your own text, up to (\d+) characters", (500,)),
    "queue shown": ("docs/commands.md", r"and the next (\d+) messages", (10,)),
    "usage days": ("docs/commands.md", r"day by day for the last (\d+) days", (7,)),
    "bound channels": ("docs/commands.md", r"Up to (\d+) channels\.", (25,)),
    "dictionary": ("docs/commands.md", r"longest match first; (\d+) entries", (200,)),
    "said window": ("README.md", r"except for the same member again\s+within (\d+) s", (30,)),
    "max length": ("README.md", r"Messages over `max_length` \((\d+)\)", (300,)),
    "read rate": ("README.md", r"Each member may queue (\d+) messages per\s+(\d+) s", (5, 10)),
    "error notices": ("README.md", r"once per error code per (\d+) minutes", (5,)),
    "heartbeat": ("README.md", r"a heartbeat file the bot touches\s+every (\d+) s", (30,)),
    "timeouts": (
        "README.md",
        r"\| `TTS_\*_TIMEOUT`, `TTS_RETRY_ATTEMPTS` \| (\d+)/(\d+)/(\d+)/(\d+) s, (\d+) \|",
        (5, 20, 10, 120, 3),
    ),
    "concurrency": ("README.md", r"\| `TTS_MAX_CONCURRENT`, `TTS_MAX_RPM` \| (\d+), (\d+) \|", (8, 170)),
    "cache": ("README.md", r"\| `CACHE_MEMORY_MB`, `CACHE_DISK_MB` \| (\d+), (\d+) \|", (64, 512)),
    "playback": (
        "README.md",
        r"\| `VOICE_PREROLL_MS`, `VOICE_LOOKAHEAD`, `VOICE_QUEUE_MAX` \| (\d+), (\d+), (\d+) \|",
        (100, 2, 50),
    ),
    "leaving": (
        "README.md",
        r"\| `VOICE_ALONE_GRACE`, `VOICE_IDLE_TIMEOUT` \| (\d+) s, (\d+) s \|",
        (60, 600),
    ),
    "member limits": (
        "README.md",
        r"\| `LIMIT_MEMBER_RPM`, `LIMIT_MEMBER_CPM` \| (\d+), (\d+) \|",
        (30, 2000),
    ),
    "invite permissions": (
        "README.md",
        r"permission integer \*\*(\d+)\*\*.*?&permissions=(\d+)`",
        (70370894924800, 70370894924800),
    ),
    "invite permissions, commands page": (
        "docs/commands.md",
        r"= ([\d ]+)\n```.*?the integer is then \*\*([\d ]+)\*\*.*?&permissions=(\d+)\n",
        (70370894924800, 70368747441152, 70370894924800),
    ),
    "daily limits": (
        "README.md",
        r"\| `LIMIT_GUILD_CHARS_DAY`, `LIMIT_GLOBAL_CHARS_DAY` \| ([\d,]+), ([\d,]+) \|",
        (50_000, 500_000),
    ),
}


def numbers(row: str) -> tuple[float, ...]:
    doc, pattern, _ = STATED[row]
    return stated(doc, pattern)


@pytest.mark.parametrize("row", sorted(STATED))
def test_the_docs_state_these_numbers(row: str) -> None:
    assert numbers(row) == STATED[row][2]


# ----------------------------------------------------------------------------- the behaviour
def cooldown_checks() -> dict[str, list[Any]]:
    from cogs.preferences import PreferencesCog
    from cogs.speech import SpeechCog

    return {
        "speak cooldown": SpeechCog.speak.checks,
        "read aloud cooldown": SpeechCog.read_aloud.__discord_app_commands_checks__,  # type: ignore[attr-defined]
        "preview cooldown": PreferencesCog.voice_preview.checks,
    }


async def passes(checks: list[Any], member: MockMember, guild: MockGuild, at: datetime) -> bool:
    interaction = MockInteraction(user=member, guild=guild, created_at=at)
    try:
        for check in checks:
            await check(interaction)
    except app_commands.CommandOnCooldown:
        return False
    return True


@pytest.mark.parametrize("row", ["speak cooldown", "read aloud cooldown", "preview cooldown"])
async def test_cooldowns_allow_the_stated_uses_per_window(row: str) -> None:
    uses, window = numbers(row)
    checks = cooldown_checks()[row]
    guild = MockGuild()
    member = MockMember(guild=guild)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for _ in range(int(uses)):
        assert await passes(checks, member, guild, start)
    assert not await passes(checks, member, guild, start)  # one over
    assert not await passes(checks, member, guild, start + timedelta(seconds=window - 0.5))
    assert await passes(checks, member, guild, start + timedelta(seconds=window + 0.5))
    other = MockMember(guild=guild)  # per member
    assert await passes(checks, other, guild, start)


def test_autocomplete_voices_and_languages() -> None:
    (limit,) = numbers("autocomplete")
    assert AUTOCOMPLETE_LIMIT == limit
    assert len(voice_choices("")) == min(limit, len(VOICES))
    assert len(voice_choices("", limit=int(limit) - 20)) == limit - 20  # the limit is what cuts
    assert len(VOICES) == numbers("voices")[0] == numbers("languages")[0]
    assert len([lang for lang in LANGUAGES if lang != "Auto"]) == numbers("languages")[1]
    assert LANGUAGES[0] == "Auto" and len(LANGUAGES) - 1 == numbers("language choices")[0]


def test_style_length() -> None:
    (limit,) = numbers("style length")
    assert check_style("a" * int(limit))
    with pytest.raises(InputError):
        check_style("a" * (int(limit) + 1))


def test_queue_lines_and_usage_days() -> None:
    from cogs.playback import QUEUE_SHOWN
    from cogs.server import USAGE_DAYS

    assert QUEUE_SHOWN == numbers("queue shown")[0]
    assert USAGE_DAYS == numbers("usage days")[0]


async def test_bound_channels_and_dictionary_caps(tmp_path: Path) -> None:
    (channels,) = numbers("bound channels")
    (entries,) = numbers("dictionary")
    async with SqliteStorage.open(tmp_path / "db.sqlite3") as storage:
        for channel in range(int(channels)):
            assert await storage.add_bound_channel(7, 1000 + channel)
        with pytest.raises(InputError, match=f"already has {int(channels)} read-aloud channels"):
            await storage.add_bound_channel(7, 999)
        for i in range(int(entries)):
            await storage.add_dictionary_entry(7, f"word{i}", f"reading {i}")
        with pytest.raises(InputError, match=f"dictionary is full \\({int(entries)} words\\)"):
            await storage.add_dictionary_entry(7, "oneover", "one over")
        await storage.add_dictionary_entry(7, "word0", "changed")  # replacing one is not adding


def test_read_aloud_rate_said_window_and_error_notices() -> None:
    clock = ManualClock()
    core = ReadAloudCore(clock=clock)
    rate, per = numbers("read rate")
    for _ in range(int(rate)):
        assert core.allow_rate(1, 2)[0]
    assert not core.allow_rate(1, 2)[0]  # one over
    clock.advance(per + 0.01)
    assert core.allow_rate(1, 2)[0]

    (said,) = numbers("said window")
    assert core.prefixer.should_name(1, 10, 2, now=0.0)
    assert not core.prefixer.should_name(1, 10, 2, now=said)  # the same member within the window
    assert core.prefixer.should_name(1, 10, 2, now=2 * said + 0.01)  # just over it

    (minutes,) = numbers("error notices")
    start = clock()
    assert core.error_notices.allow((1, "Throttling"))
    clock.advance(minutes * 60 - 0.5)
    assert not core.error_notices.allow((1, "Throttling"))
    clock.advance(1.0)
    assert core.error_notices.allow((1, "Throttling")), clock() - start

    (max_length,) = numbers("max length")
    assert GuildReadAloud().max_length == max_length


def test_settings_defaults_are_the_documented_ones() -> None:
    s = Settings.from_env({}, dotenv=False)
    connect, first, stall, total, attempts = numbers("timeouts")
    assert (s.connect_timeout, s.first_byte_timeout, s.stall_timeout, s.total_timeout) == (
        connect,
        first,
        stall,
        total,
    )
    assert s.retry_attempts == attempts
    assert (s.max_concurrent_requests, s.max_requests_per_minute) == numbers("concurrency")
    assert (s.cache_memory_mb, s.cache_disk_mb) == numbers("cache")
    options = PlayerOptions.from_settings(s)
    assert (s.preroll_ms, s.lookahead, s.queue_max) == numbers("playback")
    assert options.queue_max == numbers("playback")[2]
    assert (s.alone_grace_seconds, s.idle_timeout_seconds) == numbers("leaving")
    assert HEARTBEAT_SECONDS == numbers("heartbeat")[0]


def test_member_limits_per_minute() -> None:
    rpm, cpm = numbers("member limits")
    clock = ManualClock()
    limiter = UsageLimiter(Settings.from_env({}, dotenv=False), clock=clock)
    for _ in range(int(rpm)):
        limiter.check_member(1, 1)
    with pytest.raises(LimitExceeded, match=f"{int(rpm)} requests per minute"):
        limiter.check_member(1, 1)
    clock.advance(60.01)
    limiter.check_member(2, int(cpm) - 1)
    limiter.check_member(2, 1)  # exactly the characters allowed
    with pytest.raises(LimitExceeded, match=f"{int(cpm)} characters per minute"):
        limiter.check_member(2, 1)


async def test_daily_character_budgets() -> None:
    guild_day, global_day = numbers("daily limits")
    limiter = UsageLimiter(Settings.from_env({}, dotenv=False))
    await limiter.check_budget(7, int(guild_day))
    await limiter.charge(7, int(guild_day))
    with pytest.raises(LimitExceeded) as server:
        await limiter.check_budget(7, 1)
    assert server.value.scope == "server"
    rest = int(global_day - guild_day)
    await limiter.check_budget(None, rest)
    await limiter.charge(None, rest - 1)
    await limiter.check_budget(None, 1)  # the last character of the day
    with pytest.raises(LimitExceeded) as overall:
        await limiter.check_budget(None, 2)
    assert overall.value.scope == "global"


def test_the_invite_asks_for_send_voice_messages() -> None:
    from bot.app.invite import BOT_PERMISSIONS, invite_url

    readme, _ = numbers("invite permissions")
    stated_total, without_commands, link = numbers("invite permissions, commands page")
    assert BOT_PERMISSIONS.value == readme == stated_total == link
    assert BOT_PERMISSIONS.send_voice_messages and BOT_PERMISSIONS.value & (1 << 46)
    assert BOT_PERMISSIONS.connect and BOT_PERMISSIONS.speak and BOT_PERMISSIONS.attach_files
    assert BOT_PERMISSIONS.value - (1 << 31) == without_commands  # Use Application Commands left out
    url = invite_url(4242)
    assert url == (
        "https://discord.com/oauth2/authorize?client_id=4242"
        f"&scope=bot+applications.commands&permissions={int(readme)}"
    )
