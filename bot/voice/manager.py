"""All servers' players: one `GuildPlayer` per server, made on first use with the shared
engine, sources, store and options; one listener hears when any of them goes idle or busy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from bot.base.metrics import Histogram
from bot.voice.errors import PlayerClosedError
from bot.voice.player import GuildPlayer
from bot.voice.ports import OpusStore, SourceFactory, StreamEngine
from bot.voice.utterance import PlayerOptions


class PlayerManager:
    """One GuildPlayer per server."""

    def __init__(
        self,
        engine: StreamEngine,
        sources: SourceFactory,
        *,
        store: OpusStore | None = None,
        options: PlayerOptions | None = None,
        on_idle_change: Callable[[int, bool], None] | None = None,
        first_audio: Histogram | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.sources = sources
        self.store = store
        self.options = options or PlayerOptions()
        self.first_audio = first_audio
        self.clock = clock
        self._on_idle_change = on_idle_change
        self._players: dict[int, GuildPlayer] = {}
        self._closed = False

    def get(self, guild_id: int) -> GuildPlayer | None:
        return self._players.get(guild_id)

    def get_or_create(self, guild_id: int) -> GuildPlayer:
        if self._closed:
            raise PlayerClosedError()
        player = self._players.get(guild_id)
        if player is None or player.closed:
            player = GuildPlayer(
                guild_id,
                self.engine,
                self.sources,
                store=self.store,
                options=self.options,
                on_idle_change=lambda idle: self._notify_idle(guild_id, idle),
                first_audio=self.first_audio,
                clock=self.clock,
            )
            self._players[guild_id] = player
        return player

    def set_idle_listener(self, listener: Callable[[int, bool], None] | None) -> None:
        """`listener(guild_id, idle)` is called when a player becomes idle (True) or busy (False)."""
        self._on_idle_change = listener

    def _notify_idle(self, guild_id: int, idle: bool) -> None:
        if self._on_idle_change is not None:
            self._on_idle_change(guild_id, idle)

    def players(self) -> Iterable[GuildPlayer]:
        return list(self._players.values())

    def __len__(self) -> int:
        return len(self._players)

    async def close_player(self, guild_id: int) -> None:
        player = self._players.pop(guild_id, None)
        if player is not None:
            await player.close()

    async def close_all(self) -> None:
        self._closed = True
        players = list(self._players.values())
        self._players.clear()
        await asyncio.gather(*(p.close() for p in players), return_exceptions=True)
