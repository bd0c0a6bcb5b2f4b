"""Queue tags of messages read aloud: an edit or a deletion before an utterance is spoken
finds it in the server's queue by its `ReadAloudTag` and drops it. No discord import."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReadAloudTag:
    """`Utterance.tag` of a message read aloud: which message, and the content it was read
    from (an edit that changes the content drops the utterance; an embed appearing does not)."""

    message_id: int
    channel_id: int
    content: str


def deleted_predicate(message_ids: frozenset[int]) -> Callable[[object], bool]:
    """Matches the tag of an utterance made from one of `message_ids`: read-aloud tags, and the
    plain message id the "Read aloud" context menu uses."""

    def matches(tag: object) -> bool:
        if isinstance(tag, ReadAloudTag):
            return tag.message_id in message_ids
        return isinstance(tag, int) and not isinstance(tag, bool) and tag in message_ids

    return matches


def edited_predicate(message_id: int, new_content: str | None) -> Callable[[object], bool]:
    """Matches the read-aloud tag of `message_id` if its content changed (None: unknown, so
    treat it as changed)."""

    def matches(tag: object) -> bool:
        return (
            isinstance(tag, ReadAloudTag)
            and tag.message_id == message_id
            and (new_content is None or tag.content != new_content)
        )

    return matches
