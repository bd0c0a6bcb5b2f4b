"""What several cogs share: Discord messages as the text cleaner sees them, the choice lists
for voices, styles and languages, and the `Speaker` that delivers a request to a voice channel
or as a file. No cog imports another cog; they import this."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import discord
from discord import app_commands

from bot.app.bot import ParlaBot
from bot.app.voice_message_http import VOICE_MESSAGE_PLACEHOLDER, refused, send_voice_message
from bot.audio.clip import Audio
from bot.base.errors import ParlaError
from bot.base.i18n import join, lines, localize, say
from bot.commands.audio_file import (
    PROGRESS_INTERVAL,
    OpusEncode,
    OpusEncoderFactory,
    collect_audio,
    render_audio_file,
)
from bot.commands.choices import CHOICE_MAX_CHARS, style_choices, voice_choices
from bot.commands.delivery import Delivery, VoiceSetback, file_instead, plan_delivery
from bot.commands.voice_message import FILE_INSTEAD_NOTE, AudioFormat, render_voice_message
from bot.speech.errors import TTSError
from bot.speech.request import SpeechRequest
from bot.speech.voices import LANGUAGES
from bot.store.limits import NoticeGate
from bot.text.clean import Attachment, MessageInfo
from bot.voice.errors import (
    VoiceBusyError,
    VoiceConnectError,
    VoiceError,
    VoicePermissionError,
    VoiceUnavailableError,
)
from bot.voice.utterance import Utterance

log = logging.getLogger(__name__)

VoiceChannel = discord.VoiceChannel | discord.StageChannel
Sleep = Callable[[float], Awaitable[None]]

LANGUAGE_CHOICES: list[app_commands.Choice[str]] = [app_commands.Choice(name=x, value=x) for x in LANGUAGES]
SPEAK_RATE, SPEAK_PER = 3, 10.0  # /speak and Read aloud: 3 uses per 10 s per member and server
AUDIO_FORMAT_CHOICES: list[app_commands.Choice[str]] = [
    app_commands.Choice(name=f.value, value=f.value) for f in AudioFormat
]
REFUSAL_NOTE_SECONDS = 3600.0  # "Discord refused the voice message" is said once an hour per member
# The voice errors as bot.commands.delivery names them (it decides which mean "a file instead").
_SETBACKS: tuple[tuple[type[VoiceError], VoiceSetback], ...] = (
    (VoiceUnavailableError, VoiceSetback.UNAVAILABLE),
    (VoiceBusyError, VoiceSetback.BUSY),
    (VoicePermissionError, VoiceSetback.NO_PERMISSION),
    (VoiceConnectError, VoiceSetback.CONNECT_FAILED),
)


def guild_id_of(interaction: discord.Interaction) -> int:
    """The server of a server-only command (raises NoPrivateMessage elsewhere)."""
    if interaction.guild_id is None or interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id


def member_key(interaction: discord.Interaction) -> tuple[int | None, int]:
    return (interaction.guild_id, interaction.user.id)


def discord_opus_encoder(kbps: int) -> OpusEncode:
    """An `OpusEncoderFactory` over discord.py's libopus binding (48 kHz stereo, 20 ms frames),
    tuned for speech in files: VoIP mode, no in-band FEC."""
    encoder = discord.opus.Encoder(application="voip", bitrate=max(16, kbps), fec=False, signal_type="voice")
    frame = encoder.SAMPLES_PER_FRAME

    def encode(pcm: bytes) -> bytes:
        return encoder.encode(pcm, frame)

    return encode


def opus_encoder_factory() -> OpusEncoderFactory | None:
    """The encoder factory if libopus can be loaded, else None (files are WAV only)."""
    try:
        discord.opus.Encoder.get_opus_version()
    except Exception:
        return None
    return discord_opus_encoder


def _choice_list(
    labelled: list[tuple[str, str]], interaction: discord.Interaction
) -> list[app_commands.Choice[str]]:
    return [
        app_commands.Choice(name=reply_text(interaction, label)[:CHOICE_MAX_CHARS], value=value)
        for label, value in labelled
    ]


def voice_choice_list(current: str, interaction: discord.Interaction) -> list[app_commands.Choice[str]]:
    """The voices matching `current`, described in the member's language."""
    return _choice_list(voice_choices(current), interaction)


def style_choice_list(current: str, interaction: discord.Interaction) -> list[app_commands.Choice[str]]:
    return _choice_list(style_choices(current), interaction)


def voice_setback(error: VoiceError) -> VoiceSetback:
    return next((setback for kind, setback in _SETBACKS if isinstance(error, kind)), VoiceSetback.OTHER)


def _locale_value(locale: object) -> str | None:
    value = getattr(locale, "value", None)
    return value if isinstance(value, str) else None


def locale_of(interaction: discord.Interaction) -> str | None:
    """The Discord locale of the member who used `interaction` (e.g. "ja", "en-US")."""
    return _locale_value(getattr(interaction, "locale", None))


def reply_text(interaction: discord.Interaction, value: str) -> str:
    """`value` (a `bot.base.i18n.Text`, or a plain str: unchanged) in the member's language."""
    return localize(value, locale_of(interaction))


