"""The command sweep's pieces: every command of a tree (slash commands, subcommands and the
context menu) and the sample options that make each one run."""

from __future__ import annotations

from typing import Any

from discord import app_commands

from tests.standins.discord_objects import MockMessage


def all_commands(
    tree: app_commands.CommandTree[Any],
) -> list[app_commands.Command[Any, ..., Any] | app_commands.ContextMenu]:
    found: list[Any] = []

    def walk(command: Any) -> None:
        if isinstance(command, app_commands.Group):
            for sub in command.commands:
                walk(sub)
        else:
            found.append(command)

    for command in tree.get_commands():  # every type: slash commands and the context menu
        walk(command)
    return found


SAMPLE_OPTIONS = {
    "text": "hello",
    "voice": "Cherry",
    "instructions": "calm",
    "language": "English",
    "mode": "on",
    "option": "xsaid",
    "value": "off",
    "word": "Parla",
    "reading": "par la",
}


def options_for(command: Any) -> dict[str, Any]:
    if isinstance(command, app_commands.ContextMenu):
        return {"message": MockMessage(content="hello there")}
    return {p.name: SAMPLE_OPTIONS[p.name] for p in command.parameters if p.required}
