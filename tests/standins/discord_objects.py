"""Stand-ins for discord.py objects, in the style of python-discord/bot's tests/helpers.py.

Every mock is spec'd on the real discord.py class (`spec_set`), so a cog that touches an
attribute Discord does not have fails the test; coroutine methods are AsyncMocks automatically.

- `MockMember`, `MockGuild`, `MockVoiceState`, `MockVoiceChannel`, `MockTextChannel`,
  `MockMessage`, `MockBot`: plain spec'd mocks with sensible defaults.
- `MockInteraction`: its `response` and `followup` behave like Discord's: one initial response
  only (a second raises InteractionResponded), followups and edits only after it, the first
  followup after a defer replaces the "thinking…" message and takes the defer's ephemeral flag.
  Everything the member would see is recorded in order in `interaction.log` (a `ReplyLog`).
- `StandinVoiceClient`: what `VoiceService` / `DiscordVoiceLink` use of a `discord.VoiceClient`;
  playback is held until the test drains the source (fast, in a thread, no 20 ms pacing).
- `run_command`: invoke an app command the way discord.py's CommandTree does (checks, then
  the callback; any error goes to `bot.tree.on_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import threading
import unittest.mock
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.opus import OPUS_SILENCE

from bot.app.bot import ParlaBot
from bot.base.config import Settings
from tests.standins.discord_http import DiscordHttpStandin
from tests.standins.discord_limits import MAX_CHOICES, check_message, discord_refuses

FILESIZE_LIMIT = 10 * 1024 * 1024  # Discord's default upload limit (10 MiB)


# --------------------------------------------------------------------------------------------
# Base
# --------------------------------------------------------------------------------------------


class CustomMockMixin:
    """Spec'd mocks with a `name` that is an attribute (Mock reserves the keyword)."""

    discord_id = itertools.count(100_000_000_000_000_001)
    spec_set: Any = None

    def __init__(self, **kwargs: Any) -> None:
        name = kwargs.pop("name", None)
        super().__init__(spec_set=self.spec_set, **kwargs)  # type: ignore[call-arg]
        if name is not None:
            self.name = name

    def _get_child_mock(self, **kw: Any) -> unittest.mock.NonCallableMock:
        """Children are plain mocks (coroutine methods of the spec: AsyncMock), not another
        instance of this class (which is what Mock would make of a subclass)."""
        if self._mock_sealed:  # type: ignore[attr-defined]
            raise AttributeError(kw.get("name", "()"))
        new_name = kw.get("_new_name")
        if new_name in self.__dict__["_spec_asyncs"]:
            return unittest.mock.AsyncMock(**kw)
        if isinstance(self, unittest.mock.MagicMock) and new_name in unittest.mock._async_method_magics:  # type: ignore[attr-defined]
            return unittest.mock.AsyncMock(**kw)
        return unittest.mock.MagicMock(**kw)


def next_id() -> int:
    return next(CustomMockMixin.discord_id)


def permissions(**perms: bool) -> discord.Permissions:
    return discord.Permissions(**perms)


VOICE_PERMS = dict(view_channel=True, connect=True, speak=True)


# --------------------------------------------------------------------------------------------
# Guild, members, channels
# --------------------------------------------------------------------------------------------


class MockGuild(CustomMockMixin, unittest.mock.Mock):
    spec_set = discord.Guild

    def __init__(self, **kwargs: Any) -> None:
        defaults: dict[str, Any] = {
            "id": next_id(),
            "name": "Test server",
            "voice_client": None,
            "filesize_limit": FILESIZE_LIMIT,
            "members": [],
            "preferred_locale": discord.Locale.american_english,  # read-aloud notices' language
        }
        super().__init__(**{**defaults, **kwargs})
        if "me" not in kwargs:
            self.me = MockMember(name="Parla", bot=True, guild=self)
        self.get_member.side_effect = lambda member_id: next(
            (m for m in self.members if m.id == member_id), None
        )


