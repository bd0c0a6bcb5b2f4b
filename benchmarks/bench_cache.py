"""Audio cache: hit latency (memory, disk), miss overhead, API calls saved on chat traffic.

Run: `.venv/bin/python -m benchmarks.bench_cache`

1. Hit latency: AudioCache.get and CachedEngine.synthesize / stream (first chunk) on a hit
   in the memory tier and in the disk tier (page cache warm), 3 s utterances.
2. Miss overhead: CachedEngine against the bare engine on always-new texts, both against a
   stand-in with a fixed 50 ms delay and against the fake endpoint over HTTP on 127.0.0.1.
3. Replay of generated chat traffic (Zipf-like mix of short messages across voices; two
   "days", the second after a restart): hit ratio, API calls and characters saved.
"""

from __future__ import annotations

import asyncio
import math
import random
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.premise import premise
from bot.audio.clip import Audio
from bot.base.config import Settings
from bot.base.secrets import Secret
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.cached_engine import CachedEngine
from bot.speech.cache.key import cache_key
from bot.speech.endpoint.client import EndpointClient
from bot.speech.engine import SpeechEngine
from bot.speech.request import SpeechRequest
from bot.speech.voices import VOICE_NAMES
from tests.standins.fake_api import FakeEndpoint

RATE = 24_000
MIB = 1 << 20


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def fmt(values: list[float]) -> str:
    us = [v * 1e6 for v in values]
    return f"p50 {pct(us, 50):8.1f} µs   p99 {pct(us, 99):8.1f} µs   (n={len(values)})"


def fmt_ms(values: list[float]) -> str:
    ms = [v * 1e3 for v in values]
    return f"p50 {pct(ms, 50):7.2f} ms   p99 {pct(ms, 99):7.2f} ms"


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def first_chunk(engine: SpeechEngine, req: SpeechRequest) -> float:
    """Seconds to the first chunk of a stream (the stream is then drained)."""
    start = time.perf_counter()
    first = 0.0
    async for _ in engine.stream(req):
        if not first:
            first = time.perf_counter() - start
    return first


class StandIn:
    """A SpeechEngine with a fixed latency and speech-like audio length (~15 chars/s)."""

    name = "bench:stand-in"
    sample_rate = RATE

    def __init__(self, delay: float = 0.0, seconds_per_char: float = 0.065) -> None:
        self.delay = delay
        self.seconds_per_char = seconds_per_char
        self.calls = 0
        self.chars = 0

    def pcm(self, req: SpeechRequest) -> bytes:
        seconds = max(0.3 if self.seconds_per_char else 0.1, self.seconds_per_char * len(req.text))
        return b"\x01\x02" * int(seconds * RATE)

    async def synthesize(self, request: SpeechRequest) -> Audio:
        self.calls += 1
        self.chars += len(request.text)
        if self.delay:
            await asyncio.sleep(self.delay)
        return Audio(self.pcm(request), RATE)

    async def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        self.calls += 1
        self.chars += len(request.text)
        if self.delay:
            await asyncio.sleep(self.delay)
        pcm = self.pcm(request)
        for i in range(0, len(pcm), 4800):
            yield pcm[i : i + 4800]


# ----- 1. hit latency -----


