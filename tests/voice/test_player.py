"""The per-server player end to end: fake endpoint -> EndpointClient -> CachedEngine -> GuildPlayer
-> DiscordVoiceLink -> discord.py's real AudioPlayer thread (real Opus) -> a recording voice client.

The fake's audio for a text is a sine tone whose pitch depends on (text, voice); decoding the
packets each utterance sent and finding their dominant frequency tells which utterance was
heard, whole and in which order.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.base.errors import ParlaError
from bot.speech.cache.audio_cache import AudioCache
from bot.speech.cache.cached_engine import CachedEngine
from bot.speech.endpoint.client import EndpointClient
from bot.speech.errors import TTSError
from bot.speech.request import SpeechRequest
from bot.voice.errors import QueueFullError
from bot.voice.link import DiscordVoiceLink
from bot.voice.manager import PlayerManager
from bot.voice.player import GuildPlayer
from bot.voice.source import OpusSourceFactory, StoredOpusSource, StreamingOpusSource
from bot.voice.utterance import PlayerOptions, Utterance
from tests.standins.audio_checks import decode, dominant_hz, frames_for, needs_opus
from tests.standins.fake_api import FakeEndpoint
from tests.standins.voice_client import Packet, RecordingVoiceClient

pytestmark = needs_opus

FRAME = 0.020


def distinct_texts(
    n: int, chars: int, *, suffix: str = "", voice: str = "Cherry", gap: float = 60.0
) -> list[str]:
    """`n` texts of about `chars` characters whose fake tones are at least `gap` Hz apart."""
    chosen: list[str] = []
    k = 0
    while len(chosen) < n:
        base = f"Message {k} "
        text = (base + "x" * max(0, chars - len(base) - len(suffix))) + suffix
        k += 1
        hz = FakeEndpoint.tone_hz(text, voice)
        if all(abs(hz - FakeEndpoint.tone_hz(t, voice)) >= gap for t in chosen):
            chosen.append(text)
    return chosen


@dataclass
class Rig:
    fake: FakeEndpoint
    engine: CachedEngine
    cache: AudioCache
    vc: RecordingVoiceClient
    player: GuildPlayer
    idle: asyncio.Event
    errors: list[tuple[Utterance, ParlaError]] = field(default_factory=list)

    def say(self, text: str, voice: str = "Cherry", player: GuildPlayer | None = None) -> Utterance:
        async def on_error(utterance: Utterance, error: ParlaError) -> None:
            self.errors.append((utterance, error))

        u = Utterance(SpeechRequest(text, voice), requester_id=42, requester_name="ann", on_error=on_error)
        (player if player is not None else self.player).enqueue(u)
        return u

    async def until_idle(self, limit: float = 10.0) -> None:
        async with asyncio.timeout(limit):
            await self.idle.wait()

    def audio(self, source: Any) -> list[Packet]:
        """The audio packets `source` sent (not underrun or end-of-play silence)."""
        return [p for p in self.vc.packets_of(source) if p.scheduled and not p.silence]


async def eventually(condition: Callable[[], bool], limit: float = 3.0) -> None:
    for _ in range(int(limit / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    assert condition()


def make_player(
    engine: CachedEngine, cache: AudioCache, idle: asyncio.Event, guild_id: int = 1, **options: Any
) -> GuildPlayer:
    def on_idle_change(is_idle: bool) -> None:
        if is_idle:
            idle.set()
        else:
            idle.clear()

    values = {"preroll_ms": 100, "lookahead": 2, "queue_max": 5, "reconnect_poll": 0.05, **options}
    opts = PlayerOptions(**values)
    return GuildPlayer(
        guild_id, engine, OpusSourceFactory(), store=cache, options=opts, on_idle_change=on_idle_change
    )


@pytest.fixture
async def rig(fake_endpoint: FakeEndpoint, client: EndpointClient) -> AsyncIterator[Rig]:
    cache = AudioCache(64 * 1024 * 1024, None, 0)
    engine = CachedEngine(client, cache)
    loop = asyncio.get_running_loop()
    vc = RecordingVoiceClient(loop)
    idle = asyncio.Event()
    player = make_player(engine, cache, idle)
    player.attach(DiscordVoiceLink(vc))  # type: ignore[arg-type]
    r = Rig(fake_endpoint, engine, cache, vc, player, idle)
    try:
        yield r
    finally:
        await player.close()
        await engine.close()
        await cache.close()


# --------------------------------------------------------------------------- acceptance
async def test_queue_order_and_decoded_audio_match_the_endpoint(rig: Rig) -> None:
    # The first utterance's audio arrives last (the endpoint stalls 0.3 s on it): look-ahead
    # fetches the next two meanwhile, and playback still follows the queue.
    texts = distinct_texts(3, 20, suffix="[[fault:stall-first:0.3]]")
    texts[1:] = distinct_texts(2, 16)
    utterances = [rig.say(t) for t in texts]
    assert rig.player.current is utterances[0] or rig.player.queue()[0] is utterances[0]
    await rig.until_idle()
    sources = rig.vc.audio_sources()
    assert len(sources) == 3
    # All three were requested while the first one was still stalled.
    assert len(rig.fake.requests) == 3
    assert max(r.at for r in rig.fake.requests) - rig.fake.requests[0].at < 0.25
    for text, source in zip(texts, sources, strict=True):
        assert isinstance(source, StreamingOpusSource)
        audio = rig.audio(source)
        assert all(not p.encoded for p in audio)  # encoded once by our source, not by discord
        assert len(audio) == frames_for(text, rig.fake) == source.frames_encoded
        heard = dominant_hz(decode(audio))
        assert abs(heard - rig.fake.tone_hz(text, "Cherry")) < 8, (text, heard)
    assert rig.errors == []
    assert rig.player.played == 3


async def test_underrun_sends_silence_and_playback_continues(rig: Rig) -> None:
    # After 3 chunks (0.3 s) the endpoint stalls 0.5 s: longer than what is buffered.
    slow, after = distinct_texts(2, 40, suffix="")
    slow = slow[:-25] + "[[fault:stall-after:3:0.5]]"
    rig.say(slow)
    rig.say(after)
    await rig.until_idle()
    first, second = rig.vc.audio_sources()
    frames = [p for p in rig.vc.packets_of(first) if p.scheduled]
    silent = [i for i, p in enumerate(frames) if p.silence]
    assert silent, "an underrun must send silence packets, not end the utterance"
    assert any(not p.silence for p in frames[silent[-1] :]), "audio resumes after the underrun"
    assert len(rig.audio(first)) == frames_for(slow, rig.fake)
    assert abs(dominant_hz(decode(rig.audio(first))) - rig.fake.tone_hz(slow, "Cherry")) < 8
    assert abs(dominant_hz(decode(rig.audio(second))) - rig.fake.tone_hz(after, "Cherry")) < 8


async def test_skip_stops_within_one_frame_and_closes_the_endpoint_stream(rig: Rig) -> None:
    rig.fake.realtime_factor = 1.0  # the stream is still arriving while it plays
    long_text, nxt = distinct_texts(2, 100)
    nxt = nxt[:20]
    rig.say(long_text)
    rig.say(nxt)
    await rig.vc.wait_for(lambda ps: sum(1 for p in ps if p.scheduled and not p.silence) >= 10)
    first = rig.vc.audio_sources()[0]
    t_skip = time.perf_counter()
    skipped = rig.player.skip()
    assert skipped is not None and skipped.text == long_text
    assert rig.player.skip() is None  # a second skip does not skip the next one
    await rig.until_idle()
    late = [p for p in rig.vc.packets_of(first) if not p.silence and p.t > t_skip + FRAME]
    assert late == []
    await eventually(lambda: rig.fake.disconnects == 1)
    second = rig.vc.audio_sources()[1]
    assert abs(dominant_hz(decode(rig.audio(second))) - rig.fake.tone_hz(nxt, "Cherry")) < 8
    assert len(rig.audio(first)) < frames_for(long_text, rig.fake)


async def test_clear_stops_within_one_frame_and_closes_every_stream(rig: Rig) -> None:
    rig.fake.realtime_factor = 1.0
    texts = distinct_texts(3, 100)
    for t in texts:
        rig.say(t)
    await rig.vc.wait_for(lambda ps: sum(1 for p in ps if p.scheduled and not p.silence) >= 5)
    t_clear = time.perf_counter()
    assert rig.player.clear() == 3
    await rig.until_idle()
    assert [p for p in rig.vc.snapshot() if not p.silence and p.t > t_clear + FRAME] == []
    assert rig.player.current is None and rig.player.queue() == []
    await eventually(lambda: rig.fake.disconnects == 3)  # the look-ahead streams are closed too
    assert len(rig.vc.audio_sources()) == 1


async def test_lookahead_asks_for_the_next_utterance_while_one_plays(rig: Rig) -> None:
    # Ordering, not timing (the gap itself is a figure of `python -m benchmarks.bench_voice`):
    # each next utterance reached the endpoint before the one before it had finished playing.
    assert (
        time.get_clock_info("perf_counter").implementation == time.get_clock_info("monotonic").implementation
    )
    rig.fake.first_chunk_delay = 0.3
    rig.fake.realtime_factor = 4.0
    texts = distinct_texts(3, 20)
    for t in texts:
        rig.say(t)
    await rig.until_idle()
    sources = rig.vc.audio_sources()
    assert len(sources) == 3
    asked = {r.text: r.at for r in rig.fake.requests}
    assert list(asked) == texts  # asked in queue order
    for (prev, _), (nxt, text) in itertools.pairwise(zip(sources, texts, strict=True)):
        assert asked[text] < max(p.t for p in rig.audio(prev))
        assert min(p.t for p in rig.vc.packets_of(nxt) if p.scheduled) > max(p.t for p in rig.audio(prev))


async def test_error_mid_utterance_is_reported_and_the_queue_moves_on(rig: Rig) -> None:
    broken, fine = distinct_texts(2, 40)
    broken = broken[:-26] + "[[fault:sse-error-after:3]]"
    refused = "Refuse this [[fault:error:InvalidParameter]]"
    u_broken = rig.say(broken)
    u_refused = rig.say(refused)
    rig.say(fine)
    await rig.until_idle()
    reported = {u.id: e for u, e in rig.errors}
    assert set(reported) == {u_broken.id, u_refused.id}
    mid = reported[u_broken.id]
    assert isinstance(mid, TTSError) and mid.code == "InternalError" and mid.request_id
    assert "InternalError" in mid.user_message() and mid.request_id in mid.user_message()
    bad = reported[u_refused.id]
    assert isinstance(bad, TTSError) and bad.code == "InvalidParameter"
    sources = rig.vc.audio_sources()
    assert len(sources) == 2  # the partial utterance and the fine one; the refused one had no audio
    assert 0 < len(rig.audio(sources[0])) < frames_for(broken, rig.fake)
    assert abs(dominant_hz(decode(rig.audio(sources[1]))) - rig.fake.tone_hz(fine, "Cherry")) < 8
    assert rig.player.failed == 2
    # Nothing incomplete was cached: asking again goes to the endpoint again.
    key = rig.engine.key_for(SpeechRequest(broken))
    assert await rig.cache.get_opus(key, OpusSourceFactory().profile) is None


async def test_cache_hit_in_another_server_sends_the_stored_packets_without_encoding(rig: Rig) -> None:
    (text,) = distinct_texts(1, 20)
    rig.say(text)
    await rig.until_idle()
    first = rig.vc.audio_sources()[0]
    sent = [p.data for p in rig.audio(first)]
    key = rig.engine.key_for(SpeechRequest(text))
    await eventually(lambda: rig.cache.stats.opus_puts == 1, 1.0)
    assert await rig.cache.get_opus(key, OpusSourceFactory().profile) == sent
    requests = rig.fake.request_count

    vc2 = RecordingVoiceClient(asyncio.get_running_loop())
    idle2 = asyncio.Event()
    other = make_player(rig.engine, rig.cache, idle2, guild_id=2)
    other.attach(DiscordVoiceLink(vc2))  # type: ignore[arg-type]
    try:
        rig.say(text, player=other)
        async with asyncio.timeout(5):
            await idle2.wait()
        (replay,) = vc2.audio_sources()
        assert isinstance(replay, StoredOpusSource)
        assert [p.data for p in vc2.packets_of(replay) if p.scheduled] == sent
        assert rig.fake.request_count == requests
    finally:
        await other.close()


async def test_disconnect_mid_utterance_keeps_the_queue_and_says_it_again(rig: Rig) -> None:
    rig.vc.timeout = 0.1  # how long discord's player waits for a reconnect before giving up
    first_text, second_text = distinct_texts(2, 30)
    rig.say(first_text)
    rig.say(second_text)
    await rig.vc.wait_for(lambda ps: sum(1 for p in ps if p.scheduled and not p.silence) >= 5)
    rig.vc.drop_connection()
    await eventually(lambda: not rig.player.is_playing)  # discord's player gave up
    assert [u.text for u in [rig.player.current, *rig.player.queue()] if u] == [first_text, second_text]
    rig.vc.restore_connection()
    await rig.until_idle()
    sources = rig.vc.audio_sources()
    assert len(sources) == 3  # interrupted, then the first again from the start, then the second
    assert len(rig.audio(sources[1])) == frames_for(first_text, rig.fake)
    assert abs(dominant_hz(decode(rig.audio(sources[1]))) - rig.fake.tone_hz(first_text, "Cherry")) < 8
    assert abs(dominant_hz(decode(rig.audio(sources[2]))) - rig.fake.tone_hz(second_text, "Cherry")) < 8


# --------------------------------------------------------------------------- operations
async def test_queue_is_bounded_and_lists_text_requester_and_voice(rig: Rig) -> None:
    rig.fake.first_chunk_delay = 0.5  # nothing starts playing during the test
    rig.player.pause()
    texts = distinct_texts(5, 12, gap=0)
    for t in texts:
        rig.say(t, voice="Ethan")
    with pytest.raises(QueueFullError) as err:
        rig.say("one too many")
    assert "full" in err.value.user_message() and "5" in err.value.user_message()
    await asyncio.sleep(0)  # let the runner take the first one as current
    listing = [rig.player.current, *rig.player.queue()]
    assert [u.text for u in listing if u] == texts
    assert all(u is not None and u.voice == "Ethan" and u.requester_name == "ann" for u in listing)
    # Look-ahead: only the first 1 + 2 are being synthesised.
    await eventually(lambda: rig.fake.request_count == 3)
    assert rig.player.clear() == 5


async def test_pause_holds_playback_and_resume_continues(rig: Rig) -> None:
    (text,) = distinct_texts(1, 40)
    rig.say(text)
    await rig.vc.wait_for(lambda ps: sum(1 for p in ps if p.scheduled and not p.silence) >= 3)
    assert rig.player.pause() and not rig.player.pause()
    count = len(rig.vc.snapshot())
    await asyncio.sleep(0.2)
    held = [p for p in rig.vc.snapshot()[count:] if not p.silence]
    assert held == [] and not rig.idle.is_set()
    assert rig.player.resume() and not rig.player.resume()
    await rig.until_idle()
    (source,) = rig.vc.audio_sources()
    assert len(rig.audio(source)) == frames_for(text, rig.fake)


async def test_remove_drops_queued_items_by_tag(rig: Rig) -> None:
    rig.player.pause()
    texts = distinct_texts(3, 12)
    us = [rig.say(t) for t in texts]
    us[1].tag = "message-2"
    removed = rig.player.remove(lambda u: u.tag == "message-2")
    assert removed == [us[1]]
    rig.player.resume()
    await rig.until_idle()
    heard = [dominant_hz(decode(rig.audio(s))) for s in rig.vc.audio_sources()]
    assert len(heard) == 2
    assert abs(heard[1] - rig.fake.tone_hz(texts[2], "Cherry")) < 8


async def test_close_cancels_everything(rig: Rig) -> None:
    rig.fake.realtime_factor = 1.0
    for t in distinct_texts(3, 100):
        rig.say(t)
    await rig.vc.wait_for(lambda ps: any(p.scheduled and not p.silence for p in ps))
    await rig.player.close()
    await eventually(lambda: rig.fake.disconnects == 3)
    assert not rig.vc.is_playing()
    with pytest.raises(ParlaError):
        rig.say("after close")


async def test_manager_keeps_one_player_per_guild_and_closes_all(rig: Rig) -> None:
    manager = PlayerManager(rig.engine, OpusSourceFactory(), store=rig.cache)
    seen: list[tuple[int, bool]] = []
    manager.set_idle_listener(lambda gid, idle: seen.append((gid, idle)))
    a = manager.get_or_create(10)
    assert manager.get_or_create(10) is a and manager.get(11) is None
    a.pause()
    a.enqueue(Utterance(SpeechRequest("hello there"), 1, "ann"))
    assert seen == [(10, False)]
    await manager.close_all()
    assert a.closed and len(manager) == 0


class _Wrapped:
    """The rig's engine seen through another engine's eyes (e.g. a FallbackEngine)."""

    def __init__(self, inner: CachedEngine, keys: list[str | None] | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.sample_rate = inner.sample_rate
        self.keys = keys

    def stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        return self.inner.stream(request)


class _ChangingKey(_Wrapped):
    def key_for(self, request: SpeechRequest) -> str | None:
        assert self.keys
        return self.keys.pop(0)


async def test_an_engine_without_keys_plays_without_opus_caching(rig: Rig) -> None:
    idle = asyncio.Event()
    player = make_player(rig.engine, rig.cache, idle, guild_id=3)
    player._engine = _Wrapped(rig.engine)  # type: ignore[assignment]
    vc = RecordingVoiceClient(asyncio.get_running_loop())
    player.attach(DiscordVoiceLink(vc))  # type: ignore[arg-type]
    try:
        (text,) = distinct_texts(1, 16)
        rig.say(text, player=player)
        async with asyncio.timeout(5):
            await idle.wait()
        (source,) = vc.audio_sources()
        audio = [p for p in vc.packets_of(source) if p.scheduled and not p.silence]
        assert abs(dominant_hz(decode(audio)) - rig.fake.tone_hz(text, "Cherry")) < 8
        assert rig.cache.stats.opus_puts == 0
    finally:
        await player.close()


async def test_packets_are_not_stored_when_the_engine_changed_its_sound_mid_way(rig: Rig) -> None:
    idle = asyncio.Event()
    player = make_player(rig.engine, rig.cache, idle, guild_id=4)
    (text,) = distinct_texts(1, 16)
    key = rig.engine.key_for(SpeechRequest(text))
    player._engine = _ChangingKey(rig.engine, [key, None])  # type: ignore[assignment]
    vc = RecordingVoiceClient(asyncio.get_running_loop())
    player.attach(DiscordVoiceLink(vc))  # type: ignore[arg-type]
    try:
        rig.say(text, player=player)
        async with asyncio.timeout(5):
            await idle.wait()
        assert len(vc.audio_sources()) == 1
        await asyncio.sleep(0.05)  # a store task would have run by now
        assert rig.cache.stats.opus_puts == 0
    finally:
        await player.close()
