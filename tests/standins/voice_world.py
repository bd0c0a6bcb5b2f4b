"""A small voice world for VoiceService: a client with one server, two voice channels,
members, a tone engine and the real player manager around the recording voice client; the
leave timers run on a sleep the test releases, so nothing waits for real grace periods."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import numpy as np

from bot.audio.clip import Audio
from bot.speech.request import SpeechRequest
from bot.voice.link import VoiceSupport
from bot.voice.manager import PlayerManager
from bot.voice.service import VoiceOptions, VoiceService
from bot.voice.source import OpusSourceFactory
from bot.voice.utterance import PlayerOptions, Utterance
from tests.standins.voice_client import RecordingVoiceClient


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
