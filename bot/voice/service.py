"""Glue between discord.py's voice connections and the (discord-free) per-server players.

`VoiceService` is what the Discord layer calls: join the requester's channel, enqueue, skip,
stop, pause/resume, list, leave; it forwards voice state updates, leaves when no human is left
(after a grace period) and after an idle timeout, and keeps the queue across disconnects.
Voice support and the `VoiceLink` over a VoiceClient are in bot.voice.link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.base.config import DEFAULT_ENCODE_PROCESSES
from bot.base.i18n import say
from bot.voice.errors import (
    NotInVoiceError,
    VoiceBusyError,
    VoiceConnectError,
    VoicePermissionError,
    VoiceUnavailableError,
)
from bot.voice.link import DiscordVoiceLink, VoiceSupport, log_voice_support
from bot.voice.manager import PlayerManager
from bot.voice.player import GuildPlayer
from bot.voice.sender import default_sender
from bot.voice.utterance import Utterance

if TYPE_CHECKING:
    from bot.base.config import Settings

log = logging.getLogger(__name__)

VoiceChannel = discord.VoiceChannel | discord.StageChannel
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class VoiceOptions:
    alone_grace: float = 60.0
    idle_timeout: float = 600.0
    connect_timeout: float = 20.0
    disconnect_timeout: float = 10.0
    classic_sender: bool = False  # VOICE_SENDER=classic: discord.py's thread per playback
    encode_processes: int = DEFAULT_ENCODE_PROCESSES  # VOICE_ENCODE_PROCESSES

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceOptions:
        return cls(
            alone_grace=settings.alone_grace_seconds,
            idle_timeout=settings.idle_timeout_seconds,
            classic_sender=settings.voice_sender == "classic",
            encode_processes=settings.voice_encode_processes,
        )


class _GuildVoice:
    """Per-server voice state: the link in use, the two leave timers and the join lock."""

    def __init__(self) -> None:
        self.link: DiscordVoiceLink | None = None
        # One join at a time per server: discord.py registers a voice client before it is
        # connected, and a second join would take it for a stale one and tear it down.
        self.join_lock = asyncio.Lock()
        self.alone_timer: asyncio.Task[None] | None = None
        self.idle_timer: asyncio.Task[None] | None = None

    def cancel_timers(self) -> None:
        for timer in (self.alone_timer, self.idle_timer):
            if timer is not None and not timer.done():
                timer.cancel()
        self.alone_timer = self.idle_timer = None


class VoiceService:
    """Voice channels and players for every server. Use from the event loop.

    The Bot must forward `on_voice_state_update(member, before, after)` here (it needs the
    `voice_states` intent) and call `close()` on shutdown.
    """

    def __init__(
        self,
        client: discord.Client,
        manager: PlayerManager,
        options: VoiceOptions | None = None,
        *,
        support: VoiceSupport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.client = client
        self.manager = manager
        self.options = options or VoiceOptions()
        self.support = support if support is not None else log_voice_support()
        self._sleep = sleep
        self._guilds: dict[int, _GuildVoice] = {}
        self._closed = False
        manager.set_idle_listener(self._on_idle_change)
        if not self.options.classic_sender:  # the first call decides (the process has one)
            default_sender(encode_processes=self.options.encode_processes)

    @property
    def available(self) -> bool:
        return self.support.ok

    # ------------------------------------------------------------------ connection
    def voice_client(self, guild: discord.Guild) -> discord.VoiceClient | None:
        return cast("discord.VoiceClient | None", guild.voice_client)

    def connected_channel(self, guild: discord.Guild) -> VoiceChannel | None:
        vc = self.voice_client(guild)
        if vc is None or not vc.is_connected():
            return None
        return vc.channel

    async def join(self, member: discord.Member, *, move: bool = False) -> VoiceChannel:
        """Connect to `member`'s voice channel (or stay, or move there) and attach the player.

        Moves away from another channel of the server only if the player is idle or `move`.
        Raises a VoiceError with a sentence for the member. Joins in one server run one after
        the other (a second one finds the first one's connection and reuses it).
        """
        if not self.available:
            raise VoiceUnavailableError()
        state = member.voice
        channel = state.channel if state is not None else None
        if channel is None:
            raise NotInVoiceError()
        guild_id = member.guild.id
        while True:
            entry = self._guilds.setdefault(guild_id, _GuildVoice())
            async with entry.join_lock:
                if self._guilds.get(guild_id) is entry:  # else a leave() dropped it meanwhile
                    return await self._join_locked(member, channel, move=move)

    async def _join_locked(
        self, member: discord.Member, channel: VoiceChannel, *, move: bool
    ) -> VoiceChannel:
        guild = member.guild
        vc = self.voice_client(guild)
        existing = self.manager.get(guild.id)
        if vc is not None and vc.is_connected():
            if vc.channel.id != channel.id:
                if not move and existing is not None and not existing.is_idle:
                    raise VoiceBusyError(_mention(vc.channel))
                self._check_permissions(channel)
                try:
                    async with asyncio.timeout(self.options.connect_timeout):
                        await vc.move_to(channel)
                except (TimeoutError, discord.DiscordException) as exc:
                    log.warning("guild %s: moving to %s failed: %r", guild.id, channel.id, exc)
                    raise VoiceConnectError(_mention(channel)) from None
        else:
            if vc is not None:  # a stale client (e.g. still trying to reconnect): start afresh
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self.options.disconnect_timeout):
                        await vc.disconnect(force=True)
            self._check_permissions(channel)
            try:
                vc = await channel.connect(
                    timeout=self.options.connect_timeout, reconnect=True, self_deaf=True
                )
            except (TimeoutError, discord.DiscordException, OSError) as exc:
                log.warning("guild %s: connecting to %s failed: %r", guild.id, channel.id, exc)
                raise VoiceConnectError(_mention(channel)) from None
        player = self.manager.get_or_create(guild.id)  # only once connected: a refusal leaves none
        self._attach(guild.id, vc, player)
        self._check_alone(guild)
        # A join restarts the idle countdown.
        self._on_idle_change(guild.id, False)
        if player.is_idle:
            self._on_idle_change(guild.id, True)
        return channel

    @staticmethod
    def can_speak_in(channel: VoiceChannel) -> bool:
        """Whether the bot has the Connect and Speak permissions in `channel`."""
        perms = channel.permissions_for(channel.guild.me)
        return bool(perms.connect and perms.speak)

    def _check_permissions(self, channel: VoiceChannel) -> None:
        if not self.can_speak_in(channel):
            raise VoicePermissionError(_mention(channel))

    def _attach(self, guild_id: int, vc: discord.VoiceClient, player: GuildPlayer) -> None:
        entry = self._guilds.setdefault(guild_id, _GuildVoice())
        if entry.link is None or entry.link.voice_client is not vc:
            entry.link = DiscordVoiceLink(vc, classic=self.options.classic_sender)
        if player.link is not entry.link:
            player.attach(entry.link)

    async def leave(self, guild_id: int) -> bool:
        """Stop, drop the queue and disconnect. Returns whether the bot was connected.

        Takes the server's join lock: a leave during a join waits for the join, then undoes it
        (never a connection without a player, or a player without its timers)."""
        entry = self._guilds.setdefault(guild_id, _GuildVoice())
        async with entry.join_lock:
            if self._guilds.get(guild_id) is entry:
                del self._guilds[guild_id]
            entry.cancel_timers()
            return await self._leave_locked(guild_id)

    async def _leave_locked(self, guild_id: int) -> bool:
        await self.manager.close_player(guild_id)
        guild = self.client.get_guild(guild_id)
        vc = self.voice_client(guild) if guild is not None else None
        if vc is None:
            return False
        was_connected = vc.is_connected()
        try:
            async with asyncio.timeout(self.options.disconnect_timeout):
                await vc.disconnect(force=False)
        except Exception as exc:
            log.warning("guild %s: disconnect failed: %r", guild_id, exc)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.options.disconnect_timeout):
                    await vc.disconnect(force=True)
        return was_connected

    # ------------------------------------------------------------------ queue
    async def speak(self, member: discord.Member, utterance: Utterance, *, move: bool = False) -> int:
        """Join `member`'s channel if needed, then queue `utterance`; returns its position."""
        await self.join(member, move=move)
        return self.enqueue(member.guild.id, utterance)

    def enqueue(self, guild_id: int, utterance: Utterance) -> int:
        """Queue `utterance` (raises QueueFullError); 0 = playing next."""
        return self.manager.get_or_create(guild_id).enqueue(utterance)

    def queue_full(self, guild_id: int) -> int | None:
        """The queue limit if the server's queue is full (a new utterance would be refused by
        `enqueue`), else None."""
        player = self.manager.get(guild_id)
        if player is not None and player.pending >= player.options.queue_max:
            return player.options.queue_max
        return None

    def skip(self, guild_id: int) -> Utterance | None:
        player = self.manager.get(guild_id)
        return player.skip() if player is not None else None

    def stop(self, guild_id: int) -> int:
        """Stop playback and clear the queue; returns how many utterances were dropped."""
        player = self.manager.get(guild_id)
        return player.clear() if player is not None else 0

    def pause(self, guild_id: int) -> bool:
        player = self.manager.get(guild_id)
        return player.pause() if player is not None else False

    def resume(self, guild_id: int) -> bool:
        player = self.manager.get(guild_id)
        return player.resume() if player is not None else False

    def now_playing(self, guild_id: int) -> Utterance | None:
        player = self.manager.get(guild_id)
        return player.current if player is not None else None

    def queue(self, guild_id: int) -> list[Utterance]:
        player = self.manager.get(guild_id)
        return player.queue() if player is not None else []

    def remove(
        self, guild_id: int, predicate: Callable[[Utterance], bool], *, include_current: bool = False
    ) -> list[Utterance]:
        player = self.manager.get(guild_id)
        return player.remove(predicate, include_current=include_current) if player is not None else []

    def remove_unplayed(self, guild_id: int, predicate: Callable[[Utterance], bool]) -> list[Utterance]:
        """Like `remove`, but the current utterance only while it has not started playing."""
        player = self.manager.get(guild_id)
        if player is None:
            return []
        return player.remove(predicate, include_current=not player.is_playing)

    # ------------------------------------------------------------------ events
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        """Forwarded from the Bot's listener: track our own connection and who is left with us."""
        guild = member.guild
        me = self.client.user
        if me is not None and member.id == me.id:
            if after.channel is None:
                self._on_disconnected(guild.id)
            else:
                vc = self.voice_client(guild)
                player = self.manager.get(guild.id)
                if vc is not None and player is not None:
                    self._attach(guild.id, vc, player)
                self._check_alone(guild)
            return
        ours = self.connected_channel(guild)
        if ours is None:
            return
        if (before.channel is not None and before.channel.id == ours.id) or (
            after.channel is not None and after.channel.id == ours.id
        ):
            self._check_alone(guild)

    def _on_disconnected(self, guild_id: int) -> None:
        """We were disconnected (kicked, channel deleted, network): keep the queue, stop playing."""
        entry = self._guilds.get(guild_id)
        if entry is not None:
            entry.link = None
            if entry.alone_timer is not None:
                entry.alone_timer.cancel()
                entry.alone_timer = None
        player = self.manager.get(guild_id)
        if player is not None:
            player.detach()
            log.info("guild %s: voice disconnected; %d utterance(s) kept", guild_id, player.pending)
            # If nobody brings the bot back, forget the queue after the idle timeout.
            self._start_idle_timer(guild_id)

    def _check_alone(self, guild: discord.Guild) -> None:
        channel = self.connected_channel(guild)
        entry = self._guilds.setdefault(guild.id, _GuildVoice())
        alone = channel is not None and not any(not m.bot for m in channel.members)
        if alone:
            if entry.alone_timer is None or entry.alone_timer.done():
                entry.alone_timer = self._timer(guild.id, self.options.alone_grace, "alone")
        elif entry.alone_timer is not None:
            entry.alone_timer.cancel()
            entry.alone_timer = None

    def _on_idle_change(self, guild_id: int, idle: bool) -> None:
        if self._closed:
            return
        if idle:
            self._start_idle_timer(guild_id)
        else:
            entry = self._guilds.get(guild_id)
            if entry is not None and entry.idle_timer is not None:
                entry.idle_timer.cancel()
                entry.idle_timer = None

    def _start_idle_timer(self, guild_id: int) -> None:
        entry = self._guilds.setdefault(guild_id, _GuildVoice())
        if entry.idle_timer is None or entry.idle_timer.done():
            entry.idle_timer = self._timer(guild_id, self.options.idle_timeout, "idle")

    def _timer(self, guild_id: int, delay: float, reason: str) -> asyncio.Task[None]:
        async def fire() -> None:
            await self._sleep(delay)
            entry = self._guilds.get(guild_id)
            if entry is not None:  # this task is ending: do not let leave() cancel it
                if reason == "alone":
                    entry.alone_timer = None
                else:
                    entry.idle_timer = None
            if reason == "alone":
                guild = self.client.get_guild(guild_id)
                channel = self.connected_channel(guild) if guild is not None else None
                if channel is not None and any(not m.bot for m in channel.members):
                    return  # somebody came back
            elif reason == "idle":
                player = self.manager.get(guild_id)
                if player is not None and not player.is_idle and player.link is not None:
                    return  # busy again
            log.info("guild %s: leaving voice (%s)", guild_id, reason)
            await self.leave(guild_id)

        return asyncio.get_running_loop().create_task(fire(), name=f"parla-voice-{reason}-{guild_id}")

    def timers(self, guild_id: int) -> dict[str, bool]:
        """Which leave timers are running for a server (for tests and diagnostics)."""
        entry = self._guilds.get(guild_id)
        if entry is None:
            return {"alone": False, "idle": False}
        return {
            "alone": entry.alone_timer is not None and not entry.alone_timer.done(),
            "idle": entry.idle_timer is not None and not entry.idle_timer.done(),
        }

    # ------------------------------------------------------------------ shutdown
    async def close(self) -> None:
        """Stop every player, close every stream, cancel every timer, disconnect from voice."""
        self._closed = True
        timers: list[asyncio.Task[Any]] = []
        for entry in self._guilds.values():
            timers.extend(t for t in (entry.alone_timer, entry.idle_timer) if t is not None)
            entry.cancel_timers()
        self._guilds.clear()
        if timers:
            await asyncio.gather(*timers, return_exceptions=True)
        await self.manager.close_all()
        await asyncio.to_thread(default_sender().close)  # no sender thread is left
        clients = [vc for vc in self.client.voice_clients]
        for vc in clients:
            try:
                async with asyncio.timeout(self.options.disconnect_timeout):
                    await vc.disconnect(force=True)
            except Exception as exc:
                log.warning("disconnect on shutdown failed: %r", exc)


def _mention(channel: Any) -> str:
    name = getattr(channel, "name", None)
    return f"#{name}" if name else say("voice.channel.that")
