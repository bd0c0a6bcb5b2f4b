"""The embedded local speech engine: espeak-ng, so the bot speaks with no API key and in outages.

espeak-ng (libespeak-ng and its voice data, shipped by the PyPI package `espeakng-loader`)
is called through ctypes in synchronous mode with a sample callback. It produces 22.05 kHz
mono s16 PCM about 1000 times faster than real time (~1 ms CPU per audio-second).
espeak-ng is licensed GPL-3.0-or-later, so it is an optional dependency: install it with the
`local` extra (`pip install '.[local]'`). Without it, `LocalEngine.available()` is False and
constructing a `LocalEngine` raises `LocalEngineUnavailable`.

The library keeps process-wide state and is not thread-safe. Every call into it runs on the
engine's one worker thread (never on the event loop) and under a module-wide lock, so even
several `LocalEngine` instances never call it concurrently.

Mapping of a `SpeechRequest` to espeak-ng:
- language: the 11 endpoint languages map to espeak voices (`LANGUAGE_VOICES`); "Auto"
  detects the text's script (`detect_language`: Han → Chinese, kana → Japanese,
  Hangul → Korean, Cyrillic → Russian, anything else → English).
- voice: each of the 24 endpoint voices has a distinct espeak variant (female voices use
  female variants) with its own base pitch, pitch range and speed (`VOICE_PROFILES`).
- style instruction: only what espeak can do is applied (`interpret_style`): faster/slower
  change the speed, louder/softer the volume, whisper the whisper variant, higher/lower the
  pitch (English words and Chinese equivalents). The rest is ignored;
  `describe_style()` tells `/style show` what is applied and whether anything was ignored.
"""

from __future__ import annotations

import asyncio
import ctypes
import re
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bot.audio.clip import SAMPLE_WIDTH, Audio
from bot.speech.errors import TTSError
from bot.speech.request import SpeechRequest
from bot.speech.voices import VOICES_BY_NAME

try:  # GPL-3.0-or-later: optional, behind the `local` extra.
    import espeakng_loader as _loader
except ImportError:  # pragma: no cover - depends on the installation
    _loader = None

ENGINE_NAME = "local:espeak-ng"
ESPEAK_RATE = 22_050  # Hz: what espeak_Initialize reports for its voices
INSTALL_HINT = "install the `local` extra: pip install '.[local]' (espeak-ng, GPL-3.0-or-later)"

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_RATE_MIN, _RATE_MAX = 80, 450
_BUFFER_MS = 100  # audio per callback: the granularity of stream()


class LocalEngineUnavailable(RuntimeError):
    """espeakng-loader is not installed (or its library cannot be loaded)."""


class LocalEngineError(TTSError):
    sentence = "The local speech engine failed."


# -- mapping ----------------------------------------------------------------------------------
LANGUAGE_VOICES: dict[str, str] = {
    "Chinese": "cmn",  # Mandarin; Latin letters inside are read as English
    "English": "en-us",
    "German": "de",
    "Italian": "it",
    "Portuguese": "pt-br",
    "Spanish": "es",
    "Japanese": "ja",
    "Korean": "ko",
    "French": "fr",
    "Russian": "ru",
}


@dataclass(frozen=True, slots=True)
class VoiceProfile:
    """How an endpoint voice sounds in espeak: a variant (voices/!v) and base prosody."""

    variant: str
    pitch: int  # espeak base pitch 0..100 (50 = the variant's own)
    pitch_range: int  # 0..100 (0 = monotone, 50 = normal)
    rate: int  # words per minute (espeak default 175)
    volume: int = 100  # 0..200


VOICE_PROFILES: dict[str, VoiceProfile] = {
    # female voices → female variants (median F0 on English text 155..310 Hz)
    "Cherry": VoiceProfile("f5", 60, 60, 180),
    "Serena": VoiceProfile("f2", 42, 45, 165),
    "Chelsie": VoiceProfile("Andrea", 55, 55, 175, volume=95),
    "Momo": VoiceProfile("anika", 55, 65, 185, volume=90),
    "Vivian": VoiceProfile("f4", 62, 60, 180),
    "Maia": VoiceProfile("f3", 45, 45, 170),
    "Bella": VoiceProfile("Alicia", 72, 60, 170),
    "Mia": VoiceProfile("linda", 45, 40, 160),
    "Bellona": VoiceProfile("belinda", 50, 75, 175, volume=95),
    "Bunny": VoiceProfile("Annie", 65, 60, 180),
    "Elias": VoiceProfile("f1", 40, 45, 170),
    "Nini": VoiceProfile("steph", 57, 50, 175),
    "Seren": VoiceProfile("whisperf", 40, 30, 150),
    "Stella": VoiceProfile("steph2", 70, 70, 185, volume=80),
    # male voices → male variants (median F0 70..150 Hz; Pip, a kid, higher)
    "Ethan": VoiceProfile("m3", 65, 60, 180),
    "Moon": VoiceProfile("m6", 52, 45, 170),
    "Kai": VoiceProfile("m7", 42, 35, 155),
    "Nofish": VoiceProfile("m4", 70, 50, 175),
    "Eldric Sage": VoiceProfile("grandpa", 25, 40, 150),
    "Mochi": VoiceProfile("Gene2", 70, 60, 180, volume=75),
    "Vincent": VoiceProfile("m1", 35, 45, 160),
    "Neil": VoiceProfile("m2", 58, 40, 175),
    "Arthur": VoiceProfile("m8", 32, 45, 150, volume=140),
    "Pip": VoiceProfile("zac", 38, 65, 190, volume=90),
}
_DEFAULT_PROFILE = VOICE_PROFILES["Cherry"]
_WHISPER_VARIANTS = {"female": "whisperf", "male": "whisper"}


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FFFF


