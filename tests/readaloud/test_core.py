"""bot.readaloud.flow without Discord: the acceptance rules as a pure function, the ordered line, the
sliding-window limiter, the notice windows, the queue tags, setting parsing."""

from __future__ import annotations

import asyncio

import pytest

from bot.base.errors import InputError, ParlaError
from bot.readaloud.flow import DictionaryCache, ReadAloudCore
from bot.readaloud.ordering import OrderedLine
from bot.readaloud.rules import MessageFacts, Verdict, decide
from bot.readaloud.settings import SETTINGS_BY_NAME, parse_setting
from bot.readaloud.tags import ReadAloudTag, deleted_predicate, edited_predicate
from bot.speech.errors import error_for
from bot.store.limits import SlidingWindowLimiter
from bot.store.models import GuildReadAloud, MemberReadAloud
from bot.text.clean import MessageInfo
from tests.standins.clock import ManualClock

TEXT, VOICE, OTHER_VOICE, ELSEWHERE = 10, 20, 30, 40
GUILD = GuildReadAloud(channel_ids=frozenset({TEXT}))
ON, OFF, AUTO = MemberReadAloud("on"), MemberReadAloud("off"), MemberReadAloud("auto")


def facts(**kw: object) -> MessageFacts:
    values: dict[str, object] = {
        "channel_id": TEXT,
        "author_id": 1,
        "content": "hello",
        "author_voice_id": VOICE,
        "bot_voice_id": VOICE,
    }
    values.update(kw)
    return MessageFacts(**values)  # type: ignore[arg-type]


def g(**kw: object) -> GuildReadAloud:
    values: dict[str, object] = {"channel_ids": frozenset({TEXT})}
    values.update(kw)
    return GuildReadAloud(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("message", "guild", "member", "verdict", "join"),
    [
        (facts(), GUILD, ON, Verdict.ACCEPT, None),
        (facts(system=True), GUILD, ON, Verdict.SYSTEM, None),
        # The first rule that applies wins: an opted-out bot is refused as a bot.
        (facts(author_is_bot=True), GUILD, OFF, Verdict.BOT, None),
        (facts(author_is_bot=True, author_voice_id=None), g(read_bots=True), ON, Verdict.ACCEPT, None),
        # A bot in the bot's voice channel is still not "with the bot" for auto.
        (facts(author_is_bot=True, channel_id=ELSEWHERE), g(read_bots=True), AUTO, Verdict.CHANNEL, None),
        (facts(webhook=True, author_voice_id=None), g(read_bots=True), ON, Verdict.ACCEPT, None),
        (facts(silent=True), GUILD, ON, Verdict.SILENT, None),
        (facts(content="!x"), g(ignore_prefix="!"), ON, Verdict.IGNORE_PREFIX, None),
        (facts(content="hello !x"), GUILD, ON, Verdict.ACCEPT, None),
        (facts(role_ids=frozenset({5})), g(deny_role_id=5), ON, Verdict.DENY_ROLE, None),
        (facts(role_ids=frozenset({5})), g(deny_role_id=5, required_role_id=5), ON, Verdict.DENY_ROLE, None),
        (facts(), g(required_role_id=6), ON, Verdict.MISSING_ROLE, None),
        (facts(bot_voice_id=None), GUILD, ON, Verdict.BOT_NOT_IN_VOICE, None),
        (facts(bot_voice_id=None), g(autojoin=True), ON, Verdict.ACCEPT, VOICE),
        (
            facts(bot_voice_id=None, author_voice_id=None),
            g(autojoin=True),
            ON,
            Verdict.BOT_NOT_IN_VOICE,
            None,
        ),
        (facts(bot_voice_id=None, channel_id=ELSEWHERE), g(autojoin=True), ON, Verdict.CHANNEL, None),
        (facts(bot_voice_id=None, channel_id=ELSEWHERE), g(autojoin=True), AUTO, Verdict.ACCEPT, VOICE),
        (facts(bot_voice_id=None, channel_id=VOICE), g(autojoin=True), ON, Verdict.ACCEPT, VOICE),
        (
            facts(bot_voice_id=None, author_is_bot=True),
            g(autojoin=True, read_bots=True),
            ON,
            Verdict.BOT_NOT_IN_VOICE,
            None,
        ),
        (facts(channel_id=VOICE), GuildReadAloud(), ON, Verdict.ACCEPT, None),
        (facts(channel_id=VOICE), GuildReadAloud(text_in_voice=False), ON, Verdict.CHANNEL, None),
        (
            facts(channel_id=OTHER_VOICE, author_voice_id=OTHER_VOICE),
            GuildReadAloud(),
            ON,
            Verdict.CHANNEL,
            None,
        ),
        (facts(author_voice_id=OTHER_VOICE), GUILD, ON, Verdict.AUTHOR_NOT_IN_VOICE, None),
        (facts(author_voice_id=None), g(require_voice=False), ON, Verdict.ACCEPT, None),
        (facts(channel_id=ELSEWHERE), GUILD, AUTO, Verdict.ACCEPT, None),
        (
            facts(channel_id=ELSEWHERE, author_voice_id=None),
            g(require_voice=False),
            AUTO,
            Verdict.CHANNEL,
            None,
        ),
        (facts(author_voice_id=None), GUILD, AUTO, Verdict.AUTHOR_NOT_IN_VOICE, None),
    ],
)
def test_decide(
    message: MessageFacts, guild: GuildReadAloud, member: MemberReadAloud, verdict: Verdict, join: int | None
) -> None:
    decision = decide(message, guild, member)
    assert (decision.verdict, decision.join_channel_id) == (verdict, join)
    assert decision.accepted == (verdict is Verdict.ACCEPT)


