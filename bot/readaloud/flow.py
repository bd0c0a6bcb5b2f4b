"""Read-aloud core (issue 6): which messages are read, and what is said. No discord import.

The listener (cogs/readaloud.py) turns a `discord.Message` into an `IncomingMessage` (ids,
and callables giving its `MessageFacts` — who wrote where, voice states — and its `MessageInfo`
— the text and what it mentions), wraps the bot's storage, voice service, usage limits and
channel in `ReadAloudPorts`, and calls `ReadAloudCore.handle`, which runs the flow:

0. a ticket in the server's `OrderedLine` (taken before the first await: the order of
   arrival) and an entry in the `InFlight` tracker (a deletion or an edit meanwhile drops it);
1. `decide(facts, guild, member)` — the acceptance rules, a pure function → a `Decision`;
2. `ReadAloudCore.allow_rate(...)` — per member: at most `READ_RATE` messages per `READ_PER`
   seconds are read; the excess is dropped, with at most one notice per member per window;
3. `ReadAloudCore.compose(...)` — the text: cleaned (bot.text.clean), "NAME said" when the
   previous message read in the server was not the same member's in the same channel within
   30 s, the server's pronunciation dictionary, cut at the server's length limit with "and so
   on" in the message language;
4. the utterance is queued with the member's voice, style and language (their settings →
   the server default → Auto) and tagged with a `ReadAloudTag`, so that an edit or a deletion
   before it is spoken drops it from the queue. Before that: the queue-full check (before the
   usage limits charge anything), the usage limits (`ReadAloudPorts.admit`), autojoin, and
   the deleted-or-edited-while-being-prepared check. The result is an `Outcome`.

The acceptance rules are listed in bot.readaloud.rules; the queue tags are in
bot.readaloud.tags; the order of arrival and the in-flight tracker in bot.readaloud.ordering.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from bot.base.errors import InputError, ParlaError
from bot.base.i18n import say
from bot.readaloud.ordering import InFlight, OrderedLine
from bot.readaloud.rules import MessageFacts, Verdict, decide
from bot.readaloud.said import SpeakerPrefixer
from bot.readaloud.tags import ReadAloudTag
from bot.speech.errors import TTSError
from bot.speech.request import SpeechRequest
from bot.store.limits import LimitExceeded, NoticeGate, SlidingWindowLimiter
from bot.store.models import GuildReadAloud, MemberReadAloud, VoiceSettings
from bot.text.clean import CleanOptions, MessageInfo, clean_message
from bot.text.pronunciation import PronunciationDictionary
from bot.voice.errors import PlayerClosedError, QueueFullError
from bot.voice.utterance import Utterance

READ_RATE: Final = 5  # messages read per member ...
READ_PER: Final = 10.0  # ... per this many seconds; the excess is dropped
SAID_WINDOW: Final = 30.0  # "NAME said" is omitted for the same member within this window
ERROR_NOTICE_WINDOW: Final = 300.0  # one endpoint error notice per code per server per 5 min
QUEUE_NOTICE_WINDOW: Final = 60.0  # one "queue full" notice per server per minute
JOIN_NOTICE_WINDOW: Final = 300.0  # one "could not join" notice per server per 5 min
NOTICE_LIFETIME: Final = 15.0  # seconds before the bot deletes its own notices

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------


def clean_options(guild: GuildReadAloud, language: str) -> CleanOptions:
    """The cleaner's options for a server's settings and the message's language."""
    return CleanOptions(
        max_length=guild.max_length,
        emoji_mode=guild.emoji_mode,
        language=language,
    )


class DictionaryCache:
    """One compiled `PronunciationDictionary` per server, rebuilt when the entries change
    (the storage returns the same mapping object until the dictionary is written)."""

    def __init__(self) -> None:
        self._compiled: dict[int, tuple[Mapping[str, str], PronunciationDictionary]] = {}

    def get(self, guild_id: int, entries: Mapping[str, str]) -> PronunciationDictionary | None:
        if not entries:
            self._compiled.pop(guild_id, None)
            return None
        cached = self._compiled.get(guild_id)
        if cached is not None and (cached[0] is entries or cached[0] == entries):
            return cached[1]
        compiled = PronunciationDictionary(entries)
        self._compiled[guild_id] = (entries, compiled)
        return compiled