def server_text(guild: discord.Guild | None, value: str) -> str:
    """`value` in the server's preferred language (notices posted to a channel)."""
    return localize(value, _locale_value(getattr(guild, "preferred_locale", None)))


def channel_mention(channel: object) -> str:
    mention = getattr(channel, "mention", None)
    return str(mention) if mention else say("voice.channel.unknown")


def queued_message(channel: object, position: int) -> str:
    where = channel_mention(channel)
    if position <= 0:
        return say("speak.now", channel=where)
    if position == 1:
        return say("speak.queued.one", channel=where)
    return say("speak.queued.other", channel=where, count=position)


@contextlib.asynccontextmanager
async def errors_stay_private(interaction: discord.Interaction, *, public: bool) -> AsyncIterator[None]:
    """After a public defer, an error reply would replace the public "thinking…" message for
    everyone to see: on error, delete that message first, so the bot's error handler sends
    its (ephemeral) reply as a new message only the member sees."""
    try:
        yield
    except Exception:
        if public:
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
        raise


class Speaker:
    """Delivers a request: queued in the member's voice channel when the bot can speak there
    (an ephemeral confirmation), otherwise synthesized and sent as a file."""

    def __init__(self, bot: ParlaBot) -> None:
        self.bot = bot
        self.encoder_factory: OpusEncoderFactory | None = opus_encoder_factory()
        self.progress_interval = PROGRESS_INTERVAL
        self.sleep: Sleep = asyncio.sleep
        self._refusal_notes = NoticeGate(REFUSAL_NOTE_SECONDS)

    def plan(
        self, user: discord.User | discord.Member, *, attach: bool
    ) -> tuple[VoiceChannel | None, Delivery]:
        """Voice or file (bot.commands.delivery decides), and the member's voice channel when
        the request goes there. The voice service is asked only when the member is in voice."""
        channel: VoiceChannel | None = None
        if not attach and isinstance(user, discord.Member) and user.voice is not None:
            channel = user.voice.channel
        available = channel is not None and self.bot.voice.available
        can_speak = channel is not None and available and self.bot.voice.can_speak_in(channel)
        delivery = plan_delivery(
            attach=attach,
            in_voice=channel is not None,
            voice_available=available,
            can_speak=can_speak,
            channel=channel_mention(channel),
        )
        return (channel if delivery.to_voice else None), delivery

    async def deliver(
        self,
        interaction: discord.Interaction,
        request: SpeechRequest,
        *,
        attach: bool = False,
        file_ephemeral: bool = False,
        tag: object = None,
        speaker_name: str | None = None,
        audio_format: AudioFormat = AudioFormat.FILE,
    ) -> None:
        """Defer (if not yet), then queue `request` in the member's channel or send it as
        `audio_format` (a voice message or a file)."""
        channel, delivery = self.plan(interaction.user, attach=attach)
        note, ephemeral = delivery.note, delivery.ephemeral(file_ephemeral)
        fmt = audio_format
        if interaction.response.is_done():  # the caller deferred (and guards its reply)
            await self._deliver(interaction, request, channel, note, ephemeral, tag, speaker_name, fmt)
            return
        await interaction.response.defer(thinking=True, ephemeral=ephemeral)
        async with errors_stay_private(interaction, public=not ephemeral):
            await self._deliver(interaction, request, channel, note, ephemeral, tag, speaker_name, fmt)

    async def _deliver(
        self,
        interaction: discord.Interaction,
        request: SpeechRequest,
        channel: VoiceChannel | None,
        note: str,
        ephemeral: bool,
        tag: object,
        speaker_name: str | None,
        audio_format: AudioFormat = AudioFormat.FILE,
    ) -> None:
        user = interaction.user
        await self.bot.admission.admit(interaction.guild_id, user.id, request)  # after the defer: it may wait
        if channel is not None and isinstance(user, discord.Member):
            utterance = Utterance(
                request,
                requester_id=user.id,
                requester_name=speaker_name or user.display_name,
                on_error=self.error_reporter(interaction, user),
                tag=tag,
                source_channel_id=interaction.channel_id,
            )
            try:
                position = await self.bot.voice.speak(user, utterance)
            except VoiceError as exc:
                instead = file_instead(voice_setback(exc), exc.user_message())
                if instead is None:
                    raise
                note = instead
            else:
                content = lines(
                    queued_message(channel, position), self.bot.backup_notice(("member", user.id))
                )
                await interaction.edit_original_response(content=reply_text(interaction, content))
                return
        await self.send_file(interaction, request, note=note, audio_format=audio_format, ephemeral=ephemeral)

    async def send_file(
        self,
        interaction: discord.Interaction,
        request: SpeechRequest,
        *,
        note: str = "",
        audio_format: AudioFormat = AudioFormat.FILE,
        ephemeral: bool = False,
    ) -> None:
        progressed = False

        async def progress(seconds: float) -> None:
            nonlocal progressed
            progressed = True
            await interaction.edit_original_response(
                content=reply_text(interaction, say("file.progress", seconds=seconds))
            )

        audio = await collect_audio(
            self.bot.stack.engine,
            request,
            on_progress=progress,
            interval=self.progress_interval,
            sleep=self.sleep,
        )
        if audio_format is AudioFormat.VOICE_MESSAGE and self.encoder_factory is not None:
            if await self._send_voice_message(interaction, request, audio, ephemeral, progressed):
                backup = self.bot.backup_notice(("member", interaction.user.id))
                extra = join(" ", (note, backup))
                if extra:  # a voice message carries nothing else: the notes follow it
                    await interaction.followup.send(reply_text(interaction, extra), ephemeral=True)
                return
            if self._refusal_notes.allow(interaction.user.id):
                note = join(" ", (note, FILE_INSTEAD_NOTE))
        rendered = await asyncio.to_thread(
            render_audio_file, audio, request.text, interaction.filesize_limit, self.encoder_factory
        )
        backup = self.bot.backup_notice(("member", interaction.user.id))
        note = join(" ", (note, backup))
        summary = say(
            "file.summary.compressed" if rendered.compressed else "file.summary",
            voice=request.voice,
            seconds=rendered.duration,
        )
        content = lines(note, summary)
        file = discord.File(io.BytesIO(rendered.data), filename=rendered.filename)
        await interaction.edit_original_response(content=reply_text(interaction, content), attachments=[file])

    async def _send_voice_message(
        self,
        interaction: discord.Interaction,
        request: SpeechRequest,
        audio: Audio,
        ephemeral: bool,
        progressed: bool,
    ) -> bool:
        """Send `audio` as a voice message; False when Discord refused it (send a file)."""
        assert self.encoder_factory is not None
        message = await asyncio.to_thread(
            render_voice_message, audio, request.text, interaction.filesize_limit, self.encoder_factory
        )
        if not progressed:
            # Directly after the defer, a followup would edit the "thinking…" message, and an
            # edit cannot make a voice message: replace the placeholder first (see
            # bot.app.voice_message_http), so the voice message is a new message.
            await interaction.edit_original_response(content=VOICE_MESSAGE_PLACEHOLDER)
        try:
            await send_voice_message(
                self.bot.http, interaction.application_id, interaction.token, message, ephemeral=ephemeral
            )
        except discord.HTTPException as exc:
            if not refused(exc):
                raise
            log.info("Discord refused a voice message (code %s): sending a file", exc.code)
            return False
        with contextlib.suppress(discord.HTTPException):  # the placeholder or progress line goes
            await interaction.delete_original_response()
        return True

    def error_reporter(
        self, interaction: discord.Interaction, member: discord.Member
    ) -> Callable[[Utterance, ParlaError], Awaitable[None]]:
        """`on_error` for a queued utterance: tell the member (followup; once the interaction
        has expired, in the channel with a ping, at most once per member per 5 minutes)."""
        bot = self.bot

        async def report(utterance: Utterance, error: ParlaError) -> None:
            message = reply_text(interaction, error.user_message())
            if isinstance(error, TTSError):
                bot.note_endpoint_error(interaction.guild_id, error)
            try:
                await interaction.followup.send(message, ephemeral=True)
                return
            except discord.HTTPException as exc:  # e.g. the interaction token expired (15 min)
                log.info("followup for a failed utterance failed: %r", exc)
            channel = interaction.channel
            if isinstance(channel, discord.abc.Messageable) and bot.may_post_error_publicly(member.id):
                with contextlib.suppress(discord.HTTPException):
                    await channel.send(
                        f"{member.mention} {message}",
                        allowed_mentions=discord.AllowedMentions(users=[member]),
                    )

        return report


