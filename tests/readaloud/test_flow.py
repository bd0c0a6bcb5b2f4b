"""`ReadAloudCore.handle` without Discord: the read-aloud flow (order of arrival, the second
look at the voice states, the queue-full check before the usage limits, autojoin, a message
deleted while being prepared, the error notices) against stand-in ports."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.base.errors import ParlaError
from bot.readaloud.flow import IncomingMessage, Outcome, ReadAloudCore, ReadAloudPorts
from bot.readaloud.rules import MessageFacts, Verdict
from bot.readaloud.tags import ReadAloudTag
from bot.speech.errors import TTSError, error_for
from bot.speech.request import SpeechRequest
from bot.store.limits import LimitExceeded
from bot.store.models import GuildReadAloud, MemberReadAloud, VoiceSettings
from bot.text.clean import MessageInfo
from bot.voice.errors import NoAudioError, PlayerClosedError, QueueFullError
from bot.voice.utterance import Utterance
from tests.standins.clock import ManualClock

GUILD_ID, TEXT, VOICE = 1, 10, 20
_ids = itertools.count(1000)


class FakeStore:
    """The storage reads of the flow; `gates[author_id]` holds that author's voice-settings
    lookup until set (`entered[author_id]` is set when it starts waiting)."""

    def __init__(self) -> None:
        self.guild = GuildReadAloud(channel_ids=frozenset({TEXT}))
        self.members: dict[int, MemberReadAloud] = {}
        self.nicknames: dict[int, str] = {}
        self.voice = VoiceSettings(voice="Serena")
        self.calls: list[str] = []
        self.gates: dict[int, asyncio.Event] = {}
        self.entered: dict[int, asyncio.Event] = {}
        self.broken = False

    def hold(self, author_id: int) -> None:
        self.gates[author_id] = asyncio.Event()
        self.entered[author_id] = asyncio.Event()

    async def get_read_aloud(self, guild_id: int) -> GuildReadAloud:
        self.calls.append("get_read_aloud")
        return self.guild

    async def get_member(self, guild_id: int, user_id: int) -> MemberReadAloud:
        self.calls.append("get_member")
        if self.broken:
            raise RuntimeError("the database is gone")
        return self.members.get(user_id, MemberReadAloud())

    async def resolve_voice_settings(self, user_id: int, guild_id: int | None) -> VoiceSettings:
        self.calls.append("resolve_voice_settings")
        gate = self.gates.get(user_id)
        if gate is not None:
            self.entered[user_id].set()
            await gate.wait()
        return self.voice

    async def get_nicknames(self, guild_id: int) -> Mapping[int, str]:
        self.calls.append("get_nicknames")
        return self.nicknames

    async def list_dictionary(self, guild_id: int) -> Mapping[str, str]:
        self.calls.append("list_dictionary")
        return {}


@dataclass
class FakeVoice:
    """One server's voice connection and queue. `joined_to` is where autojoin connects."""

    channel_id: int | None = VOICE
    limit: int = 50
    queue: list[Utterance] = field(default_factory=list)
    joins: int = 0
    join_error: ParlaError | None = None
    joined_to: int | None = VOICE
    closed: bool = False
    refuse: bool = False  # enqueue raises QueueFullError although queue_full said no

    def connected_channel_id(self) -> int | None:
        return self.channel_id

    def queue_full(self) -> int | None:
        return self.limit if len(self.queue) >= self.limit else None

    async def join_author(self) -> ParlaError | None:
        self.joins += 1
        if self.join_error is not None:
            return self.join_error
        self.channel_id = self.joined_to
        return None

    def enqueue(self, utterance: Utterance) -> int:
        if self.closed:
            raise PlayerClosedError()
        if self.refuse or len(self.queue) >= self.limit:
            raise QueueFullError(self.limit)
        self.queue.append(utterance)
        return len(self.queue) - 1


