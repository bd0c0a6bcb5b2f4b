"""bot.commands.control without Discord: who may control the server's voice player."""

from __future__ import annotations

from bot.commands.control import ControlFacts, control_refusal

MEMBER, OTHER = 1, 2
CHANNEL = "<#20>"
REFUSAL = "Join <#20> to control what I say there (or ask someone with the Move Members permission)."


def test_anyone_may_when_the_bot_is_in_no_voice_channel() -> None:
    assert control_refusal(ControlFacts(MEMBER, bot_channel=None)) is None


def test_members_in_the_bot_channel_may() -> None:
    assert control_refusal(ControlFacts(MEMBER, CHANNEL, in_bot_channel=True)) is None


def test_moderators_may_from_anywhere() -> None:
    assert control_refusal(ControlFacts(MEMBER, CHANNEL, move_members=True)) is None
    assert control_refusal(ControlFacts(MEMBER, CHANNEL, manage_guild=True)) is None


def test_the_requester_may_from_anywhere() -> None:
    assert control_refusal(ControlFacts(MEMBER, CHANNEL, requester_id=MEMBER)) is None


def test_others_are_told_to_join_the_channel() -> None:
    assert control_refusal(ControlFacts(MEMBER, CHANNEL)) == REFUSAL
    assert control_refusal(ControlFacts(MEMBER, CHANNEL, requester_id=OTHER)) == REFUSAL
