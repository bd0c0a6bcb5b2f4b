"""The shared voice sender (bot.voice.sender) over real discord.VoiceClients whose packets go
through discord.py's own steps (DAVE stand-in, RTP header, AEAD) onto a recorded wire: many
servers at once, each on its own connection, with the player behaviours of discord.py's
AudioPlayer (speaking, pause, stop, trailing silence, reconnects)."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator

import discord
import numpy as np
import pytest
from discord.opus import OPUS_SILENCE

from bot.base.config import ConfigError, Settings
from bot.voice import sender as voice_sender
from bot.voice.frame_buffer import FrameBuffer
from bot.voice.link import DiscordVoiceLink
from bot.voice.packet_path import DiscordPacketPath
from bot.voice.sender import VoiceSender, default_sender
from bot.voice.service import VoiceOptions
from bot.voice.source import OpusSourceFactory, StoredOpusSource, StreamingOpusSource
from tests.standins.audio_checks import decode, dominant_hz, needs_opus
from tests.standins.voice_client import PacketConnection, PacketVoiceClient, RecordingVoiceClient
from tests.standins.voice_world import World, member

pytestmark = needs_opus

MARK = b"E2E:"  # what the DAVE stand-in puts before each packet


@pytest.fixture(params=[0, 2], ids=["encode-threads", "encode-processes"])
async def sender(request: pytest.FixtureRequest) -> AsyncIterator[VoiceSender]:
    """The shared sender, encoding in threads and in two child processes (the default)."""
    s = VoiceSender(encode_processes=request.param)
    assert await asyncio.to_thread(s.pool.wait_ready)
    try:
        yield s
    finally:
        await asyncio.to_thread(s.close)


def stored(guild: int, frames: int) -> list[bytes]:
    return [b"guild %03d frame %04d" % (guild, i) for i in range(frames)]


class Server:
    def __init__(self, loop: asyncio.AbstractEventLoop, n: int, sender: VoiceSender, frames: int) -> None:
        self.n = n
        self.vc = PacketVoiceClient(loop, ssrc=1000 + n, mark=MARK)
        self.vc.recorder.timeout = 5.0
        self.link = DiscordVoiceLink(self.vc, sender=sender)
        self.packets = stored(n, frames)
        self.ended = asyncio.Event()
        self.error: BaseException | None = None

    def play(self) -> None:
        def on_end(error: BaseException | None) -> None:
            self.error = error
            self.ended.set()

        self.link.play(StoredOpusSource(self.packets), on_end)

    def wire(self) -> list[tuple[int, int, int, bytes]]:
        return [self.vc.opus_of(p) for p in self.vc.conn.wire]

    def audio(self) -> list[bytes]:
        out = []
        for _, _, _, payload in self.wire():
            assert payload.startswith(MARK)  # DAVE first, then RTP and transport encryption
            if payload[len(MARK) :] != OPUS_SILENCE:
                out.append(payload[len(MARK) :])
        return out


def assert_continuous(wire: list[tuple[int, int, int, bytes]], ssrc: int) -> None:
    assert wire
    for (s0, t0, _, _), (s1, t1, _, _) in itertools.pairwise(wire):
        assert s1 == (s0 + 1) % 65536 and t1 == (t0 + 960) % 2**32
    assert {w[2] for w in wire} == {ssrc}


async def test_fifty_servers_at_once_each_on_its_own_continuous_connection(sender: VoiceSender) -> None:
    loop = asyncio.get_running_loop()
    servers = [Server(loop, n, sender, frames=25) for n in range(50)]
    for s in servers:
        s.play()
    skipped, broken = servers[7], servers[8]
    await skipped.vc.wait_for(lambda ps: len(ps) >= 5)
    t_skip = time.perf_counter()
    skipped.link.stop()
    broken.vc.conn.fail_sends = True
    async with asyncio.timeout(10):
        for s in servers:
            await s.ended.wait()
    assert sender.threads() and len(sender.threads()) <= 3  # one sender (+ encoders), not 50
    for s in servers:
        if s is broken:
            continue
        assert_continuous(s.wire(), 1000 + s.n)
        audio = s.audio()
        assert all(p.startswith(b"guild %03d " % s.n) for p in audio)  # nobody else's packets
        if s is skipped:
            assert 5 <= len(audio) < 25
            late = [p for p in s.vc.snapshot() if p.data != OPUS_SILENCE and p.t > t_skip + 0.020]
            assert late == []
        else:
            assert audio == s.packets and s.error is None  # the skip and the failure touched nobody
            silences = [p for p in s.vc.snapshot() if not p.scheduled]
            assert len(silences) == 5 and all(p.data == OPUS_SILENCE for p in silences)
    assert isinstance(broken.error, RuntimeError)
    # A second round on the same connections: sequence and timestamp carry on.
    again = servers[:3]
    before = [len(s.vc.conn.wire) for s in again]
    for s in again:
        s.ended.clear()
        s.play()
    async with asyncio.timeout(5):
        for s in again:
            await s.ended.wait()
    for s, count in zip(again, before, strict=True):
        assert len(s.vc.conn.wire) == count + 25 + 5
        assert_continuous(s.wire(), 1000 + s.n)


class StallingConnection(PacketConnection):
    """Its `stall_at`-th packet takes `stall` seconds to send (a slow socket, a long GIL hold)."""

    def __init__(self, vc: PacketVoiceClient, *, stall_at: int, stall: float) -> None:
        old = vc.conn
        super().__init__(old.recorder, ssrc=old.ssrc, mark=old.dave_session.mark, sink=None)
        self.stall_at, self.stall = stall_at, stall

    def send_packet(self, packet: bytes) -> None:
        if len(self.wire) == self.stall_at:
            time.sleep(self.stall)
        super().send_packet(packet)


async def test_each_playback_keeps_its_own_drift_free_schedule_through_a_stall(sender: VoiceSender) -> None:
    loop = asyncio.get_running_loop()
    servers = [Server(loop, n, sender, frames=20) for n in range(4)]
    slow = servers[0]
    slow.vc._connection = StallingConnection(slow.vc, stall_at=5, stall=0.07)  # type: ignore[assignment]
    for s in servers[:2]:
        s.play()
    await servers[1].vc.wait_for(lambda ps: len(ps) >= 3)
    for s in servers[2:]:  # started later: their own schedules, not the first ones'
        s.play()
    async with asyncio.timeout(10):
        for s in servers:
            await s.ended.wait()
    stalled = False
    for s in servers:
        sent = [p for p in s.vc.snapshot() if p.scheduled]
        assert len(sent) == 20
        due = [p.t - p.late for p in sent]
        # The second packet is due at most 20 ms after the first (on the grid's phase), then
        # packet k 20 ms * (k - 1) after the second: the stall (3.5 frames) delayed the packets
        # due meanwhile, and shifted no schedule, the slow server's own included.
        assert 0 < due[1] - due[0] <= 0.020
        assert [round((d - due[1]) * 1000, 3) for d in due[1:]] == [20.0 * k for k in range(19)]
        stalled = stalled or max(p.late for p in sent) > 0.05
    assert stalled
    starts = sorted(round(s.vc.snapshot()[0].t - s.vc.snapshot()[0].late, 4) for s in servers)
    assert starts[2] > starts[1]  # the later ones did not take the first ones' schedule


def phases_of(vc: PacketVoiceClient) -> set[float]:
    """Where in the 20 ms grid a playback's packets fell due, from its second packet on (ms)."""
    sent = [p for p in vc.snapshot() if p.scheduled]
    return {round(((p.t - p.late) * 1000) % 20.0, 1) % 20.0 for p in sent[1:]}