async def bench_hits(tmp: Path) -> None:
    print("1. Hit latency (3 s utterance = 144 000 bytes of PCM)")
    n = 2000
    reqs = [SpeechRequest(f"Message {i} for the hit benchmark, about three seconds.") for i in range(50)]
    audio = Audio(b"\x03\x04" * (3 * RATE), RATE)

    mem_inner = StandIn()
    mem = CachedEngine(mem_inner, AudioCache(64 * MIB, None, 0))
    for r in reqs:
        await mem.cache.put(mem.key_for(r), audio)
    keys = [mem.key_for(r) for r in reqs]
    get_t = [await timed(lambda k=keys[i % 50]: mem.cache.get(k)) for i in range(n)]  # type: ignore[misc]
    syn_t = [await timed(lambda r=reqs[i % 50]: mem.synthesize(r)) for i in range(n)]  # type: ignore[misc]
    st_t = [await first_chunk(mem, reqs[i % 50]) for i in range(n)]
    stats = mem.cache.stats
    premise(
        stats.hits_memory == 3 * n and stats.misses == 0 and mem_inner.calls == 0,
        f"memory hit section: {stats.hits_memory} memory hits of {3 * n} lookups, "
        f"{stats.misses} misses, {mem_inner.calls} engine calls",
    )
    print(f"   memory  AudioCache.get               {fmt(get_t)}")
    print(f"   memory  CachedEngine.synthesize      {fmt(syn_t)}   (incl. validation + key)")
    print(f"   memory  CachedEngine.stream 1st chunk {fmt(st_t)}")

    disk_inner = StandIn()
    disk = CachedEngine(disk_inner, AudioCache(0, tmp / "hits", 512 * MIB))
    for r in reqs:
        await disk.cache.put(disk.key_for(r), audio)
    n_disk = 1000
    get_d = [await timed(lambda k=keys[i % 50]: disk.cache.get(k)) for i in range(n_disk)]  # type: ignore[misc]
    syn_d = [await timed(lambda r=reqs[i % 50]: disk.synthesize(r)) for i in range(n_disk)]  # type: ignore[misc]
    st_d = [await first_chunk(disk, reqs[i % 50]) for i in range(n_disk)]
    stats = disk.cache.stats
    premise(
        stats.hits_disk == 3 * n_disk
        and stats.hits_memory == 0
        and stats.misses == 0
        and disk_inner.calls == 0,
        f"disk hit section: {stats.hits_disk} disk hits (and {stats.hits_memory} memory hits) of "
        f"{3 * n_disk} lookups, {stats.misses} misses, {disk_inner.calls} engine calls",
    )
    print(f"   disk    AudioCache.get               {fmt(get_d)}   (read + CRC32 + header checks)")
    print(f"   disk    CachedEngine.synthesize      {fmt(syn_d)}")
    print(f"   disk    CachedEngine.stream 1st chunk {fmt(st_d)}")
    await disk.cache.close()

    put_c = AudioCache(0, tmp / "puts", 512 * MIB)
    put_t = [await timed(lambda i=i: put_c.put(f"{i:064x}", audio)) for i in range(300)]  # type: ignore[misc]
    print(f"   disk    AudioCache.put (write+fsync+rename) {fmt(put_t)}   (after the audio is delivered)")
    await put_c.close()
    print()


# ----- 2. miss overhead -----


async def bench_miss_standin(tmp: Path) -> None:
    print("2a. Miss overhead vs a stand-in engine with a fixed 50 ms latency (always-new text)")
    bare = StandIn(delay=0.05)
    cached = CachedEngine(StandIn(delay=0.05), AudioCache(64 * MIB, tmp / "miss-standin", 512 * MIB))
    bare_s: list[float] = []
    cached_s: list[float] = []
    bare_f: list[float] = []
    cached_f: list[float] = []
    for i in range(120):
        a, b = SpeechRequest(f"bare synth {i}"), SpeechRequest(f"cached synth {i}")
        bare_s.append(await timed(lambda a=a: bare.synthesize(a)))  # type: ignore[misc]
        cached_s.append(await timed(lambda b=b: cached.synthesize(b)))  # type: ignore[misc]
        bare_f.append(await first_chunk(bare, SpeechRequest(f"bare stream {i}")))
        cached_f.append(await first_chunk(cached, SpeechRequest(f"cached stream {i}")))
    stats = cached.cache.stats
    assert isinstance(cached.inner, StandIn)
    premise(
        stats.misses == 240 and stats.hits == 0 and cached.inner.calls == 240,
        f"miss section: {stats.misses} misses, {stats.hits} hits, {cached.inner.calls} engine calls "
        "for 240 requests",
    )
    report_overhead("synthesize", bare_s, cached_s)
    report_overhead("stream, first chunk", bare_f, cached_f)
    await cached.cache.close()


