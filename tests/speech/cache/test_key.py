"""The cache key: which requests share a sound and which never do."""

from __future__ import annotations

import hashlib

import pytest

from bot.base.errors import InputError
from bot.speech.cache.key import cache_key, opus_key
from bot.speech.request import SpeechRequest as R

ENGINE = "api:relay:qwen3-tts-instruct-flash"

# Pairs that must share one cache entry.
EQUAL = [
    ("surrounding whitespace", R("hello there"), R("  hello there \n")),
    ("NFC vs NFD", R("caf\u00e9"), R("cafe\u0301")),
    ("voice case", R("hi", voice="Cherry"), R("hi", voice="cherry")),
    ("voice spacing", R("hi", voice="Cherry"), R("hi", voice=" CHERRY ")),
    ("language unset vs Auto", R("hi"), R("hi", language="Auto")),
    ("language empty vs Auto", R("hi", language=""), R("hi", language="Auto")),
    ("language case", R("hi", language="English"), R("hi", language="english")),
    ("instructions None vs empty", R("hi", instructions=None), R("hi", instructions="")),
    ("instructions None vs blank", R("hi", instructions=None), R("hi", instructions="  \n ")),
    ("instructions whitespace", R("hi", instructions="Slowly."), R("hi", instructions=" Slowly. \n")),
    ("instructions NFC", R("hi", instructions="caf\u00e9"), R("hi", instructions="cafe\u0301")),
    (
        "keyword order",
        R(text="hi", voice="Ethan", language="English", instructions="warm", optimize_instructions=True),
        R(optimize_instructions=True, instructions="warm", language="English", voice="Ethan", text="hi"),
    ),
    ("optimize None vs None", R("hi", optimize_instructions=None), R("hi")),
]

# Pairs that must never share an entry.
UNEQUAL = [
    ("text", R("hello"), R("hullo")),
    ("text case", R("Hello"), R("hello")),
    ("inner whitespace", R("a b"), R("a  b")),
    ("punctuation", R("hi"), R("hi!")),
    ("voice", R("hi", voice="Cherry"), R("hi", voice="Ethan")),
    ("language", R("hi", language="English"), R("hi", language="Chinese")),
    ("language Auto vs explicit", R("hi"), R("hi", language="English")),
    ("instructions", R("hi", instructions="whisper"), R("hi", instructions="shout")),
    ("instructions vs none", R("hi", instructions="whisper"), R("hi")),
    ("optimize None vs False", R("hi", optimize_instructions=None), R("hi", optimize_instructions=False)),
    ("optimize None vs True", R("hi", optimize_instructions=None), R("hi", optimize_instructions=True)),
    ("optimize False vs True", R("hi", optimize_instructions=False), R("hi", optimize_instructions=True)),
    (
        "optimize with instructions",
        R("hi", instructions="warm", optimize_instructions=False),
        R("hi", instructions="warm", optimize_instructions=True),
    ),
    # A text that tries to imitate the encoding of another field.
    ("separator injection", R('hi","voice":"Ethan'), R("hi", voice="Ethan")),
    ("text vs instructions", R("warm", instructions="hi"), R("hi", instructions="warm")),
]


@pytest.mark.parametrize(("why", "a", "b"), EQUAL, ids=[e[0] for e in EQUAL])
def test_equal_requests_share_a_key(why: str, a: R, b: R) -> None:
    assert cache_key(a, ENGINE) == cache_key(b, ENGINE), why


@pytest.mark.parametrize(("why", "a", "b"), UNEQUAL, ids=[u[0] for u in UNEQUAL])
def test_different_requests_never_share_a_key(why: str, a: R, b: R) -> None:
    assert cache_key(a, ENGINE) != cache_key(b, ENGINE), why


def test_engine_and_format_are_part_of_the_key() -> None:
    req = R("hello")
    keys = {
        cache_key(req, "api:relay:qwen3-tts-instruct-flash"),
        cache_key(req, "api:dashscope:qwen3-tts-instruct-flash"),
        cache_key(req, "api:relay:qwen3-tts-flash"),
        cache_key(req, "local:espeak-ng"),
        cache_key(req, ENGINE, output_format="wav"),
    }
    assert len(keys) == 5
    assert cache_key(req, ENGINE) == cache_key(req, ENGINE, output_format="pcm_s16le")


def test_key_is_hex_sha256_and_stable() -> None:
    key = cache_key(R("hello"), ENGINE)
    assert len(key) == 64 and all(c in "0123456789abcdef" for c in key)
    # Stable across processes and versions of Python: a change here orphans every disk entry,
    # so it must be deliberate (bump KEY_VERSION).
    assert key == cache_key(R(" hello "), ENGINE)
    canonical = (
        '{"engine":"api:relay:qwen3-tts-instruct-flash","format":"pcm_s16le","instructions":"",'
        '"language":"Auto","optimize_instructions":null,"text":"hello","v":1,"voice":"Cherry"}'
    )
    assert key == hashlib.sha256(canonical.encode()).hexdigest()


def test_invalid_request_has_no_key() -> None:
    with pytest.raises(InputError):
        cache_key(R("   "), ENGINE)
    with pytest.raises(InputError):
        cache_key(R("hi", voice="Nobody"), ENGINE)


def test_opus_key_depends_on_audio_and_profile() -> None:
    a, b = cache_key(R("a"), ENGINE), cache_key(R("b"), ENGINE)
    profile = "opus:audio:128k:fec:15"
    names = {opus_key(a, profile), opus_key(a, "opus:voip:64k"), opus_key(b, profile)}
    assert len(names) == 3
    assert a not in names