def _name_of(user: discord.abc.User, nicknames: Mapping[int, str]) -> str:
    return nicknames.get(user.id) or user.display_name


def message_info(message: discord.Message, nicknames: Mapping[int, str]) -> MessageInfo:
    """The message as the cleaner needs it: mentions resolved to display names (the server's
    spoken nicknames passed separately: they win), attachments, stickers, embeds, the author
    and the member replied to."""
    guild = message.guild
    channel_names = {c.id: c.name for c in message.channel_mentions}
    if guild is not None:
        for channel_id in message.raw_channel_mentions:
            if channel_id not in channel_names:
                found = guild.get_channel_or_thread(channel_id)
                if found is not None:
                    channel_names[channel_id] = found.name
    reply_to: str | None = None
    if message.type is discord.MessageType.reply and message.reference is not None:
        resolved = message.reference.resolved
        if isinstance(resolved, discord.Message):
            reply_to = _name_of(resolved.author, nicknames)
    return MessageInfo(
        content=message.content,
        author_name=_name_of(message.author, nicknames),
        user_names={u.id: u.display_name for u in message.mentions},
        spoken_names=nicknames,
        role_names={r.id: r.name for r in message.role_mentions},
        channel_names=channel_names,
        attachments=tuple(
            Attachment(a.filename, a.content_type, bool(a.is_voice_message())) for a in message.attachments
        ),
        stickers=tuple(s.name for s in message.stickers),
        embeds=len(message.embeds),
        reply_to_name=reply_to,
        created_at=message.created_at.timestamp(),
    )