class MockVoiceState(CustomMockMixin, unittest.mock.Mock):
    spec_set = discord.VoiceState

    def __init__(self, **kwargs: Any) -> None:
        defaults = {"channel": None, "self_deaf": False, "self_mute": False, "deaf": False, "mute": False}
        super().__init__(**{**defaults, **kwargs})


class MockMember(CustomMockMixin, unittest.mock.Mock):
    spec_set = discord.Member
    voice: Any

    def __init__(self, **kwargs: Any) -> None:
        name = kwargs.get("name", "ann")
        member_id = kwargs.pop("id", None) or next_id()
        defaults: dict[str, Any] = {
            "id": member_id,
            "name": name,
            "display_name": kwargs.get("display_name", name.capitalize()),
            "mention": f"<@{member_id}>",
            "bot": False,
            "voice": None,
            "roles": [],
            "guild_permissions": discord.Permissions.none(),
        }
        super().__init__(**{**defaults, **kwargs})

    def join_voice(self, channel: MockVoiceChannel | None) -> None:
        """Put the member in `channel` (None: leave voice)."""
        state: Any = self.voice
        old = state.channel if state is not None else None
        if old is not None and self in old.members:
            old.members.remove(self)
        self.voice = MockVoiceState(channel=channel) if channel is not None else None
        if channel is not None and self not in channel.members:
            channel.members.append(self)


class MockVoiceChannel(CustomMockMixin, unittest.mock.Mock):
    """A voice channel; `connect()` returns a StandinVoiceClient and sets guild.voice_client.
    `bot_permissions` are what `permissions_for(guild.me)` returns (default: Connect + Speak)."""

    spec_set = discord.VoiceChannel

    def __init__(
        self,
        guild: MockGuild,
        *,
        bot_permissions: discord.Permissions | None = None,
        shared_sender: bool = False,
        **kwargs: Any,
    ) -> None:
        channel_id = kwargs.pop("id", None) or next_id()
        name = kwargs.pop("name", "General")
        defaults: dict[str, Any] = {
            "id": channel_id,
            "mention": f"<#{channel_id}>",
            "guild": guild,
            "members": [],
            "type": discord.ChannelType.voice,
        }
        super().__init__(name=name, **{**defaults, **kwargs})
        self.__dict__["bot_permissions"] = bot_permissions or permissions(**VOICE_PERMS)
        self.__dict__["clients"] = []
        self.__dict__["shared_sender"] = shared_sender
        self.permissions_for.side_effect = self._permissions_for
        self.connect.side_effect = self._connect

    def _permissions_for(self, obj: Any) -> discord.Permissions:
        if obj is self.guild.me:
            perms: discord.Permissions = self.bot_permissions
            return perms
        return permissions(**VOICE_PERMS)

    async def _connect(self, **kwargs: Any) -> StandinVoiceClient:
        vc = SenderStandinVoiceClient(self) if self.shared_sender else StandinVoiceClient(self)
        self.clients.append(vc)
        self.guild.voice_client = vc
        if self.guild.me not in self.members:
            self.members.append(self.guild.me)
        return vc


class MockTextChannel(CustomMockMixin, unittest.mock.Mock):
    spec_set = discord.TextChannel

    def __init__(self, guild: MockGuild | None = None, **kwargs: Any) -> None:
        channel_id = kwargs.pop("id", None) or next_id()
        name = kwargs.pop("name", "chat")
        defaults: dict[str, Any] = {
            "id": channel_id,
            "mention": f"<#{channel_id}>",
            "guild": guild,
            "type": discord.ChannelType.text,
        }
        super().__init__(name=name, **{**defaults, **kwargs})


class MockMessage(CustomMockMixin, unittest.mock.Mock):
    spec_set = discord.Message

    def __init__(self, **kwargs: Any) -> None:
        content = kwargs.pop("content", "")
        defaults: dict[str, Any] = {
            "id": next_id(),
            "content": content,
            "clean_content": kwargs.pop("clean_content", content),
            "author": MockMember(),
            "attachments": [],
            "embeds": [],
        }
        super().__init__(**{**defaults, **kwargs})


