"""Load and faults: the real speech path under concurrent traffic with random upstream faults.

200 synth requests (whole and streamed; through the circuit breaker with the local engine as
backup, or straight to the endpoint's cache front), arriving 50 at a time, and 200 read-aloud
utterances on the players of 50 servers run at once against the fake endpoint, which injects
seeded random faults: 5xx, 429 with Retry-After, HTML 502 pages, connections reset or cut
mid-stream, stalls before the first byte and mid-stream (with small client timeouts), some for
one attempt, some for every attempt of a request. Part-way through, a full outage: the breaker
must open, send requests to the backup without touching the endpoint, and after the cooldown
(its clock is jumped) let the probe through. Every request must end in audio (the fake's exact
audio when the fake served it) or in a ParlaError with a user message; every utterance is
played (the right tone, every frame) or reported through its `on_error` (partial audio plays);
nothing hangs, no task outlives the services (RSS is a figure of benchmarks.bench_load), and the fake never
sees more than `max_concurrent_requests` requests at once.

The breaker is also checked step by step against the fake with a fake clock: a burst of
failures opens it, 50 concurrent requests then go to the backup without touching the endpoint,
and after the cooldown one probe reaches the endpoint and its success closes the breaker.

Players get the breaker's FallbackEngine, as ParlaBot.open_services wires them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from discord.opus import OPUS_SILENCE

from bot.audio.clip import Audio
from bot.base.config import Settings
from bot.base.errors import ParlaError
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.cached_engine import CachedEngine
from bot.speech.endpoint.client import EndpointClient
from bot.speech.errors import TTSError
from bot.speech.fallback.engine import FallbackEngine
from bot.speech.local.engine import LocalEngine
from bot.speech.request import SpeechRequest
from bot.voice.manager import PlayerManager
from bot.voice.ports import PlayableSource
from bot.voice.source import OpusSourceFactory
from bot.voice.utterance import PlayerOptions, Utterance
from tests.standins.audio_checks import decode, dominant_hz, frames_for, needs_opus
from tests.standins.clock import ManualClock
from tests.standins.fake_api import FakeEndpoint, expected_pcm
from tests.standins.settings import API_KEY, make_settings

pytestmark = needs_opus

CAP = 8  # TTS_MAX_CONCURRENT
SEED = 20240611
N_REQUESTS = 200
N_GUILDS = 50
PER_GUILD = 4
VOICES = ("Cherry", "Ethan", "Serena", "Kai")
# Faults queued at the fake, one per incoming request (transient: a retry may succeed).
TRANSIENT = (
    "error:InternalError",
    "retry-after:0.05",
    "html502",
    "reset",
    "cut-after:0",
    "cut-after:2",
    "stall-first:0.6",
    "stall-after:1:0.6",
    "error:Throttling.RateQuota",
)
# Faults written into the text: every attempt of that request meets them.
PERSISTENT = (
    "error:InternalError",
    "html502",
    "cut-after:1",
    "stall-first:0.6",
    "stall-after:2:0.6",
    "error:DataInspectionFailed",
    "retry-after:0.05",
)
COMMON_LINES = ("good morning everyone", "lol", "brb")
ARRIVALS = 50  # synth requests outstanding at once
COOLDOWN = 30.0  # the breaker's; its clock is jumped past it
# Memory (RSS) is a figure of `python -m benchmarks.bench_load`, with its target there.


# --------------------------------------------------------------------------------------------
# Stand-ins
# --------------------------------------------------------------------------------------------


class LoadFake(FakeEndpoint):
    """The fake (handler cancellation on, bounded file store), plus `outage = True`, which
    fails every request with a 500 InternalError whatever other fault was asked for."""

    outage = False

    def _choose_fault(self, request: web.Request, text: str) -> str | None:
        if self.outage:
            return "error:InternalError"
        return super()._choose_fault(request, text)


class RecordingEngine:
    """Wraps an engine and remembers which texts it was asked to speak (in order)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts: set[str] = set()
        self.order: list[str] = []

    @property
    def name(self) -> str:
        return str(self.inner.name)

    @property
    def sample_rate(self) -> int:
        return int(self.inner.sample_rate)

    def _record(self, request: SpeechRequest) -> None:
        text = request.validated().text
        self.texts.add(text)
        self.order.append(text)

    async def synthesize(self, request: SpeechRequest) -> Audio:
        self._record(request)
        audio: Audio = await self.inner.synthesize(request)
        return audio

    def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        self._record(request)
        stream: AsyncIterator[bytes] = self.inner.stream(request)
        return stream

    async def lookup(self, request: SpeechRequest) -> Audio | None:
        audio: Audio | None = await self.inner.lookup(request)  # the cache only: no engine call
        return audio

    def key_for(self, request: SpeechRequest) -> str:
        key: str = self.inner.key_for(request)  # the CachedEngine's (for the player's Opus cache)
        return key


