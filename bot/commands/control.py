"""Who may control the server's voice player (leave, skip, stop, pause, resume).

Anyone while the bot has no player and no voice channel; while a player exists without a
connection (discord.py is reconnecting), only moderators (Move Members or Manage Server);
otherwise moderators, the member who asked for what is playing (for skip), and the members in
the bot's voice channel. The cog passes these facts as plain data and raises the refusal it gets
back.

Who may read the queued texts (`/tts queue`): moderators (Move Members), and members in the bot's
voice channel for the texts whose source channel they can see; everyone else sees the speakers
and the counts only.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.base.i18n import say


@dataclass(frozen=True, slots=True)
class ControlFacts:
    """What the rule needs to know about one member and the player.

    `bot_channel`: how to name the voice channel the bot is in (None: not connected).
    `requester_id`: who asked for what the command acts on (skip: what is playing), if anyone.
    """

    member_id: int
    bot_channel: str | None
    in_bot_channel: bool = False
    move_members: bool = False
    manage_guild: bool = False
    requester_id: int | None = None
    player_exists: bool = False


RECONNECTING = say("control.reconnecting")


def control_refusal(facts: ControlFacts) -> str | None:
    """None if the member may control the player; else the sentence telling them why not."""
    if facts.move_members or facts.manage_guild:
        return None
    if facts.bot_channel is None:
        return RECONNECTING if facts.player_exists else None
    if facts.requester_id is not None and facts.requester_id == facts.member_id:
        return None
    if facts.in_bot_channel:
        return None
    return say("control.join_first", channel=facts.bot_channel)


@dataclass(frozen=True, slots=True)
class QueueViewer:
    """Who is looking at the queue: in the bot's voice channel, a moderator."""

    in_bot_channel: bool
    move_members: bool = False


def may_read_queued_text(viewer: QueueViewer, *, sees_source: bool) -> bool:
    """Whether `viewer` may read the text of one queued utterance whose source channel (where it
    was typed, or the /speak interaction's channel) they can (`sees_source`) or cannot see."""
    return viewer.move_members or (viewer.in_bot_channel and sees_source)