async def bench_miss_pure(tmp: Path) -> None:
    print("2c. The cache's own cost on a miss: stand-in engine answering instantly (always-new text)")
    for label, disk_dir, n, pause in (
        ("memory only", None, 2000, 0.0),
        # Misses 5 ms apart (200 a second, far more than the endpoint's concurrency allows):
        # each disk write (~1 ms, in a thread, after the caller has its audio) ends before the next.
        ("memory + disk", tmp / "miss-pure", 500, 0.005),
    ):
        bare = StandIn(seconds_per_char=0.0)
        cached = CachedEngine(StandIn(seconds_per_char=0.0), AudioCache(64 * MIB, disk_dir, 512 * MIB))
        rows: dict[str, list[float]] = {k: [] for k in ("bare_s", "cached_s", "bare_f", "cached_f")}
        for i in range(n):
            a, b = SpeechRequest(f"bare synth {i}"), SpeechRequest(f"cached synth {i}")
            rows["bare_s"].append(await timed(lambda e=bare, a=a: e.synthesize(a)))  # type: ignore[misc]
            rows["cached_s"].append(await timed(lambda e=cached, b=b: e.synthesize(b)))  # type: ignore[misc]
            rows["bare_f"].append(await first_chunk(bare, SpeechRequest(f"bare stream {i}")))
            rows["cached_f"].append(await first_chunk(cached, SpeechRequest(f"cached stream {i}")))
            if pause:
                await asyncio.sleep(pause)
        stats = cached.cache.stats
        premise(
            stats.misses == 2 * n and stats.hits == 0,
            f"{label} miss section: {stats.misses} misses and {stats.hits} hits for {2 * n} requests",
        )
        print(f"   {label}")
        for what, plain, front in (
            ("synthesize", "bare_s", "cached_s"),
            ("stream, first chunk", "bare_f", "cached_f"),
        ):
            added = [(pct(rows[front], q) - pct(rows[plain], q)) * 1e6 for q in (50, 99)]
            print(f"     {what:20s} bare   {fmt(rows[plain])}")
            print(
                f"     {'':20s} cached {fmt(rows[front])}   "
                f"added p50 {added[0]:+.0f} µs, p99 {added[1]:+.0f} µs"
            )
        await cached.cache.close()
    print()


def report_overhead(what: str, bare: list[float], cached: list[float]) -> None:
    d50 = (pct(cached, 50) - pct(bare, 50)) * 1e3
    d99 = (pct(cached, 99) - pct(bare, 99)) * 1e3
    print(f"   {what:22s} bare   {fmt_ms(bare)}")
    print(f"   {'':22s} cached {fmt_ms(cached)}   overhead p50 {d50:+.2f} ms, p99 {d99:+.2f} ms")


async def bench_miss_fake(tmp: Path) -> None:
    print("2b. Miss overhead vs the fake endpoint over HTTP (127.0.0.1, no artificial delay)")
    async with FakeEndpoint() as fake, aiohttp.ClientSession() as session:
        settings = Settings(
            api_key=Secret("test-key-0123456789"),
            api_url=fake.url,
            data_dir=tmp / "fake",
            max_requests_per_minute=1_000_000,
        )
        client = EndpointClient(settings, session)
        cached = CachedEngine(client, AudioCache.from_settings(settings))
        bare_s: list[float] = []
        cached_s: list[float] = []
        bare_f: list[float] = []
        cached_f: list[float] = []
        for i in range(5):  # warm up connections
            await client.synthesize(SpeechRequest(f"warm up {i}"))
        for i in range(300):
            text = f"A short chat message, number {i}, read aloud."
            bare_req, cached_req = SpeechRequest("bare " + text), SpeechRequest("cached " + text)
            pairs = [
                (bare_s, lambda r=bare_req: client.synthesize(r)),
                (cached_s, lambda r=cached_req: cached.synthesize(r)),
            ]
            for out, call in pairs if i % 2 else pairs[::-1]:  # alternate who goes first
                out.append(await timed(call))
            streams: list[tuple[list[float], SpeechEngine, SpeechRequest]] = [
                (bare_f, client, bare_req),
                (cached_f, cached, cached_req),
            ]
            for out, engine, req in streams if i % 2 else streams[::-1]:
                out.append(await first_chunk(engine, req.with_text("stream " + req.text)))
        stats = cached.cache.stats
        premise(
            stats.misses == 600 and stats.hits == 0 and fake.request_count == 5 + 4 * 300,
            f"endpoint miss section: {stats.misses} misses, {stats.hits} hits for 600 cached requests; "
            f"{fake.request_count} requests at the fake for {5 + 4 * 300} sent",
        )
        report_overhead("synthesize (JSON+URL)", bare_s, cached_s)
        report_overhead("stream, first chunk", bare_f, cached_f)
        await cached.cache.close()
        print(f"   requests at the fake endpoint: {fake.request_count} (one per miss, none repeated)")
    print()


