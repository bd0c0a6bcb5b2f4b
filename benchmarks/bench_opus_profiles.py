"""Opus encoder profiles for TTS speech: encoding CPU per audio-second and what is lost.

Run: `.venv/bin/python -m benchmarks.bench_opus_profiles [--reps 5]`

The audio is speech as the endpoint sends it (24 kHz mono; here espeak-ng's voice resampled to
24 kHz, or, without the `local` extra, a synthetic voiced signal), turned into Discord frames
by the bot's own `PcmConverter` (48 kHz stereo), encoded with each profile, decoded with
discord.py's libopus `Decoder`, aligned with the source (the codec's delay, found by
cross-correlation) and compared over 0-11 kHz in 20 ms frames with energy:
- spectral SNR: magnitude spectrum of the source against the error of the decoded one (dB;
  higher is better; waveform SNR means little for a perceptual codec);
- log-spectral distance (dB; lower is better).
CPU is the best of `--reps` encodings of the whole audio on this thread.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np
import soxr
from discord.opus import Decoder, Encoder

from benchmarks.premise import premise
from bot.audio.pcm import PcmConverter
from bot.voice.frame_buffer import FRAME_BYTES, FRAME_SAMPLES
from bot.voice.source import DEFAULT_PROFILE, OpusProfile

TEXTS = (
    "Hello everyone, welcome to the server. Tonight we are playing a few rounds together.",
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
    "Could you please mute your microphone? There is a lot of background noise right now.",
    "Remember that the meeting starts at seven thirty, so do not be late this time!",
)
RATE = 24_000
TOP_HZ = 11_000  # the 24 kHz source holds nothing above 12 kHz
N = 960  # analysis frame: 20 ms at 48 kHz

PROFILES = (
    ("discord.py default", OpusProfile()),
    *((f"complexity {c}", OpusProfile(complexity=c)) for c in (8, 7, 6, 5, 4, 3, 2, 1, 0)),
    ("96 kbps, complexity 5", OpusProfile(bitrate_kbps=96, complexity=5)),
    ("64 kbps, complexity 5", OpusProfile(bitrate_kbps=64, complexity=5)),
    ("voip, voice, 64 kbps", OpusProfile(application="voip", bitrate_kbps=64, signal_type="voice")),
    (
        "voip, voice, 64 kbps, complexity 5",
        OpusProfile(application="voip", bitrate_kbps=64, signal_type="voice", complexity=5),
    ),
)


def speech() -> tuple[bytes, str]:
    """24 kHz mono s16le speech, and what it is."""
    try:
        from bot.speech.local.engine import LocalEngine
        from bot.speech.request import SpeechRequest

        if not LocalEngine.available():
            raise ImportError("espeak-ng")
    except ImportError:
        return synthetic(), "synthetic voiced signal (no espeak-ng: install the `local` extra)"

    async def run() -> tuple[bytes, int]:
        engine = LocalEngine()
        try:
            clips = [await engine.synthesize(SpeechRequest(text)) for text in TEXTS]
        finally:
            engine.close()
        return b"".join(c.pcm for c in clips), clips[0].rate

    pcm, rate = asyncio.run(run())
    x = np.frombuffer(pcm, "<i2").astype(np.float32)
    return soxr.resample(x, rate, RATE).astype("<i2").tobytes(), f"espeak-ng speech ({rate} Hz -> 24 kHz)"


def synthetic(seconds: float = 15.0) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    f0 = 140 + 25 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 40))
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.5
    noise = np.random.default_rng(7).normal(0, 0.05, t.size)
    x = voiced * envelope + noise
    return (x / np.max(np.abs(x)) * 12_000).astype("<i2").tobytes()


def spectra(x: np.ndarray, starts: list[int]) -> np.ndarray:
    window = np.hanning(N)
    band = slice(1, N * TOP_HZ // 48_000)
    return np.array([np.abs(np.fft.rfft(x[i : i + N] * window))[band] for i in starts])


def compare(ref: np.ndarray, out: np.ndarray) -> tuple[float, float]:
    """(spectral SNR dB, log-spectral distance dB) over the frames of `ref` with energy."""
    size = min(len(ref), len(out))
    starts = [i for i in range(0, size - N, N // 2) if np.mean(ref[i : i + N] ** 2) > 1e4]
    a, b = spectra(ref, starts), spectra(out, starts)
    snr = 10 * np.log10(np.sum(a**2, axis=1) / np.sum((a - b) ** 2, axis=1))
    lsd = np.sqrt(np.mean((10 * np.log10(a**2 + 1e-3) - 10 * np.log10(b**2 + 1e-3)) ** 2, axis=1))
    return float(np.mean(snr)), float(np.mean(lsd))


def measure(profile: OpusProfile, frames: list[bytes], ref: np.ndarray, reps: int) -> tuple[float, ...]:
    seconds = len(frames) * 0.020
    best = float("inf")
    packets: list[bytes] = []
    for _ in range(reps):
        encoder: Encoder = profile.encoder()
        t = time.thread_time()
        packets = [encoder.encode(f, FRAME_SAMPLES) for f in frames]
        best = min(best, time.thread_time() - t)
    decoder = Decoder()
    decoded = b"".join(decoder.decode(p, fec=False) for p in packets)
    premise(len(decoded) == len(frames) * FRAME_BYTES, f"{profile.key}: decoded length")
    out = np.frombuffer(decoded, "<i2")[0::2].astype(np.float64)
    span = 48_000 * 2
    lag = int(np.argmax(np.correlate(out[: span + 2_000], ref[:span], "valid")))
    premise(200 <= lag <= 800, f"{profile.key}: codec delay found ({lag} samples; libopus: 312)")
    snr, lsd = compare(ref, out[lag:])
    kbps = sum(len(p) for p in packets) * 8 / seconds / 1000
    return best / seconds * 1000, snr, lsd, kbps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=5, help="encodings per profile (the fastest counts)")
    args = parser.parse_args(argv)
    pcm, what = speech()
    converter = PcmConverter(RATE)
    t = time.thread_time()
    stereo = converter.convert(pcm) + converter.flush()
    resample = time.thread_time() - t
    frames = [stereo[i : i + FRAME_BYTES] for i in range(0, len(stereo) - FRAME_BYTES + 1, FRAME_BYTES)]
    seconds = len(frames) * 0.020
    premise(seconds >= 10, f"{seconds:.1f} s of audio (at least 10)")
    ref = np.frombuffer(b"".join(frames), "<i2")[0::2].astype(np.float64)
    print(f"Opus profiles - {Encoder.get_opus_version()}; {what}, {seconds:.1f} s")
    per_second = resample / seconds * 1000
    print(f"    resampling 24 kHz mono -> 48 kHz stereo (soxr HQ): {per_second:.2f} ms per audio-s")
    print(f"    {'profile':36s} {'key':34s} {'CPU ms/s':>8s} {'sSNR dB':>8s} {'LSD dB':>7s} {'kbit/s':>7s}")
    for name, profile in PROFILES:
        cpu, snr, lsd, kbps = measure(profile, frames, ref, args.reps)
        mark = " <- default" if profile == DEFAULT_PROFILE else ""
        print(
            f"    {name:36s} {profile.key:34s} {cpu:8.2f} {snr:8.2f} {lsd:7.2f} {kbps:7.1f}{mark}", flush=True
        )


if __name__ == "__main__":
    main()
