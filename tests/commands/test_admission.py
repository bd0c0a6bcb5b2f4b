"""bot.commands.admission without Discord: the usage limits for one request, cached or local
audio free of the daily budgets, and the server the endpoint's usage is charged to."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.audio.clip import Audio
from bot.commands.admission import Admission
from bot.speech.request import SpeechRequest
from bot.store.limits import LimitExceeded, current_guild

REQUEST = SpeechRequest("hello there")


@dataclass
class Limits:
    calls: list[tuple[int | None, int, int, bool]] = field(default_factory=list)
    refuse: LimitExceeded | None = None

    async def admit(self, guild_id: int | None, user_id: int, characters: int, *, cached: bool) -> None:
        self.calls.append((guild_id, user_id, characters, cached))
        if self.refuse is not None:
            raise self.refuse


@dataclass
class Stack:
    client: object | None = None
    cached: bool = False
    peeks: list[bool] = field(default_factory=list)

    async def lookup(self, request: SpeechRequest, *, count: bool = True) -> Audio | None:
        self.peeks.append(count)
        return Audio(b"\0\0", 24_000) if self.cached else None


async def test_a_request_for_the_endpoint_is_checked_against_the_budgets() -> None:
    limits, stack = Limits(), Stack(client=object())
    await Admission(limits, stack).admit(7, 1, REQUEST)
    assert limits.calls == [(7, 1, len(REQUEST.text), False)]
    assert stack.peeks == [False]  # a peek that counts nothing


async def test_cached_audio_is_free_of_the_budgets() -> None:
    limits = Limits()
    await Admission(limits, Stack(client=object(), cached=True)).admit(7, 1, REQUEST)
    assert limits.calls == [(7, 1, len(REQUEST.text), True)]


async def test_the_local_engine_is_free_and_the_cache_is_not_asked() -> None:
    limits, stack = Limits(), Stack(client=None)
    await Admission(limits, stack).admit(None, 1, REQUEST)
    assert limits.calls == [(None, 1, len(REQUEST.text), True)]
    assert stack.peeks == []


async def test_the_server_is_marked_for_the_charge_and_a_refusal_is_raised() -> None:
    limits = Limits(refuse=LimitExceeded("member", "3 requests per minute", 20.0))
    with pytest.raises(LimitExceeded):
        await Admission(limits, Stack(client=object())).admit(9, 1, REQUEST)
    assert current_guild.get() == 9
