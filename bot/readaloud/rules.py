"""Which messages are read aloud: the acceptance rules as a pure function. No discord import.

`decide(facts, guild, member)` takes a message's `MessageFacts` (who wrote where, voice states),
the server's `GuildReadAloud` settings and the author's `MemberReadAloud` choice, and returns a
`Decision`: a `Verdict`, and the voice channel to join first when autojoin brings the bot in.

Acceptance rules, in the order `decide` applies them (defaults from `GuildReadAloud`):

- system messages (joins, pins, boosts...) are never read;
- bots and webhooks are read only with `read_bots` (default off); the bot's own messages never;
- a member who chose `/readaloud me off` is never read;
- `@silent` messages are skipped while `skip_silent` is on (default on);
- messages starting with `ignore_prefix` (default "!") are skipped ("" turns it off);
- members with the `deny_role` are never read; with a `required_role` set, only members who
  have it are read (webhooks have no roles: the role rules do not apply to them);
- the bot must be in a voice channel of the server; if it is not, and `autojoin` is on (default
  off), a message that would be read brings it into the author's voice channel (never moves
  it from another channel; bots and webhooks never bring it in);
- where: a bound channel (`/readaloud channel add`), or the text chat of the bot's voice channel
  while `text_in_voice` is on (default on); threads of a bound channel are not bound;
- who: with `require_voice` on (default), only members in the bot's voice channel; bots and
  webhooks accepted by `read_bots` are exempt (they are never "in voice");
- "auto" members (`/readaloud me auto`) are read in every text channel of the server (threads
  and voice chats included) while they are in the bot's voice channel — the bot follows them
  wherever they type, without any channel being bound. The other rules still apply.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.store.models import GuildReadAloud, MemberReadAloud


class Verdict(enum.StrEnum):
    """What happened to a message. ACCEPT comes from `decide`; READ means it was queued."""

    ACCEPT = "accepted"
    READ = "queued"
    SYSTEM = "system message"
    SELF = "the bot's own message"
    BOT = "from a bot or a webhook (read_bots is off)"
    OPTED_OUT = "the member opted out"
    SILENT = "sent with @silent (skip_silent is on)"
    IGNORE_PREFIX = "starts with the ignore prefix"
    DENY_ROLE = "the member has the deny role"
    MISSING_ROLE = "the member lacks the required role"
    BOT_NOT_IN_VOICE = "the bot is not in a voice channel"
    CHANNEL = "not a read-aloud channel"
    AUTHOR_NOT_IN_VOICE = "the member is not in the bot's voice channel"
    RATE_LIMITED = "the member is sending too fast"
    EMPTY = "nothing to read"
    QUEUE_FULL = "the server's speech queue is full"
    JOIN_FAILED = "could not join the voice channel"
    LIMIT = "a usage limit was reached"
    GONE = "deleted or edited before it was queued"
    FAILED = "failed (see the log)"


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the acceptance rules need to know about a message, as plain data.

    `author_voice_id`: the voice channel the author is in (None: not in voice).
    `bot_voice_id`: the voice channel the bot is connected to in this server (None: none).
    `role_ids`: the author's roles (empty for webhooks and users who left).
    """

    channel_id: int
    author_id: int
    content: str = ""
    author_is_bot: bool = False
    webhook: bool = False
    system: bool = False
    silent: bool = False
    role_ids: frozenset[int] = frozenset()
    author_voice_id: int | None = None
    bot_voice_id: int | None = None

    @property
    def from_bot(self) -> bool:
        return self.author_is_bot or self.webhook


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    join_channel_id: int | None = None  # autojoin: connect to this voice channel first

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPT


def decide(facts: MessageFacts, guild: GuildReadAloud, member: MemberReadAloud) -> Decision:
    """Apply the acceptance rules (see the module docstring) to one message. Pure."""
    if facts.system:
        return Decision(Verdict.SYSTEM)
    from_bot = facts.from_bot
    if from_bot and not guild.read_bots:
        return Decision(Verdict.BOT)
    if member.opted_out:
        return Decision(Verdict.OPTED_OUT)
    if facts.silent and guild.skip_silent:
        return Decision(Verdict.SILENT)
    prefix = guild.ignore_prefix
    if prefix and facts.content.lstrip().startswith(prefix):
        return Decision(Verdict.IGNORE_PREFIX)
    if not facts.webhook:
        if guild.deny_role_id is not None and guild.deny_role_id in facts.role_ids:
            return Decision(Verdict.DENY_ROLE)
        if guild.required_role_id is not None and guild.required_role_id not in facts.role_ids:
            return Decision(Verdict.MISSING_ROLE)
    # Which voice channel the message would be read in.
    join: int | None = None
    target = facts.bot_voice_id
    if target is None:
        if not (guild.autojoin and not from_bot and facts.author_voice_id is not None):
            return Decision(Verdict.BOT_NOT_IN_VOICE)
        target = join = facts.author_voice_id
    with_bot = not from_bot and facts.author_voice_id == target
    if member.auto and with_bot:
        return Decision(Verdict.ACCEPT, join)
    bound = facts.channel_id in guild.channel_ids
    voice_chat = guild.text_in_voice and facts.channel_id == target
    if not (bound or voice_chat):
        return Decision(Verdict.CHANNEL)
    if guild.require_voice and not from_bot and not with_bot:
        return Decision(Verdict.AUTHOR_NOT_IN_VOICE)
    return Decision(Verdict.ACCEPT, join)
