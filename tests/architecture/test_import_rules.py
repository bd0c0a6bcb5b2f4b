"""The import contract of docs/architecture.md, checked on the source tree.

Rooms are ordered from the bottom up; a module may import its own room and the rooms below it,
never one above. Only `bot.app` and `bot.voice` may import discord. No cog imports another cog
(what several cogs share lives in `cogs/_common.py`). Each rule is also shown failing on a
planted violation, so a checker that stopped looking would be noticed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Bottom first: each room may import only itself and the rooms before it.
ROOMS = ("base", "cluster", "audio", "text", "speech", "store", "voice", "readaloud", "commands", "app")
DISCORD_ROOMS = frozenset({"app", "voice"})
# Inside speech: the three engines' rooms do not know each other.
SPEECH_SIBLINGS = frozenset({"endpoint", "local", "cache"})


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, *, is_package: bool = False) -> list[Import]:
    found: list[Import] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append(Import(module, target, node.lineno))
            # `from bot import text` names a room too
            if target == "bot":
                found += [Import(module, f"bot.{alias.name}", node.lineno) for alias in node.names]
    return found


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "bot" and len(parts) > 1 and parts[1] in ROOMS else None


def violations(found: list[Import]) -> list[str]:
    bad: list[str] = []
    for imp in found:
        where = f"{imp.module}:{imp.line} imports {imp.target}"
        room, target_room = room_of(imp.module), room_of(imp.target)
        top = imp.target.split(".")[0]
        if imp.module.startswith("bot") and top == "discord" and room not in DISCORD_ROOMS:
            bad.append(f"{where}: only bot.app and bot.voice may import discord")
        if imp.module.startswith("bot") and top == "cogs":
            bad.append(f"{where}: the core never imports a cog")
        if room and target_room and ROOMS.index(target_room) > ROOMS.index(room):
            bad.append(f"{where}: room {room} may not import room {target_room} (above it)")
        if room == "speech" == target_room:
            mine, theirs = imp.module.split(".")[2:3], imp.target.split(".")[2:3]
            if mine and theirs and mine[0] in SPEECH_SIBLINGS and theirs[0] in SPEECH_SIBLINGS - {mine[0]}:
                bad.append(f"{where}: speech.{mine[0]} may not import speech.{theirs[0]}")
        if imp.module.startswith("cogs.") and imp.target.startswith("cogs."):
            if imp.target != "cogs._common" and imp.module != "cogs._common":
                bad.append(f"{where}: a cog imports another cog (share through cogs/_common.py)")
    return bad


def tree_imports() -> list[Import]:
    found: list[Import] = []
    for folder in ("bot", "cogs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += imports_of(module_name(path), path.read_text(), is_package=path.name == "__init__.py")
    return found


def test_the_tree_keeps_the_import_contract() -> None:
    found = tree_imports()
    assert len({i.module for i in found}) > 40  # the walk really saw the tree
    assert violations(found) == []


def test_every_room_is_a_package_that_says_its_job() -> None:
    for room in ROOMS:
        init = ROOT / "bot" / room / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"bot/{room}/__init__.py has no docstring"
        assert "import" in doc, f"bot/{room}/__init__.py does not say what it may import"


def test_every_module_in_bot_sits_in_a_room() -> None:
    loose = [p.name for p in (ROOT / "bot").glob("*.py") if p.name not in {"__init__.py", "__main__.py"}]
    assert loose == []


@pytest.mark.parametrize(
    ("module", "source", "complaint"),
    [
        ("bot.text.clean", "import discord\n", "only bot.app and bot.voice may import discord"),
        ("bot.speech.request", "from discord.ext import commands\n", "only bot.app and bot.voice"),
        ("bot.store.sqlite", "from bot.voice.player import Utterance\n", "store may not import room voice"),
        ("bot.base.config", "from bot.app.cli import main\n", "room base may not import room app"),
        ("bot.text.clean", "from ..speech import voices\n", "room text may not import room speech"),
        ("bot.speech.cache.disk", "from bot.speech.endpoint import client\n", "speech.cache may not import"),
        ("bot.readaloud.flow", "import cogs.speech\n", "the core never imports a cog"),
        ("cogs.speech", "from cogs.readaloud import ReadAloud\n", "a cog imports another cog"),
    ],
)
def test_a_broken_rule_is_reported(module: str, source: str, complaint: str) -> None:
    bad = violations(imports_of(module, source))
    assert len(bad) == 1 and complaint in bad[0]


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("bot.voice.source", "import discord\n"),
        ("bot.app.bot", "from discord.ext import commands\n"),
        ("bot.voice.player", "from bot.store.limits import current_guild\n"),
        ("bot.speech.stack", "from bot.speech.cache.cached_engine import CachedEngine\n"),
        ("cogs.speech", "from cogs._common import message_info\n"),
    ],
)
def test_an_allowed_import_is_not_reported(module: str, source: str) -> None:
    assert violations(imports_of(module, source)) == []
