"""The espeak-ng library through ctypes: loaded once per process from the optional
`espeakng-loader` package (GPL-3.0-or-later, the `local` extra), initialised in synchronous mode
with a sample callback, and called under a process-wide lock (the library keeps global state
and is not thread-safe).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from bot.audio.clip import SAMPLE_WIDTH
from bot.base.i18n import say
from bot.speech.errors import TTSError
from bot.speech.local.plan import SynthesisPlan

try:  # GPL-3.0-or-later: optional, behind the `local` extra.
    import espeakng_loader as _loader
except ImportError:  # pragma: no cover - depends on the installation
    _loader = None

__all__ = [
    "ESPEAK_RATE",
    "INSTALL_HINT",
    "EspeakLibrary",
    "LocalEngineError",
    "LocalEngineUnavailable",
    "installed",
    "load_library",
    "variant_path",
]

ESPEAK_RATE = 22_050  # Hz: what espeak_Initialize reports for its voices
INSTALL_HINT = "install the `local` extra: pip install '.[local]' (espeak-ng, GPL-3.0-or-later)"

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_BUFFER_MS = 100  # audio per callback: the granularity of LocalEngine.stream()


class LocalEngineUnavailable(RuntimeError):
    """espeakng-loader is not installed (or its library cannot be loaded)."""


class LocalEngineError(TTSError):
    sentence = say("error.local_engine")


def installed() -> bool:
    """Whether espeakng-loader is installed (the `local` extra)."""
    return _loader is not None


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakLibrary:
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


_library: EspeakLibrary | None = None
_library_lock = threading.Lock()


def load_library() -> EspeakLibrary:
    """The process-wide library, loaded and initialised on first use."""
    global _library
    with _library_lock:
        if _library is None:
            if _loader is None:
                raise LocalEngineUnavailable(f"The local speech engine is not installed: {INSTALL_HINT}.")
            try:
                _library = EspeakLibrary(_loader.get_library_path(), _loader.get_data_path())
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