@dataclass
class Flow:
    core: ReadAloudCore = field(default_factory=lambda: ReadAloudCore(clock=ManualClock(1000.0)))
    store: FakeStore = field(default_factory=FakeStore)
    voice: FakeVoice = field(default_factory=FakeVoice)
    in_voice: dict[int, int | None] = field(default_factory=dict)  # author → voice channel
    admitted: list[tuple[int, int, str]] = field(default_factory=list)
    limit_error: LimitExceeded | None = None
    backup: str | None = None
    backup_keys: list[object] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    noted: list[tuple[int, TTSError]] = field(default_factory=list)  # note_error: /server usage
    prepared: list[int] = field(default_factory=list)  # message ids whose text was looked up

    def message(
        self, content: str = "hello", *, author_id: int = 1, channel_id: int = TEXT
    ) -> IncomingMessage:
        self.in_voice.setdefault(author_id, VOICE)
        message_id = next(_ids)

        def facts(bot_voice_id: int | None) -> MessageFacts:
            return MessageFacts(
                channel_id=channel_id,
                author_id=author_id,
                content=content,
                author_voice_id=self.in_voice.get(author_id),
                bot_voice_id=bot_voice_id,
            )

        def info(nicknames: Mapping[int, str]) -> MessageInfo:
            self.prepared.append(message_id)
            name = nicknames.get(author_id) or f"User {author_id}"
            return MessageInfo(content, author_name=name, spoken_names=nicknames)

        return IncomingMessage(
            guild_id=GUILD_ID,
            message_id=message_id,
            channel_id=channel_id,
            author_id=author_id,
            author_mention=f"<@{author_id}>",
            content=content,
            facts=facts,
            info=info,
        )

    def ports(self) -> ReadAloudPorts:
        async def admit(guild_id: int, user_id: int, request: SpeechRequest) -> None:
            if self.limit_error is not None:
                raise self.limit_error
            self.admitted.append((guild_id, user_id, request.text))

        def backup_notice(key: object) -> str | None:
            self.backup_keys.append(key)
            return self.backup

        async def report(text: str) -> None:
            self.reports.append(text)

        def note_error(guild_id: int, error: TTSError) -> None:
            self.noted.append((guild_id, error))

        return ReadAloudPorts(self.store, self.voice, admit, backup_notice, report, note_error)

    async def read(self, message: IncomingMessage | None = None) -> Outcome:
        return await self.core.handle(message or self.message(), self.ports())

    def texts(self) -> list[str]:
        return [u.text for u in self.voice.queue]


async def until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until `condition()` holds (bounded)."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


# ----------------------------------------------------------------------------- the happy path
async def test_an_accepted_message_is_queued_in_the_members_voice_with_its_tag() -> None:
    flow = Flow()
    flow.store.nicknames = {1: "Ann"}
    flow.backup = "a backup voice is speaking"
    message = flow.message("hello there")
    outcome = await flow.read(message)
    assert outcome.verdict is Verdict.READ and outcome.position == 0
    assert outcome.utterance is flow.voice.queue[0]
    assert outcome.utterance.text == "Ann said, hello there"
    assert outcome.utterance.voice == "Serena" and outcome.utterance.requester_name == "Ann"
    assert outcome.utterance.tag == ReadAloudTag(message.message_id, TEXT, "hello there")
    assert flow.admitted == [(GUILD_ID, 1, "Ann said, hello there")]
    assert outcome.notice == "a backup voice is speaking" and flow.backup_keys == [("guild", GUILD_ID)]
    # Queued: remembered, so the same member's next message does not repeat the name.
    second = await flow.read(flow.message("and again"))
    assert second.position == 1 and flow.texts() == ["Ann said, hello there", "and again"]
    await asyncio.sleep(0)  # the line forgets a finished server in a done-callback
    assert len(flow.core.line) == 0 and len(flow.core.inflight) == 0


async def test_with_the_bot_out_of_voice_and_no_autojoin_nothing_else_is_looked_up() -> None:
    flow = Flow()
    flow.voice.channel_id = None
    assert (await flow.read()).verdict is Verdict.BOT_NOT_IN_VOICE
    assert flow.store.calls == ["get_read_aloud"]
    assert flow.admitted == [] and flow.voice.joins == 0


