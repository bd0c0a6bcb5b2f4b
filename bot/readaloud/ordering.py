"""The order of arrival per server across concurrent read-aloud handlers (`OrderedLine`,
`Ticket`), and the messages being prepared meanwhile (`InFlight`: a deletion or an edit drops
them before they are queued). Event loop only; no discord import."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable


class Ticket:
    """A place in an `OrderedLine`: `wait()` returns once every earlier ticket of the same key is
    done; `done()` (always call it, e.g. in `finally`) lets the next one go."""

    def __init__(self, previous: asyncio.Future[None] | None, mine: asyncio.Future[None]) -> None:
        self._previous = previous
        self._mine = mine

    async def wait(self) -> None:
        if self._previous is not None and not self._previous.done():
            await asyncio.shield(self._previous)  # a cancelled waiter must not cancel the chain

    def done(self) -> None:
        previous, mine = self._previous, self._mine
        if mine.done():
            return
        if previous is None or previous.done():
            mine.set_result(None)
        else:  # finished early (e.g. rejected): still let the next one go only after ours

            def release(_: asyncio.Future[None]) -> None:
                if not mine.done():
                    mine.set_result(None)

            previous.add_done_callback(release)


class OrderedLine:
    """Keeps the order of arrival per key (per server) across concurrent handlers: take a
    ticket before the first await, prepare concurrently, `await ticket.wait()`, then queue."""

    def __init__(self) -> None:
        self._tails: dict[Hashable, asyncio.Future[None]] = {}

    def ticket(self, key: Hashable) -> Ticket:
        previous = self._tails.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = mine

        def forget(future: asyncio.Future[None]) -> None:
            if self._tails.get(key) is future:
                del self._tails[key]

        mine.add_done_callback(forget)
        return Ticket(previous, mine)

    def __len__(self) -> int:
        return len(self._tails)


class InFlight:
    """Messages being prepared (accepted, not yet queued): a deletion or a content edit that
    arrives meanwhile finds nothing in the queue, so it is noted here and checked before
    queueing."""

    def __init__(self) -> None:
        self._content: dict[int, str] = {}
        self._gone: set[int] = set()

    def start(self, message_id: int, content: str) -> None:
        self._content[message_id] = content
        self._gone.discard(message_id)

    def deleted(self, message_ids: frozenset[int]) -> None:
        self._gone.update(m for m in message_ids if m in self._content)

    def edited(self, message_id: int, content: str | None) -> None:
        original = self._content.get(message_id)
        if original is not None and (content is None or content != original):
            self._gone.add(message_id)

    def gone(self, message_id: int) -> bool:
        return message_id in self._gone

    def finish(self, message_id: int) -> None:
        self._content.pop(message_id, None)
        self._gone.discard(message_id)

    def __len__(self) -> int:
        return len(self._content)
