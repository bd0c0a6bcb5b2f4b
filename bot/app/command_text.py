"""Every string of the slash commands a member reads in Discord's command picker: names and
descriptions of commands, groups and options, choice names, context menu names.

`command_strings(commands)` walks the command tree (as the cogs define it) and returns
`CommandString`s: the English text (the message id of the "commands" sections in `bot/base/locales/`) and
which Discord rule applies (`NAME`: 1-32 lowercase characters without spaces; `MENU`: a context
menu name, 1-32 characters; `TEXT`: 1-100 characters). `breaks_rule` checks a translation.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from discord import app_commands

# Discord's rule for command and option names (CHAT_INPUT): lowercase where the script has case.
_NAME = re.compile(r"^[-_\w\u0900-\u097f\u0e00-\u0e7f]{1,32}$")


class Rule(enum.Enum):
    NAME = "name"  # 1-32 characters, no spaces, lowercase
    MENU = "menu"  # a context menu name: 1-32 characters
    TEXT = "text"  # a description or a choice name: 1-100 characters


@dataclass(frozen=True)
class CommandString:
    text: str
    rule: Rule


def breaks_rule(text: str, rule: Rule) -> str | None:
    """Why Discord would refuse `text` where `rule` applies, or None."""
    if rule is Rule.NAME:
        if not _NAME.fullmatch(text):
            return "a name is 1-32 letters, digits, '-' or '_', without spaces"
        if text != text.lower():
            return "a name is lowercase"
        return None
    limit = 32 if rule is Rule.MENU else 100
    if not 1 <= len(text) <= limit:
        return f"must be 1-{limit} characters"
    return None


def _choices(parameter: app_commands.Parameter) -> Iterator[CommandString]:
    for choice in parameter.choices:
        yield CommandString(str(choice.name), Rule.TEXT)


def _walk(command: Any) -> Iterator[CommandString]:
    if isinstance(command, app_commands.ContextMenu):
        yield CommandString(command.name, Rule.MENU)
        return
    yield CommandString(command.name, Rule.NAME)
    yield CommandString(command.description, Rule.TEXT)
    if isinstance(command, app_commands.Group):
        for child in command.commands:
            yield from _walk(child)
        return
    for parameter in command.parameters:
        yield CommandString(parameter.display_name, Rule.NAME)
        yield CommandString(parameter.description, Rule.TEXT)
        yield from _choices(parameter)


def command_strings(commands: Iterable[Any]) -> list[CommandString]:
    """The distinct strings of `commands` (Commands, Groups, ContextMenus), in tree order."""
    seen: dict[tuple[str, Rule], CommandString] = {}
    for command in commands:
        for item in _walk(command):
            seen.setdefault((item.text, item.rule), item)
    return list(seen.values())
