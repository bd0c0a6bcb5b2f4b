"""Settling the start-up heap: garbage collected first, survivors out of every later collection."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot.base.heap import settle_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the garbage collector frees it


@pytest.fixture
def unfreeze() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process's objects go back to the collector


def _tracked(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects())


def test_survivors_of_start_up_are_skipped_by_later_collections(unfreeze: None) -> None:
    kept = [_Node() for _ in range(1000)]
    assert _tracked(kept[0])
    settled = settle_heap()
    assert not _tracked(kept[0])  # a full collection no longer walks it
    assert not _tracked(kept)
    assert settled.frozen >= 1001
    later = _Node()
    assert _tracked(later)  # what is made afterwards is collected as usual
    garbage = weakref.ref(_Node())
    gc.collect()
    assert garbage() is None


def test_start_up_garbage_is_collected_not_frozen(unfreeze: None) -> None:
    gc.disable()  # no automatic collection may free it before settle_heap does
    try:
        garbage = weakref.ref(_Node())
        assert garbage() is not None
        settle_heap()
        assert garbage() is None
    finally:
        gc.enable()


def test_the_report_names_what_was_set_aside(unfreeze: None) -> None:
    text = settle_heap().describe()
    assert "start-up objects set aside from garbage collection" in text
    assert " ms instead of " in text
