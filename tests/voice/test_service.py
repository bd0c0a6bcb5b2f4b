"""VoiceService: joining, moving, leaving when alone or idle, disconnects, shutdown.

Discord objects are small stand-ins (member, channel, guild, client) around the recording voice
client; the leave timers run on a controllable sleep, so nothing waits for real grace periods.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from bot.audio.clip import Audio
from bot.speech.request import SpeechRequest
from bot.voice.errors import NotInVoiceError, VoiceBusyError, VoicePermissionError, VoiceUnavailableError
from bot.voice.link import VoiceSupport, log_voice_support, voice_available
from bot.voice.manager import PlayerManager
from bot.voice.service import VoiceOptions, VoiceService
from bot.voice.source import OpusSourceFactory
from bot.voice.utterance import PlayerOptions, Utterance
from tests.voice.test_recording_voice_client import RecordingVoiceClient, needs_opus

pytestmark = needs_opus


class ToneEngine:
    """A stand-in KeyedEngine: 0.2 s of tone per request, at once."""

    name = "tone"
    sample_rate = 24_000

    def __init__(self) -> None:
        self.streams = 0

    def key_for(self, request: SpeechRequest) -> str:
        return request.text

    async def synthesize(self, request: SpeechRequest) -> Audio:
        raise NotImplementedError

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        self.streams += 1
        t = np.arange(4800) / 24_000
        yield (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()


class ManualSleep:
    """Timers wait here until the test releases them."""

    def __init__(self) -> None:
        self.waiting: list[tuple[float, asyncio.Future[None], asyncio.Task[Any] | None]] = []

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append((seconds, fut, asyncio.current_task()))
        await fut

    async def settle(self) -> None:
        """Let freshly created timer tasks reach their sleep."""
        for _ in range(3):
            await asyncio.sleep(0)

    def pending(self) -> list[float]:
        return sorted(d for d, f, _ in self.waiting if not f.done())

    async def release(self, seconds: float) -> None:
        """End the sleeps of `seconds` and wait for their timers to finish what they do."""
        await self.settle()
        tasks = []
        for d, f, task in self.waiting:
            if d == seconds and not f.done():
                f.set_result(None)
                if task is not None:
                    tasks.append(task)
        if tasks:
            await asyncio.wait(tasks, timeout=5)


class Guild:
    def __init__(self, gid: int, client: Client) -> None:
        self.id = gid
        self.client = client
        self.me = SimpleNamespace(id=client.user.id, bot=True)
        self.voice_client: GuildVC | None = None


class Channel:
    def __init__(self, cid: int, guild: Guild, *, can_speak: bool = True) -> None:
        self.id = cid
        self.name = f"voice-{cid}"
        self.guild = guild
        self.members: list[Any] = []
        self.can_speak = can_speak

    def permissions_for(self, member: Any) -> Any:
        return SimpleNamespace(connect=True, speak=self.can_speak)

    async def connect(self, *, timeout: float, reconnect: bool, self_deaf: bool = False) -> GuildVC:  # noqa: ASYNC109
        vc = GuildVC(asyncio.get_running_loop(), self)
        self.guild.voice_client = vc
        self.guild.client.voice_clients.append(vc)
        self.members.append(self.guild.me)
        return vc


class GuildVC(RecordingVoiceClient):
    async def move_to(self, channel: Any, *, timeout: float | None = 30.0) -> None:  # noqa: ASYNC109
        self.channel.members.remove(self.channel.guild.me)
        self.channel = channel
        channel.members.append(channel.guild.me)

    async def disconnect(self, *, force: bool = False) -> None:
        await super().disconnect(force=force)
        guild = self.channel.guild
        if self in guild.client.voice_clients:
            guild.client.voice_clients.remove(self)
            self.channel.members.remove(guild.me)
        guild.voice_client = None


class Client:
    def __init__(self) -> None:
        self.user = SimpleNamespace(id=999)
        self.guilds: dict[int, Guild] = {}
        self.voice_clients: list[GuildVC] = []

    def get_guild(self, gid: int) -> Guild | None:
        return self.guilds.get(gid)


def member(mid: int, guild: Guild, channel: Channel | None, *, bot: bool = False) -> Any:
    m = SimpleNamespace(
        id=mid,
        bot=bot,
        guild=guild,
        display_name=f"m{mid}",
        voice=SimpleNamespace(channel=channel) if channel else None,
    )
    if channel is not None:
        channel.members.append(m)
    return m


def state(channel: Channel | None) -> Any:
    return SimpleNamespace(channel=channel)


class World:
    def __init__(self) -> None:
        self.client = Client()
        self.guild = Guild(1, self.client)
        self.client.guilds[1] = self.guild
        self.a = Channel(10, self.guild)
        self.b = Channel(11, self.guild)
        self.engine = ToneEngine()
        self.idle = asyncio.Event()
        self.manager = PlayerManager(self.engine, OpusSourceFactory(), options=PlayerOptions(preroll_ms=20))
        self.sleep = ManualSleep()
        self.service = VoiceService(
            self.client,  # type: ignore[arg-type]
            self.manager,
            VoiceOptions(alone_grace=60, idle_timeout=600),
            support=VoiceSupport(()),
            sleep=self.sleep.sleep,
        )
        self.manager.set_idle_listener(self._idle_listener)

    def _idle_listener(self, gid: int, idle: bool) -> None:
        self.service._on_idle_change(gid, idle)
        if idle:
            self.idle.set()
        else:
            self.idle.clear()

    def utterance(self, text: str = "hello there") -> Utterance:
        return Utterance(SpeechRequest(text), requester_id=1, requester_name="ann")

    async def until_idle(self) -> None:
        async with asyncio.timeout(5):
            await self.idle.wait()


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
