"""Style instructions as espeak-ng can follow them: faster/slower change the speed,
louder/softer the volume, whisper the whisper variant, higher/lower the pitch (English words and
Chinese equivalents). The rest is ignored; `describe_style()` tells `/style show` what is
applied and whether anything was ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["StyleEffect", "describe_style", "interpret_style"]


@dataclass(frozen=True, slots=True)
class _StyleRule:
    label: str
    pattern: re.Pattern[str]


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


_STYLE_RULES: tuple[_StyleRule, ...] = (
    _StyleRule(
        "faster",
        _words(
            r"fast(?:er)?",
            r"quick(?:ly|er)?",
            r"rapid(?:ly)?",
            r"brisk(?:ly)?",
            r"hurried(?:ly)?",
            r"speed\s+up",
            r"hast(?:y|ily)",
        ),
    ),
    _StyleRule("faster", re.compile(r"(?<![愉痛凉爽欢])快(?![乐活])|急促|迅速")),
    _StyleRule("slower", _words(r"slow(?:er|ly)?", r"unhurried(?:ly)?", r"leisurely", r"drawl(?:ing)?")),
    _StyleRule("slower", re.compile(r"(?<!傲)慢|缓慢|从容")),
    _StyleRule("louder", _words(r"loud(?:er|ly)?", r"shout(?:ing|ed)?", r"yell(?:ing|ed)?", r"booming")),
    _StyleRule("louder", re.compile(r"大声|响亮|洪亮|喊")),
    _StyleRule("whisper", _words(r"whisper(?:ing|ed|y)?", r"hushed")),
    _StyleRule("whisper", re.compile(r"耳语|悄悄")),
    _StyleRule("softer", _words(r"soft(?:er|ly)?", r"quiet(?:er|ly)?", r"murmur(?:ing|ed)?")),
    _StyleRule("softer", re.compile(r"小声|轻声|低声|轻柔")),
    _StyleRule("higher", _words(r"higher", r"high[-\s]pitch(?:ed)?", r"squeaky", r"shrill")),
    _StyleRule("higher", re.compile(r"高音|音调高|高一点|高亢|尖细|尖声")),
    _StyleRule("lower", _words(r"lower", r"deeper", r"deep", r"low[-\s]pitch(?:ed)?", r"bass")),
    _StyleRule("lower", re.compile(r"低沉|低音|音调低|低一点|深沉|浑厚")),
)

# Words that carry no style of their own; anything else left over counts as "ignored".
_FILLER = _words(
    *"""a an the and or but bit little lot more much very really slightly somewhat rather quite
    please speak speaking talk talking read reading say voice tone pitch volume speed pace rate in
    with at of to be it its your than usual normal up down make use sound sounding way manner style
    go""".split()
)
_CJK_FILLER = re.compile(r"[请用说话讲读一点些稍微更很非常地的得声音语调速度气吧再把]")


@dataclass(frozen=True, slots=True)
class StyleEffect:
    """What espeak does with a style instruction."""

    applied: tuple[str, ...] = ()  # labels: faster, slower, louder, softer, whisper, higher, lower
    ignored: bool = False  # the instruction asks for things espeak cannot do

    @property
    def rate_factor(self) -> float:
        return (1.35 if "faster" in self.applied else 1.0) * (0.7 if "slower" in self.applied else 1.0)

    @property
    def volume_delta(self) -> int:
        return (50 if "louder" in self.applied else 0) - (45 if "softer" in self.applied else 0)

    @property
    def pitch_delta(self) -> int:
        return (25 if "higher" in self.applied else 0) - (25 if "lower" in self.applied else 0)

    @property
    def whisper(self) -> bool:
        return "whisper" in self.applied


def interpret_style(instructions: str | None) -> StyleEffect:
    """Read a free-text style instruction for what espeak can do."""
    if not instructions or not instructions.strip():
        return StyleEffect()
    applied: list[str] = []
    rest = instructions
    for rule in _STYLE_RULES:
        if rule.pattern.search(rest):
            if rule.label not in applied:
                applied.append(rule.label)
            rest = rule.pattern.sub(" ", rest)
    rest = _CJK_FILLER.sub(" ", _FILLER.sub(" ", rest))
    ignored = any(ch.isalpha() for ch in rest)
    return StyleEffect(tuple(applied), ignored)


def describe_style(instructions: str | None) -> tuple[list[str], bool]:
    """(what the local engine applies, whether part of the instruction is ignored)."""
    effect = interpret_style(instructions)
    return list(effect.applied), effect.ignored