# ----- 3. replay of chat traffic -----

COMMON = (
    "lol",
    "gg",
    "hi",
    "hello",
    "hey",
    "ok",
    "yes",
    "no",
    "yeah",
    "nope",
    "brb",
    "gn",
    "gm",
    "thanks",
    "thank you",
    "ty",
    "np",
    "nice",
    "wow",
    "lmao",
    "haha",
    "hahaha",
    "xd",
    "same",
    "true",
    "fr",
    "what",
    "why",
    "how",
    "wait",
    "omg",
    "rip",
    "oof",
    "bruh",
    "good morning",
    "good night",
    "welcome back",
    "let's go",
    "gg wp",
    "one more game",
    "i'm back",
    "afk",
    "can you hear me",
    "you're muted",
    "ready",
    "go go go",
    "nice shot",
    "who's playing",
    "sounds good",
    "see you",
    "bye",
    "love it",
    "no way",
    "that's crazy",
    "same here",
    "what's up",
    "not much",
    "me too",
    "wait what",
    "good luck",
    "have fun",
)
NAMES = (
    "Alice",
    "Bob",
    "Carmen",
    "Dmitri",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
)
WORDS = (
    "the game last night was really fun and we should play again tomorrow after work maybe "
    "around eight if everyone is free i think the new map is much better than the old one "
    "but the boss fight is still too hard for me honestly did you see that clip someone "
    "posted in the other channel it was hilarious anyway i need to eat something first "
    "then i will join you in the lobby can somebody invite me please my internet is slow "
    "today sorry about that"
).split()


@dataclass
class Traffic:
    messages: list[SpeechRequest]
    unique_share: float


def generate_traffic(seed: int, n: int) -> Traffic:
    """A Zipf-like chat day: speakers (Zipf activity, a fixed voice each) post common short
    phrases (Zipf over ~1 500 phrases) or one-off sentences; the bot announces joins."""
    rng = random.Random(seed)
    rng_voices = random.Random(7)  # the same speakers and voices every day
    speakers = [rng_voices.choice(VOICE_NAMES) for _ in range(80)]
    phrases = list(COMMON)
    phrases += [f"{g} {name}" for name in NAMES for g in ("hi", "thanks", "gg", "welcome back", "good night")]
    phrases += [f"{name} is right" for name in NAMES]
    extra = random.Random(11)
    while len(phrases) < 1500:  # a long tail of recurring phrases (catchphrases, memes, commands)
        phrases.append(" ".join(extra.choice(WORDS) for _ in range(extra.randint(2, 6))))
    phrase_weights = [1 / (rank + 1) ** 1.1 for rank in range(len(phrases))]
    speaker_weights = [1 / (rank + 1) for rank in range(len(speakers))]
    messages: list[SpeechRequest] = []
    unique = 0
    for _ in range(n):
        if rng.random() < 0.05:  # the bot announces a member joining, in the server's voice
            messages.append(SpeechRequest(f"{rng.choice(NAMES)} joined the channel", voice="Cherry"))
            continue
        voice = speakers[rng.choices(range(len(speakers)), speaker_weights)[0]]
        if rng.random() < 0.40:
            words = [rng.choice(WORDS) for _ in range(rng.randint(4, 16))]
            messages.append(SpeechRequest(" ".join(words) + f" {rng.randrange(10**6)}", voice=voice))
            unique += 1
        else:
            phrase = phrases[rng.choices(range(len(phrases)), phrase_weights)[0]]
            messages.append(SpeechRequest(phrase, voice=voice))
    return Traffic(messages, unique / n)