async def test_servers_started_at_scattered_times_share_one_send_pass_until_it_is_full(
    sender: VoiceSender,
) -> None:
    """Playbacks started at different moments all fall due together (one wake-up of the sender
    per 20 ms, not one per playback); past PHASE_CAP playbacks a second phase of the grid takes
    the rest. No second packet comes later than 20 ms after the first."""
    loop = asyncio.get_running_loop()
    count = 60  # PHASE_CAP (50) and 10 more
    servers = [Server(loop, n, sender, frames=15) for n in range(count)]
    for i, s in enumerate(servers):
        s.play()
        if i % 6 == 5:  # ten starts, 3 ms apart: their own clocks would fall on ten times
            await asyncio.sleep(0.003)
    async with asyncio.timeout(10):
        for s in servers:
            await s.ended.wait()
    per_server = [phases_of(s.vc) for s in servers]
    assert all(len(phases) == 1 for phases in per_server)  # each keeps its place on the grid
    by_phase: dict[float, int] = {}
    for phases in per_server:
        by_phase[next(iter(phases))] = by_phase.get(next(iter(phases)), 0) + 1
    assert sorted(by_phase.values()) == [10, 50]
    for s in servers:
        first, second = [p.t - p.late for p in s.vc.snapshot() if p.scheduled][:2]
        assert 0 < second - first <= 0.020


