"""Read-aloud listener: which messages are read, in what order, with what text; edits and
deletions; rate limits; error notices. Through the real bot, storage, player (against the fake
endpoint) and voice service, with stand-in messages, members and channels, on a fake clock.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest

from bot.readaloud.rules import Verdict
from bot.readaloud.tags import ReadAloudTag
from bot.store.models import ReadMode
from tests.standins.audio_checks import decode, dominant_hz
from tests.standins.discord_objects import MockMember, MockVoiceChannel, run_command
from tests.standins.fake_api import FakeEndpoint
from tests.standins.readaloud_rig import (
    MockRole,
    MockUser,
    ReadRig,
    attachment,
    chat_message,
    open_readaloud_rig,
    raw_bulk_delete,
    raw_delete,
    raw_edit,
)
from tests.standins.settings import make_settings

REQUEST_ID = re.compile(r"request id [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
async def rr(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[ReadRig]:
    settings = make_settings(fake_endpoint, tmp_path, engine="api", retry_attempts=1, first_byte_timeout=2.0)
    async with open_readaloud_rig(settings, session) as r:
        yield r


async def until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Wait (in tiny steps) until `condition()` holds."""
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 - no event to wait for: poll each loop turn
            await asyncio.sleep(0.005)


def sent_notices(channel: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(call.args[0], call.kwargs) for call in channel.send.await_args_list]


# ----------------------------------------------------------------------------- filter rules
@dataclass
class Case:
    """One message and what must happen to it. `build` makes the message (and may change the
    voice states); `settings` are the server's read-aloud changes; `mode` the author's."""

    build: Callable[[ReadRig], Any]
    expected: Verdict
    settings: dict[str, Any] = field(default_factory=dict)
    mode: ReadMode | None = None
    bot_in_voice: bool = True
    bound: bool = True


def in_bound(content: str = "hello there", **kw: Any) -> Callable[[ReadRig], Any]:
    def build(r: ReadRig) -> Any:
        return chat_message(r.text, r.member("alice"), content, **kw)

    return build


def elsewhere_text(r: ReadRig) -> Any:
    from tests.standins.discord_objects import MockTextChannel

    return chat_message(MockTextChannel(r.guild, name="random"), r.member("alice"), "hello there")


def in_voice_chat(r: ReadRig) -> Any:
    return chat_message(r.voice, r.member("alice"), "hello there")


def in_other_voice_chat(r: ReadRig) -> Any:
    other = MockVoiceChannel(r.guild, name="Other")
    author = r.member("alice", in_voice=False)
    author.join_voice(other)
    return chat_message(other, author, "hello there")


def not_in_voice(r: ReadRig) -> Any:
    return chat_message(r.text, r.member("alice", in_voice=False), "hello there")


def in_other_voice(r: ReadRig) -> Any:
    author = r.member("alice", in_voice=False)
    author.join_voice(MockVoiceChannel(r.guild, name="Other"))
    return chat_message(r.text, author, "hello there")


def from_bot(r: ReadRig) -> Any:
    return chat_message(r.text, r.member("robo", in_voice=False, bot=True), "build passed")


def from_webhook(r: ReadRig) -> Any:
    return chat_message(r.text, MockUser(name="github"), "build passed", webhook=True)


def with_role(role_id: int) -> Callable[[ReadRig], Any]:
    def build(r: ReadRig) -> Any:
        role = MockRole(id=role_id, name="r")
        return chat_message(r.text, r.member("alice", roles=[role]), "hello there")

    return build


def system_message(r: ReadRig) -> Any:
    return chat_message(r.text, r.member("alice"), "", system=True)


def author_elsewhere_auto(r: ReadRig) -> Any:
    from tests.standins.discord_objects import MockTextChannel

    return chat_message(MockTextChannel(r.guild, name="random"), r.member("alice", in_voice=False), "hi")


DENY, REQUIRED = 777_000_000_000_000_001, 777_000_000_000_000_002
READ = Verdict.READ

