"""Who may control the server's voice player (leave, skip, stop, pause, resume).

Anyone while the bot is in no voice channel; otherwise moderators (Move Members or Manage
Server), the member who asked for what is playing (for skip), and the members in the bot's
voice channel. The cog passes these facts as plain data and raises the refusal it gets back.
"""

from __future__ import annotations

from dataclasses import dataclass


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


def control_refusal(facts: ControlFacts) -> str | None:
    """None if the member may control the player; else the sentence telling them why not."""
    if facts.bot_channel is None:
        return None
    if facts.move_members or facts.manage_guild:
        return None
    if facts.requester_id is not None and facts.requester_id == facts.member_id:
        return None
    if facts.in_bot_channel:
        return None
    return (
        f"Join {facts.bot_channel} to control what I say there "
        "(or ask someone with the Move Members permission)."
    )