async def test_a_refused_message_is_not_charged_or_queued() -> None:
    flow = Flow()
    flow.store.members[1] = MemberReadAloud("off")
    assert (await flow.read()).verdict is Verdict.OPTED_OUT
    assert "resolve_voice_settings" not in flow.store.calls
    assert flow.admitted == [] and flow.voice.queue == []


# ----------------------------------------------------------------------------- order and timing
async def test_messages_are_queued_in_the_order_they_arrived() -> None:
    flow = Flow()
    flow.store.hold(1)  # the first message's lookups are slow
    first, second = flow.message("first", author_id=1), flow.message("second", author_id=2)
    slow = asyncio.create_task(flow.read(first))
    quick = asyncio.create_task(flow.read(second))
    await until(lambda: second.message_id in flow.prepared)  # ready, but must wait its turn
    await asyncio.sleep(0)
    assert flow.voice.queue == [] and not quick.done()
    flow.store.gates[1].set()
    outcomes = await asyncio.gather(slow, quick)
    assert [o.verdict for o in outcomes] == [Verdict.READ, Verdict.READ]
    assert flow.texts() == ["User 1 said, first", "User 2 said, second"]
    assert len(flow.core.line) == 0


async def test_the_voice_states_are_looked_at_again_after_the_wait() -> None:
    flow = Flow()
    flow.store.hold(1)
    task = asyncio.create_task(flow.read(flow.message("bye", author_id=1)))
    await flow.store.entered[1].wait()
    flow.in_voice[1] = None  # the member left the voice channel meanwhile
    flow.store.gates[1].set()
    assert (await task).verdict is Verdict.AUTHOR_NOT_IN_VOICE
    assert flow.voice.queue == [] and flow.admitted == []


async def test_a_message_deleted_while_being_prepared_is_not_queued() -> None:
    flow = Flow()
    flow.store.hold(1)
    message = flow.message("oops")
    task = asyncio.create_task(flow.read(message))
    await flow.store.entered[1].wait()
    flow.core.inflight.deleted(frozenset({message.message_id}))
    flow.store.gates[1].set()
    assert (await task).verdict is Verdict.GONE
    assert flow.voice.queue == [] and len(flow.core.inflight) == 0


async def test_an_edit_keeping_the_content_while_being_prepared_keeps_the_message() -> None:
    flow = Flow()
    flow.store.hold(1)
    message = flow.message("look https://example.com")
    task = asyncio.create_task(flow.read(message))
    await flow.store.entered[1].wait()
    flow.core.inflight.edited(message.message_id, message.content)  # Discord added an embed
    flow.store.gates[1].set()
    assert (await task).verdict is Verdict.READ and len(flow.voice.queue) == 1


# ----------------------------------------------------------------------------- queue, limits
async def test_a_full_queue_refuses_before_the_usage_limits_charge() -> None:
    flow = Flow()
    flow.voice.limit = 1
    assert (await flow.read(flow.message("fills it"))).verdict is Verdict.READ
    full = await flow.read(flow.message("one more"))
    assert full.verdict is Verdict.QUEUE_FULL and full.notice is not None and "(1 messages" in full.notice
    assert [text for _, _, text in flow.admitted] == ["User 1 said, fills it"]  # not charged
    again = await flow.read(flow.message("and another"))
    assert again.verdict is Verdict.QUEUE_FULL and again.notice is None  # one notice per window


async def test_a_queue_that_fills_up_meanwhile_or_closes_refuses_the_message() -> None:
    flow = Flow()
    flow.voice.refuse = True
    refused = await flow.read()
    assert refused.verdict is Verdict.QUEUE_FULL and refused.notice is not None
    flow.voice.refuse, flow.voice.closed = False, True
    assert (await flow.read()).verdict is Verdict.BOT_NOT_IN_VOICE
    assert flow.voice.queue == []