async def replay(engine: CachedEngine, messages: list[SpeechRequest], burst: int = 4) -> None:
    """Messages arrive a few at a time (read by different servers' players concurrently)."""
    for i in range(0, len(messages), burst):
        await asyncio.gather(*(engine.synthesize(m) for m in messages[i : i + burst]))


async def bench_replay(tmp: Path) -> None:
    n = 8000
    print(f"3. Replay of generated chat traffic ({n} messages a day, 80 speakers with a voice each)")
    days = [generate_traffic(seed, n) for seed in (1, 2)]
    seen: set[str] = set()
    for label, traffic in zip(("day 1", "day 2"), days, strict=True):
        keys = {cache_key(m, StandIn.name) for m in traffic.messages}
        chars = sum(len(m.validated().text) for m in traffic.messages)
        bound = n - len(keys - seen)
        seen |= keys
        print(
            f"   {label}: {len(keys)} distinct sounds, {traffic.unique_share:.0%} one-off messages, "
            f"{chars} characters, mean {chars / n:.1f} chars/message; "
            f"an unbounded cache would save {bound} calls ({bound / n:.1%})"
        )
    scenarios: list[tuple[str, int, int]] = [
        ("memory 64 MB only (CACHE_DISK_MB=0)", 64, 0),
        ("defaults: memory 64 MB + disk 512 MB", 64, 512),
        ("small: memory 8 MB + disk 64 MB", 8, 64),
    ]
    for label, mem_mb, disk_mb in scenarios:
        root = tmp / f"replay-{mem_mb}-{disk_mb}"
        print(f"   {label}")
        for day, traffic in enumerate(days, 1):
            inner = StandIn()
            cache = AudioCache(mem_mb * MIB, root if disk_mb else None, disk_mb * MIB)
            engine = CachedEngine(inner, cache)  # a new process each day: memory starts empty
            start = time.perf_counter()
            await replay(engine, traffic.messages)
            took = time.perf_counter() - start
            await cache.close()
            s = cache.stats
            premise(
                inner.calls == s.misses - s.flights_joined and s.hits + s.misses == n,
                f"replay {label} day {day}: {inner.calls} engine calls, {s.misses} misses "
                f"({s.flights_joined} joined a flight), {s.hits} hits for {n} messages",
            )
            requested = sum(len(m.validated().text) for m in traffic.messages)
            print(
                f"     day {day}: API calls {inner.calls:5d} of {n}  saved {n - inner.calls:5d} "
                f"({(n - inner.calls) / n:5.1%})  hits mem {s.hits_memory:5d} disk {s.hits_disk:5d}  "
                f"joined {s.flights_joined:3d}  characters billed {inner.chars / requested:5.1%}  "
                f"evictions mem {s.evictions_memory} disk {s.evictions_disk}  "
                f"disk {s.bytes_disk / MIB:5.1f} MB  ({took:.1f} s)"
            )


async def bench_burst() -> None:
    inner = StandIn(delay=0.3)
    engine = CachedEngine(inner, AudioCache(64 * MIB, None, 0))
    start = time.perf_counter()
    await asyncio.gather(*(engine.synthesize(SpeechRequest("gg")) for _ in range(30)))
    took = time.perf_counter() - start
    premise(inner.calls == 1, f"burst: {inner.calls} engine calls for one text said 30 times at once")
    print(
        f"   burst: 30 members say 'gg' at once (300 ms engine): {inner.calls} API call, "
        f"all 30 served in {took * 1e3:.0f} ms"
    )


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="parla-bench-cache-") as tmp_name:
        tmp = Path(tmp_name)
        await bench_hits(tmp)
        await bench_miss_standin(tmp)
        print()
        await bench_miss_fake(tmp)
        await bench_miss_pure(tmp)
        await bench_replay(tmp)
        await bench_burst()


if __name__ == "__main__":
    asyncio.run(main())