async def test_a_failure_of_the_sender_itself_ends_every_playback_and_the_next_one_plays(
    sender: VoiceSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the sender's own pass must not leave every server silent for good: each playback
    ends with the error (its player reports it and goes on), and the next playback starts a new
    sender thread."""
    loop = asyncio.get_running_loop()
    servers = [Server(loop, n, sender, frames=50) for n in range(3)]
    servers[0].play()
    await servers[0].vc.wait_for(lambda ps: len(ps) >= 3)

    def broken(self: VoiceSender, natural: float) -> int:
        raise RuntimeError("a bug in the sender")

    monkeypatch.setattr(VoiceSender, "_choose_phase", broken)
    servers[1].play()
    async with asyncio.timeout(5):
        for s in servers[:2]:
            await s.ended.wait()
    assert all(isinstance(s.error, RuntimeError) for s in servers[:2])
    failed = [t for t in sender.threads() if t.name == "parla-voice-sender"]
    for t in failed:
        await asyncio.to_thread(t.join, 5)
    assert not any(t.is_alive() for t in failed) and not sender.running  # it ended, and said so
    monkeypatch.undo()
    servers[2].play()
    async with asyncio.timeout(5):
        await servers[2].ended.wait()
    assert servers[2].error is None and servers[2].audio() == servers[2].packets


async def test_a_disconnected_server_is_skipped_until_it_reconnects(sender: VoiceSender) -> None:
    loop = asyncio.get_running_loop()
    lost, other = Server(loop, 1, sender, frames=40), Server(loop, 2, sender, frames=40)
    lost.play()
    other.play()
    await lost.vc.wait_for(lambda ps: len(ps) >= 5)
    lost.vc.recorder.drop_connection()
    for _ in range(2):  # a send under way when the connection dropped ends in the first wait
        count = len(lost.vc.conn.wire)
        sent_by_other = len(other.vc.snapshot())
        await other.vc.wait_for(lambda ps, n=sent_by_other: len(ps) >= n + 5)
    assert len(lost.vc.conn.wire) == count < 40  # skipped while it is away
    lost.vc.recorder.restore_connection()
    async with asyncio.timeout(5):
        await lost.ended.wait()
        await other.ended.wait()
    assert lost.audio() == lost.packets and other.audio() == other.packets  # nothing lost, in order
    assert_continuous(lost.wire(), 1001)
    speaking = lost.vc.recorder.ws.speaking
    assert speaking.count(discord.SpeakingState.voice) == 2  # at the start, again after the reconnect


async def test_a_connection_lost_for_good_ends_the_playback_unfinished(sender: VoiceSender) -> None:
    loop = asyncio.get_running_loop()
    lost = Server(loop, 3, sender, frames=100)
    lost.vc.recorder.timeout = 0.1
    lost.play()
    await lost.vc.wait_for(lambda ps: len(ps) >= 5)
    lost.vc.recorder.drop_connection()
    async with asyncio.timeout(5):
        await lost.ended.wait()
    assert lost.error is None and len(lost.audio()) < 100


def tone_pcm(seconds: float, hz: float) -> bytes:
    """A tone as the endpoint sends it: mono s16le at 24 kHz."""
    t = np.arange(int(24_000 * seconds)) / 24_000
    return (np.sin(2 * np.pi * hz * t) * 9000).astype("<i2").tobytes()


def tone_buffer(seconds: float, hz: float) -> FrameBuffer:
    buffer = FrameBuffer(24_000, preroll_ms=100)
    buffer.write(tone_pcm(seconds, hz))
    buffer.end()
    return buffer


@pytest.mark.parametrize("classic", [True, False], ids=["classic", "shared"])
async def test_a_first_play_sends_the_same_audio_and_states_on_both_paths(
    sender: VoiceSender, classic: bool
) -> None:
    loop = asyncio.get_running_loop()
    vc = RecordingVoiceClient(loop)
    link = DiscordVoiceLink(vc, sender=sender, classic=classic)  # type: ignore[arg-type]
    assert link.shared is not classic
    stored_packets: list[list[bytes]] = []
    source = OpusSourceFactory().streaming(
        tone_buffer(0.6, 440), on_complete=stored_packets.append, on_abort=None
    )
    ended = asyncio.Event()
    link.play(source, lambda e: ended.set())
    await vc.wait_for(lambda ps: sum(1 for p in ps if p.scheduled) >= 5)
    link.pause()
    paused_at = len(vc.snapshot())
    await asyncio.sleep(0.1)
    held = vc.snapshot()[paused_at:]
    assert [p.data for p in held] == [OPUS_SILENCE] * 5 and not any(p.scheduled for p in held)
    link.resume()
    async with asyncio.timeout(5):
        await ended.wait()
    audio = [p for p in vc.packets_of(source) if p.scheduled and not p.silence]
    assert len(audio) == 30 == source.frames_encoded and source.finished
    assert [p.data for p in audio] == stored_packets[0]  # the cache gets exactly what was sent
    assert abs(dominant_hz(decode(audio)) - 440) < 8
    trailing = vc.snapshot()[-5:]
    assert [p.data for p in trailing] == [OPUS_SILENCE] * 5 and not any(p.scheduled for p in trailing)
    await asyncio.sleep(0.05)  # the speaking updates are scheduled onto this loop
    states = discord.SpeakingState
    assert vc.ws.speaking == [states.voice, states.none, states.voice, states.none]


async def test_the_shared_path_sends_the_very_packets_of_the_classic_path(sender: VoiceSender) -> None:
    loop = asyncio.get_running_loop()
    sent = []
    for classic in (True, False):
        vc = RecordingVoiceClient(loop)
        link = DiscordVoiceLink(vc, sender=sender, classic=classic)  # type: ignore[arg-type]
        source = OpusSourceFactory().streaming(tone_buffer(0.6, 523), on_complete=None, on_abort=None)
        ended = asyncio.Event()
        link.play(source, lambda e, ended=ended: ended.set())  # type: ignore[misc]
        async with asyncio.timeout(5):
            await ended.wait()
        sent.append([p.data for p in vc.packets_of(source) if p.scheduled and not p.silence])
        remote = source._remote is not None
    assert remote is bool(sender.pool.processes)  # encoded in a child when there are children
    assert len(sent[0]) == 30 and sent[0] == sent[1]


async def test_no_sender_thread_is_left_when_the_voice_service_closes() -> None:
    world = World()
    await world.service.speak(member(5, world.guild, world.a), world.utterance("hello there, everyone"))
    vc = world.guild.voice_client
    assert isinstance(vc, RecordingVoiceClient)
    await vc.wait_for(lambda ps: any(p.scheduled and not p.silence for p in ps))
    await world.service.close()
    names = {"parla-voice-sender", "parla-voice-encoder"}
    assert [t for t in threading.enumerate() if t.name in names] == []


@pytest.mark.parametrize(("env", "classic"), [({}, False), ({"VOICE_SENDER": "Classic"}, True)])
async def test_voice_sender_setting_picks_the_path(env: dict[str, str], classic: bool) -> None:
    options = VoiceOptions.from_settings(Settings.from_env(env, dotenv=False))
    assert options.classic_sender is classic
    await asyncio.to_thread(default_sender().close)  # its thread starts afresh with the first play
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # Python's default GIL hand-over interval
    world = World()
    world.service.options = options
    try:
        await world.service.speak(member(5, world.guild, world.a), world.utterance("hello there"))
        vc = world.guild.voice_client
        assert isinstance(vc, RecordingVoiceClient)
        await vc.wait_for(lambda ps: any(p.scheduled and not p.silence for p in ps))
        assert vc.plays == (1 if classic else 0)  # discord.py's own player, or the shared sender
        # Only the shared sender lowers the process's GIL hand-over interval (to 1 ms), while
        # its thread runs.
        assert sys.getswitchinterval() == pytest.approx(0.005 if classic else 0.001)
        await world.service.close()
        assert sys.getswitchinterval() == pytest.approx(0.005)
    finally:
        await world.service.close()
        sys.setswitchinterval(before)


def test_an_unknown_voice_sender_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"VOICE_SENDER": "threads"}, dotenv=False)
    assert info.value.variable == "VOICE_SENDER"


async def test_a_new_session_key_after_a_reconnect_is_used_at_once() -> None:
    vc = PacketVoiceClient(asyncio.get_running_loop(), ssrc=77, mark=MARK)
    path = DiscordPacketPath(vc)
    path.send(b"before")
    vc.conn.secret_key = list(os.urandom(32))  # what discord.py does on a new session
    vc.conn.dave_session.ready = False  # DAVE not ready (a transition): transport encryption only
    path.send(b"after")
    first, second = vc.conn.wire
    assert second[12:] != first[12:]
    assert vc.opus_of(second) == (2, 960, 77, b"after")  # decrypts with the new key only
    # discord.py's own send on the same connection carries on the same counters.
    vc.send_audio_packet(b"classic", encode=False)
    assert vc.opus_of(vc.conn.wire[2])[:2] == (3, 1920)


@pytest.mark.parametrize("dave", [True, False], ids=["dave", "transport-only"])
async def test_the_packet_path_puts_on_the_wire_the_bytes_discord_py_would(dave: bool) -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = (PacketVoiceClient(loop, ssrc=4242, mark=MARK) for _ in range(2))
    theirs.conn.secret_key = list(ours.conn.secret_key)
    for vc in (ours, theirs):  # near every counter's wrap-around
        vc.sequence, vc.timestamp, vc._incr_nonce = 65533, 2**32 - 2000, 2**32 - 2
        vc.conn.dave_session.ready = dave
    path = DiscordPacketPath(ours)
    payloads = [OPUS_SILENCE, b"", os.urandom(1275), *(os.urandom(n) for n in (1, 60, 400))]
    for payload in payloads:
        path.send(payload)
        theirs.send_audio_packet(payload, encode=False)
    assert [bytes(p) for p in ours.conn.wire] == [bytes(p) for p in theirs.conn.wire]
    assert (ours.sequence, ours.timestamp, ours._incr_nonce) == (
        theirs.sequence,
        theirs.timestamp,
        theirs._incr_nonce,
    )
    assert ours.sequence == 3 and ours._incr_nonce == 4  # both wrapped


async def test_over_the_connected_udp_socket_the_datagrams_are_the_bytes_discord_py_sends() -> None:
    """The sender's own send(2) on the connection's socket (the GIL held) delivers exactly what
    discord.py's `send_packet` would; a refused send drops the packet and the counters go on."""
    loop = asyncio.get_running_loop()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    ours = PacketVoiceClient(loop, ssrc=4242, mark=MARK, sink=sink.getsockname())
    theirs = PacketVoiceClient(loop, ssrc=4242, mark=MARK)
    theirs.conn.secret_key = list(ours.conn.secret_key)
    path = DiscordPacketPath(ours)
    payloads = [OPUS_SILENCE, os.urandom(1275), *(os.urandom(n) for n in (1, 60, 400))]
    through_python: list[bytes] = []
    ours.conn.send_packet = through_python.append  # type: ignore[method-assign]
    try:
        for payload in payloads:
            path.send(payload)
            theirs.send_audio_packet(payload, encode=False)
        received = [sink.recv(4096) for _ in payloads]
        assert received == [bytes(p) for p in theirs.conn.wire]
        assert ours.conn.wire == [] and through_python == []  # send(2), not socket.sendall
        sink.close()  # the voice server is gone: ECONNREFUSED on a later send
        for _ in range(3):
            path.send(b"lost")
        assert ours.sequence == len(payloads) + 3 and ours.timestamp == (len(payloads) + 3) * 960
    finally:
        ours.close()
        sink.close()


async def test_a_new_first_plays_first_packet_is_encoded_on_the_sender_thread() -> None:
    """Without encode processes (with them a stream's encoder lives in one child from its
    first packet on)."""
    sender = VoiceSender(encode_processes=0)
    try:
        await _first_packet_on_the_sender_thread(sender)
    finally:
        await asyncio.to_thread(sender.close)


async def _first_packet_on_the_sender_thread(sender: VoiceSender) -> None:
    loop = asyncio.get_running_loop()
    vc = RecordingVoiceClient(loop)
    link = DiscordVoiceLink(vc, sender=sender)  # type: ignore[arg-type]
    source = OpusSourceFactory().streaming(tone_buffer(0.3, 440), on_complete=None, on_abort=None)
    encoders: list[str] = []
    encode_ahead = source.encode_ahead

    def record(ahead: int) -> None:
        encoders.append(threading.current_thread().name)
        encode_ahead(ahead)

    source.encode_ahead = record  # type: ignore[method-assign]
    ended = asyncio.Event()
    link.play(source, lambda e: ended.set())
    async with asyncio.timeout(5):
        await ended.wait()
    # No hand-off to a worker and back before the first packet; the workers do the rest.
    assert encoders[0] == "parla-voice-sender" and "parla-voice-encoder" in encoders
    assert len([p for p in vc.packets_of(source) if p.scheduled and not p.silence]) == 15


def tone_chunks(hz: float, chunks: int) -> list[bytes]:
    """100 ms chunks of a tone, as the endpoint streams them."""
    pcm = tone_pcm(0.1 * chunks, hz)
    return [pcm[i : i + 4_800] for i in range(0, len(pcm), 4_800)]


class ObservedSource(StreamingOpusSource):
    """A first play's source that tells when the sender has decided about its start: it held
    it (`holds()` answered True) or took its first packet."""

    def __init__(self, buffer: FrameBuffer, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(buffer, record=False)
        self.decided = asyncio.Event()
        self._loop = loop
        self.held = False  # the sender held its start at least once
        self.took = False  # the sender took its first packet
        self.ready_at_start = 0

    def holds(self, packets: int) -> bool:
        holds = super().holds(packets)
        if holds and not self.held:
            self.held = True
            self._loop.call_soon_threadsafe(self.decided.set)
        return holds

    def take(self) -> bytes | None:
        if not self.took:
            self.took = True
            self.ready_at_start = self.ready_count  # packets encoded when its first was taken
            self._loop.call_soon_threadsafe(self.decided.set)
        return super().take()


class FirstPlay:
    """A first play whose endpoint has sent only its first 100 ms chunk so far."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sender: VoiceSender, hz: float) -> None:
        self.vc = RecordingVoiceClient(loop)
        self.link = DiscordVoiceLink(self.vc, sender=sender)  # type: ignore[arg-type]
        self.chunks = tone_chunks(hz, 4)
        self.buffer = FrameBuffer(24_000, preroll_ms=100)
        self.buffer.write(self.chunks[0])
        self.source = ObservedSource(self.buffer, loop)
        self.ended = asyncio.Event()
        self.second_chunk_at = 0.0

    def play(self) -> None:
        self.link.play(self.source, lambda e: self.ended.set())

    def rest(self) -> None:
        """The endpoint's next chunks, and its end."""
        self.second_chunk_at = time.perf_counter()
        for chunk in self.chunks[1:]:
            self.buffer.write(chunk)
        self.buffer.end()

    def first_packet_at(self) -> float:
        return next(p.t for p in self.vc.packets_of(self.source) if p.scheduled)


@pytest.fixture
def no_start_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first play waits for its packets as long as it takes (no fallback start after
    START_WAIT) and a burst of starts counts for the whole test (BUSY_WINDOW): what starts a
    first play is then only what it has encoded, however slow the machine."""
    monkeypatch.setattr(voice_sender, "START_WAIT", 30.0)
    monkeypatch.setattr(voice_sender, "BUSY_WINDOW", 30.0)


@pytest.mark.usefixtures("no_start_timeout")
async def test_in_a_burst_of_first_plays_those_beyond_eight_start_with_later_chunks(
    sender: VoiceSender,
) -> None:
    """With more than BUSY_STARTS (8) first plays starting at once, each further one waits for
    HOLD_PACKETS (10, a full encode-ahead: more than the first 100 ms chunk gives) before its
    first packet, so their next packets are not all due while the encoders are busiest with the
    others' starts."""
    loop = asyncio.get_running_loop()
    plays = [FirstPlay(loop, sender, 300 + 20 * i) for i in range(12)]
    for play in plays:
        play.play()

    async with asyncio.timeout(10):  # each has its first chunk encoded: it could start now
        for play in plays:
            await play.source.decided.wait()
    held = [play for play in plays if play.source.held]
    assert len(held) >= 12 - 8 and not any(play.source.took for play in held)
    for play in plays:
        play.rest()
    async with asyncio.timeout(10):
        for play in plays:
            await play.ended.wait()
    for play in held:
        assert play.first_packet_at() > play.second_chunk_at
        assert play.source.ready_at_start >= 10
        sent = [p for p in play.vc.packets_of(play.source) if p.scheduled]
        assert len(sent) == play.source.frames_encoded >= 19 and not any(p.silence for p in sent)


@pytest.mark.usefixtures("no_start_timeout")
async def test_a_lone_first_play_starts_on_its_first_chunk_while_many_servers_replay(
    sender: VoiceSender,
) -> None:
    """Replays encode nothing: however many start at once, a first play beside them starts as
    soon as its first chunk is encoded (START_PACKETS), before the endpoint's second chunk."""
    loop = asyncio.get_running_loop()
    servers = [Server(loop, n, sender, 50) for n in range(12)]
    for server in servers:
        server.play()
    play = FirstPlay(loop, sender, 440)
    play.play()
    async with asyncio.timeout(5):
        await play.vc.wait_for(lambda ps: any(p.scheduled for p in ps))
    play.rest()
    async with asyncio.timeout(10):
        await play.ended.wait()
        for server in servers:
            await server.ended.wait()
    assert play.first_packet_at() < play.second_chunk_at
    assert all(server.audio() == server.packets for server in servers)