def _is_kana(ch: str) -> bool:
    o = ord(ch)
    return 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9F


def _is_hangul(ch: str) -> bool:
    o = ord(ch)
    return 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F


def _is_cyrillic(ch: str) -> bool:
    return 0x0400 <= ord(ch) <= 0x052F


def detect_language(text: str) -> str:
    """The endpoint language a text is most likely in, judged by its script.

    Han characters → Chinese (Japanese if the text also has kana), kana → Japanese,
    Hangul → Korean, Cyrillic → Russian, anything else (Latin, digits, emoji) → English.
    A CJK or Hangul character counts as much as two letters of an alphabet.
    """
    han = kana = hangul = cyrillic = other = 0
    for ch in text:
        if _is_cjk(ch):
            han += 1
        elif _is_kana(ch):
            kana += 1
        elif _is_hangul(ch):
            hangul += 1
        elif _is_cyrillic(ch):
            cyrillic += 1
        elif ch.isalpha():
            other += 1
    scores = {
        "Japanese" if kana else "Chinese": 2 * (han + kana),
        "Korean": 2 * hangul,
        "Russian": cyrillic,
        "English": other,
    }
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > 0 else "English"


def espeak_language(language: str, text: str) -> str:
    """The espeak voice for an endpoint language ("Auto" detects it from the text)."""
    if language == "Auto" or language not in LANGUAGE_VOICES:
        language = detect_language(text)
    return LANGUAGE_VOICES[language]


# -- style ------------------------------------------------------------------------------------
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


# -- synthesis plan -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SynthesisPlan:
    """The espeak voice name (language+variant) and parameters for one request."""

    voice: str
    rate: int
    volume: int
    pitch: int
    pitch_range: int


def _clamp(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, round(value))))


def plan_for(request: SpeechRequest) -> SynthesisPlan:
    """Map a (validated) request to espeak settings. Pure; no library needed."""
    profile = VOICE_PROFILES.get(request.voice, _DEFAULT_PROFILE)
    style = interpret_style(request.instructions)
    variant = profile.variant
    if style.whisper:
        voice = VOICES_BY_NAME.get(request.voice)
        variant = _WHISPER_VARIANTS[voice.gender if voice else "female"]
    return SynthesisPlan(
        voice=f"{espeak_language(request.language, request.text)}+{variant}",
        rate=_clamp(profile.rate * style.rate_factor, _RATE_MIN, _RATE_MAX),
        volume=_clamp(profile.volume + style.volume_delta, 10, 200),
        pitch=_clamp(profile.pitch + style.pitch_delta, 0, 100),
        pitch_range=profile.pitch_range,
    )


# -- the library (process-wide) -----------------------------------------------------------------
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Espeak:
    """The loaded library. All calls hold `lock`; the sample callback feeds `sink`."""

    lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, library_path: str, data_path: str) -> None:
        lib = ctypes.CDLL(library_path)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        self._lib = lib
        self._sink: Callable[[bytes], bool] | None = None
        self._callback = _CALLBACK(self._on_samples)  # kept alive as long as the library
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise LocalEngineUnavailable(f"espeak-ng failed to initialise with the data at {data_path}")
        self.sample_rate: int = rate
        lib.espeak_SetSynthCallback(self._callback)

    def _on_samples(self, wav: Any, count: int, _events: Any) -> int:
        sink = self._sink
        if sink is None:
            return 1
        if wav and count > 0:
            if not sink(ctypes.string_at(wav, count * SAMPLE_WIDTH)):
                return 1  # abort: the consumer went away
        return 0

    def synth(self, text: str, plan: SynthesisPlan, sink: Callable[[bytes], bool]) -> None:
        """Synthesise `text`, passing PCM chunks to `sink` (return False to abort). Blocking."""
        data = text.replace("\x00", " ").encode("utf-8") + b"\x00"
        with self.lock:
            lib = self._lib
            if lib.espeak_SetVoiceByName(plan.voice.encode()) != _EE_OK:
                raise LocalEngineError(f"espeak-ng has no voice {plan.voice!r}")
            for param, value in (
                (_RATE, plan.rate),
                (_VOLUME, plan.volume),
                (_PITCH, plan.pitch),
                (_RANGE, plan.pitch_range),
            ):
                lib.espeak_SetParameter(param, value, 0)
            self._sink = sink
            try:
                status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            finally:
                self._sink = None
            if status != _EE_OK:
                raise LocalEngineError(f"espeak-ng synthesis failed (status {status})")


