"""The benchmarks print a figure only when what they measured is what the figure claims."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import bench_cache
from benchmarks.bench_voice import RoundResult, median_round, sustained
from benchmarks.premise import PremiseFailed
from bot.speech.cache.audio_cache import AudioCache


async def test_a_hit_section_that_did_not_hit_prints_no_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def never_found(self: AudioCache, key: str) -> None:
        return None

    monkeypatch.setattr(AudioCache, "get_memory", never_found)  # the memory tier forgets everything
    monkeypatch.setattr(AudioCache, "peek", never_found)
    with pytest.raises(PremiseFailed, match="memory hit section: 0 memory hits of 6000 lookups"):
        await bench_cache.bench_hits(tmp_path)
    assert "AudioCache.get" not in capsys.readouterr().out


def round_of(late: int = 0, silence: int = 0, worst: float = 0.0) -> RoundResult:
    return RoundResult(4, 8.0, 400, late, worst, silence, 0.1, 0.01, 2.0, 4, 0)


def test_underrun_silence_fails_a_round_and_the_median_attempt_counts() -> None:
    assert not round_of(silence=3).clean and not round_of(late=1).clean and round_of().clean
    best, middle, worst = round_of(), round_of(late=2), round_of(late=40)
    assert median_round([worst, best, middle]) is middle  # not the best of three
    assert sustained([median_round([best, middle, worst])]) == 0
    assert sustained([median_round([best, best, round_of(silence=5)])]) == 4
