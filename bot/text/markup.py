"""Discord markup in words: code blocks, inline code and spoilers (left to right, as Discord
renders them, so spoiler content is never read), masked links, links ("a link to <domain>"),
mentions, channels, roles, timestamps and slash commands, @everyone/@here; and the markdown
markers (escapes, emphasis, headings, quotes, bullets) stripped.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.text.names import clean_name
from bot.text.phrases import PHRASES, Phrases, count, join_list

if TYPE_CHECKING:  # the message type lives with the pipeline, which imports this module
    from bot.text.clean import MessageInfo

__all__ = ["replace_markup", "strip_markdown"]

# Left to right, like Discord's renderer: whichever of these starts first wins, so a spoiler
# inside inline code is code, and code inside a spoiler is spoiler.
_STRUCTURE = re.compile(
    r"(?P<fence>```[\s\S]*?```)"
    r"|(?P<code2>``(?!`)[\s\S]+?``)"
    r"|(?P<code1>`[^`]+`)"
    r"|(?P<spoiler>\|\|[\s\S]+?\|\|)"
)
_MASKED_LINK = re.compile(r"\[([^\[\]\n]{0,256})\]\(\s*<?(https?://[^\s()<>]+(?:\([^\s()<>]*\))?)>?\s*\)")
# A link starts after a non-alphanumeric character ("_" and "*" are markdown, so they count as
# separators); "www." not after "-" or "." either, so that a domain we print ("a link to
# my-www.site.com") is never read as a link again.
# Bare domains with a path are links too ("example.com/page", "discord.gg/abc"): an alphabetic
# top-level domain, then "/" and something; never inside an e-mail address, a path or a longer
# name. The domain alone ("a link to example.com", what we print) is never read as a link again.
_BARE_DOMAIN = (
    r"(?<![^\W_])(?<![/@.\-:])(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.){1,8}"
    r"[a-z]{2,24}/(?=[^\s<>]*[^\W_])[^\s<>]*"
)
_URL_PART = (
    r"(?:<https?://[^\s<>]+>"
    r"|(?<![^\W_])(?<![/@.])https?://(?=[^\s<>]*[^\W_])[^\s<>]+"
    r"|(?<![^\W_])(?<![/@.\-])www\.(?=[^\s<>]*[^\W_])[^\s<>]+"
    f"|{_BARE_DOMAIN})"
)
_URL = re.compile(_URL_PART, re.IGNORECASE)
_URL_RUN = re.compile(f"{_URL_PART}(?:\\s+{_URL_PART})*", re.IGNORECASE)
_BARE_SCHEME = re.compile(r"(?<![^\W_])https?://", re.IGNORECASE)
_HOST = re.compile(r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)*[^\W_](?:[\w-]{0,61}[^\W_])?")
_TRAILING_URL_PUNCT = ".,:;!?'\"*_~|"
_MENTION_RUN = re.compile(r"<@[!&]?\d{1,20}>(?:[\s,]*<@[!&]?\d{1,20}>)+")
_MENTION_IDS = re.compile(r"<@([!&]?)(\d{1,20})>")
_ANGLE = re.compile(
    r"<@!?(?P<user>\d{1,20})>"
    r"|<@&(?P<role>\d{1,20})>"
    r"|<#(?P<channel>\d{1,20})>"
    r"|<t:(?P<ts>-?\d{1,16})(?::[tTdDfFRS])?>"
    r"|</(?P<cmd>[^\s:<>/][^:<>]{0,100}):\d{1,20}>"
    r"|<id:(?P<nav>[a-z_]{1,20})>"
)
_EVERYONE = re.compile(r"(?<![^\W_])@(everyone|here)(?![^\W_])")  # "_" is markdown, not a letter


@functools.lru_cache(maxsize=4096)  # a pure function; chat repeats the same links
def _domain(url: str) -> str:
    """The host of `url` without "www.", or "" if it has no valid host name."""
    if not url.lower().startswith(("http://", "https://")):
        url = "http://" + url  # "www.example.org", "discord.gg/abc"
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    host = host.strip(".").lower()
    while host.startswith("www."):
        host = host[4:]
    if "xn--" in host:
        try:
            host = host.encode("ascii").decode("idna")
        except (UnicodeError, ValueError):
            pass
    return host if _HOST.fullmatch(host) and "_" not in host else ""


def _split_url(token: str) -> tuple[str, str]:
    """(url, trailing text that is not part of it)."""
    if token.startswith("<") and token.endswith(">"):
        return token[1:-1], ""
    end = len(token)
    while end > 0:
        ch = token[end - 1]
        if ch in _TRAILING_URL_PUNCT:
            end -= 1
        elif ch == ")" and token.count("(", 0, end) < token.count(")", 0, end):
            end -= 1
        else:
            break
    return token[:end], token[end:]


def _links_text(run: str, ph: Phrases) -> str:
    """Links separated only by spaces: "a link to a.com, 2 links to b.org"."""
    groups: list[tuple[str, int, str]] = []  # (domain, count, text after the last one)
    for m in _URL.finditer(run):
        url, tail = _split_url(m.group(0))
        domain = _domain(url)
        if groups and domain and groups[-1][0] == domain and not groups[-1][2]:
            groups[-1] = (domain, groups[-1][1] + 1, tail)
        else:
            groups.append((domain, 1, tail))
    out = ""
    for domain, n, tail in groups:
        if out:
            out += " " if out[-1] in _TRAILING_URL_PUNCT + ")" else ph.list_sep
        if not domain:
            out += ph.link_plain
        elif n == 1:
            out += ph.link.format(domain=domain)
        else:
            out += ph.links.format(n=n, domain=domain)
        out += tail
    return f" {out} "


def _relative_time(seconds: float, ph: Phrases, language: str) -> str:
    d = abs(seconds)
    if d < 60:
        return ph.now
    if d < 3600:
        amount = count(ph.minute, int(d // 60), language)
    elif d < 86400:
        amount = count(ph.hour, int(d // 3600), language)
    elif d < 30 * 86400:
        amount = count(ph.day, int(d // 86400), language)
    elif d < 365 * 86400:
        amount = count(ph.month, int(d // (30 * 86400)), language)
    else:
        amount = count(ph.year, int(d // (365 * 86400)), language)
    return (ph.future if seconds > 0 else ph.past).format(x=amount)


_MAX_TIMESTAMP_SPAN = 1000 * 365 * 86400


class _Context:
    """What the replacement callbacks of one cleaning pass need."""

    __slots__ = ("info", "language", "ph")

    def __init__(self, info: MessageInfo, language: str) -> None:
        self.info = info
        self.language = language
        self.ph = PHRASES[language]

    def user(self, user_id: int) -> str:
        for names in (self.info.spoken_names, self.info.user_names):
            name = names.get(user_id)
            if name:
                cleaned = clean_name(name)
                if cleaned:
                    return cleaned
        return self.ph.someone

    def role(self, role_id: int) -> str:
        name = self.info.role_names.get(role_id)
        return (clean_name(name) if name else "") or self.ph.a_role

    def channel(self, channel_id: int) -> str:
        name = self.info.channel_names.get(channel_id)
        return (clean_name(name.replace("-", " ")) if name else "") or self.ph.a_channel

    def structure(self, m: re.Match[str]) -> str:
        kind = m.lastgroup
        if kind == "spoiler":
            return f" {self.ph.spoiler} "
        if kind == "fence":
            return f" {self.ph.code_block} "
        return f" {self.ph.code} "

    def masked_link(self, m: re.Match[str]) -> str:
        text = m.group(1).strip()
        if not text or _URL.fullmatch(text):
            domain = _domain(m.group(2))
            return " " + (self.ph.link.format(domain=domain) if domain else self.ph.link_plain) + " "
        return f" {text} "

    def links(self, m: re.Match[str]) -> str:
        return _links_text(m.group(0), self.ph)

    def mention_run(self, m: re.Match[str]) -> str:
        """Adjacent mentions: "A, B and C"; more than five: "A, B, C and 497 others".
        Unknown members and roles are counted, not listed ("Alice and 2 others")."""
        ids: list[str] = []
        for marker, ident in _MENTION_IDS.findall(m.group(0)):
            key = marker.replace("!", "") + ident
            if key not in ids:
                ids.append(key)
        known: list[str] = []
        for key in ids:
            if key.startswith("&"):
                name = self.info.role_names.get(int(key[1:]))
                spoken = self.role(int(key[1:])) if name else ""
            else:
                spoken = self.user(int(key))
                spoken = "" if spoken == self.ph.someone else spoken
            if spoken and spoken not in known:
                known.append(spoken)
        total = len(ids)
        shown = known[:3] if total > 5 else known
        if not shown:
            shown = [self.ph.someone]
        rest = total - len(shown)
        if rest <= 0:
            return f" {join_list(shown, self.ph)} "
        if rest == 1:
            return f" {join_list([*shown, self.ph.someone], self.ph)} "
        return f" {self.ph.others.format(names=self.ph.list_sep.join(shown), n=rest)} "

    def angle(self, m: re.Match[str]) -> str:
        kind = m.lastgroup
        value = m.group(kind) if kind else ""
        if kind == "user":
            return f" {self.user(int(value))} "
        if kind == "role":
            return f" {self.role(int(value))} "
        if kind == "channel":
            return f" {self.channel(int(value))} "
        if kind == "ts":
            created = self.info.created_at
            delta = int(value) - created if created is not None else None
            if delta is None or abs(delta) > _MAX_TIMESTAMP_SPAN:
                return f" {self.ph.a_time} "
            return f" {_relative_time(delta, self.ph, self.language)} "
        if kind == "cmd":
            return f" {value} "
        return f" {self.ph.a_channel} "

    def everyone(self, m: re.Match[str]) -> str:
        # A leading space: an "@" just before must not make "@everyone" again.
        return " " + (self.ph.everyone if m.group(1) == "everyone" else self.ph.here)


def replace_markup(text: str, info: MessageInfo, language: str) -> str:
    """Code, spoilers, links, mentions, timestamps, slash commands and @everyone in `text`
    replaced by words in `language` (names from `info`)."""
    ctx = _Context(info, language)
    if "`" in text or "||" in text:
        text = _STRUCTURE.sub(ctx.structure, text)
    if "](" in text:
        text = _MASKED_LINK.sub(ctx.masked_link, text)
    if "http" in text or "HTTP" in text or "www." in text.lower() or ("/" in text and "." in text):
        text = _URL_RUN.sub(ctx.links, text)
        for _ in range(3):  # a scheme that is not a link is dropped; what follows may be one
            if not _BARE_SCHEME.search(text):
                break
            text = _URL_RUN.sub(ctx.links, _BARE_SCHEME.sub(" ", text))
    if "<" in text:
        if "<@" in text:
            text = _MENTION_RUN.sub(ctx.mention_run, text)
        text = _ANGLE.sub(ctx.angle, text)
    if "@" in text:
        text = _EVERYONE.sub(ctx.everyone, text)
    return text


_LINE_MARKERS = re.compile(r"^[ \t]*(?:(?:#{1,3}|-#|>>>|>|[-+•])[ \t]+)+", re.MULTILINE)
_ESCAPES = re.compile(r"\\(?=[!-/:-@\[-`{-~])")  # Discord escapes ASCII punctuation
_INLINE_MARKERS = re.compile(r"[*_~|`\\]+")  # backslashes left after escapes: paths


def strip_markdown(text: str) -> str:
    """Escapes, emphasis markers, and heading, quote and bullet markers at line starts removed."""
    if "\\" in text:
        text = _ESCAPES.sub("", text)
    text = _INLINE_MARKERS.sub(" ", text)
    return _LINE_MARKERS.sub("", text)
