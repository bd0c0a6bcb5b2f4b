"""The Bot: one `AutoShardedBot` subclass whose `setup_hook` opens the single HTTP session,
the database, the speech stack (cache, engines) and the voice service, then loads the cogs;
`close()` releases them in reverse order. Command errors are answered by `on_app_command_error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.app.translator import CatalogueTranslator
from bot.base.config import Settings
from bot.base.errors import ParlaError
from bot.base.i18n import Text, join, localize, say
from bot.base.metrics import METRICS, Sample, queue_samples
from bot.commands.admission import Admission
from bot.speech.error_log import LastErrors, SeenError, with_details
from bot.speech.errors import TTSError
from bot.speech.stack import SpeechStack, open_speech_stack
from bot.store import retention
from bot.store.cluster_budget import ClusterBudget
from bot.store.cluster_settings import share_settings
from bot.store.limits import NoticeGate, UsageLimiter, current_guild
from bot.store.models import utc_today
from bot.store.open import open_storage
from bot.store.sql_storage import SqlStorage
from bot.voice.link import VoiceSupport
from bot.voice.manager import PlayerManager
from bot.voice.service import VoiceOptions, VoiceService
from bot.voice.source import OpusSourceFactory
from bot.voice.utterance import PlayerOptions

log = logging.getLogger("parla.bot")

EXTENSIONS: tuple[str, ...] = (
    "cogs.speech",
    "cogs.preferences",
    "cogs.playback",
    "cogs.server",
    "cogs.readaloud",
    "cogs.dictionary",
)
HEARTBEAT_SECONDS = 30.0
PUBLIC_ERROR_SECONDS = 300.0  # at most one public error post per member per 5 minutes
CHARGE_DRAIN_SECONDS = 5.0  # at shutdown, how long the usage charges in flight may take
BACKUP_NOTICE_SECONDS = 600.0
BACKUP_NOTICE = say("backup.notice")


def make_intents() -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.voice_states = True
    intents.guild_messages = True
    intents.message_content = True  # privileged: enable it in the developer portal
    return intents


PERMISSION_NAMES = {  # Discord's names of the permissions (message ids "permission.<name>")
    "manage_guild": "Manage Server",
    "view_channel": "View Channels",
    "move_members": "Move Members",
    "send_messages": "Send Messages",
    "attach_files": "Attach Files",
    "use_voice_activation": "Use Voice Activity",
}


def permission_names(permissions: list[str]) -> Text:
    return join(
        say("list.separator"),
        (
            say(f"permission.{p}") if p in PERMISSION_NAMES else p.replace("_", " ").title()
            for p in permissions
        ),
    )


def error_reply(error: BaseException) -> tuple[str, bool]:
    """The short sentence a member sees for `error` (a Text), and whether it was unexpected."""
    original = error
    while isinstance(original, (app_commands.CommandInvokeError, commands.CommandInvokeError)):
        original = original.original
    if isinstance(original, ParlaError):
        return original.user_message(), False
    if isinstance(original, app_commands.CommandOnCooldown):
        return say("error.cooldown", seconds=original.retry_after), False
    if isinstance(original, app_commands.MissingPermissions):
        return say("error.missing_permissions", names=permission_names(original.missing_permissions)), False
    if isinstance(original, app_commands.BotMissingPermissions):
        names = permission_names(original.missing_permissions)
        return say("error.bot_missing_permissions", names=names), False
    if isinstance(original, app_commands.NoPrivateMessage):
        return say("error.server_only"), False
    if isinstance(original, app_commands.TransformerError):
        return say("error.transformer", value=repr(original.value)), False
    if isinstance(original, app_commands.CheckFailure):
        return say("error.check_failed"), False
    if isinstance(original, discord.Forbidden):
        return say("error.forbidden"), False
    return "", True


class ParlaBot(commands.AutoShardedBot):
    def __init__(self, settings: Settings, *, sync_only: bool = False) -> None:
        sharding: dict[str, Any] = {}
        if settings.shard_count is not None:
            sharding["shard_count"] = settings.shard_count
        if settings.shard_ids:
            sharding["shard_ids"] = list(settings.shard_ids)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=make_intents(),
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            max_messages=1000,
            **sharding,
        )
        self.settings = settings
        self.sync_only = sync_only
        self.started_at = time.time()
        self.http_session: aiohttp.ClientSession | None = None
        self._storage: SqlStorage | None = None
        self._stack: SpeechStack | None = None
        self._voice: VoiceService | None = None
        self._limiter: UsageLimiter | None = None
        self._admission: Admission | None = None
        self._backup_notices = NoticeGate(BACKUP_NOTICE_SECONDS)
        self._public_errors = NoticeGate(PUBLIC_ERROR_SECONDS)
        self._endpoint_errors = LastErrors()  # per server: the last endpoint failure members met
        self._exits = contextlib.AsyncExitStack()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._charges: set[asyncio.Task[None]] = set()  # usage charges: drained, not cancelled, at close
        self.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]

    # -- services (available after setup_hook) ------------------------------------------
    @property
    def storage(self) -> SqlStorage:
        assert self._storage is not None, "setup_hook has not run"
        return self._storage

    @property
    def stack(self) -> SpeechStack:
        assert self._stack is not None, "setup_hook has not run"
        return self._stack

    @property
    def voice(self) -> VoiceService:
        assert self._voice is not None, "setup_hook has not run"
        return self._voice

    @property
    def limiter(self) -> UsageLimiter:
        assert self._limiter is not None, "setup_hook has not run"
        return self._limiter

    @property
    def admission(self) -> Admission:
        """The usage limits for one request (`admission.admit`: /speak, Read aloud, read-aloud)."""
        assert self._admission is not None, "setup_hook has not run"
        return self._admission

    def _on_usage(self, characters: int) -> None:
        """The endpoint spoke `characters` for the server in this task's context: charge it.
        Charges are not cancelled at shutdown: `_drain_charges` waits for them before the
        storage closes."""
        if self._limiter is not None:
            task = asyncio.create_task(
                self._limiter.charge(current_guild.get(), characters), name="usage-charge"
            )
            self._charges.add(task)
            task.add_done_callback(self._charges.discard)

    async def _drain_charges(self) -> None:
        """Wait (at most `CHARGE_DRAIN_SECONDS`) for the usage charges still being written."""
        deadline = asyncio.get_running_loop().time() + CHARGE_DRAIN_SECONDS
        while self._charges:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                log.warning("shutdown: %d usage charge(s) not recorded in time", len(self._charges))
                for task in self._charges:
                    task.cancel()
                return
            await asyncio.wait(set(self._charges), timeout=remaining)

    def backup_notice(self, key: object) -> str | None:
        """The sentence telling `key` (a member or a server) that the backup voice is in use,
        once per window; None when the endpoint is speaking or they were told already."""
        if self._stack is None or not self._stack.backup_active():
            return None
        if not self._backup_notices.allow(key):
            return None
        return with_details(BACKUP_NOTICE, self._stack.last_error)

    def note_endpoint_error(self, guild_id: int | None, error: TTSError) -> None:
        """Remember `error` as the last endpoint failure a member of `guild_id` met."""
        if guild_id is not None:
            self._endpoint_errors.record(guild_id, error)

    def last_endpoint_error(self, guild_id: int) -> SeenError | None:
        """The last endpoint failure a member of `guild_id` met (`/server usage`)."""
        return self._endpoint_errors.get(guild_id)

    def _on_fallback(self, error: TTSError) -> None:
        self.note_endpoint_error(current_guild.get(), error)

    def spawn(self, coro: Any, *, name: str) -> asyncio.Task[Any]:
        """Start a task the bot owns (cancelled on close)."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- lifecycle -----------------------------------------------------------------------
    async def open_services(
        self, *, session: aiohttp.ClientSession | None = None, voice_support: VoiceSupport | None = None
    ) -> None:
        """Open the HTTP session (unless given), the database, the limits, the speech stack and
        the voice service; `close_services()` releases them in reverse order."""
        s = self.settings
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=max(16, s.max_concurrent_requests * 2)),
            )
            self._exits.push_async_callback(session.close)
        self.http_session = session
        self._storage = await open_storage(s)  # SQLite, or PostgreSQL with DATABASE_URL
        self._exits.push_async_callback(self._storage.close)
        self._limiter = UsageLimiter(s, self._storage)
        self._exits.push_async_callback(self._drain_charges)  # after voice and speech, before storage
        self._stack = await self._exits.enter_async_context(
            open_speech_stack(s, session=session, on_fallback=self._on_fallback)
        )
        if self._stack.client is not None:
            self._stack.client.usage_listener = self._on_usage
        if self._stack.cluster is not None:  # REDIS_URL: limits and settings shared by the cluster
            self._limiter.cluster = ClusterBudget(self._stack.cluster)
            # charges made while voice closes settle in Redis before the stack closes its link
            self._exits.push_async_callback(self._drain_charges)
            invalidation = share_settings(self._stack.cluster, self._storage)
            self._exits.push_async_callback(invalidation.close)
        self._admission = Admission(self._limiter, self._stack)
        manager = PlayerManager(
            self._stack.engine,
            OpusSourceFactory(),
            store=self._stack.cache,
            options=PlayerOptions.from_settings(s),
        )
        self._voice = VoiceService(self, manager, VoiceOptions.from_settings(s), support=voice_support)
        self._exits.push_async_callback(self._voice.close)

    async def close_services(self) -> None:
        await self._exits.aclose()  # voice (players, streams) → speech stack → storage → HTTP

    async def setup_hook(self) -> None:
        s = self.settings
        await self.open_services()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.tree.set_translator(CatalogueTranslator())  # names in the members' languages
        if self.sync_only:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))
            self.spawn(self.close(), name="close-after-sync")
            return
        if s.dev_guild_id:
            guild = discord.Object(id=s.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to the development server %s", len(synced), s.dev_guild_id)
        self.spawn(self._heartbeat(), name="heartbeat")
        self.spawn(self._retention_sweeps(), name="retention")
        if s.metrics_port:
            METRICS.add_collector(self._collect_metrics)
            runner = await METRICS.serve(s.metrics_port, s.metrics_host)
            self._exits.push_async_callback(runner.cleanup)

    def _collect_metrics(self) -> list[Sample]:
        samples: list[Sample] = []
        stack = self._stack
        if stack is not None and stack.client is not None:
            stats = stack.client.stats
            samples.append(("parla_endpoint_requests_total", {}, stats.requests))
            samples.append(("parla_endpoint_characters_total", {}, stats.characters))
            samples.append(("parla_endpoint_in_flight", {}, stats.in_flight))
            for code, n in stats.errors.items():
                samples.append(("parla_endpoint_errors_total", {"code": code}, n))
        if stack is not None and stack.cache is not None:
            cache = stack.cache.stats
            samples.append(("parla_cache_hit_ratio", {}, cache.hit_ratio))
            samples.append(("parla_cache_bytes", {"tier": "memory"}, cache.bytes_memory))
            samples.append(("parla_cache_bytes", {"tier": "disk"}, cache.bytes_disk))
        if self._voice is not None:
            lengths = [(p.guild_id, len(p.queue())) for p in self._voice.manager.players()]
            samples.extend(queue_samples(lengths, guild_labels=self.settings.metrics_guild_labels))
        samples.append(("parla_guilds", {}, len(self.guilds)))
        return samples

    async def close(self) -> None:
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.gather(
            *(t for t in self._tasks if t is not asyncio.current_task()), return_exceptions=True
        )
        try:
            await self.close_services()
        finally:
            await super().close()

    async def _heartbeat(self) -> None:
        """Touch the heartbeat file (Docker's healthcheck) and log the daily usage total."""
        beat = self.settings.data_dir / "heartbeat"
        day = utc_today()
        while True:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(beat.touch)
            if utc_today() != day:
                usage = await self.storage.get_usage(None, day)
                log.info(
                    "daily usage day=%s characters=%d requests=%d",
                    day,
                    usage.global_characters,
                    usage.global_requests,
                )
                day = utc_today()
            await asyncio.sleep(HEARTBEAT_SECONDS)

    # -- events --------------------------------------------------------------------------
    async def on_ready(self) -> None:
        log.info("ready as %s in %d servers", self.user, len(self.guilds))

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Removed from a server: its data is deleted in `GUILD_DATA_DAYS` unless we are back."""
        if self._storage is not None:
            due = await retention.schedule_forget(self._storage, guild.id)
            log.info("removed from server %s: its data will be deleted on %s", guild.id, due.date())

    async def on_guild_join(self, guild: discord.Guild) -> None:
        if self._storage is not None and await retention.cancel_forget(self._storage, guild.id):
            log.info("added back to server %s: its data is kept", guild.id)

    async def _retention_sweeps(self) -> None:
        """Delete what is due (bot.store.retention), once the server list is known, then hourly."""
        await self.wait_until_ready()
        while True:
            try:
                await retention.sweep(self.storage, present=lambda gid: self.get_guild(gid) is not None)
            except Exception:
                log.exception("retention sweep failed")
            await asyncio.sleep(retention.SWEEP_SECONDS)

    def may_post_error_publicly(self, member_id: int) -> bool:
        """Whether a failed utterance may be reported in the channel (with a ping) for this
        member: once per `PUBLIC_ERROR_SECONDS`, like the other notices."""
        return self._public_errors.allow(("member", member_id))

    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        if self._voice is not None:
            await self._voice.on_voice_state_update(member, before, after)

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await reply_error(interaction, error)


async def reply_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Answer `interaction` with a short ephemeral sentence for `error`; never leave it unanswered."""
    message, unexpected = error_reply(error)
    original = getattr(error, "original", error)
    if unexpected:
        error_id = uuid.uuid4().hex[:8]
        command = interaction.command.qualified_name if interaction.command else "?"
        log.error(
            "unexpected error id=%s command=%s guild=%s user=%s",
            error_id,
            command,
            interaction.guild_id,
            interaction.user.id if interaction.user else None,
            exc_info=(type(original), original, original.__traceback__),
        )
        message = say("error.unexpected", error_id=error_id)
    elif isinstance(original, TTSError):
        log.warning("command failed: %s", original.log_form())
        note = getattr(interaction.client, "note_endpoint_error", None)
        if note is not None:
            note(interaction.guild_id, original)
    locale = getattr(getattr(interaction, "locale", None), "value", None)
    message = localize(message, locale if isinstance(locale, str) else None)  # the member's language
    try:
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not send the error reply: %r", exc)