@dataclass
class Playback:
    """What one playback sent: checked in the playback thread, so that the test keeps no audio."""

    frames: int = 0  # audio packets (underrun silence not counted)
    heard_hz: float = 0.0  # the decoded audio's dominant frequency
    finished: bool = False  # the source played to the end of its audio
    silence: int = 0
    error: BaseException | None = None


class FastLink:
    """A `VoiceLink` that plays each source in its own thread (like discord's AudioPlayer)
    as fast as the source gives packets: no 20 ms pacing. Records every playback in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.playbacks: list[Playback] = []
        self.threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._busy = False

    def is_connected(self) -> bool:
        return True

    def play(self, source: PlayableSource, on_end: Callable[[BaseException | None], None]) -> None:
        if self._busy:
            raise RuntimeError("already playing")
        self._busy = True
        stop = self._stop = threading.Event()
        playback = Playback()
        self.playbacks.append(playback)

        def run() -> None:
            packets: list[bytes] = []
            try:
                while not stop.is_set():
                    packet = source.read()  # type: ignore[attr-defined]
                    if not packet:
                        break
                    if packet == OPUS_SILENCE:
                        playback.silence += 1
                    else:
                        packets.append(packet)
                playback.finished = bool(source.finished)
                playback.frames = len(packets)
                if packets:
                    playback.heard_hz = dominant_hz(decode(packets))
            except Exception as exc:  # reported to the player like discord's `after(error)`
                playback.error = exc
            finally:
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._ended, on_end, playback.error)
                source.cleanup()  # type: ignore[attr-defined]

        thread = threading.Thread(target=run, name="fast-link", daemon=True)
        self.threads.append(thread)
        thread.start()

    def _ended(self, on_end: Callable[[BaseException | None], None], error: BaseException | None) -> None:
        self._busy = False
        on_end(error)

    def stop(self) -> None:
        self._stop.set()

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass


async def instant_sleep(seconds: float) -> None:
    """Backoff sleeps of the client: recorded by the caller's counter, never waited for."""
    await asyncio.sleep(0)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------------------------
# The load-and-fault test
# --------------------------------------------------------------------------------------------


@dataclass
class Job:
    request: SpeechRequest
    mode: str  # "synth" | "stream"
    via: str  # "fallback" | "primary"
    audio_bytes: int = 0
    rate: int | None = None
    fake_audio: bool = False  # exactly the fake's audio for this text and voice
    error: BaseException | None = None


def _text(rng: random.Random, i: int, prefix: str) -> str:
    if rng.random() < 0.14:
        return f"{prefix} {i} [[fault:{rng.choice(PERSISTENT)}]]"
    return f"{prefix} {i} ok"


def make_jobs(rng: random.Random) -> list[Job]:
    jobs = []
    for i in range(N_REQUESTS):
        req = SpeechRequest(_text(rng, i, "Request"), rng.choice(VOICES))
        jobs.append(
            Job(req, rng.choice(("synth", "stream")), "fallback" if rng.random() < 0.75 else "primary")
        )
    return jobs


def make_utterances(rng: random.Random) -> dict[int, list[SpeechRequest]]:
    said: dict[int, list[SpeechRequest]] = {}
    n = 0
    for guild in range(1, N_GUILDS + 1):
        said[guild] = []
        for _ in range(PER_GUILD):
            n += 1
            text = rng.choice(COMMON_LINES) if rng.random() < 0.1 else _text(rng, n, "Message")
            said[guild].append(SpeechRequest(text, rng.choice(VOICES)))
    return said


def fault_queue(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(TRANSIENT) if rng.random() < 0.25 else "" for _ in range(n)]