_library: _Espeak | None = None
_library_lock = threading.Lock()


def _load() -> _Espeak:
    global _library
    with _library_lock:
        if _library is None:
            if _loader is None:
                raise LocalEngineUnavailable(f"The local speech engine is not installed: {INSTALL_HINT}.")
            try:
                _library = _Espeak(_loader.get_library_path(), _loader.get_data_path())
            except (OSError, RuntimeError) as exc:
                raise LocalEngineUnavailable(
                    f"The local speech engine could not be loaded ({exc}); {INSTALL_HINT}."
                ) from None
        return _library


def variant_path(variant: str) -> Path | None:
    """The file of an espeak voice variant in the shipped data, or None if missing."""
    if _loader is None:
        return None
    path = Path(_loader.get_data_path()) / "voices" / "!v" / variant
    return path if path.is_file() else None


# -- the engine -------------------------------------------------------------------------------
class LocalEngine:
    """`SpeechEngine` backed by espeak-ng, running on one dedicated worker thread.

    Construction loads and initialises the library once per process (a few ms). `close()`
    aborts the running synthesis and stops the worker; later calls raise LocalEngineError.
    """

    def __init__(self) -> None:
        self._lib = _load()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")
        self._closed = False
        self._abort = threading.Event()  # set by close(): stop whatever is running

    @staticmethod
    def available() -> bool:
        """Whether espeakng-loader is installed (the `local` extra)."""
        return _loader is not None

    @property
    def name(self) -> str:
        return ENGINE_NAME

    @property
    def sample_rate(self) -> int:
        return self._lib.sample_rate

    async def synthesize(self, request: SpeechRequest) -> Audio:
        req = request.validated()
        plan = plan_for(req)
        chunks: list[bytes] = []

        def collect(chunk: bytes) -> bool:
            chunks.append(chunk)
            return not self._abort.is_set()

        await self._run(req.text, plan, collect)
        return Audio(b"".join(chunks), self.sample_rate)

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        """Yield PCM as espeak produces it (about 100 ms of audio per chunk)."""
        req = request.validated()
        plan = plan_for(req)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        stop = threading.Event()

        def push(chunk: bytes) -> bool:
            if stop.is_set() or self._abort.is_set():
                return False
            try:
                loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except RuntimeError:  # the loop is closed
                return False
            return True

        job = asyncio.ensure_future(self._run(req.text, plan, push))
        # The end marker follows every chunk: the worker scheduled those before its result.
        job.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
            job.result()  # raise the job's error, if any
        finally:
            # Stop espeak at its next chunk; the worker is then free for the next job. The job
            # is not awaited here (that could swallow this task's cancellation).
            stop.set()
            job.add_done_callback(_retrieve)

    async def _run(self, text: str, plan: SynthesisPlan, sink: Callable[[bytes], bool]) -> None:
        if self._closed:
            raise LocalEngineError("the local speech engine is closed")
        future: Future[None] = self._executor.submit(self._lib.synth, text, plan, sink)
        try:
            await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if future.cancelled() and self._closed:
                raise LocalEngineError("the local speech engine was closed") from None
            raise

    def close(self) -> None:
        """Abort the running synthesis and stop the worker thread (does not block)."""
        if self._closed:
            return
        self._closed = True
        self._abort.set()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _retrieve(job: asyncio.Future[None]) -> None:
    """Mark an abandoned job's outcome as seen (no "exception never retrieved" noise)."""
    if not job.cancelled():
        job.exception()


__all__ = [
    "ENGINE_NAME",
    "ESPEAK_RATE",
    "LANGUAGE_VOICES",
    "VOICE_PROFILES",
    "LocalEngine",
    "LocalEngineError",
    "LocalEngineUnavailable",
    "StyleEffect",
    "SynthesisPlan",
    "VoiceProfile",
    "describe_style",
    "detect_language",
    "espeak_language",
    "interpret_style",
    "plan_for",
    "variant_path",
]