class MockBot(CustomMockMixin, unittest.mock.MagicMock):
    """A ParlaBot stand-in: give it `storage`, `stack`, `voice`, `settings` as needed."""

    spec_set = ParlaBot


# --------------------------------------------------------------------------------------------
# Voice client
# --------------------------------------------------------------------------------------------


class StandinVoiceClient:
    """What the voice adapter uses of `discord.VoiceClient`. `play()` holds the source until
    the test calls `drain()` (reads every packet at once, in a thread, then fires `after`)."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.connected = True
        self.source: discord.AudioSource | None = None
        self._after: Callable[[Exception | None], Any] | None = None
        self.played: list[discord.AudioSource] = []
        self.packets: dict[int, list[bytes]] = {}
        self.paused = False
        self.disconnected = False
        self.plays = asyncio.Event()

    def is_connected(self) -> bool:
        return self.connected

    def is_playing(self) -> bool:
        return self.source is not None and not self.paused

    def is_paused(self) -> bool:
        return self.source is not None and self.paused

    def play(
        self,
        source: discord.AudioSource,
        *,
        after: Callable[[Exception | None], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not self.connected:
            raise discord.ClientException("Not connected to voice.")
        if self.source is not None:
            raise discord.ClientException("Already playing audio.")
        self.source = source
        self._after = after
        self.played.append(source)
        self.plays.set()

    def stop(self) -> None:
        source, after = self.source, self._after
        self.source = self._after = None
        if source is not None:
            source.cleanup()
            if after is not None:
                after(None)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    async def move_to(self, channel: Any, **kwargs: Any) -> None:
        self.channel = channel

    async def disconnect(self, *, force: bool = False) -> None:
        self.stop()
        self.connected = False
        self.disconnected = True
        guild = self.channel.guild
        if guild.voice_client is self:
            guild.voice_client = None
        if guild.me in self.channel.members:
            self.channel.members.remove(guild.me)

    async def wait_playing(
        self, limit: float = 5.0, *, not_this: discord.AudioSource | None = None
    ) -> discord.AudioSource:
        """The source being played (once there is one other than `not_this`)."""
        async with asyncio.timeout(limit):
            while self.source is None or self.source is not_this:
                self.plays.clear()
                await self.plays.wait()
        assert self.source is not None
        return self.source

    async def drain(self, limit: float = 10.0) -> list[bytes]:
        """Play the current source to its end as fast as it gives packets; returns the audio
        packets (underrun silence left out) and ends the playback like discord's player."""
        source = await self.wait_playing(limit)
        done = threading.Event()
        packets: list[bytes] = []

        def read_all() -> None:
            while not done.is_set():
                packet = source.read()
                if not packet:
                    return
                if packet != OPUS_SILENCE:
                    packets.append(packet)

        try:
            async with asyncio.timeout(limit):
                await asyncio.to_thread(read_all)
        finally:
            done.set()
        self.packets[id(source)] = packets
        if self.source is source:
            after = self._after
            self.source = self._after = None
            source.cleanup()
            if after is not None:
                after(None)
        return packets


class _SpeakRecorder:
    """`ws.speak(state)` that records the state when called (the sender calls it from its
    thread and schedules the coroutine onto the loop)."""

    def __init__(self) -> None:
        self.speaking: list[discord.SpeakingState] = []

    def speak(self, state: discord.SpeakingState) -> Any:
        self.speaking.append(state)
        return asyncio.sleep(0)