async def run_job(job: Job, engine: Any) -> None:
    try:
        async with asyncio.timeout(30):  # a hang is a failure, not a stuck test
            if job.mode == "synth":
                audio = await engine.synthesize(job.request)
                pcm, job.rate = audio.pcm, audio.rate
            else:
                chunks = []
                stream = engine.stream(job.request)
                try:
                    async for chunk in stream:
                        chunks.append(chunk)
                finally:
                    await stream.aclose()
                pcm, job.rate = b"".join(chunks), engine.sample_rate
        # Judged now, so the test does not hold every request's audio.
        job.audio_bytes = len(pcm)
        job.fake_audio = pcm == expected_pcm(job.request.text, job.request.voice)
    except BaseException as exc:  # every outcome is checked by the test
        if isinstance(exc, asyncio.CancelledError):
            raise
        job.error = exc


def check_error(error: BaseException, what: str) -> None:
    assert isinstance(error, ParlaError), f"{what}: {type(error).__name__}: {error!r}"
    message = error.user_message()
    assert isinstance(message, str) and message.strip(), what
    assert API_KEY not in message and "Traceback" not in message, what


async def until(condition: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def test_200_requests_and_50_servers_with_random_faults(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    before = set(asyncio.all_tasks())
    loop = asyncio.get_running_loop()
    rss_start = rss_bytes()
    rss_peak = rss_start
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await instant_sleep(seconds)

    fake = LoadFake(api_key=API_KEY, realtime_factor=0.0, chunk_bytes=4800)
    await fake.start()
    settings = make_settings(
        fake,
        tmp_path,
        engine="auto",
        max_concurrent_requests=CAP,
        max_requests_per_minute=100_000,
        first_byte_timeout=0.25,
        stall_timeout=0.25,
        total_timeout=5.0,
        retry_attempts=3,
        retry_budget=5.0,
        cache_memory_mb=2.0,  # smaller than the run's audio: evictions happen
        cache_disk_mb=16.0,
    )
    jobs = make_jobs(rng)
    said = make_utterances(rng)
    fake.faults.extend(fault_queue(rng, 1500))

    session = aiohttp.ClientSession()
    client = EndpointClient(settings, session, sleep=sleep, rand=rng.random)
    cache = AudioCache.from_settings(settings)
    primary = CachedEngine(client, cache)
    local = LocalEngine()
    backup_recorder = RecordingEngine(local)
    backup = CachedEngine(backup_recorder, cache)
    primary_recorder = RecordingEngine(primary)  # what the breaker let through to the endpoint
    clock = ManualClock(base=time.monotonic)  # real time; the test jumps past a cooldown
    fallback = FallbackEngine(
        primary_recorder,
        backup,
        cooldown=COOLDOWN,
        failure_threshold=3,
        clock=clock,
    )
    manager = PlayerManager(  # wired as ParlaBot.open_services does: the breaker's engine
        fallback,
        OpusSourceFactory(),
        store=cache,
        options=PlayerOptions(preroll_ms=100, lookahead=2, queue_max=50, reconnect_poll=0.05),
    )
    links: dict[int, FastLink] = {}
    reports: dict[int, list[ParlaError]] = {}
    utterances: dict[int, list[Utterance]] = {}

    async def on_error(utterance: Utterance, error: ParlaError) -> None:
        reports.setdefault(utterance.id, []).append(error)

    sampling = True

    async def sample_rss() -> None:
        nonlocal rss_peak
        while sampling:
            rss_peak = max(rss_peak, rss_bytes())
            await asyncio.sleep(0.02)

    # Requests arrive over time, ARRIVALS outstanding at once (far above the cap), so the
    # breaker decides for each one when it arrives.
    arrivals = asyncio.Semaphore(ARRIVALS)
    done = 0

    async def arrive(job: Job) -> None:
        nonlocal done
        async with arrivals:
            await run_job(job, fallback if job.via == "fallback" else primary)
        done += 1

    marks: dict[str, Any] = {}

    async def outage() -> None:
        """A full outage part-way through: the breaker opens; when it is over, the cooldown
        is made to pass and the next request probes the endpoint."""
        await until(lambda: done >= 50, 20)
        fake.outage = True
        marks["opened"] = await until(lambda: fallback.primary_down, 10)
        marks["skipped"] = await until(lambda: fallback.stats.primary_skipped >= 15, 10)
        fake.outage = False
        # The random faults pause while the breaker probes, so the probe's fate is the
        # breaker's design, not the dice; the requests in flight may all have been decided
        # while it was open, so the test sends requests until one probes.
        paused = list(fake.faults)
        fake.faults.clear()
        marks["served_before_probe"] = fallback.stats.primary_served
        marks["left_at_probe"] = len(jobs) - done
        marks["through_before_probe"] = len(primary_recorder.order)
        clock.advance(COOLDOWN + 1)
        for i in range(20):
            if fallback.stats.primary_served > marks["served_before_probe"]:
                break
            with contextlib.suppress(ParlaError):
                await fallback.synthesize(SpeechRequest(f"probe number {i} after the outage"))
            await asyncio.sleep(0.01)
        fake.faults.extend(paused)

    sampler = asyncio.create_task(sample_rss())
    started = time.monotonic()
    try:
        for guild, requests in said.items():
            player = manager.get_or_create(guild)
            links[guild] = FastLink(loop)
            player.attach(links[guild])
            utterances[guild] = []
            for req in requests:
                u = Utterance(req, requester_id=guild * 100, requester_name="ann", on_error=on_error)
                player.enqueue(u)
                utterances[guild].append(u)
        await asyncio.gather(outage(), *(arrive(j) for j in jobs))
        assert await until(lambda: all(p.is_idle for p in manager.players()), 30), "players stuck"
        for _ in range(5):  # error reports are delivered by their own (already spawned) tasks
            await asyncio.sleep(0)
        elapsed = time.monotonic() - started
        cache_stats = cache.stats
        players = {p.guild_id: (p.played, p.failed) for p in manager.players()}
    finally:
        sampling = False
        await sampler
        await manager.close_all()
        await close_engines(primary, backup, cache, local)
        await session.close()
        await fake.stop()
    for link in links.values():
        for thread in link.threads:
            thread.join(timeout=5)
            assert not thread.is_alive(), "a playback thread did not end"

    # -- no task outlives the services --------------------------------------------------
    leaked: set[asyncio.Task[Any]] = set()
    for _ in range(200):
        leaked = {t for t in asyncio.all_tasks() - before if not t.done()}
        if not leaked:
            break
        await asyncio.sleep(0.01)
    assert not leaked, f"leaked tasks: {sorted(t.get_name() for t in leaked)}"

    # -- every request ended in audio or a clear error ----------------------------------
    served_by_backup = errors = from_fake = 0
    for job in jobs:
        text = job.request.text
        what = f"{job.mode} via {job.via}: {text!r}"
        if job.error is not None:
            errors += 1
            check_error(job.error, what)
            continue
        assert job.audio_bytes, f"{what}: empty audio"
        if job.fake_audio:
            assert job.rate == 24_000, what
            from_fake += 1
            continue
        # Not the fake's audio: only the backup may have spoken it, and only via the breaker.
        assert job.via == "fallback" and text in backup_recorder.texts, f"{what}: wrong audio"
        if job.mode == "synth":
            assert job.rate == local.sample_rate, what
        else:
            assert job.rate == 24_000, what  # the backup's stream is resampled to the primary's rate
        served_by_backup += 1
    assert served_by_backup <= fallback.stats.backup_served  # players use the same engine
    # The run really met every kind of outcome.
    assert served_by_backup > 0 and errors > 0 and from_fake > 50

    # -- every utterance was played or reported --------------------------------------------
    played_total = reported_total = utterances_by_backup = 0
    for guild, us in utterances.items():
        for u in us:
            assert len(reports.get(u.id, [])) <= 1, f"{u.text!r} reported twice"
            for err in reports.get(u.id, []):
                check_error(err, f"utterance {u.text!r}")
        # Utterances with audio are played in queue order; those that failed before any audio
        # are skipped (and reported).
        audible = [
            u for u in us if u.id not in reports or getattr(reports[u.id][0], "audio_delivered", False)
        ]
        playbacks = links[guild].playbacks
        assert len(playbacks) == len(audible), f"guild {guild}: {len(playbacks)} playbacks"
        for u, playback in zip(audible, playbacks, strict=True):
            assert playback.error is None
            assert playback.frames, f"{u.text!r}: nothing was heard"
            fake_tone = abs(playback.heard_hz - FakeEndpoint.tone_hz(u.text, u.voice)) < 15
            if u.id in reports:
                # Cut after audio: only the endpoint's stream can be cut (the backup takes over
                # only before any audio); what arrived was played.
                reported_total += 1
                assert fake_tone and playback.frames < frames_for(u.text, fake), u.text
                continue
            played_total += 1
            assert playback.finished, u.text
            if fake_tone and playback.frames == frames_for(u.text, fake):
                continue  # the endpoint's audio, whole
            # Otherwise the backup spoke it (the endpoint failed, or the breaker was open).
            assert u.text in backup_recorder.texts, (u.text, playback.heard_hz, playback.frames)
            utterances_by_backup += 1
        reported_total += sum(1 for u in us if u.id in reports and u not in audible)
        played, failed = players[guild]
        assert played == len(audible)
        assert failed == sum(1 for u in us if u.id in reports)
    assert played_total + reported_total == N_GUILDS * PER_GUILD
    assert played_total > 100 and reported_total > 0 and utterances_by_backup > 0

    # -- the breaker opened under the outage and closed after it ------------------------------
    assert marks.get("opened"), "the breaker did not open during the outage"
    assert marks.get("skipped"), "no request was sent straight to the backup"
    assert marks["left_at_probe"] > 20, "too few requests after the outage to probe"
    # What the breaker sent straight to the backup never reached the endpoint.
    skipped = backup_recorder.texts - primary_recorder.texts
    assert 0 < len(skipped) <= fallback.stats.primary_skipped
    assert skipped.isdisjoint(r.text for r in fake.requests), "a skipped request reached the endpoint"
    # After the cooldown the breaker lets requests through again (the first is the probe), and
    # the endpoint serves them.
    probe = primary_recorder.order[marks["through_before_probe"]]
    assert any(r.text == probe for r in fake.requests)
    assert fallback.stats.primary_served > marks["served_before_probe"], "no probe succeeded"

    # -- the cap, memory ----------------------------------------------------------------------
    assert fake.max_concurrency <= CAP, fake.max_concurrency
    assert fake.max_concurrency >= CAP // 2  # the load did reach the cap's order
    assert client.stats.in_flight == 0 and primary.flights_in_progress == 0
    assert client.stats.retries > 0 and sleeps, "the faults caused retries"
    assert cache_stats.bytes_memory <= cache_stats.limit_memory
    assert cache_stats.evictions_memory > 0
    growth = rss_peak - rss_start
    print(
        f"\nload: {len(jobs)} requests + {N_GUILDS * PER_GUILD} utterances in {elapsed:.1f}s; "
        f"fake requests {fake.request_count}, max concurrency {fake.max_concurrency}; "
        f"retries {client.stats.retries}; from fake {from_fake}, backup {served_by_backup}, "
        f"errors {errors}; utterances played {played_total} ({utterances_by_backup} by the backup), "
        f"reported {reported_total}; "
        f"breaker skipped {fallback.stats.primary_skipped}; RSS growth {growth / 2**20:.0f} MiB"
    )


async def close_engines(
    primary: CachedEngine, backup: CachedEngine, cache: AudioCache, local: LocalEngine
) -> None:
    await primary.close()
    await backup.close()
    await cache.close()
    local.close()


# --------------------------------------------------------------------------------------------
# The breaker against the fake, with a fake clock
# --------------------------------------------------------------------------------------------


@dataclass
class Stack:
    fake: LoadFake
    client: EndpointClient
    primary: RecordingEngine  # the endpoint's cache front, as the breaker sees it
    backup: RecordingEngine  # the local engine (under its own cache front)
    engine: FallbackEngine
    clock: ManualClock
    told: list[TTSError]


@contextlib.asynccontextmanager
async def open_stack(tmp_path: Path, **settings: Any) -> AsyncIterator[Stack]:
    fake = LoadFake(api_key=API_KEY)
    await fake.start()
    values: dict[str, Any] = {"retry_attempts": 3, "cache_disk_mb": 0.0, **settings}
    config: Settings = make_settings(fake, tmp_path, **values)
    session = aiohttp.ClientSession()
    client = EndpointClient(config, session, sleep=instant_sleep, rand=lambda: 0.5)
    cache = AudioCache.from_settings(config)
    primary = CachedEngine(client, cache)
    local = LocalEngine()
    backup_recorder = RecordingEngine(local)
    backup = CachedEngine(backup_recorder, cache)
    primary_recorder = RecordingEngine(primary)
    clock = ManualClock(1000.0)
    told: list[TTSError] = []
    engine = FallbackEngine(
        primary_recorder,
        backup,
        on_fallback=told.append,
        cooldown=COOLDOWN,
        failure_threshold=3,
        clock=clock,
    )
    try:
        yield Stack(fake, client, primary_recorder, backup_recorder, engine, clock, told)
    finally:
        await close_engines(primary, backup, cache, local)
        await session.close()
        await fake.stop()


async def speak(engine: Any, text: str, mode: str) -> tuple[bytes, int]:
    req = SpeechRequest(text, "Ethan")
    if mode == "synth":
        audio = await engine.synthesize(req)
        return audio.pcm, audio.rate
    chunks = [chunk async for chunk in engine.stream(req)]
    return b"".join(chunks), int(engine.sample_rate)


async def test_breaker_opens_on_a_burst_sends_to_the_backup_and_a_probe_closes_it(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as s:
        fake = s.fake
        fake.outage = True
        # A burst of requests meets the outage: each fails at the endpoint (with its retries)
        # and is spoken by the backup; the repeated failures open the breaker.
        burst = [f"Burst {i}" for i in range(6)]
        results = await asyncio.gather(
            *(speak(s.engine, t, ("synth", "stream")[i % 2]) for i, t in enumerate(burst))
        )
        assert all(pcm for pcm, _ in results)
        assert fake.request_count == 6 * 3
        assert s.engine.stats.primary_failures == 6 and s.engine.stats.backup_served == 6
        assert s.engine.primary_down
        assert isinstance(s.told[0], TTSError) and s.told[0].code == "InternalError"

        # While open: 50 concurrent requests go straight to the backup; the endpoint sees none.
        skipped = [f"Skipped {i}" for i in range(50)]
        results = await asyncio.gather(
            *(speak(s.engine, t, ("synth", "stream")[i % 2]) for i, t in enumerate(skipped))
        )
        assert all(pcm for pcm, _ in results)
        assert fake.request_count == 6 * 3
        assert s.engine.stats.primary_skipped == 50
        assert set(skipped) <= s.backup.texts and not set(skipped) & s.primary.texts
        for i, (_, rate) in enumerate(results):
            assert rate == (22_050 if i % 2 == 0 else 24_000)  # the stream is resampled

        # Just before the cooldown ends it is still open.
        s.clock.advance(COOLDOWN - 1)
        await speak(s.engine, "Still skipped", "synth")
        assert fake.request_count == 6 * 3 and s.engine.primary_down

        # The endpoint is back; after the cooldown the next request probes it, and its success
        # closes the breaker.
        fake.outage = False
        s.clock.advance(2)
        pcm, rate = await speak(s.engine, "The probe", "stream")
        assert fake.request_count == 6 * 3 + 1
        assert (pcm, rate) == (fake.expected_pcm("The probe", "Ethan"), 24_000)
        assert s.engine.stats.primary_served == 1 and not s.engine.primary_down

        # Closed: traffic goes to the endpoint again.
        after = [f"After {i}" for i in range(20)]
        results = await asyncio.gather(
            *(speak(s.engine, t, ("synth", "stream")[i % 2]) for i, t in enumerate(after))
        )
        assert [pcm for pcm, _ in results] == [fake.expected_pcm(t, "Ethan") for t in after]
        assert fake.request_count == 6 * 3 + 1 + 20
        # The success reset the failure count: one failing request does not reopen it.
        fake.faults.extend(["error:InternalError"] * 3)
        pcm, rate = await speak(s.engine, "One blip", "synth")
        assert rate == 22_050 and not s.engine.primary_down


async def test_a_failed_probe_reopens_the_breaker_at_once(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as s:
        s.fake.outage = True
        for i in range(3):
            await speak(s.engine, f"Down {i}", "synth")
        assert s.engine.primary_down
        s.clock.advance(COOLDOWN + 1)
        assert not s.engine.primary_down
        pcm, rate = await speak(s.engine, "Probe while still down", "stream")
        assert pcm and rate == 24_000  # the backup's
        assert s.fake.request_count == 3 * 3 + 3  # the probe and its retries
        assert s.engine.primary_down  # one failure of the probe is enough
        await speak(s.engine, "Skipped again", "synth")
        assert s.fake.request_count == 3 * 3 + 3


async def test_only_one_probe_reaches_the_endpoint_after_the_cooldown(tmp_path: Path) -> None:
    async with open_stack(tmp_path, first_byte_timeout=0.3) as s:
        s.fake.outage = True
        for i in range(3):
            await speak(s.engine, f"Down {i}", "synth")
        assert s.engine.primary_down
        before = s.fake.request_count
        s.clock.advance(COOLDOWN + 1)
        # Ten messages arrive together after the cooldown: one of them probes the endpoint
        # (with its retries), the others should be spoken by the backup meanwhile.
        results = await asyncio.gather(*(speak(s.engine, f"Arrives {i}", "synth") for i in range(10)))
        assert all(pcm for pcm, _ in results)
        assert s.fake.request_count - before <= 3, s.fake.request_count - before


# --------------------------------------------------------------------------------------------
# Read-aloud with the production wiring (TTS_ENGINE=auto: endpoint + local backup)
# --------------------------------------------------------------------------------------------


async def test_read_aloud_plays_with_the_default_auto_engine(tmp_path: Path) -> None:
    from tests.standins.discord_objects import open_bot_rig

    fake = LoadFake(api_key=API_KEY)
    await fake.start()
    try:
        settings = make_settings(fake, tmp_path)  # TTS_ENGINE=auto (the default)
        assert settings.engine == "auto"
        async with aiohttp.ClientSession() as session, open_bot_rig(settings, session) as rig:
            assert isinstance(rig.bot.stack.engine, FallbackEngine)
            errors: list[ParlaError] = []

            async def on_error(utterance: Utterance, error: ParlaError) -> None:
                errors.append(error)

            player = rig.bot.voice.manager.get_or_create(rig.guild.id)
            link = FastLink(asyncio.get_running_loop())
            player.attach(link)
            player.enqueue(Utterance(SpeechRequest("Hello voice channel"), 1, "ann", on_error=on_error))
            assert await until(lambda: player.is_idle, 10)
            for _ in range(5):
                await asyncio.sleep(0)
            assert [e.user_message() for e in errors] == []
            assert player.played == 1
            heard = link.playbacks[0].heard_hz
            assert abs(heard - FakeEndpoint.tone_hz("Hello voice channel", "Cherry")) < 15
    finally:
        await fake.stop()


class HeldLink(FastLink):
    """A FastLink whose playbacks wait until the test releases them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.held: list[tuple[PlayableSource, Callable[[BaseException | None], None]]] = []
        self.started = asyncio.Event()

    def play(self, source: PlayableSource, on_end: Callable[[BaseException | None], None]) -> None:
        if self._busy:
            raise RuntimeError("already playing")
        self._busy = True
        self.held.append((source, on_end))
        self.started.set()

    def release(self) -> None:
        source, on_end = self.held.pop(0)
        self._busy = False
        super().play(source, on_end)


async def test_backup_audio_is_never_stored_as_the_real_voice(tmp_path: Path) -> None:
    """Two servers read the same message. In the first, the endpoint fails and the backup speaks
    it; while that is still playing, the second gets the endpoint's audio. When the first
    playback ends, its (backup) packets must not be filed under the endpoint's cache key: a third
    server reading the message later must hear the real voice."""
    async with open_stack(tmp_path, cache_memory_mb=16.0) as s:
        loop = asyncio.get_running_loop()
        cache = s.primary.inner.cache
        manager = PlayerManager(s.engine, OpusSourceFactory(), store=cache)
        text = "good morning everyone"
        request = SpeechRequest(text)
        tone = FakeEndpoint.tone_hz(text, "Cherry")
        try:
            first = manager.get_or_create(1)
            held = HeldLink(loop)
            first.attach(held)
            s.fake.faults.extend(["error:InternalError"] * 3)  # its three attempts fail
            first.enqueue(Utterance(request, 1, "ann"))
            async with asyncio.timeout(10):
                await held.started.wait()
            assert text in s.backup.texts and s.fake.request_count == 3

            second = manager.get_or_create(2)
            fast = FastLink(loop)
            second.attach(fast)
            second.enqueue(Utterance(request, 2, "bob"))
            assert await until(lambda: second.is_idle and bool(fast.playbacks), 10)
            assert abs(fast.playbacks[0].heard_hz - tone) < 15  # the endpoint's voice

            held.release()  # the first server's (backup) playback ends now
            assert await until(lambda: first.is_idle, 10)
            for _ in range(10):  # let a packet store (its own task) finish
                await asyncio.sleep(0)

            third = manager.get_or_create(3)
            later = FastLink(loop)
            third.attach(later)
            third.enqueue(Utterance(request, 3, "cy"))
            assert await until(lambda: third.is_idle and bool(later.playbacks), 10)
            heard = later.playbacks[0].heard_hz
            assert abs(heard - tone) < 15, f"heard {heard:.0f} Hz (the backup's), not the {tone:.0f} Hz voice"
        finally:
            await manager.close_all()
