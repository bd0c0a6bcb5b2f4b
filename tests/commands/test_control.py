"""bot.commands.control without Discord: who may control the server's voice player."""

from __future__ import annotations

from bot.commands.control import ControlFacts, QueueViewer, control_refusal, may_read_queued_text

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


# -- a player without a connection (the bot is reconnecting) -----------------------------------
RECONNECTING = (
    "I'm reconnecting to voice. Until I'm back, only members with the Move Members or "
    "Manage Server permission can control me."
)


def test_while_reconnecting_only_moderators_may() -> None:
    facts = ControlFacts(MEMBER, bot_channel=None, player_exists=True)
    assert control_refusal(facts) == RECONNECTING
    assert (
        control_refusal(ControlFacts(MEMBER, None, player_exists=True, requester_id=MEMBER)) == RECONNECTING
    )
    assert control_refusal(ControlFacts(MEMBER, None, player_exists=True, move_members=True)) is None
    assert control_refusal(ControlFacts(MEMBER, None, player_exists=True, manage_guild=True)) is None


# -- who may read the queued texts -------------------------------------------------------------
def test_queued_texts_are_shown_to_listeners_who_can_see_the_source() -> None:
    assert may_read_queued_text(QueueViewer(in_bot_channel=True), sees_source=True)
    assert not may_read_queued_text(QueueViewer(in_bot_channel=True), sees_source=False)
    assert not may_read_queued_text(QueueViewer(in_bot_channel=False), sees_source=True)
    assert may_read_queued_text(QueueViewer(in_bot_channel=False, move_members=True), sees_source=False)