class SenderStandinVoiceClient(StandinVoiceClient):
    """A `StandinVoiceClient` that also takes packets (`send_audio_packet`), so its playbacks
    go to the shared sender (`bot.voice.sender`) at the real 20 ms pace instead of `play()`.
    `source` is the source whose packets are being sent (from its first packet until the
    sender cleans it up), `paused` follows the speaking state, and `drain()` waits for the
    current playback's end and returns its audio packets."""

    timeout = 1.0  # seconds the sender waits for a lost connection

    def __init__(self, channel: Any) -> None:
        super().__init__(channel)
        self.loop = asyncio.get_running_loop()
        self.client = unittest.mock.Mock(loop=self.loop)
        self.ws = _SpeakRecorder()
        self._ended: dict[int, asyncio.Event] = {}

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        assert not encode, "the sender sends Opus packets"
        sending = getattr(threading.current_thread(), "sending", None)
        assert sending is not None, "sent from outside the sender thread"
        source = sending[0]
        if id(source) not in self._ended:
            self._ended[id(source)] = asyncio.Event()
            self.packets[id(source)] = []
            self._watch(source)
            self.loop.call_soon_threadsafe(self._started, source)
        if data != OPUS_SILENCE:
            self.packets[id(source)].append(bytes(data))

    def _watch(self, source: Any) -> None:
        cleanup = source.cleanup

        def cleanup_and_tell() -> None:  # the sender's last call for this playback
            cleanup()
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self.loop.call_soon_threadsafe(self._stopped, source)

        source.cleanup = cleanup_and_tell

    def _started(self, source: Any) -> None:
        if self._ended[id(source)].is_set():
            return
        self.source = source
        self.played.append(source)
        self.plays.set()

    def _stopped(self, source: Any) -> None:
        self._ended[id(source)].set()
        if self.source is source:
            self.source = None

    @property  # type: ignore[override]
    def paused(self) -> bool:
        speaking = self.ws.speaking
        return self.source is not None and bool(speaking) and speaking[-1] == discord.SpeakingState.none

    @paused.setter
    def paused(self, value: bool) -> None:
        pass  # pause() and resume() go to the sender, not to this client

    async def drain(self, limit: float = 10.0) -> list[bytes]:
        source = await self.wait_playing(limit)
        async with asyncio.timeout(limit):
            await self._ended[id(source)].wait()
        return self.packets[id(source)]


# --------------------------------------------------------------------------------------------
# Interaction
# --------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """One thing the member saw: a response, a followup or an edit of the original message."""

    via: str  # "response" | "followup" | "edit"
    content: str | None
    embeds: list[discord.Embed] = field(default_factory=list)
    files: list[discord.File] = field(default_factory=list)
    ephemeral: bool = False
    voice_message: bool = False  # sent with IS_VOICE_MESSAGE (tests.standins.discord_http)

    @property
    def embed(self) -> discord.Embed | None:
        return self.embeds[0] if self.embeds else None

    def file_data(self, index: int = 0) -> bytes:
        fp = self.files[index].fp
        fp.seek(0)
        return bytes(fp.read())

    def text(self) -> str:
        """Content plus every embed's title, description and fields, for assertions."""
        parts = [self.content or ""]
        for e in self.embeds:
            parts += [e.title or "", e.description or ""]
            parts += [f"{f.name}\n{f.value}" for f in e.fields]
            if e.footer and e.footer.text:
                parts.append(e.footer.text)
        return "\n".join(p for p in parts if p)


_MISSING: Any = discord.utils.MISSING