CASES: dict[str, Case] = {
    "bound channel, author with the bot": Case(in_bound(), READ),
    "another text channel": Case(elsewhere_text, Verdict.CHANNEL),
    "bound channel list empty": Case(in_bound(), Verdict.CHANNEL, bound=False),
    "chat of the bot's voice channel": Case(in_voice_chat, READ, bound=False),
    "voice chat with text_in_voice off": Case(
        in_voice_chat, Verdict.CHANNEL, settings={"text_in_voice": False}, bound=False
    ),
    "chat of another voice channel": Case(in_other_voice_chat, Verdict.CHANNEL, bound=False),
    "bot not in voice": Case(in_bound(), Verdict.BOT_NOT_IN_VOICE, bot_in_voice=False),
    "require_voice, author not in voice": Case(not_in_voice, Verdict.AUTHOR_NOT_IN_VOICE),
    "require_voice, author in another channel": Case(in_other_voice, Verdict.AUTHOR_NOT_IN_VOICE),
    "require_voice off, author not in voice": Case(not_in_voice, READ, settings={"require_voice": False}),
    "require_voice off still needs the bot in voice": Case(
        not_in_voice, Verdict.BOT_NOT_IN_VOICE, settings={"require_voice": False}, bot_in_voice=False
    ),
    "a bot": Case(from_bot, Verdict.BOT),
    "a bot with read_bots": Case(from_bot, READ, settings={"read_bots": True}),
    "a webhook": Case(from_webhook, Verdict.BOT),
    "a webhook with read_bots": Case(from_webhook, READ, settings={"read_bots": True}),
    "a webhook with read_bots ignores the required role": Case(
        from_webhook, READ, settings={"read_bots": True, "required_role_id": REQUIRED}
    ),
    "@silent with skip_silent": Case(in_bound(silent=True), Verdict.SILENT),
    "@silent with skip_silent off": Case(in_bound(silent=True), READ, settings={"skip_silent": False}),
    "deny role": Case(with_role(DENY), Verdict.DENY_ROLE, settings={"deny_role_id": DENY}),
    "other role than the deny role": Case(with_role(REQUIRED), READ, settings={"deny_role_id": DENY}),
    "required role missing": Case(in_bound(), Verdict.MISSING_ROLE, settings={"required_role_id": REQUIRED}),
    "required role present": Case(with_role(REQUIRED), READ, settings={"required_role_id": REQUIRED}),
    "ignore prefix !": Case(in_bound("!play some song"), Verdict.IGNORE_PREFIX),
    "ignore prefix after spaces": Case(in_bound("   !skip"), Verdict.IGNORE_PREFIX),
    "custom ignore prefix": Case(in_bound("?help"), Verdict.IGNORE_PREFIX, settings={"ignore_prefix": "?"}),
    "custom prefix reads !": Case(in_bound("!wow"), READ, settings={"ignore_prefix": "?"}),
    "ignore prefix off": Case(in_bound("!wow"), READ, settings={"ignore_prefix": ""}),
    "member opted out": Case(in_bound(), Verdict.OPTED_OUT, mode="off"),
    "auto: any channel while with the bot": Case(elsewhere_text, READ, mode="auto", bound=False),
    "auto: voice chat even with text_in_voice off": Case(
        in_voice_chat, READ, mode="auto", settings={"text_in_voice": False}, bound=False
    ),
    "auto: not in voice, unbound channel": Case(
        author_elsewhere_auto, Verdict.CHANNEL, mode="auto", settings={"require_voice": False}
    ),
    "auto: bound channel rules still apply": Case(in_bound(), READ, mode="auto"),
    "auto: deny role still applies": Case(
        with_role(DENY), Verdict.DENY_ROLE, mode="auto", settings={"deny_role_id": DENY}
    ),
    "on: another channel is not read": Case(elsewhere_text, Verdict.CHANNEL, mode="on"),
    "system message": Case(system_message, Verdict.SYSTEM),
    "nothing to read": Case(in_bound("** __ ~~"), Verdict.EMPTY),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_filter_rules(rr: ReadRig, name: str) -> None:
    case = CASES[name]
    if case.bound:
        await rr.bind()
    if case.settings:
        await rr.configure(**case.settings)
    if case.bot_in_voice:
        await rr.bring_bot()
    message = case.build(rr)
    if case.mode is not None:
        await rr.bot.storage.set_read_mode(rr.guild.id, message.author.id, case.mode)
    outcome = await rr.cog.handle_message(message)
    assert outcome.verdict is case.expected, outcome
    if case.expected is READ:
        assert outcome.utterance is not None
        assert rr.pending() == [outcome.utterance]
        assert outcome.utterance.tag == ReadAloudTag(message.id, message.channel.id, message.content)
        assert outcome.utterance.requester_id == message.author.id
    else:
        assert rr.pending() == []
    if not case.bot_in_voice:
        assert rr.guild.voice_client is None  # autojoin is off by default


async def test_the_bots_own_messages_are_never_read(rr: ReadRig, monkeypatch: pytest.MonkeyPatch) -> None:
    await rr.bind()
    await rr.configure(read_bots=True)
    await rr.bring_bot()
    me = MockMember(name="parla", bot=True, guild=rr.guild)
    monkeypatch.setattr(rr.bot._connection, "user", me)
    outcome = await rr.cog.handle_message(chat_message(rr.text, me, "I'm full, wait"))
    assert outcome.verdict is Verdict.SELF and rr.pending() == []


async def test_direct_messages_are_ignored(rr: ReadRig) -> None:
    message = chat_message(rr.text, rr.member("alice"), "hello")
    message.guild = None
    outcome = await rr.cog.handle_message(message)
    assert outcome.verdict is not Verdict.READ and rr.pending() == []


async def test_on_message_listener_reads(rr: ReadRig) -> None:
    await rr.bind()
    await rr.bring_bot()
    await rr.cog.on_message(chat_message(rr.text, rr.member("alice"), "through the listener"))
    assert rr.texts() == ["Alice said, through the listener"]


# ----------------------------------------------------------------------------- autojoin
async def test_autojoin_brings_the_bot_into_the_authors_channel(rr: ReadRig) -> None:
    await rr.bind()
    await rr.configure(autojoin=True)
    alice = rr.member("alice")
    outcome = await rr.cog.handle_message(chat_message(rr.text, alice, "anyone here?"))
    assert outcome.verdict is READ
    assert rr.bot.voice.connected_channel(rr.guild) is rr.voice
    assert rr.texts() == ["Alice said, anyone here?"]


async def test_autojoin_needs_the_author_in_voice(rr: ReadRig) -> None:
    await rr.bind()
    await rr.configure(autojoin=True, require_voice=False)
    outcome = await rr.cog.handle_message(chat_message(rr.text, rr.member("alice", in_voice=False), "hi"))
    assert outcome.verdict is Verdict.BOT_NOT_IN_VOICE
    assert rr.guild.voice_client is None


async def test_autojoin_never_moves_the_bot(rr: ReadRig) -> None:
    await rr.bind()
    await rr.configure(autojoin=True)
    await rr.bring_bot()
    outcome = await rr.cog.handle_message(in_other_voice(rr))
    assert outcome.verdict is Verdict.AUTHOR_NOT_IN_VOICE
    assert rr.bot.voice.connected_channel(rr.guild) is rr.voice


async def test_autojoin_voice_chat_of_the_authors_channel(rr: ReadRig) -> None:
    await rr.configure(autojoin=True)
    outcome = await rr.cog.handle_message(chat_message(rr.voice, rr.member("alice"), "in the chat"))
    assert outcome.verdict is READ and rr.bot.voice.connected_channel(rr.guild) is rr.voice


async def test_autojoin_failure_is_noticed_once(rr: ReadRig) -> None:
    from tests.standins.discord_objects import permissions

    await rr.bind()
    await rr.configure(autojoin=True)
    locked = MockVoiceChannel(rr.guild, name="Locked", bot_permissions=permissions(view_channel=True))
    verdicts = []
    for text in ("one", "two"):
        author = rr.member("alice", in_voice=False)
        author.join_voice(locked)
        verdicts.append((await rr.cog.handle_message(chat_message(rr.text, author, text))).verdict)
    assert verdicts == [Verdict.JOIN_FAILED, Verdict.JOIN_FAILED]
    notices = sent_notices(rr.text)
    assert len(notices) == 1 and "Connect and Speak" in notices[0][0]


# ----------------------------------------------------------------------------- order
async def test_order_is_kept_across_members_even_when_lookups_are_slow(
    rr: ReadRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rr.bind()
    await rr.bring_bot()
    alice, bob, carol = rr.member("alice"), rr.member("bob"), rr.member("carol")
    storage = rr.bot.storage
    await storage.set_user_pref(bob.id, None, "voice", "Ethan")
    real = storage.resolve_voice_settings
    slow = {alice.id: 0.05, carol.id: 0.02}

    async def resolve(user_id: int, guild_id: int | None) -> Any:
        delay = slow.pop(user_id, 0.0)  # the first lookup of Alice and Carol misses a cache
        if delay:
            await asyncio.sleep(delay)
        return await real(user_id, guild_id)

    monkeypatch.setattr(storage, "resolve_voice_settings", resolve)
    typed = [(alice, "first"), (bob, "second"), (carol, "third"), (alice, "fourth"), (bob, "fifth")]
    outcomes = await asyncio.gather(
        *(rr.cog.handle_message(chat_message(rr.text, who, text)) for who, text in typed)
    )
    assert [o.verdict for o in outcomes] == [READ] * 5
    assert [(u.requester_name, u.voice) for u in rr.pending()] == [
        ("Alice", "Cherry"),
        ("Bob", "Ethan"),
        ("Carol", "Cherry"),
        ("Alice", "Cherry"),
        ("Bob", "Ethan"),
    ]
    assert rr.texts() == [
        "Alice said, first",
        "Bob said, second",
        "Carol said, third",
        "Alice said, fourth",
        "Bob said, fifth",
    ]


async def test_a_rejected_message_does_not_let_later_ones_overtake(
    rr: ReadRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rr.bind()
    await rr.bring_bot()
    alice, bob = rr.member("alice"), rr.member("bob")
    storage = rr.bot.storage
    real = storage.resolve_voice_settings
    first = True

    async def resolve(user_id: int, guild_id: int | None) -> Any:
        nonlocal first
        if first:
            first = False
            await asyncio.sleep(0.03)
        return await real(user_id, guild_id)

    monkeypatch.setattr(storage, "resolve_voice_settings", resolve)
    outcomes = await asyncio.gather(
        rr.cog.handle_message(chat_message(rr.text, alice, "slow one")),
        rr.cog.handle_message(chat_message(rr.text, bob, "!ignored")),
        rr.cog.handle_message(chat_message(rr.text, bob, "quick one")),
    )
    assert [o.verdict for o in outcomes] == [READ, Verdict.IGNORE_PREFIX, READ]
    assert rr.texts() == ["Alice said, slow one", "Bob said, quick one"]
    assert len(rr.cog.core.line) == 0  # no ticket left behind


# ----------------------------------------------------------------------------- text
async def test_xsaid_is_omitted_for_the_same_member_within_30_seconds(rr: ReadRig) -> None:
    await rr.bind()
    await rr.bring_bot()
    alice, bob = rr.member("alice"), rr.member("bob")
    said: list[str] = []

    async def say(who: MockMember, text: str, channel: Any = None) -> None:
        outcome = await rr.cog.handle_message(chat_message(channel or rr.text, who, text))
        assert outcome.utterance is not None
        said.append(outcome.utterance.text)

    await say(alice, "one")
    rr.clock.advance(10)
    await say(alice, "two")
    rr.clock.advance(29)
    await say(alice, "three")  # 29 s after the previous one
    rr.clock.advance(31)
    await say(alice, "four")  # 31 s later: named again
    await say(bob, "five")
    await say(alice, "six")  # somebody spoke in between
    await say(alice, "seven", rr.voice)  # another channel (the voice chat)
    assert said == [
        "Alice said, one",
        "two",
        "three",
        "Alice said, four",
        "Bob said, five",
        "Alice said, six",
        "Alice said, seven",
    ]


async def test_an_unread_message_does_not_count_for_xsaid(rr: ReadRig) -> None:
    await rr.bind()
    await rr.bring_bot()
    alice, bob = rr.member("alice"), rr.member("bob")
    await rr.cog.handle_message(chat_message(rr.text, alice, "hello"))
    assert (await rr.cog.handle_message(chat_message(rr.text, bob, "**"))).verdict is Verdict.EMPTY
    await rr.cog.handle_message(chat_message(rr.text, bob, "hi"))
    assert rr.texts() == ["Alice said, hello", "Bob said, hi"]


async def test_xsaid_off(rr: ReadRig) -> None:
    await rr.bind()
    await rr.configure(xsaid=False)
    await rr.bring_bot()
    await rr.cog.handle_message(chat_message(rr.text, rr.member("alice"), "no names please"))
    assert rr.texts() == ["no names please"]


async def test_spoken_nicknames_win_for_author_mentions_and_replies(rr: ReadRig) -> None:
    await rr.bind()
    await rr.bring_bot()
    alice, bob = rr.member("alice"), rr.member("bob", display_name="B0b_xX")
    await rr.bot.storage.set_nickname(rr.guild.id, alice.id, "Ally")
    await rr.bot.storage.set_nickname(rr.guild.id, bob.id, "Bob")
    original = chat_message(rr.text, bob, "lunch?")
    reply = chat_message(rr.text, alice, f"sure <@{bob.id}>", mentions=[bob], reply_to=original)
    await rr.cog.handle_message(reply)
    assert rr.texts() == ["replying to Bob, Ally said, sure Bob"]


async def test_roles_channels_attachments_and_stickers_are_described(rr: ReadRig) -> None:
    await rr.bind()
    await rr.bring_bot()
    role = MockRole(name="Mods")
    sticker = type("Sticker", (), {"name": "Wave"})()
    message = chat_message(
        rr.text,
        rr.member("alice"),
        f"ping <@&{role.id}> in <#{rr.text.id}> <:pepe_hi:123456789012345678>",
        role_mentions=[role],
        channel_mentions=[rr.text],
        attachments=[attachment("cat.png", "image/png")],
        stickers=[sticker],
    )
    await rr.cog.handle_message(message)
    assert rr.texts() == ["Alice said, ping Mods in chat pepe hi, with an image and the sticker Wave"]


async def test_dictionary_and_length_limit(rr: ReadRig) -> None:
    await rr.bind()
    await rr.configure(max_length=40, xsaid=False)
    await rr.bring_bot()
    await rr.bot.storage.add_dictionary_entry(rr.guild.id, "gg", "good game")
    await rr.cog.handle_message(chat_message(rr.text, rr.member("alice"), "gg everyone"))
    long = "this is a rather long message that keeps going and going well past the limit"
    await rr.cog.handle_message(chat_message(rr.text, rr.member("bob"), long))
    texts = rr.texts()
    assert texts[0] == "good game everyone"
    assert texts[1].endswith(", and so on") and len(texts[1]) <= 40
    assert long.startswith(texts[1].removesuffix(", and so on"))
    # A change of the dictionary applies to the next message.
    await rr.bot.storage.add_dictionary_entry(rr.guild.id, "gg", "well played")
    await rr.cog.handle_message(chat_message(rr.text, rr.member("carol"), "gg"))
    assert rr.texts()[2] == "well played"


async def test_member_language_and_style_reach_the_request(rr: ReadRig, fake_endpoint: FakeEndpoint) -> None:
    await rr.bind()
    await rr.bring_bot()
    alice = rr.member("alice")
    storage = rr.bot.storage
    await storage.set_user_pref(alice.id, None, "language", "German")
    await storage.set_user_pref(alice.id, rr.guild.id, "instructions", "Whisper softly")
    outcome = await rr.cog.handle_message(chat_message(rr.text, alice, "Guten Morgen zusammen"))
    assert outcome.utterance is not None
    request = outcome.utterance.request
    assert (request.language, request.instructions) == ("German", "Whisper softly")
    assert request.text == "Alice sagt: Guten Morgen zusammen"  # the phrase in the message language
    await until(lambda: any(r.text == request.text for r in fake_endpoint.requests))
    body = next(r.body for r in fake_endpoint.requests if r.text == request.text)
    assert body["language_type"] == "German" and body["instructions"] == "Whisper softly"


# ----------------------------------------------------------------------------- edits, deletions
async def test_deleting_a_message_before_it_is_spoken_removes_it_and_closes_its_stream(
    rr: ReadRig, fake_endpoint: FakeEndpoint
) -> None:
    await rr.bind()
    await rr.bring_bot()
    fake_endpoint.first_chunk_delay = 1.0  # the first message's synthesis is in flight
    alice = rr.member("alice")
    doomed = chat_message(rr.text, alice, "I regret this message")
    await rr.cog.handle_message(doomed)
    await until(lambda: fake_endpoint.active == 1)
    fake_endpoint.first_chunk_delay = 0.0
    kept = chat_message(rr.text, rr.member("bob"), "but this one stays")
    await rr.cog.handle_message(kept)
    await rr.cog.on_raw_message_delete(raw_delete(doomed))
    assert rr.texts() == ["Bob said, but this one stays"]
    await until(lambda: fake_endpoint.disconnects == 1)  # the endpoint stream was closed
    packets = await rr.rig.vc.drain()
    hz = dominant_hz(decode(packets))
    assert abs(hz - FakeEndpoint.tone_hz("Bob said, but this one stays", "Cherry")) < 15
    assert len(rr.rig.vc.played) == 1  # the deleted message was never played


async def test_deleting_the_message_being_spoken_stops_it(rr: ReadRig) -> None:
    await rr.bind()
    await rr.bring_bot()
    first = chat_message(rr.text, rr.member("alice"), "now playing")
    second = chat_message(rr.text, rr.member("bob"), "up next")
    await rr.cog.handle_message(first)
    await rr.cog.handle_message(second)
    vc = rr.rig.vc
    playing = await vc.wait_playing()
    await rr.cog.on_raw_message_delete(raw_delete(first))
    assert vc.source is not playing  # stopped at once
    assert rr.texts() == ["Bob said, up next"]


async def test_bulk_delete_removes_every_message(rr: ReadRig) -> None:
    await rr.bind()
    await rr.bring_bot()
    alice = rr.member("alice")
    messages = [chat_message(rr.text, alice, f"spam {i}") for i in range(4)]
    for m in messages:
        await rr.cog.handle_message(m)
    await rr.cog.on_raw_bulk_message_delete(raw_bulk_delete(*messages[1:3]))
    assert rr.texts() == ["Alice said, spam 0", "spam 3"]


async def test_deleting_a_message_that_was_not_read_changes_nothing(rr: ReadRig) -> None:
    await rr.bind()
    await rr.bring_bot()
    await rr.cog.handle_message(chat_message(rr.text, rr.member("alice"), "stays"))
    await rr.cog.on_raw_message_delete(raw_delete(chat_message(rr.text, rr.member("bob"), "other")))
    assert rr.texts() == ["Alice said, stays"]


async def test_an_edited_message_is_dropped_before_it_is_spoken(rr: ReadRig) -> None:
    await rr.bind()
    await rr.bring_bot()
    alice, bob = rr.member("alice"), rr.member("bob")
    first = chat_message(rr.text, alice, "first")
    typo = chat_message(rr.text, bob, "teh typo")
    await rr.cog.handle_message(first)
    await rr.cog.handle_message(typo)
    await rr.cog.on_raw_message_edit(raw_edit(typo, "the typo"))
    assert rr.texts() == ["Alice said, first"]
    # The next message of Bob names him again (what was dropped was never heard).
    await rr.cog.handle_message(chat_message(rr.text, bob, "fixed"))
    assert rr.texts() == ["Alice said, first", "Bob said, fixed"]


async def test_an_edit_that_keeps_the_content_keeps_the_message(rr: ReadRig) -> None:
    await rr.bind()
    await rr.bring_bot()
    await rr.cog.handle_message(chat_message(rr.text, rr.member("alice"), "first"))
    link = chat_message(rr.text, rr.member("bob"), "see https://example.com/page")
    await rr.cog.handle_message(link)
    await rr.cog.on_raw_message_edit(raw_edit(link, link.content))  # Discord added the embed
    assert rr.texts() == ["Alice said, first", "Bob said, see a link to example.com"]


async def test_an_edit_of_the_message_being_spoken_lets_it_finish(rr: ReadRig) -> None:
    await rr.bind()
    await rr.bring_bot()
    first = chat_message(rr.text, rr.member("alice"), "already speaking")
    await rr.cog.handle_message(first)
    playing = await rr.rig.vc.wait_playing()
    await rr.cog.on_raw_message_edit(raw_edit(first, "already speaking!"))
    assert rr.rig.vc.source is playing and rr.texts() == ["Alice said, already speaking"]


# ----------------------------------------------------------------------------- limits
async def test_sixth_message_in_ten_seconds_is_dropped_with_one_notice(rr: ReadRig) -> None:
    await rr.bind()
    await rr.bring_bot()
    alice, bob = rr.member("alice"), rr.member("bob")
    verdicts = []
    for i in range(7):
        outcome = await rr.cog.handle_message(chat_message(rr.text, alice, f"message {i}"))
        verdicts.append(outcome.verdict)
        rr.clock.advance(1)
    assert verdicts == [READ] * 5 + [Verdict.RATE_LIMITED] * 2
    notices = sent_notices(rr.text)
    assert len(notices) == 1
    content, kwargs = notices[0]
    assert content.startswith(alice.mention) and "5 messages every 10 s" in content
    assert kwargs["delete_after"] > 0 and kwargs["allowed_mentions"].users == [alice]
    # Another member is not limited by Alice.
    assert (await rr.cog.handle_message(chat_message(rr.text, bob, "me too"))).verdict is READ
    # Ten seconds after her first message, Alice is read again.
    rr.clock.advance(3.5)
    assert (await rr.cog.handle_message(chat_message(rr.text, alice, "calm now"))).verdict is READ
    assert len(rr.texts()) == 7


async def test_a_full_queue_drops_with_one_notice_per_window(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    settings = make_settings(fake_endpoint, tmp_path, engine="api", queue_max=2)
    async with open_readaloud_rig(settings, session) as rr:
        await rr.bind()
        await rr.bring_bot()
        members = [rr.member(name) for name in ("alice", "bob", "carol", "dave")]
        verdicts = [
            (await rr.cog.handle_message(chat_message(rr.text, m, f"hello from {m.name}"))).verdict
            for m in members
        ]
        assert verdicts == [READ, READ, Verdict.QUEUE_FULL, Verdict.QUEUE_FULL]
        notices = sent_notices(rr.text)
        assert len(notices) == 1 and "queue is full (2 messages" in notices[0][0]
        rr.clock.advance(61)
        await rr.cog.handle_message(chat_message(rr.text, members[3], "again"))
        assert len(sent_notices(rr.text)) == 2


# ----------------------------------------------------------------------------- endpoint errors
async def test_endpoint_errors_are_reported_once_per_code_per_five_minutes(
    rr: ReadRig, fake_endpoint: FakeEndpoint
) -> None:
    await rr.bind()
    await rr.bring_bot()
    alice = rr.member("alice")
    player = rr.bot.voice.manager.get(rr.guild.id)
    assert player is not None

    async def fail(code: str, texts: list[str]) -> None:
        fake_endpoint.fault = f"error:{code}"
        start = player.failed
        for text in texts:
            assert (await rr.cog.handle_message(chat_message(rr.text, alice, text))).verdict is READ
        await until(lambda: player.failed == start + len(texts))
        await asyncio.sleep(0.01)  # let the error callbacks run

    await fail("InternalError", ["one", "two", "three"])
    notices = sent_notices(rr.text)
    assert len(notices) == 1
    content, kwargs = notices[0]
    assert "code InternalError" in content and REQUEST_ID.search(content)
    assert "delete_after" not in kwargs  # kept: the code and request id are for the owner
    await fail("Arrearage", ["four"])  # another code: reported
    assert len(sent_notices(rr.text)) == 2 and "code Arrearage" in sent_notices(rr.text)[1][0]
    rr.clock.advance(299)
    await fail("InternalError", ["five"])
    assert len(sent_notices(rr.text)) == 2
    rr.clock.advance(2)  # five minutes after the first report
    await fail("InternalError", ["six"])
    assert len(sent_notices(rr.text)) == 3


async def test_server_usage_shows_the_endpoint_error_a_read_aloud_message_met(
    rr: ReadRig, fake_endpoint: FakeEndpoint
) -> None:
    await rr.bind()
    await rr.bring_bot()
    player = rr.bot.voice.manager.get(rr.guild.id)
    assert player is not None
    assert rr.bot.last_endpoint_error(rr.guild.id) is None
    fake_endpoint.fault = "error:InvalidApiKey"  # engine=api: no backup voice
    message = chat_message(rr.text, rr.member("alice"), "read me please")
    assert (await rr.cog.handle_message(message)).verdict is READ
    await until(lambda: player.failed == 1 and rr.bot.last_endpoint_error(rr.guild.id) is not None)
    interaction = rr.rig.interaction(perms=discord.Permissions(manage_guild=True))
    await run_command(rr.bot, rr.rig.cog("ServerCog").server_usage, interaction)
    embed = interaction.log.last.embed
    assert embed is not None
    fields = {str(f.name): str(f.value) for f in embed.fields}
    value = fields["Last speech service error members met"]
    assert re.fullmatch(r"InvalidApiKey, " + REQUEST_ID.pattern + r" · <t:\d+:R>", value), value


# ----------------------------------------------------------------------------- end to end
async def test_end_to_end_three_messages_are_spoken_in_order_in_the_members_voice(
    rr: ReadRig, fake_endpoint: FakeEndpoint
) -> None:
    await rr.bind()
    await rr.bring_bot()
    alice = rr.member("alice")
    bob = MockMember(id=123, name="bob", guild=rr.guild)
    rr.guild.members.append(bob)
    await rr.bot.storage.set_user_pref(alice.id, None, "voice", "Serena")
    typed = ["<@123> look at https://x.com/a", "**so** cool", "see you ||tomorrow||"]
    for text in typed:
        mentions = [bob] if "<@123>" in text else []
        outcome = await rr.cog.handle_message(chat_message(rr.text, alice, text, mentions=mentions))
        assert outcome.verdict is READ
    expected = ["Alice said, Bob look at a link to x.com", "so cool", "see you spoiler"]
    assert rr.texts() == expected
    assert {u.voice for u in rr.pending()} == {"Serena"}
    vc = rr.rig.vc
    for text in expected:
        packets = await vc.drain()
        hz = dominant_hz(decode(packets))
        assert abs(hz - FakeEndpoint.tone_hz(text, "Serena")) < 15, text
    assert [r.text for r in fake_endpoint.requests] == expected
    assert all(r.voice == "Serena" for r in fake_endpoint.requests)
    assert not any("tomorrow" in r.text for r in fake_endpoint.requests)


# ----------------------------------------------------------------------------- while preparing
async def hold_lookups(rr: ReadRig, monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Make the next voice-settings lookup wait: (entered, release)."""
    storage = rr.bot.storage
    real = storage.resolve_voice_settings
    entered, release = asyncio.Event(), asyncio.Event()

    async def resolve(user_id: int, guild_id: int | None) -> Any:
        entered.set()
        await release.wait()
        return await real(user_id, guild_id)

    monkeypatch.setattr(storage, "resolve_voice_settings", resolve)
    return entered, release


@pytest.mark.parametrize("change", ["delete", "bulk delete", "edit"])
async def test_a_message_deleted_or_edited_while_being_prepared_is_not_read(
    rr: ReadRig, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    await rr.bind()
    await rr.bring_bot()
    entered, release = await hold_lookups(rr, monkeypatch)
    message = chat_message(rr.text, rr.member("alice"), "oops, wrong channel")
    task = asyncio.create_task(rr.cog.handle_message(message))
    await entered.wait()
    if change == "delete":
        await rr.cog.on_raw_message_delete(raw_delete(message))
    elif change == "bulk delete":
        await rr.cog.on_raw_bulk_message_delete(raw_bulk_delete(message))
    else:
        await rr.cog.on_raw_message_edit(raw_edit(message, "oops"))
    release.set()
    outcome = await task
    assert outcome.verdict is Verdict.GONE and rr.pending() == []
    assert len(rr.cog.core.inflight) == 0


async def test_an_embed_added_while_being_prepared_keeps_the_message(
    rr: ReadRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rr.bind()
    await rr.bring_bot()
    entered, release = await hold_lookups(rr, monkeypatch)
    message = chat_message(rr.text, rr.member("alice"), "look https://example.com")
    task = asyncio.create_task(rr.cog.handle_message(message))
    await entered.wait()
    await rr.cog.on_raw_message_edit(raw_edit(message, message.content))
    release.set()
    assert (await task).verdict is READ


async def test_usage_limits_drop_quietly_with_one_notice(
    fake_endpoint: FakeEndpoint, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    settings = make_settings(fake_endpoint, tmp_path, engine="api", member_requests_per_minute=2)
    async with open_readaloud_rig(settings, session) as rr:
        await rr.bind()
        await rr.bring_bot()
        alice = rr.member("alice")
        verdicts = [
            (await rr.cog.handle_message(chat_message(rr.text, alice, f"line {i}"))).verdict for i in range(4)
        ]
        assert verdicts == [READ, READ, Verdict.LIMIT, Verdict.LIMIT]
        notices = sent_notices(rr.text)
        assert len(notices) == 1 and "2 requests per minute" in notices[0][0]
        assert notices[0][0].startswith(f"{alice.mention} I skipped your message")
        assert notices[0][1]["allowed_mentions"].users == [alice]
        assert rr.texts() == ["Alice said, line 0", "line 1"]
