"""The local espeak-ng engine: real audio, voice and language mapping, style, concurrency."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import numpy as np
import pytest

from bot.audio.clip import Audio
from bot.base.errors import InputError
from bot.speech.engine import SpeechEngine
from bot.speech.local import espeak as le
from bot.speech.local.engine import LocalEngine
from bot.speech.local.espeak import LocalEngineError, LocalEngineUnavailable, variant_path
from bot.speech.local.plan import plan_for
from bot.speech.local.profiles import LANGUAGE_VOICES, VOICE_PROFILES
from bot.speech.local.style import describe_style, interpret_style
from bot.speech.request import SpeechRequest
from bot.speech.voices import LANGUAGES, VOICES, VOICES_BY_NAME
from bot.text.language import detect_language

SENTENCE = "The quick brown fox jumps over the lazy dog. How are you today?"
NATIVE = {
    "English": "Good morning, how are you today?",
    "Chinese": "早上好，你今天怎么样？",
    "German": "Guten Morgen, wie geht es dir heute?",
    "Italian": "Buongiorno, come stai oggi?",
    "Portuguese": "Bom dia, como você está hoje?",
    "Spanish": "Buenos días, ¿cómo estás hoy?",
    "Japanese": "おはようございます、今日はお元気ですか？",
    "Korean": "좋은 아침이에요, 오늘 어떠세요?",
    "French": "Bonjour, comment allez-vous aujourd'hui ?",
    "Russian": "Доброе утро, как у вас сегодня дела?",
}


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    eng = LocalEngine()
    yield eng
    eng.close()


def samples(audio: Audio | bytes) -> np.ndarray:
    pcm = audio.pcm if isinstance(audio, Audio) else audio
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float64)


def rms(audio: Audio | bytes) -> float:
    x = samples(audio)
    return float(np.sqrt(np.mean(x**2))) if len(x) else 0.0


def median_f0(audio: Audio) -> float:
    """Median fundamental frequency of the voiced 40 ms frames (autocorrelation)."""
    x = samples(audio)
    n = int(0.04 * audio.rate)
    lo, hi = int(audio.rate / 450), int(audio.rate / 60)
    found = []
    for start in range(0, len(x) - n, n // 2):
        frame = x[start : start + n] - x[start : start + n].mean()
        if np.sqrt(np.mean(frame**2)) < 800:
            continue
        spec = np.fft.rfft(frame, 2 * n)
        ac = np.fft.irfft(spec * np.conj(spec))[:n]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.4 * ac[0]:
            found.append(audio.rate / lag)
    return float(np.median(found)) if found else 0.0


def spectrum_db(audio: Audio) -> np.ndarray:
    """Long-term average spectrum in 24 log-spaced bands, level-normalised (dB)."""
    x = samples(audio)
    n = 1024
    frames = np.array([x[i : i + n] * np.hanning(n) for i in range(0, len(x) - n, n // 2)])
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(n, 1 / audio.rate)
    edges = np.geomspace(60, 8000, 25)
    bands = np.array([power[(freqs >= a) & (freqs < b)].mean() for a, b in itertools.pairwise(edges)])
    db: np.ndarray = 10 * np.log10(bands + 1e-9)
    return np.asarray(db - db.mean())


async def say(engine: LocalEngine, text: str = SENTENCE, **kw: object) -> Audio:
    return await engine.synthesize(SpeechRequest(text, **kw))  # type: ignore[arg-type]


# -- basics -----------------------------------------------------------------------------------
async def test_speaks_real_audio_at_its_rate(engine: LocalEngine) -> None:
    assert LocalEngine.available()
    assert isinstance(engine, SpeechEngine)
    assert engine.name == "local:espeak-ng"
    assert engine.sample_rate == 22050
    audio = await say(engine, "Hello from the local engine.")
    assert audio.rate == 22050 and audio.channels == 1
    assert len(audio.pcm) % 2 == 0
    assert rms(audio) > 1000  # speech, not silence
    assert 1.0 < audio.duration < 4.0  # five words at ~175 wpm


async def test_duration_grows_with_the_text(engine: LocalEngine) -> None:
    short = await say(engine, "Hello there.")
    long_text = " ".join([SENTENCE] * 10)  # 630 characters
    long = await say(engine, long_text)
    assert 0.3 < short.duration < 2.5
    # ~12-15 characters per second of English speech at the default rates
    assert len(long_text) / 25 < long.duration < len(long_text) / 6
    assert long.duration > 8 * short.duration


async def test_rejects_invalid_requests(engine: LocalEngine) -> None:
    with pytest.raises(InputError):
        await say(engine, "   ")
    with pytest.raises(InputError):
        await say(engine, "hi", voice="Nobody")
    with pytest.raises(InputError):
        await say(engine, "hi", language="Klingon")


async def test_text_is_never_markup(engine: LocalEngine) -> None:
    """Angle brackets and [[phonemes]] are read as text, never as SSML or phoneme codes."""
    audio = await say(engine, '<speak><break time="10s"/>hi</speak> [[h@loU]]')
    assert 0.5 < audio.duration < 10  # a 10 s break would have been honoured as SSML


# -- voices -----------------------------------------------------------------------------------
def test_every_voice_has_a_distinct_shipped_variant_of_its_gender() -> None:
    assert set(VOICE_PROFILES) == {v.name for v in VOICES}
    variants = [p.variant for p in VOICE_PROFILES.values()]
    assert len(set(variants)) == len(variants) == 24
    for name, profile in VOICE_PROFILES.items():
        path = variant_path(profile.variant)
        assert path is not None, f"{name}: variant {profile.variant} is not in espeak-ng-data"
        says_female = any(
            line.split()[:2] == ["gender", "female"] for line in path.read_text(errors="replace").splitlines()
        )
        assert says_female == (VOICES_BY_NAME[name].gender == "female"), name
    assert variant_path("whisper") is not None and variant_path("whisperf") is not None


async def test_voices_sound_different(engine: LocalEngine) -> None:
    audios = {v.name: await say(engine, voice=v.name, language="English") for v in VOICES}
    again = await say(engine, voice="Cherry", language="English")
    for audio in audios.values():
        assert rms(audio) > 1000
    f0 = {name: median_f0(a) for name, a in audios.items()}
    spectra = {name: spectrum_db(a) for name, a in audios.items()}

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sqrt(np.mean((a - b) ** 2)))

    noise = distance(spectra["Cherry"], spectrum_db(again))  # the same voice twice
    assert noise < 0.6
    for a, b in itertools.combinations(audios, 2):
        differs = distance(spectra[a], spectra[b]) > 1.0 or abs(f0[a] / f0[b] - 1) > 0.05
        assert differs, f"{a} and {b} sound alike"
    # Adult women speak higher than adult men (Seren whispers; Pip and Mochi are boys).
    women = [f0[v.name] for v in VOICES if v.gender == "female" and v.name != "Seren"]
    men = [f0[v.name] for v in VOICES if v.gender == "male" and v.name not in ("Pip", "Mochi")]
    assert min(women) > 140 > max(men) > 0


# -- languages --------------------------------------------------------------------------------
def test_every_endpoint_language_maps_to_an_espeak_voice() -> None:
    assert set(LANGUAGE_VOICES) == set(LANGUAGES) - {"Auto"}
    assert LANGUAGE_VOICES["Chinese"] == "cmn"
    assert LANGUAGE_VOICES["Japanese"] == "ja"
    for language, voice in LANGUAGE_VOICES.items():
        plan = plan_for(SpeechRequest("hello", "Ethan", language))
        assert plan.voice == f"{voice}+m3"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("你好，世界", "Chinese"),
        ("今日は雨です", "Japanese"),  # Han with kana
        ("こんにちは", "Japanese"),
        ("안녕하세요", "Korean"),
        ("Привет, мир", "Russian"),
        ("Hello, world", "English"),
        ("Guten Tag", "English"),  # Latin without a script hint: English
        ("12345 !!! 🙂", "English"),
        ("I love 寿司 and ramen so much", "English"),  # mostly Latin
        ("我今天用Python写代码", "Chinese"),  # mostly Han
    ],
)
def test_auto_detects_the_script(text: str, language: str) -> None:
    assert detect_language(text) == language
    voice = plan_for(SpeechRequest(text, "Cherry", "Auto")).voice
    assert voice == f"{LANGUAGE_VOICES[language]}+f5"


async def test_each_language_speaks(engine: LocalEngine) -> None:
    for language, text in NATIVE.items():
        audio = await say(engine, text, language=language)
        assert rms(audio) > 1000, language
        assert 0.5 < audio.duration < 8, language


async def test_auto_speaks_like_the_detected_language(engine: LocalEngine) -> None:
    text = NATIVE["Chinese"]
    auto = await say(engine, text, language="Auto")
    chinese = await say(engine, text, language="Chinese")
    english = await say(engine, text, language="English")
    assert abs(auto.duration - chinese.duration) < 0.05 * chinese.duration
    assert abs(english.duration - chinese.duration) > 0.15 * chinese.duration  # a different reading


# -- style ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("instructions", "applied", "ignored"),
    [
        (None, [], False),
        ("Speak a little faster, please", ["faster"], False),
        ("slowly and quietly", ["slower", "softer"], False),
        ("LOUDER and higher!", ["louder", "higher"], False),
        ("in a deep voice", ["lower"], False),
        ("whisper it", ["whisper"], False),
        ("Sound cheerful and a bit faster", ["faster"], True),
        ("Sound like a pirate", [], True),
        ("Breakfast talk", [], True),  # "fast" inside a word is not a style
        ("说快一点", ["faster"], False),
        ("慢一点，小声", ["slower", "softer"], False),
        ("大声说", ["louder"], False),
        ("声音低沉", ["lower"], False),
        ("快乐地说", [], True),  # 快乐 is "happy", not "fast"
    ],
)
def test_describe_style(instructions: str | None, applied: list[str], ignored: bool) -> None:
    assert describe_style(instructions) == (applied, ignored)


def test_style_changes_the_plan() -> None:
    base = plan_for(SpeechRequest("hi", "Ethan"))
    assert plan_for(SpeechRequest("hi", "Ethan", instructions="faster")).rate > base.rate
    assert plan_for(SpeechRequest("hi", "Ethan", instructions="slower")).rate < base.rate
    assert plan_for(SpeechRequest("hi", "Ethan", instructions="louder")).volume > base.volume
    assert plan_for(SpeechRequest("hi", "Ethan", instructions="softer")).volume < base.volume
    assert plan_for(SpeechRequest("hi", "Ethan", instructions="higher")).pitch > base.pitch
    assert plan_for(SpeechRequest("hi", "Ethan", instructions="lower")).pitch < base.pitch
    assert plan_for(SpeechRequest("hi", "Ethan", instructions="whisper")).voice.endswith("+whisper")
    assert plan_for(SpeechRequest("hi", "Cherry", instructions="whisper")).voice.endswith("+whisperf")
    assert interpret_style("be a pirate").applied == ()


async def test_style_changes_the_audio(engine: LocalEngine) -> None:
    base = await say(engine, voice="Ethan")
    faster = await say(engine, voice="Ethan", instructions="faster")
    slower = await say(engine, voice="Ethan", instructions="slower")
    higher = await say(engine, voice="Ethan", instructions="higher")
    lower = await say(engine, voice="Ethan", instructions="lower")
    louder = await say(engine, voice="Ethan", instructions="louder")
    softer = await say(engine, voice="Ethan", instructions="softer")
    assert faster.duration < 0.85 * base.duration
    assert slower.duration > 1.2 * base.duration
    assert median_f0(higher) > 1.1 * median_f0(base)
    assert median_f0(lower) < 0.9 * median_f0(base)
    assert rms(louder) > 1.2 * rms(base)
    assert rms(softer) < 0.75 * rms(base)


# -- streaming --------------------------------------------------------------------------------
async def test_stream_yields_the_utterance_in_pieces(engine: LocalEngine) -> None:
    text = " ".join([SENTENCE] * 4)
    whole = await say(engine, text)
    chunks = [c async for c in engine.stream(SpeechRequest(text))]
    assert len(chunks) > 10  # ~100 ms per chunk: the first audio does not wait for the rest
    assert all(len(c) % 2 == 0 and c for c in chunks)
    streamed = b"".join(chunks)
    assert abs(len(streamed) - len(whole.pcm)) < 0.03 * len(whole.pcm)
    assert rms(streamed) > 1000


async def test_closing_a_stream_early_stops_synthesis(engine: LocalEngine) -> None:
    text = " ".join([SENTENCE] * 30)  # ~2 minutes of speech
    stream = engine.stream(SpeechRequest(text))
    first = await anext(stream)
    assert first
    await stream.aclose()  # type: ignore[attr-defined]
    # The worker is free again at once: the aborted utterance is not finished behind the next one.
    after = await asyncio.wait_for(say(engine, "Still here."), timeout=5)
    assert 0.3 < after.duration < 3


def test_a_sink_returning_false_aborts_synthesis() -> None:
    chunks: list[bytes] = []

    def sink(chunk: bytes) -> bool:
        chunks.append(chunk)
        return len(chunks) < 3

    le.load_library().synth(" ".join([SENTENCE] * 30), plan_for(SpeechRequest(SENTENCE)), sink)
    assert len(chunks) == 3  # not the ~1200 chunks of the whole text


async def test_stream_raises_input_errors(engine: LocalEngine) -> None:
    with pytest.raises(InputError):
        async for _ in engine.stream(SpeechRequest("", "Cherry")):
            pass


# -- concurrency and lifecycle ----------------------------------------------------------------
async def test_many_concurrent_requests_are_serialised_safely(engine: LocalEngine) -> None:
    other = LocalEngine()  # a second instance shares the process-wide library
    try:
        names = [v.name for v in VOICES]
        reference = {n: (await say(engine, voice=n)).duration for n in names[:6]}

        async def one(i: int) -> float:
            name = names[i % 6]
            eng = other if i % 3 == 0 else engine
            if i % 2:
                pcm = b"".join([c async for c in eng.stream(SpeechRequest(SENTENCE, name))])
                audio = Audio(pcm, eng.sample_rate)
            else:
                audio = await eng.synthesize(SpeechRequest(SENTENCE, name))
            assert rms(audio) > 1000
            return audio.duration / reference[name]

        ratios = await asyncio.gather(*(one(i) for i in range(40)))
        assert all(0.95 < r < 1.05 for r in ratios)
    finally:
        other.close()


async def test_synthesis_runs_off_the_event_loop(engine: LocalEngine) -> None:
    """While a long utterance is synthesised, the loop keeps running other tasks."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await say(engine, " ".join([SENTENCE] * 20))
    done.set()
    await task
    assert ticks > 5


async def test_closed_engine_refuses_work() -> None:
    eng = LocalEngine()
    assert (await say(eng, "one")).duration > 0
    eng.close()
    eng.close()  # idempotent
    with pytest.raises(LocalEngineError):
        await say(eng, "two")
    with pytest.raises(LocalEngineError):
        async for _ in eng.stream(SpeechRequest("three")):
            pass


def test_missing_extra_is_reported_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(le, "_loader", None)
    monkeypatch.setattr(le, "_library", None)
    assert not LocalEngine.available()
    assert variant_path("f1") is None
    with pytest.raises(LocalEngineUnavailable, match=r"pip install '\.\[local\]'"):
        LocalEngine()
