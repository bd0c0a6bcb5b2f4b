"""The read-aloud settings as members type and read them (`/readaloud set`, `/readaloud
settings`): the option names, what a typed value means (`parse_setting`: words such as on/off,
a role, "none"), autocomplete hints and how values are shown. What a value may be is checked by
`bot.store.validators.validate_read_aloud_change`, the one rule set the storage applies too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from bot.base.errors import InputError
from bot.base.i18n import join, say
from bot.store.models import BOOL_READ_ALOUD, ROLE_READ_ALOUD, GuildReadAloud
from bot.store.validators import validate_read_aloud_change


@dataclass(frozen=True, slots=True)
class SettingOption:
    name: str  # what members type
    field: str  # the GuildReadAloud field
    description: str


SETTING_OPTIONS: Final[tuple[SettingOption, ...]] = (
    SettingOption("text_in_voice", "text_in_voice", "Read the chat of the bot's voice channel"),
    SettingOption("require_voice", "require_voice", "Only read members who are in the bot's voice channel"),
    SettingOption("read_bots", "read_bots", "Read messages from bots and webhooks"),
    SettingOption("skip_silent", "skip_silent", "Skip messages sent with @silent"),
    SettingOption("deny_role", "deny_role_id", "Never read members with this role"),
    SettingOption("required_role", "required_role_id", "Only read members with this role"),
    SettingOption("ignore_prefix", "ignore_prefix", "Skip messages starting with this (e.g. !)"),
    SettingOption("autojoin", "autojoin", "A message from a member in voice brings the bot in"),
    SettingOption("xsaid", "xsaid", "Say “NAME said” before messages"),
    SettingOption("emoji", "emoji_mode", "Read emoji by name, or skip them"),
    SettingOption("max_length", "max_length", "Longest text read from one message (characters)"),
)
SETTINGS_BY_NAME: Final[dict[str, SettingOption]] = {o.name: o for o in SETTING_OPTIONS}
_TRUE: Final = frozenset({"on", "yes", "true", "1", "enable", "enabled"})
_FALSE: Final = frozenset({"off", "no", "false", "0", "disable", "disabled"})
_NONE: Final = frozenset({"none", "off", "no", "nothing", "-", "clear"})


def setting_option(name: str) -> SettingOption:
    option = SETTINGS_BY_NAME.get(name.strip().lower())
    if option is None:
        raise InputError(
            say("readaloud.setting.unknown", name=repr(name[:40]), names=", ".join(SETTINGS_BY_NAME))
        )
    return option


def value_hints(option: SettingOption) -> list[str]:
    """Suggestions for the value of `option` (for autocomplete; roles are added by the cog)."""
    if option.field in BOOL_READ_ALOUD:
        return ["on", "off"]
    if option.field in ROLE_READ_ALOUD:
        return ["none"]
    if option.field == "emoji_mode":
        return ["name", "none"]
    if option.field == "ignore_prefix":
        return ["!", "none"]
    return ["300", "150", "500", "1000"]


def parse_setting(option: SettingOption, text: str, find_role: Callable[[str], int | None]) -> object:
    """The value typed for `option`, in the storage's form (checked by the storage's rules), or
    InputError.

    Booleans: on/off (yes/no, true/false). Roles: a mention, an id or a name; "none" clears.
    Ignore prefix: the text ("none" turns it off). Emoji: name/none. Length: a whole number.
    """
    return validate_read_aloud_change(option.field, _typed_value(option, text, find_role))


def _typed_value(option: SettingOption, text: str, find_role: Callable[[str], int | None]) -> object:
    """What the words typed for `option` mean (on → True, a role name → its id, ...)."""
    raw = text.strip()
    low = raw.lower()
    if option.field in BOOL_READ_ALOUD:
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise InputError(say("readaloud.setting.on_off", name=option.name.replace("_", " ").capitalize()))
    if option.field in ROLE_READ_ALOUD:
        if low in _NONE or not raw:
            return None
        role_id = find_role(raw)
        if role_id is None:
            raise InputError(say("readaloud.setting.no_role", role=repr(raw[:40])))
        return role_id
    if option.field == "ignore_prefix":
        return "" if low in _NONE or not raw else raw
    if option.field == "emoji_mode":
        if low in ("name", "names", "read", "on"):
            return "name"
        if low in ("none", "skip", "off", "nothing"):
            return "none"
        raise InputError(say("readaloud.setting.emoji"))
    try:
        return int(raw.replace(",", "").replace("_", ""))
    except ValueError:
        return None  # not a number: the length rule refuses it


def display_setting(option: SettingOption, value: object, role_name: Callable[[int], str]) -> str:
    """A setting's value as shown to members."""
    if option.field in BOOL_READ_ALOUD:
        return say("settings.on") if value else say("settings.off")
    if option.field in ROLE_READ_ALOUD:
        return role_name(value) if isinstance(value, int) else say("settings.none")
    if option.field == "ignore_prefix":
        return f"`{value}`" if value else say("settings.none")
    if option.field == "emoji_mode":
        return say("readaloud.emoji.name") if value == "name" else say("readaloud.emoji.none")
    return say("readaloud.max_length", count=value)


def describe_read_aloud(
    settings: GuildReadAloud,
    *,
    role_name: Callable[[int], str],
    channel_name: Callable[[int], str],
) -> list[tuple[str, str]]:
    """(label, value) lines for `/readaloud settings`, channels first (values are Texts)."""
    names = sorted(channel_name(c) for c in settings.channel_ids)
    channels = join(say("list.separator"), names) if names else say("settings.none")
    lines: list[tuple[str, str]] = [(say("readaloud.settings.channels"), channels)]
    for option in SETTING_OPTIONS:
        lines.append((option.name, display_setting(option, getattr(settings, option.field), role_name)))
    return lines
