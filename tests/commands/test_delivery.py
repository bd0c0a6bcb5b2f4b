"""bot.commands.delivery without Discord: voice or file for a request, and which voice
failures send the file instead."""

from __future__ import annotations

import pytest

from bot.commands.delivery import Delivery, VoiceSetback, file_instead, plan_delivery

CHANNEL = "<#20>"


def plan(**facts: bool) -> Delivery:
    given = {"attach": False, "in_voice": True, "voice_available": True, "can_speak": True} | facts
    return plan_delivery(channel=CHANNEL, **given)


def test_a_member_in_voice_is_spoken_to_there() -> None:
    assert plan() == Delivery(True, "")


def test_attach_asks_for_a_file_even_in_voice() -> None:
    assert plan(attach=True) == Delivery(False, "")


def test_a_member_not_in_voice_gets_a_file_without_a_note() -> None:
    assert plan(in_voice=False, voice_available=False, can_speak=False) == Delivery(False, "")


def test_voice_unavailable_sends_a_file_and_says_why() -> None:
    delivery = plan(voice_available=False, can_speak=False)
    assert not delivery.to_voice
    assert delivery.note == "Voice is not available on this bot right now, so here is the audio as a file."


def test_missing_connect_or_speak_sends_a_file_naming_the_channel() -> None:
    delivery = plan(can_speak=False)
    assert not delivery.to_voice
    assert delivery.note == (
        "I can't speak in <#20> (I need the Connect and Speak permissions there), "
        "so here is the audio as a file."
    )


def test_a_voice_confirmation_is_always_private_a_file_as_asked() -> None:
    assert Delivery(True).ephemeral(False) and Delivery(True).ephemeral(True)
    assert not Delivery(False).ephemeral(False) and Delivery(False).ephemeral(True)


@pytest.mark.parametrize(
    "setback",
    [VoiceSetback.UNAVAILABLE, VoiceSetback.BUSY, VoiceSetback.NO_PERMISSION, VoiceSetback.CONNECT_FAILED],
)
def test_voice_failures_the_member_cannot_fix_send_the_file_instead(setback: VoiceSetback) -> None:
    assert file_instead(setback, "I'm busy.") == "I'm busy. Here is the audio as a file instead."


def test_other_voice_failures_are_raised() -> None:
    assert file_instead(VoiceSetback.OTHER, "Join a voice channel first, then ask again.") is None