# --------------------------------------------------------------------------------------------
# The flow's inputs, outputs and ports (implemented over Discord by cogs/readaloud.py)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A message to read aloud, as plain data.

    `content` is the content it arrived with (the queue tag's, for edits). `facts(bot_voice_id)`
    reads the acceptance facts now (voice states change while the message is prepared, so the
    flow reads them twice); `info(nicknames)` is the message as the cleaner needs it, given the
    server's spoken nicknames (looked up by the flow).
    """

    guild_id: int
    message_id: int
    channel_id: int
    author_id: int
    author_mention: str
    content: str
    facts: Callable[[int | None], MessageFacts]
    info: Callable[[Mapping[int, str]], MessageInfo]


@dataclass(frozen=True)
class Outcome:
    """What `ReadAloudCore.handle` did with a message (for logs and tests); `notice` is for
    the message's channel (temporary)."""

    verdict: Verdict
    utterance: Utterance | None = None
    position: int | None = None
    notice: str | None = None


class ReadAloudStore(Protocol):
    """The storage reads of the flow (bot.store.sqlite.Storage provides them)."""

    async def get_read_aloud(self, guild_id: int) -> GuildReadAloud: ...
    async def get_member(self, guild_id: int, user_id: int) -> MemberReadAloud: ...
    async def resolve_voice_settings(self, user_id: int, guild_id: int | None) -> VoiceSettings: ...
    async def get_nicknames(self, guild_id: int) -> Mapping[int, str]: ...
    async def list_dictionary(self, guild_id: int) -> Mapping[str, str]: ...


class ServerVoice(Protocol):
    """The voice connection and speech queue of the message's server."""

    def connected_channel_id(self) -> int | None:
        """The voice channel the bot is connected to in the server (None: none)."""
        ...

    def queue_full(self) -> int | None:
        """The queue's limit if the server's queue is full now, else None (also: no player)."""
        ...

    async def join_author(self) -> ParlaError | None:
        """Autojoin: connect to the message author's voice channel. The error (with a sentence
        for the member) if it could not; None when connected (or there is nothing to join)."""
        ...

    def enqueue(self, utterance: Utterance) -> int:
        """Queue `utterance`; its position (0 = next). Raises QueueFullError, PlayerClosedError."""
        ...


@dataclass(frozen=True, slots=True)
class ReadAloudPorts:
    """What the flow needs from outside, for one message.

    `admit(guild_id, user_id, request)`: the usage limits (raises LimitExceeded; charges the
    calling task's server). `backup_notice(key)`: the "backup voice" sentence, once per window.
    `report(text)`: send a lasting notice to the message's channel (endpoint errors).
    `note_error(guild_id, error)`: remember the endpoint failure a member's message met (every
    one, noticed or not: `/server usage` shows the last).
    """

    storage: ReadAloudStore
    voice: ServerVoice
    admit: Callable[[int, int, SpeechRequest], Awaitable[None]]
    backup_notice: Callable[[object], str | None]
    report: Callable[[str], Awaitable[None]]
    note_error: Callable[[int, TTSError], None]


# --------------------------------------------------------------------------------------------
# The stateful part: prefixer, rate limit, notices, order
# --------------------------------------------------------------------------------------------


class ReadAloudCore:
    """Everything stateful about reading messages aloud, for all servers. Event loop only."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        rate: int = READ_RATE,
        per: float = READ_PER,
        said_window: float = SAID_WINDOW,
        error_window: float = ERROR_NOTICE_WINDOW,
        queue_window: float = QUEUE_NOTICE_WINDOW,
        join_window: float = JOIN_NOTICE_WINDOW,
    ) -> None:
        self.clock = clock
        self.prefixer = SpeakerPrefixer(said_window, clock)
        self.limiter = SlidingWindowLimiter(rate, per, clock=clock)
        self.rate_notices = NoticeGate(per, clock=clock)
        self.error_notices = NoticeGate(error_window, clock=clock)
        self.queue_notices = NoticeGate(queue_window, clock=clock)
        self.join_notices = NoticeGate(join_window, clock=clock)
        self.limit_notices = NoticeGate(queue_window, clock=clock)
        self.dictionaries = DictionaryCache()
        self.line = OrderedLine()
        self.inflight = InFlight()

    # -- limits ---------------------------------------------------------------------------
    def allow_rate(self, guild_id: int, author_id: int) -> tuple[bool, bool]:
        """(read it?, send a notice?): the notice at most once per member per window."""
        if self.limiter.allow((guild_id, author_id)):
            return True, False
        return False, self.rate_notices.allow((guild_id, author_id))

    def rate_notice(self, mention: str) -> str:
        return say(
            "readaloud.notice.too_fast", mention=mention, limit=self.limiter.limit, seconds=self.limiter.per
        )

    def queue_full_notice(self, guild_id: int, limit: int) -> str | None:
        if not self.queue_notices.allow(guild_id):
            return None
        return say("readaloud.notice.queue_full", limit=limit)

    def join_notice(self, guild_id: int, error: ParlaError) -> str | None:
        if not self.join_notices.allow(guild_id):
            return None
        return say("readaloud.notice.join_failed", error=error.user_message())

    def limit_notice(self, guild_id: int, author_id: int, error: ParlaError, mention: str) -> str | None:
        """A usage limit (bot.store.limits) refused a message: one notice per member (member limits)
        or per server (server and global budgets) per window."""
        scope = getattr(error, "scope", "member")
        key = (guild_id, author_id) if scope == "member" else (guild_id, scope)
        if not self.limit_notices.allow(key):
            return None
        if scope == "member":
            return say("readaloud.notice.limit.member", mention=mention, error=error.user_message())
        return say("readaloud.notice.limit.server", error=error.user_message())

    def error_notice(self, guild_id: int, error: ParlaError) -> str | None:
        """The notice for a failed read-aloud utterance: once per error code per server per
        window; the text carries the code and the request id."""
        code = (error.code or f"HTTP {error.status}") if isinstance(error, TTSError) else None
        key = (guild_id, code or type(error).__name__)
        if not self.error_notices.allow(key):
            return None
        return say("readaloud.notice.failed", error=error.user_message())

    # -- text -----------------------------------------------------------------------------
    def compose(
        self,
        guild_id: int,
        channel_id: int,
        author_id: int,
        info: MessageInfo,
        guild: GuildReadAloud,
        language: str,
        dictionary: PronunciationDictionary | None,
    ) -> str:
        """The text to speak for an accepted message ("" if there is nothing to read). Nothing
        is recorded: call `remember` once the message is queued."""
        options = clean_options(guild, language)
        text = clean_message(info, options, dictionary=dictionary)
        if not text or not guild.xsaid:
            return text
        if self.prefixer.should_name(guild_id, channel_id, author_id, record=False):
            return clean_message(info, options, say_name=True, dictionary=dictionary)
        return text

    def remember(self, guild_id: int, channel_id: int, author_id: int) -> None:
        """A message of `author_id` in `channel_id` was queued: the last one the server hears."""
        self.prefixer.remember(guild_id, channel_id, author_id)

    def forget_speaker(self, guild_id: int) -> None:
        """What the server heard last is uncertain (a queued message was dropped): the next
        message says its author's name."""
        self.prefixer.forget(guild_id)

    # -- the flow -------------------------------------------------------------------------
    async def handle(self, message: IncomingMessage, ports: ReadAloudPorts) -> Outcome:
        """Read `message` aloud if the server's rules accept it (see the module docstring).

        Call it without awaiting anything before (a task per message is fine): the ticket that
        keeps the order of arrival is taken before this coroutine's first await. An unexpected
        error is logged and gives `Verdict.FAILED`.
        """
        ticket = self.line.ticket(message.guild_id)  # before any await: keeps the order of arrival
        self.inflight.start(message.message_id, message.content)
        try:
            return await self._read(message, ports, ticket.wait)
        except Exception:
            log.exception("read-aloud failed for a message in guild %s", message.guild_id)
            return Outcome(Verdict.FAILED)
        finally:
            self.inflight.finish(message.message_id)
            ticket.done()

    async def _read(
        self, message: IncomingMessage, ports: ReadAloudPorts, my_turn: Callable[[], Awaitable[None]]
    ) -> Outcome:
        storage, voice = ports.storage, ports.voice
        guild_id, author_id = message.guild_id, message.author_id
        settings = await storage.get_read_aloud(guild_id)
        if voice.connected_channel_id() is None and not settings.autojoin:
            return Outcome(Verdict.BOT_NOT_IN_VOICE)  # the common case: nothing else to look up
        member = await storage.get_member(guild_id, author_id)
        decision = decide(message.facts(voice.connected_channel_id()), settings, member)
        if not decision.accepted:
            return Outcome(decision.verdict)
        # Everything the text needs, looked up concurrently with other messages...
        voice_settings = await storage.resolve_voice_settings(author_id, guild_id)
        nicknames = await storage.get_nicknames(guild_id)
        entries = await storage.list_dictionary(guild_id)
        info = message.info(nicknames)
        # ...then queued in the order the messages arrived.
        await my_turn()
        decision = decide(message.facts(voice.connected_channel_id()), settings, member)
        if not decision.accepted:  # the voice states changed meanwhile
            return Outcome(decision.verdict)
        allowed, notify = self.allow_rate(guild_id, author_id)
        if not allowed:
            return Outcome(
                Verdict.RATE_LIMITED, notice=self.rate_notice(message.author_mention) if notify else None
            )
        dictionary = self.dictionaries.get(guild_id, entries)
        channel_id = message.channel_id
        text = self.compose(
            guild_id, channel_id, author_id, info, settings, voice_settings.language, dictionary
        )
        if not text:
            return Outcome(Verdict.EMPTY)
        try:
            request = voice_settings.request(text).validated()
        except InputError:
            return Outcome(Verdict.EMPTY)
        limit = voice.queue_full()
        if limit is not None:  # before charging
            return Outcome(Verdict.QUEUE_FULL, notice=self.queue_full_notice(guild_id, limit))
        try:
            await ports.admit(guild_id, author_id, request)
        except LimitExceeded as exc:
            notice = self.limit_notice(guild_id, author_id, exc, message.author_mention)
            return Outcome(Verdict.LIMIT, notice=notice)
        if decision.join_channel_id is not None:  # autojoin
            error = await voice.join_author()
            if error is not None:
                log.info("guild %s: autojoin failed: %s", guild_id, error.user_message())
                return Outcome(Verdict.JOIN_FAILED, notice=self.join_notice(guild_id, error))
        if self.inflight.gone(message.message_id):  # deleted or edited while being prepared
            return Outcome(Verdict.GONE)
        utterance = Utterance(
            request,
            requester_id=author_id,
            requester_name=info.author_name,
            on_error=self.error_reporter(guild_id, ports.report, ports.note_error),
            tag=ReadAloudTag(message.message_id, channel_id, message.content),
            source_channel_id=channel_id,
        )
        try:
            position = voice.enqueue(utterance)
        except QueueFullError as exc:
            return Outcome(Verdict.QUEUE_FULL, notice=self.queue_full_notice(guild_id, exc.limit))
        except PlayerClosedError:
            return Outcome(Verdict.BOT_NOT_IN_VOICE)
        self.remember(guild_id, channel_id, author_id)
        return Outcome(Verdict.READ, utterance, position, notice=ports.backup_notice(("guild", guild_id)))

    def error_reporter(
        self,
        guild_id: int,
        report: Callable[[str], Awaitable[None]],
        note_error: Callable[[int, TTSError], None],
    ) -> Callable[[Utterance, ParlaError], Awaitable[None]]:
        """`Utterance.on_error` for a message read aloud: `note_error` an endpoint failure (for
        `/server usage`) and `report` the error notice (once per code per server per window)."""

        async def on_error(utterance: Utterance, error: ParlaError) -> None:
            if isinstance(error, TTSError):
                note_error(guild_id, error)
            notice = self.error_notice(guild_id, error)
            if notice is not None:
                await report(notice)

        return on_error
