"""VoiceService: joining (also two joins at once, and past a stale client), moving, leaving when
alone or idle, disconnects, shutdown.

Discord objects are small stand-ins (member, channel, guild, client) around the recording voice
client; the leave timers run on a controllable sleep, so nothing waits for real grace periods.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from bot.voice.errors import NotInVoiceError, VoiceBusyError, VoicePermissionError, VoiceUnavailableError
from bot.voice.link import VoiceSupport, log_voice_support, voice_available
from bot.voice.service import VoiceOptions, VoiceService
from tests.standins.audio_checks import needs_opus
from tests.standins.voice_world import Channel, GuildVC, World, member

pytestmark = needs_opus


def state(channel: Channel | None) -> Any:
    return SimpleNamespace(channel=channel)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = World()
    try:
        yield w
    finally:
        await w.service.close()


async def test_join_checks_the_member_and_the_permissions(world: World) -> None:
    with pytest.raises(NotInVoiceError):
        await world.service.join(member(1, world.guild, None))
    muted = Channel(12, world.guild, can_speak=False)
    with pytest.raises(VoicePermissionError) as err:
        await world.service.join(member(2, world.guild, muted))
    assert "voice-12" in err.value.user_message()
    off = VoiceService(world.client, world.manager, support=VoiceSupport(("libopus not found",)))  # type: ignore[arg-type]
    with pytest.raises(VoiceUnavailableError):
        await off.join(member(3, world.guild, world.a))


async def test_speak_joins_and_plays(world: World) -> None:
    ann = member(1, world.guild, world.a)
    position = await world.service.speak(ann, world.utterance())
    assert position == 0
    vc = world.guild.voice_client
    assert vc is not None and vc.channel is world.a
    await world.until_idle()
    assert any(p.scheduled and not p.silence for p in vc.snapshot())
    # Asking again in the same channel reuses the connection.
    await world.service.speak(ann, world.utterance("again"))
    assert world.guild.voice_client is vc and len(world.client.voice_clients) == 1


async def test_moves_only_when_idle_or_asked(world: World) -> None:
    ann = member(1, world.guild, world.a)
    bob = member(2, world.guild, world.b)
    await world.service.join(ann)
    player = world.manager.get_or_create(1)
    player.pause()  # keep it busy
    world.service.enqueue(1, world.utterance())
    with pytest.raises(VoiceBusyError) as err:
        await world.service.join(bob)
    assert "voice-10" in err.value.user_message()
    await world.service.join(bob, move=True)
    vc = world.guild.voice_client
    assert vc is not None and vc.channel is world.b
    assert world.service.stop(1) == 1
    await world.service.join(ann)  # idle now: moves without asking
    assert vc.channel is world.a


async def test_leaves_after_the_grace_period_when_no_human_is_left(world: World) -> None:
    ann = member(1, world.guild, world.a)
    await world.service.join(ann)
    assert not world.service.timers(1)["alone"]
    world.a.members.remove(ann)
    await world.service.on_voice_state_update(ann, state(world.a), state(None))
    await world.sleep.settle()
    assert world.service.timers(1)["alone"] and 60 in world.sleep.pending()
    # Somebody comes back within the grace period: stay.
    world.a.members.append(ann)
    await world.service.on_voice_state_update(ann, state(None), state(world.a))
    assert not world.service.timers(1)["alone"]
    # Alone again, and the grace period passes: leave.
    world.a.members.remove(ann)
    await world.service.on_voice_state_update(ann, state(world.a), state(None))
    vc = world.guild.voice_client
    await world.sleep.release(60)
    assert world.guild.voice_client is None and vc is not None and vc.disconnected
    assert world.manager.get(1) is None


async def test_leaves_after_the_idle_timeout_and_activity_resets_it(world: World) -> None:
    ann = member(1, world.guild, world.a)
    await world.service.speak(ann, world.utterance())
    await world.until_idle()
    assert world.service.timers(1)["idle"]
    world.service.manager.get_or_create(1).pause()
    world.service.enqueue(1, world.utterance("busy"))
    assert not world.service.timers(1)["idle"]
    world.service.stop(1)
    await world.until_idle()
    assert world.service.timers(1)["idle"]
    await world.sleep.settle()
    await world.sleep.release(600)
    assert world.guild.voice_client is None


async def test_a_forced_disconnect_keeps_the_queue_until_the_bot_is_back(world: World) -> None:
    ann = member(1, world.guild, world.a)
    await world.service.join(ann)
    player = world.manager.get_or_create(1)
    player.pause()
    for text in ("one", "two"):
        world.service.enqueue(1, world.utterance(text))
    old = world.guild.voice_client
    assert old is not None
    await old.disconnect(force=True)  # e.g. a moderator disconnected the bot
    me = SimpleNamespace(id=999, bot=True, guild=world.guild)
    await world.service.on_voice_state_update(me, state(world.a), state(None))  # type: ignore[arg-type]
    assert player.link is None and [u.text for u in [player.current, *player.queue()] if u] == ["one", "two"]
    assert world.service.timers(1)["idle"]  # forgotten only if nobody brings the bot back
    await world.service.join(ann)
    new = world.guild.voice_client
    assert new is not None and new is not old
    assert world.service.resume(1)
    await world.until_idle()
    assert len(new.audio_sources()) == 2


async def test_listing_skip_and_close(world: World) -> None:
    ann = member(1, world.guild, world.a)
    await world.service.join(ann)
    world.service.pause(1)
    for text in ("one", "two", "three"):
        world.service.enqueue(1, world.utterance(text))
    await asyncio.sleep(0)
    now = world.service.now_playing(1)
    assert now is not None and now.text == "one"
    assert [u.text for u in world.service.queue(1)] == ["two", "three"]
    assert world.service.skip(1) is now
    removed = world.service.remove(1, lambda u: u.text == "three")
    assert [u.text for u in removed] == ["three"]
    vc = world.guild.voice_client
    await world.service.close()
    assert vc is not None and vc.disconnected and world.client.voice_clients == []
    assert world.sleep.pending() == []


def test_voice_support_is_checked_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    support = voice_available()
    assert support.ok, support.describe()
    missing = VoiceSupport(("libopus not found (install the libopus0 package)",))
    assert "audio files only" in missing.describe() and "libopus0" in missing.describe()
    with caplog.at_level(logging.INFO):
        first = log_voice_support()
        second = log_voice_support()
    assert first is second
    assert len([r for r in caplog.records if "voice support" in r.getMessage()]) <= 1


# --------------------------------------------------------------------------- concurrent joins
class SlowChannel(Channel):
    """Like discord.py: the voice client is registered on the guild before it is connected;
    a second connect while one is registered fails with "Already connected"."""

    def __init__(self, cid: int, guild: Any) -> None:
        super().__init__(cid, guild)
        self.gate = asyncio.Event()
        self.connects = 0

    async def connect(self, *, timeout: float, reconnect: bool, self_deaf: bool = False) -> GuildVC:  # noqa: ASYNC109
        if self.guild.voice_client is not None:
            raise discord.ClientException("Already connected to a voice channel.")
        self.connects += 1
        vc = GuildVC(asyncio.get_running_loop(), self)
        vc.drop_connection()  # not connected yet
        self.guild.voice_client = vc
        self.guild.client.voice_clients.append(vc)
        self.members.append(self.guild.me)
        await self.gate.wait()  # the voice handshake
        if vc.disconnected:
            raise discord.ClientException("Disconnected while connecting.")
        vc.restore_connection()
        return vc


async def test_two_joins_at_once_share_one_connection() -> None:
    w = World()
    try:
        slow = SlowChannel(20, w.guild)
        ann = member(1, w.guild, slow)
        bob = member(2, w.guild, slow)
        first = asyncio.create_task(w.service.join(ann))
        second = asyncio.create_task(w.service.join(bob))
        for _ in range(5):
            await asyncio.sleep(0)
        slow.gate.set()
        async with asyncio.timeout(5):
            results = await asyncio.gather(first, second, return_exceptions=True)
        assert results == [slow, slow]
        assert slow.connects == 1
        vc = w.guild.voice_client
        assert vc is not None and vc.is_connected() and not vc.disconnected
        assert w.client.voice_clients == [vc]
        player = w.manager.get(1)
        assert player is not None and player.link is not None and player.link.is_connected()
    finally:
        await w.service.close()


class HangingVC(GuildVC):
    async def disconnect(self, *, force: bool = False) -> None:
        await asyncio.Event().wait()  # never returns


async def test_a_stale_client_whose_disconnect_hangs_does_not_hang_the_join() -> None:
    w = World()
    w.service.options = VoiceOptions(alone_grace=60, idle_timeout=600, disconnect_timeout=0.05)
    try:
        stale = HangingVC(asyncio.get_running_loop(), w.a)
        stale.drop_connection()  # e.g. still trying to reconnect
        w.guild.voice_client = stale
        ann = member(1, w.guild, w.a)
        async with asyncio.timeout(2):
            channel = await w.service.join(ann)
        assert channel is w.a
        vc = w.guild.voice_client
        assert vc is not None and vc is not stale and vc.is_connected()
    finally:
        await w.service.close()


async def test_a_leave_then_join_still_works_and_joins_stay_serialised() -> None:
    w = World()
    try:
        ann = member(1, w.guild, w.a)
        await w.service.join(ann)
        assert await w.service.leave(1)
        assert w.service.timers(1) == {"alone": False, "idle": False}
        channel = await w.service.join(ann)
        assert channel is w.a and len(w.client.voice_clients) == 1
    finally:
        await w.service.close()


async def test_a_leave_during_a_join_waits_for_it_and_leaves_nothing_behind() -> None:
    w = World()
    try:
        slow = SlowChannel(20, w.guild)
        ann = member(1, w.guild, slow)
        joining = asyncio.create_task(w.service.join(ann))
        for _ in range(5):
            await asyncio.sleep(0)
        leaving = asyncio.create_task(w.service.leave(1))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not leaving.done()  # the leave waits for the join
        slow.gate.set()
        async with asyncio.timeout(5):
            assert await joining is slow
            assert await leaving is True
        assert w.guild.voice_client is None and w.manager.get(1) is None
        assert w.service.timers(1) == {"alone": False, "idle": False}
        # And the next join works as usual, with its player and idle timer.
        slow.gate.set()
        assert await w.service.join(ann) is slow
        player = w.manager.get(1)
        assert player is not None and player.link is not None and w.service.timers(1)["idle"]
    finally:
        await w.service.close()


async def test_a_refused_join_leaves_no_player_behind(world: World) -> None:
    muted = Channel(12, world.guild, can_speak=False)
    with pytest.raises(VoicePermissionError):
        await world.service.join(member(2, world.guild, muted))
    assert world.manager.get(1) is None and list(world.manager.players()) == []