class ReplyLog:
    """Discord's rules for one interaction, and what the member saw."""

    def __init__(self, filesize_limit: int = FILESIZE_LIMIT) -> None:
        self.filesize_limit = filesize_limit
        self.replies: list[Reply] = []
        self.responded = False
        self.deferred: dict[str, bool] | None = None  # {"ephemeral": ..., "thinking": ...}
        self.original_exists = False
        self.original_ephemeral = False
        self.original_pending = False  # the "thinking…" placeholder has not been replaced yet
        self.deleted_original = False
        self.done = asyncio.Event()  # set on every reply
        self.choices: list[Any] = []  # the autocomplete answer

    # what the member sees
    @property
    def last(self) -> Reply:
        assert self.replies, "the interaction was never answered"
        return self.replies[-1]

    @property
    def answered(self) -> bool:
        """A response was made and the member saw something other than "thinking…"."""
        return self.responded and bool(self.replies)

    def texts(self) -> list[str]:
        return [r.text() for r in self.replies]

    def _add(self, reply: Reply) -> None:
        self.replies.append(reply)
        self.done.set()

    async def wait_for(self, predicate: Callable[[Reply], bool], limit: float = 5.0) -> Reply:
        async with asyncio.timeout(limit):
            while True:
                for reply in self.replies:
                    if predicate(reply):
                        return reply
                self.done.clear()
                await self.done.wait()

    # InteractionResponse
    async def defer(self, *, ephemeral: bool = False, thinking: bool = False) -> None:
        self._first_response()
        self.deferred = {"ephemeral": ephemeral, "thinking": thinking}
        self.original_exists = True
        self.original_pending = True
        self.original_ephemeral = ephemeral

    async def send_message(
        self,
        content: Any = None,
        *,
        embed: discord.Embed = _MISSING,
        embeds: list[discord.Embed] = _MISSING,
        file: discord.File = _MISSING,
        files: list[discord.File] = _MISSING,
        ephemeral: bool = False,
        **kwargs: Any,
    ) -> None:
        check_message(_str(content), _list(embed, embeds), _list(file, files), self.filesize_limit)
        self._first_response()
        self.original_exists = True
        self.original_ephemeral = ephemeral
        self._add(Reply("response", _str(content), _list(embed, embeds), _list(file, files), ephemeral))

    async def autocomplete(self, choices: Sequence[Any]) -> None:
        if len(choices) > MAX_CHOICES:
            raise discord_refuses(400, 50035, "Invalid Form Body: choices: Must be 25 or fewer in length.")
        self._first_response()
        self.choices = list(choices)

    def is_done(self) -> bool:
        return self.responded

    def _first_response(self) -> None:
        if self.responded:
            raise discord.InteractionResponded(unittest.mock.Mock(spec=discord.Interaction))
        self.responded = True

    # Interaction
    async def edit_original_response(
        self,
        *,
        content: Any = _MISSING,
        embed: discord.Embed | None = _MISSING,
        embeds: list[discord.Embed] = _MISSING,
        attachments: list[Any] = _MISSING,
        **kwargs: Any,
    ) -> None:
        assert self.responded, "edit_original_response before any response"
        assert self.original_exists, "edit_original_response after the original was deleted"
        self.original_pending = False
        files = [a for a in attachments if isinstance(a, discord.File)] if attachments is not _MISSING else []
        text = None if content is _MISSING else _str(content)
        check_message(text, _list(embed, embeds), files, self.filesize_limit)
        self._add(Reply("edit", text, _list(embed, embeds), files, self.original_ephemeral))

    async def delete_original_response(self) -> None:
        assert self.responded and self.original_exists, "nothing to delete"
        self.original_exists = False
        self.original_pending = False
        self.deleted_original = True

    # Webhook (followup)
    async def followup_send(
        self,
        content: Any = None,
        *,
        embed: discord.Embed = _MISSING,
        embeds: list[discord.Embed] = _MISSING,
        file: discord.File = _MISSING,
        files: list[discord.File] = _MISSING,
        ephemeral: bool = False,
        **kwargs: Any,
    ) -> None:
        assert self.responded, "followup.send before the interaction was answered (Discord: 404)"
        check_message(_str(content), _list(embed, embeds), _list(file, files), self.filesize_limit)
        if self.original_pending and self.original_exists:
            # The first followup after a defer replaces the "thinking…" message, with its flags.
            ephemeral = self.original_ephemeral
            self.original_pending = False
        self._add(Reply("followup", _str(content), _list(embed, embeds), _list(file, files), ephemeral))

    def voice_message(self, file: discord.File, *, ephemeral: bool) -> None:
        """A voice message posted as a followup (through bot.http: tests.standins.discord_http).

        Directly after a defer, Discord turns the followup into an edit of the "thinking…"
        message ("no new message will be created": Create Followup Message, discord-api-docs),
        and an edit cannot make a voice message (Edit Webhook Message takes no IS_VOICE_MESSAGE;
        discord/discord-api-docs#7158: the flag is ignored): the member gets a plain file."""
        assert self.responded, "followup before the interaction was answered (Discord: 404)"
        if self.original_pending and self.original_exists:
            self.original_pending = False
            self._add(Reply("edit", None, [], [file], self.original_ephemeral))
            return
        self._add(Reply("followup", None, [], [file], ephemeral, voice_message=True))


