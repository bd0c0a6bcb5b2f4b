"""What the (discord-free) player needs of the world, as Protocols: the voice connection
(`VoiceLink`, implemented over discord.py by `bot.voice.link.DiscordVoiceLink`), the speech
engine (`StreamEngine`, ideally a `KeyedEngine`: a `CachedEngine`), where Opus packets are kept
(`OpusStore`: the `AudioCache`) and what builds the playable sources (`SourceFactory`:
`bot.voice.source.OpusSourceFactory`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from bot.speech.request import SpeechRequest
from bot.voice.frame_buffer import FrameBuffer


class PlayableSource(Protocol):
    """What the SourceFactory builds (a discord AudioSource in production)."""

    @property
    def finished(self) -> bool:
        """The whole utterance was played (not stopped, not cut by a disconnect)."""
        ...


class VoiceLink(Protocol):
    """The voice connection of one server, as the player needs it.

    `play()` starts playing `source` and must call `on_end(error)` exactly once, on the event
    loop thread, when that playback ends for any reason (end of audio, stop(), disconnect).
    It raises if it cannot play (not connected, already playing).
    """

    def is_connected(self) -> bool: ...

    def play(self, source: PlayableSource, on_end: Callable[[BaseException | None], None]) -> None: ...

    def stop(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class StreamEngine(Protocol):
    """What the player needs of a SpeechEngine (bot.speech.engine.SpeechEngine has it)."""

    @property
    def name(self) -> str: ...

    @property
    def sample_rate(self) -> int: ...

    def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]: ...


class KeyedEngine(StreamEngine, Protocol):
    """An engine that names its sounds (`CachedEngine`), so their Opus packets can be
    stored and replayed. `key_for` may return None when it cannot tell which sound the engine
    would produce (then nothing is looked up or stored). The player asks again once an
    utterance has played and stores its packets only if the answer is unchanged, so an engine
    that switched sources mid-way (a fallback) can say so by answering differently (or None).
    Engines without `key_for` play normally, with no Opus caching.
    """

    def key_for(self, request: SpeechRequest) -> str | None: ...


class OpusStore(Protocol):
    """Where encoded packets are kept between playbacks (bot.speech.cache.audio_cache.AudioCache)."""

    async def get_opus(self, key: str, profile: str) -> list[bytes] | None: ...

    async def put_opus(self, key: str, profile: str, packets: list[bytes]) -> None: ...


class SourceFactory(Protocol):
    """Builds playable sources; `profile` names the encoder settings of stored packets."""

    @property
    def profile(self) -> str: ...

    def streaming(
        self,
        buffer: FrameBuffer,
        *,
        on_complete: Callable[[list[bytes]], None] | None,
        on_abort: Callable[[], None] | None,
    ) -> PlayableSource: ...

    def stored(self, packets: Sequence[bytes]) -> PlayableSource: ...
