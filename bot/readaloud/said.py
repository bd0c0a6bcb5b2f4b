"""The "NAME said" memory: when read-aloud says who is speaking, and when it leaves the name
out (a member's consecutive messages in one channel). The phrase itself is the text room's
`said_prefix`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.text.clean import said_prefix

__all__ = ["SpeakerPrefixer"]


class SpeakerPrefixer:
    """Decides when to say "NAME said": not for a member's consecutive messages in the same
    channel within `window_seconds` of their previous one.

    State is kept per server (the bot speaks in one voice channel per server): the name is
    omitted only if the last message read in that server came from the same member in the same
    channel, at most `window_seconds` earlier (so Alice, Bob, Alice names Alice twice).
    `should_name`/`prefix` record the message by default: call them once per message read.
    """

    def __init__(
        self,
        window_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_servers: int = 10_000,
    ) -> None:
        if window_seconds < 0:
            raise ValueError("window_seconds must not be negative")
        self.window_seconds = window_seconds
        self._clock = clock
        self._max = max_servers
        self._last: dict[int, tuple[int, int, float]] = {}

    def should_name(
        self,
        guild_id: int,
        channel_id: int,
        author_id: int,
        now: float | None = None,
        *,
        record: bool = True,
    ) -> bool:
        """True if the name should be said for this message. With `record` (the default) the
        message becomes the server's last one; with `record=False` nothing changes (call
        `remember` once the message is known to be read, e.g. its cleaned text is not empty)."""
        if now is None:
            now = self._clock()
        last = self._last.get(guild_id)
        same = (
            last is not None
            and last[0] == channel_id
            and last[1] == author_id
            and 0 <= now - last[2] <= self.window_seconds
        )
        if record:
            self.remember(guild_id, channel_id, author_id, now)
        return not same

    def remember(self, guild_id: int, channel_id: int, author_id: int, now: float | None = None) -> None:
        """Record a message that will be read as the server's last one."""
        if now is None:
            now = self._clock()
        self._last[guild_id] = (channel_id, author_id, now)
        if len(self._last) > self._max:
            self._prune(now)

    def prefix(
        self,
        guild_id: int,
        channel_id: int,
        author_id: int,
        name: str,
        now: float | None = None,
        *,
        language: str = "English",
    ) -> str:
        """ "NAME said, " (in `language`), or "" when the name is omitted."""
        if self.should_name(guild_id, channel_id, author_id, now):
            return said_prefix(name, language)
        return ""

    def forget(self, guild_id: int) -> None:
        """Forget the server's last speaker (e.g. when the bot leaves voice)."""
        self._last.pop(guild_id, None)

    def _prune(self, now: float) -> None:
        expired = [g for g, (_, _, t) in self._last.items() if now - t > self.window_seconds]
        for guild in expired:
            del self._last[guild]
        while len(self._last) > self._max:  # all recent: drop the oldest entries
            del self._last[next(iter(self._last))]