def _str(content: Any) -> str | None:
    return None if content is None or content is _MISSING else str(content)


def _list(one: Any, many: Any) -> list[Any]:
    if one is not _MISSING and one is not None:
        return [one]
    if many is not _MISSING and many is not None:
        return list(many)
    return []


class MockInteraction(CustomMockMixin, unittest.mock.MagicMock):
    """A slash-command interaction from `user` in `guild` (None: a DM).

    `permissions` are the member's resolved permissions in the channel (for checks).
    """

    spec_set = discord.Interaction
    log: ReplyLog  # what the member saw (set in __dict__: not a discord attribute)

    def __init__(
        self,
        *,
        user: MockMember | None = None,
        guild: MockGuild | None = None,
        channel: Any = None,
        perms: discord.Permissions | None = None,
        filesize_limit: int = FILESIZE_LIMIT,
        **kwargs: Any,
    ) -> None:
        user = user or MockMember(guild=guild)
        channel = channel or MockTextChannel(guild)
        log = ReplyLog(filesize_limit)
        response = unittest.mock.MagicMock(spec_set=discord.InteractionResponse)
        response.defer.side_effect = log.defer
        response.autocomplete.side_effect = log.autocomplete
        response.send_message.side_effect = log.send_message
        response.is_done.side_effect = log.is_done
        followup = unittest.mock.MagicMock(spec_set=discord.Webhook)
        followup.send.side_effect = log.followup_send
        defaults: dict[str, Any] = {
            "id": next_id(),
            "user": user,
            "guild": guild,
            "guild_id": guild.id if guild is not None else None,
            "channel": channel,
            "channel_id": channel.id,
            "permissions": perms if perms is not None else discord.Permissions.none(),
            "filesize_limit": filesize_limit,
            "response": response,
            "followup": followup,
            "command": None,
            "created_at": discord.utils.utcnow(),
            "type": discord.InteractionType.application_command,
            "locale": discord.Locale.american_english,  # the member's language (replies)
            "guild_locale": guild.preferred_locale if guild is not None else None,
        }
        super().__init__(**{**defaults, **kwargs})
        self.__dict__["log"] = log
        self.edit_original_response.side_effect = log.edit_original_response
        self.delete_original_response.side_effect = log.delete_original_response


# --------------------------------------------------------------------------------------------
# Running commands like the CommandTree does
# --------------------------------------------------------------------------------------------

AnyCommand = app_commands.Command[Any, ..., Any] | app_commands.ContextMenu


async def run_command(
    bot: ParlaBot,
    command: AnyCommand,
    interaction: MockInteraction,
    /,
    *,
    checks: bool = True,
    **options: Any,
) -> None:
    """Checks (cooldown, permissions) then the callback; an error goes to `bot.tree.on_error`
    wrapped as discord.py wraps it (CheckFailure as is, anything else in CommandInvokeError).
    `checks=False` skips the checks (e.g. to call /speak more often than its cooldown allows)."""
    interaction.command = command
    try:
        for check in command.checks if checks else ():
            result = check(interaction)
            if inspect.isawaitable(result):
                result = await result
            if not result:
                raise app_commands.CheckFailure(f"the check functions for {command.name} failed")
        if isinstance(command, app_commands.ContextMenu):
            await command.callback(interaction, *options.values())
        else:
            binding = command.binding
            if binding is not None:
                await command.callback(binding, interaction, **options)
            else:
                await command.callback(interaction, **options)  # type: ignore[call-arg]
    except app_commands.AppCommandError as exc:
        await bot.tree.on_error(interaction, exc)
    except Exception as exc:
        await bot.tree.on_error(interaction, app_commands.CommandInvokeError(command, exc))


