"""discord.py's side of voice: is voice usable at all (`voice_available()` /
`log_voice_support()`: libopus, PyNaCl, davey; if not, one clear line at start, and the bot
answers with audio files only), and `DiscordVoiceLink`, the player's `VoiceLink` over a
`discord.VoiceClient`: by default its playbacks go to the shared sender (`bot.voice.sender`);
with `classic=True` (`VOICE_SENDER=classic`), or for a client or source the sender cannot take,
to discord.py's own per-playback player (`VoiceClient.play`)."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import discord

from bot.voice.loop_calls import loop_calls
from bot.voice.packet_path import packet_path_for
from bot.voice.ports import PlayableSource
from bot.voice.sender import Playback, SenderFeed, VoiceSender, default_sender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceSupport:
    missing: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing

    def describe(self) -> str:
        if self.ok:
            return "voice support: OK (libopus, PyNaCl, davey)"
        return (
            "voice support missing: "
            + "; ".join(self.missing)
            + " - the bot runs without voice channels and answers with audio files only"
        )


def voice_available() -> VoiceSupport:
    """Check libopus (loadable by discord.opus), PyNaCl and davey (both needed by VoiceClient)."""
    missing: list[str] = []
    try:
        discord.opus.Encoder.get_opus_version()  # loads libopus if it is not loaded yet
    except Exception:
        missing.append("libopus not found (install the libopus0 package)")
    if importlib.util.find_spec("nacl") is None:
        missing.append("PyNaCl not installed (pip install 'discord.py[voice]')")
    if importlib.util.find_spec("davey") is None:
        missing.append("davey not installed (pip install 'discord.py[voice]'; Discord requires DAVE)")
    return VoiceSupport(tuple(missing))


_logged_support: VoiceSupport | None = None


def log_voice_support(logger: logging.Logger = log) -> VoiceSupport:
    """Check voice support and log the result once per process (a warning if something is missing)."""
    global _logged_support
    if _logged_support is None:
        _logged_support = voice_available()
        if _logged_support.ok:
            logger.info(_logged_support.describe())
        else:
            logger.warning(_logged_support.describe())
    return _logged_support


# --------------------------------------------------------------------------- link
class DiscordVoiceLink:
    """`VoiceLink` over a discord.py VoiceClient: `after` is bridged to the event loop."""

    def __init__(
        self,
        voice_client: discord.VoiceClient,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        sender: VoiceSender | None = None,
        classic: bool = False,
    ) -> None:
        self.voice_client = voice_client
        self._loop = loop or asyncio.get_running_loop()
        self._path = None if classic else packet_path_for(voice_client)
        self._sender = sender
        self._playback: Playback | None = None

    @property
    def shared(self) -> bool:
        """Whether playbacks go to the shared sender (not discord.py's per-playback player)."""
        return self._path is not None

    def is_connected(self) -> bool:
        return self.voice_client.is_connected()

    def play(self, source: PlayableSource, on_end: Callable[[BaseException | None], None]) -> None:
        if not isinstance(source, discord.AudioSource):
            raise TypeError(f"expected a discord AudioSource, not {type(source).__name__}")
        calls = loop_calls(self._loop)

        def after(error: BaseException | None) -> None:  # the player or sender thread
            calls.call(on_end, error)  # (dropped if the loop is closed: shutting down)

        path = self._path
        if path is not None and hasattr(source, "take"):
            if self._playback is not None:
                self._playback.stop()  # stale (see below); no-op when it has ended
            if not path.is_connected():
                raise discord.ClientException("Not connected to voice.")
            sender = self._sender if self._sender is not None else default_sender()
            self._playback = sender.play(cast(SenderFeed, source), path, after)
            return
        vc = self.voice_client
        if vc.is_playing() or vc.is_paused():
            # The player only plays after the previous playback's on_end, so this is a stale
            # discord player: one that gave up waiting for a reconnect returns without marking
            # itself stopped, and play() would refuse with "Already playing audio".
            vc.stop()
        vc.play(source, after=after)

    def stop(self) -> None:
        if self._playback is not None:
            self._playback.stop()
        else:
            self.voice_client.stop()

    def pause(self) -> None:
        if self._playback is not None:
            self._playback.pause()
        else:
            self.voice_client.pause()

    def resume(self) -> None:
        if self._playback is not None:
            self._playback.resume()
        else:
            self.voice_client.resume()