# ----------------------------------------------------------------------------- order
async def test_ordered_line_keeps_arrival_order_whatever_the_preparation_time() -> None:
    line = OrderedLine()
    done: list[int] = []

    async def handle(n: int, prepare: float, reject: bool = False) -> None:
        ticket = line.ticket("guild")
        try:
            await asyncio.sleep(prepare)
            if reject:
                return
            await ticket.wait()
            done.append(n)
        finally:
            ticket.done()

    await asyncio.gather(handle(1, 0.03), handle(2, 0.0, reject=True), handle(3, 0.0), handle(4, 0.01))
    assert done == [1, 3, 4]
    assert len(line) == 0


async def test_a_cancelled_handler_does_not_block_or_break_the_line() -> None:
    line = OrderedLine()
    first = line.ticket(1)
    second = line.ticket(1)
    third = line.ticket(1)
    other = line.ticket(2)
    await asyncio.wait_for(other.wait(), 1)  # another server does not wait
    waiter = asyncio.create_task(second.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    second.done()
    first.done()
    await asyncio.wait_for(third.wait(), 1)
    third.done()
    other.done()
    await asyncio.sleep(0)  # done-callbacks run on the next loop turn
    assert len(line) == 0


# ----------------------------------------------------------------------------- limits
def test_sliding_window_limiter() -> None:
    clock = ManualClock(0.0)
    limiter = SlidingWindowLimiter(5, 10.0, clock=clock)
    results = []
    for _ in range(7):
        results.append(limiter.allow("alice"))
        clock.advance(1)
    assert results == [True] * 5 + [False] * 2
    assert limiter.allow("bob")
    clock.advance(3)  # t=10: the first event (t=0) has left the window
    assert limiter.allow("alice")
    assert not limiter.allow("alice")


def test_rate_notice_once_per_member_per_window() -> None:
    clock = ManualClock(0.0)
    core = ReadAloudCore(clock=clock)
    results = [core.allow_rate(1, 7) for _ in range(8)]
    assert results == [(True, False)] * 5 + [(False, True)] + [(False, False)] * 2
    assert core.allow_rate(1, 8) == (True, False)
    assert core.allow_rate(2, 7) == (True, False)  # another server
    clock.advance(10)
    assert core.allow_rate(1, 7) == (True, False)


def test_error_notices_once_per_code_per_server_per_five_minutes() -> None:
    clock = ManualClock(0.0)
    core = ReadAloudCore(clock=clock)
    throttled = error_for(429, "Throttling", "busy", "req-1")
    again = error_for(429, "Throttling", "busy", "req-2")
    server = error_for(500, "InternalError", "oops", "req-3")
    first = core.error_notice(1, throttled)
    assert first is not None and "code Throttling" in first and "request id req-1" in first
    assert core.error_notice(1, again) is None
    assert core.error_notice(2, again) is not None  # another server
    assert core.error_notice(1, server) is not None  # another code
    assert core.error_notice(1, ParlaError()) is not None
    assert core.error_notice(1, ParlaError()) is None
    clock.advance(299.9)
    assert core.error_notice(1, again) is None
    clock.advance(0.1)
    assert core.error_notice(1, again) is not None


def test_queue_and_join_notices_have_windows() -> None:
    clock = ManualClock(0.0)
    core = ReadAloudCore(clock=clock)
    assert core.queue_full_notice(1, 50) is not None
    assert core.queue_full_notice(1, 50) is None
    clock.advance(60)
    assert core.queue_full_notice(1, 50) is not None
    error = InputError("I need the Connect and Speak permissions in #General.")
    assert core.join_notice(1, error) is not None and core.join_notice(1, error) is None


# ----------------------------------------------------------------------------- text
def test_compose_records_nothing_until_remembered() -> None:
    clock = ManualClock(0.0)
    core = ReadAloudCore(clock=clock)
    info = MessageInfo("hi", author_name="Alice")
    assert core.compose(1, TEXT, 7, info, GUILD, "Auto", None) == "Alice said, hi"
    assert core.compose(1, TEXT, 7, info, GUILD, "Auto", None) == "Alice said, hi"
    core.remember(1, TEXT, 7)
    assert core.compose(1, TEXT, 7, info, GUILD, "Auto", None) == "hi"
    core.forget_speaker(1)
    assert core.compose(1, TEXT, 7, info, GUILD, "Auto", None) == "Alice said, hi"
    assert core.compose(1, TEXT, 7, MessageInfo("**"), GUILD, "Auto", None) == ""
    assert core.compose(1, TEXT, 7, info, g(xsaid=False), "Auto", None) == "hi"


def test_compose_emoji_mode_and_length() -> None:
    core = ReadAloudCore()
    info = MessageInfo("nice 👍 " + " ".join(f"word{i}" for i in range(100)))
    skipped = core.compose(
        1, TEXT, 7, info, g(xsaid=False, emoji_mode="none", max_length=30), "English", None
    )
    assert "thumbs" not in skipped and skipped.endswith(", and so on") and len(skipped) <= 30
    named = core.compose(1, TEXT, 7, MessageInfo("nice 👍"), g(xsaid=False), "English", None)
    assert named == "nice thumbs up"


def test_dictionary_cache_recompiles_only_on_change() -> None:
    cache = DictionaryCache()
    entries = {"gg": "good game"}
    first = cache.get(1, entries)
    assert first is not None and first.apply("gg") == "good game"
    assert cache.get(1, entries) is first
    assert cache.get(1, dict(entries)) is first  # equal content
    changed = cache.get(1, {"gg": "well played"})
    assert changed is not first and changed is not None and changed.apply("gg") == "well played"
    assert cache.get(1, {}) is None


# ----------------------------------------------------------------------------- tags
def test_deleted_and_edited_predicates() -> None:
    tag = ReadAloudTag(5, TEXT, "hello")
    assert deleted_predicate(frozenset({5}))(tag)
    assert deleted_predicate(frozenset({5}))(5)  # the "Read aloud" context menu's tag
    assert not deleted_predicate(frozenset({6}))(tag)
    assert not deleted_predicate(frozenset({1}))(True)
    assert not deleted_predicate(frozenset({5}))(None)
    assert edited_predicate(5, "hello!")(tag)
    assert not edited_predicate(5, "hello")(tag)  # an embed was added: same content
    assert edited_predicate(5, None)(tag)
    assert not edited_predicate(6, "x")(tag)
    assert not edited_predicate(5, "x")(5)  # only read-aloud messages are dropped on edit


# ----------------------------------------------------------------------------- settings
def test_parse_setting() -> None:
    roles = {"mods": 11, "11": 11}

    def find(text: str) -> int | None:
        return roles.get(text.lower())

    def parse(name: str, value: str) -> object:
        return parse_setting(SETTINGS_BY_NAME[name], value, find)

    assert parse("xsaid", " On ") is True and parse("xsaid", "disable") is False
    assert parse("deny_role", "Mods") == 11 and parse("deny_role", "none") is None
    assert parse("ignore_prefix", ">>") == ">>" and parse("ignore_prefix", "off") == ""
    assert parse("emoji", "skip") == "none" and parse("emoji", "name") == "name"
    assert parse("max_length", "1,000") == 1000
    for name, value in [("xsaid", "?"), ("deny_role", "x"), ("max_length", "19"), ("max_length", "2001")]:
        with pytest.raises(InputError):
            parse(name, value)