# --------------------------------------------------------------------------------------------
# A real ParlaBot with real services, stand-in Discord around it
# --------------------------------------------------------------------------------------------


@dataclass
class BotRig:
    """A ParlaBot whose storage, speech stack and voice service are the real ones (the stack
    pointing at the fake endpoint), with the four cogs loaded; plus one server with a voice
    channel and a text channel."""

    bot: ParlaBot
    guild: MockGuild
    voice_channel: MockVoiceChannel
    text_channel: MockTextChannel
    guilds: dict[int, MockGuild]
    http: DiscordHttpStandin = field(default_factory=DiscordHttpStandin)  # bot.http.request

    def cog(self, name: str) -> Any:
        cog = self.bot.get_cog(name)
        assert cog is not None, name
        return cog

    def member(self, name: str = "ann", *, in_voice: bool = False, **kwargs: Any) -> MockMember:
        member = MockMember(name=name, guild=self.guild, **kwargs)
        self.guild.members.append(member)
        if in_voice:
            member.join_voice(self.voice_channel)
        return member

    def interaction(
        self, user: MockMember | None = None, *, dm: bool = False, **kwargs: Any
    ) -> MockInteraction:
        kwargs.setdefault("client", self.bot)
        kwargs.setdefault("application_id", 4242)
        kwargs.setdefault("token", f"interaction-token-{next_id()}")
        made = self._make_interaction(user, dm=dm, **kwargs)
        self.http.logs[kwargs["token"]] = made.log
        return made

    def _make_interaction(self, user: MockMember | None, *, dm: bool, **kwargs: Any) -> MockInteraction:
        if dm:
            return MockInteraction(user=user or MockMember(), guild=None, **kwargs)
        return MockInteraction(
            user=user or self.member(), guild=self.guild, channel=self.text_channel, **kwargs
        )

    def add_guild(self) -> MockGuild:
        guild = MockGuild()
        self.guilds[guild.id] = guild
        return guild

    @property
    def vc(self) -> StandinVoiceClient:
        vc = self.guild.voice_client
        assert isinstance(vc, StandinVoiceClient), "the bot is not connected"
        return vc


@contextlib.asynccontextmanager
async def open_bot_rig(
    settings: Settings, session: aiohttp.ClientSession, *, voice_ok: bool = True, shared_sender: bool = False
) -> AsyncIterator[BotRig]:
    """With `shared_sender`, the bot's voice client takes packets: playbacks go to the shared
    sender (`SenderStandinVoiceClient`) instead of the client's `play()`."""
    from bot.voice.link import VoiceSupport
    from cogs import playback, preferences, server, speech

    bot = ParlaBot(settings)
    guilds: dict[int, MockGuild] = {}
    bot.get_guild = guilds.get  # type: ignore[method-assign]
    async with contextlib.AsyncExitStack() as exits:
        support = VoiceSupport(() if voice_ok else ("libopus not found (test)",))
        await bot.open_services(session=session, voice_support=support)
        exits.push_async_callback(bot.close_services)
        for module in (speech, preferences, playback, server):
            await module.setup(bot)
        guild = MockGuild()
        guilds[guild.id] = guild
        channel = MockVoiceChannel(guild, shared_sender=shared_sender)
        rig = BotRig(bot, guild, channel, MockTextChannel(guild), guilds)
        bot.http.request = rig.http.request  # type: ignore[method-assign]
        yield rig