async def test_a_usage_limit_drops_the_message_with_a_notice_to_its_author() -> None:
    flow = Flow()
    flow.limit_error = LimitExceeded("member", "2 requests per minute", 30)
    outcome = await flow.read(flow.message("too much"))
    assert outcome.verdict is Verdict.LIMIT and flow.voice.queue == []
    assert outcome.notice is not None and outcome.notice.startswith("<@1> I skipped your message")
    flow.limit_error = None
    await flow.read(flow.message("later"))
    assert flow.texts() == ["User 1 said, later"]  # the dropped one was not "heard"


async def test_members_typing_too_fast_are_skipped_with_one_notice() -> None:
    flow = Flow(core=ReadAloudCore(clock=ManualClock(1000.0), rate=2))
    verdicts = [await flow.read(flow.message(f"line {i}")) for i in range(4)]
    read, limited = Verdict.READ, Verdict.RATE_LIMITED
    assert [o.verdict for o in verdicts] == [read, read, limited, limited]
    assert verdicts[2].notice is not None and verdicts[2].notice.startswith("<@1> you are typing faster")
    assert verdicts[3].notice is None
    assert flow.admitted == [(GUILD_ID, 1, "User 1 said, line 0"), (GUILD_ID, 1, "line 1")]


# ----------------------------------------------------------------------------- autojoin
async def test_autojoin_brings_the_bot_to_the_authors_channel_then_queues() -> None:
    flow = Flow()
    flow.store.guild = GuildReadAloud(channel_ids=frozenset({TEXT}), autojoin=True)
    flow.voice.channel_id = None
    outcome = await flow.read()
    assert outcome.verdict is Verdict.READ and flow.voice.joins == 1
    assert flow.voice.channel_id == VOICE and len(flow.voice.queue) == 1
    assert (await flow.read()).verdict is Verdict.READ and flow.voice.joins == 1  # already there


async def test_a_failed_autojoin_queues_nothing_and_says_why_once() -> None:
    flow = Flow()
    flow.store.guild = GuildReadAloud(channel_ids=frozenset({TEXT}), autojoin=True)
    flow.voice.channel_id = None
    flow.voice.join_error = ParlaError()
    outcome = await flow.read()
    assert outcome.verdict is Verdict.JOIN_FAILED and flow.voice.queue == []
    assert outcome.notice == "I could not join your voice channel to read aloud: Something went wrong."
    assert (await flow.read()).notice is None


# ----------------------------------------------------------------------------- failures
async def test_an_unexpected_error_fails_one_message_and_releases_the_line() -> None:
    flow = Flow()
    flow.store.broken = True
    assert (await flow.read()).verdict is Verdict.FAILED
    await asyncio.sleep(0)  # the line forgets a finished server in a done-callback
    assert len(flow.core.line) == 0 and len(flow.core.inflight) == 0
    flow.store.broken = False
    assert (await flow.read()).verdict is Verdict.READ


async def test_endpoint_errors_are_reported_once_per_code() -> None:
    flow = Flow()
    outcome = await flow.read()
    utterance = outcome.utterance
    assert utterance is not None and utterance.on_error is not None
    await utterance.on_error(utterance, error_for(429, "Throttling", "busy", "req-1"))  # type: ignore[misc]
    await utterance.on_error(utterance, error_for(429, "Throttling", "busy", "req-2"))  # type: ignore[misc]
    assert len(flow.reports) == 1 and "req-1" in flow.reports[0]


async def test_endpoint_errors_are_noted_for_server_usage_every_time() -> None:
    """Every endpoint failure a message met is noted for `/server usage` (also the ones whose
    notice was already sent); other failures are not the endpoint's."""
    flow = Flow()
    outcome = await flow.read()
    utterance = outcome.utterance
    assert utterance is not None and utterance.on_error is not None
    first = error_for(401, "InvalidApiKey", "bad key", "req-1")
    second = error_for(401, "InvalidApiKey", "bad key", "req-2")
    await utterance.on_error(utterance, first)  # type: ignore[misc]
    await utterance.on_error(utterance, second)  # type: ignore[misc]
    await utterance.on_error(utterance, NoAudioError())  # type: ignore[misc]
    assert flow.noted == [(GUILD_ID, first), (GUILD_ID, second)]
    assert len(flow.reports) == 2  # the InvalidApiKey notice once, the no-audio one once
