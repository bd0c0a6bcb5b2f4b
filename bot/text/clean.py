"""Turn a Discord message into text worth reading aloud. Pure functions, no discord import.

The message listener converts a `discord.Message` into a `MessageInfo` (plain data) and calls

    text = clean_message(info, options, say_name=prefixer.should_name(...), dictionary=d)

which returns the text to speak, or "" when there is nothing worth reading.

Pipeline (see `clean_content`): control characters and zalgo removed; code blocks, inline code
and spoilers replaced (left to right, as Discord renders them, so spoiler content is never
read); masked links become their text; links become "a link to <domain>"; mentions, channels,
roles, timestamps and slash commands become words; custom and Unicode emoji become names (or
nothing); markdown markers, headings, quotes and bullets are stripped; lines are joined;
repeated characters, words and short phrases are capped; whitespace collapsed; the pronunciation
dictionary applied; and the text cut at a word boundary with "and so on" in the message language.

The words the cleaner adds ("a link to", "spoiler", "sent an image", "NAME said", ...) are
in the message language: `CleanOptions.language`, or, for "Auto", a rough guess from the
script and common words of the message. Unicode emoji are read by their CLDR names in that
language (English where the `emoji` package has none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import get_args

from bot.text.attachments import describe
from bot.text.cut import cut, truncate
from bot.text.emoji import EmojiMode, replace_emoji
from bot.text.markup import replace_markup, strip_markdown
from bot.text.names import clean_name
from bot.text.phrases import PHRASES, resolve_language
from bot.text.pronunciation import PronunciationDictionary
from bot.text.tidy import HAS_WORD, drop_leftover_marks, drop_rules, join_lines, normalize_chars, tidy_text

__all__ = [
    "DEFAULT_OPTIONS",
    "Attachment",
    "CleanOptions",
    "MessageInfo",
    "clean_content",
    "clean_message",
    "said_prefix",
]

# --------------------------------------------------------------------------------------------
# Input and options
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a message (discord.Attachment.filename / .content_type /
    .is_voice_message())."""

    filename: str
    content_type: str | None = None
    is_voice_message: bool = False


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """A message as plain data.

    `user_names`: display names of the mentioned members (message.mentions), by user id.
    `spoken_names`: the server's /readaloud nicknames by user id; they win over `user_names`.
    `role_names` / `channel_names`: by id (message.role_mentions / guild channels).
    `author_name`: the name to say in "NAME said" (the caller resolves spoken nickname, server
    nickname, global name, username, in that order).
    `reply_to_name`: the name of the member replied to, or None for a plain message.
    `created_at`: the message's Unix time; timestamps <t:..> are then read relative to it
    ("in 5 minutes"), else as "a time".
    """

    content: str
    author_name: str = ""
    user_names: Mapping[int, str] = field(default_factory=dict)
    spoken_names: Mapping[int, str] = field(default_factory=dict)
    role_names: Mapping[int, str] = field(default_factory=dict)
    channel_names: Mapping[int, str] = field(default_factory=dict)
    attachments: Sequence[Attachment] = ()
    stickers: Sequence[str] = ()
    embeds: int = 0
    reply_to_name: str | None = None
    created_at: float | None = None


@dataclass(frozen=True, slots=True)
class CleanOptions:
    """Per-server (and per-member language) reading options."""

    max_length: int = 300
    emoji_mode: EmojiMode = "name"  # Unicode emoji: "name" reads the short name, "none" drops it
    repeat_char_cap: int = 3  # "sooooo" -> "sooo"
    repeat_word_cap: int = 3  # "lol lol lol lol" -> "lol lol lol" (also short phrases)
    language: str = "Auto"  # one of bot.speech.voices.LANGUAGES
    read_replies: bool = True  # "replying to NAME, ..."
    describe_attachments: bool = True  # "sent an image", "with 2 files"

    def __post_init__(self) -> None:
        if self.max_length < 1:
            raise ValueError("max_length must be at least 1")
        if self.repeat_char_cap < 1 or self.repeat_word_cap < 1:
            raise ValueError("repeat caps must be at least 1")
        if self.emoji_mode not in get_args(EmojiMode):
            raise ValueError("emoji_mode must be 'name' or 'none'")


DEFAULT_OPTIONS = CleanOptions()

# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------


def _tidy(text: str, options: CleanOptions) -> str:
    return tidy_text(text, options.repeat_char_cap, options.repeat_word_cap)


WORD_CHARS_PER_OUTPUT_CHAR = 4
_WORD_RUN = re.compile(r"[^\W_]+")


def _bound_expansion(text: str, max_length: int) -> str:
    """Names of emoji, mentions and roles can make a 4,000-character message ten times longer,
    and every later step would pay for text the cut to `max_length` throws away. Keep the text up
    to the point where it holds `WORD_CHARS_PER_OUTPUT_CHAR * max_length` letters and digits:
    later steps only drop letters by capping repeats, so the cut text still fills `max_length`
    unless nearly all of it is one repeated word."""
    budget = WORD_CHARS_PER_OUTPUT_CHAR * max_length
    if len(text) <= 2 * budget:
        return text
    # Past the letter that goes over the budget (one regex pass in C), then to the end of its word.
    over = re.match(f"(?:[\\W_]*[^\\W_]){{{budget + 1}}}", text)
    if over is None:
        return text
    word = _WORD_RUN.match(text, over.end())
    return text[: word.end() if word else over.end()]


def _clean_body(info: MessageInfo, options: CleanOptions, language: str) -> str:
    """The cleaned message content, not yet cut to the length limit."""
    text = info.content
    if not text:
        return ""
    text = normalize_chars(text)
    text = replace_markup(text, info, language)
    if not text.isascii():
        budget = WORD_CHARS_PER_OUTPUT_CHAR * options.max_length
        text = replace_emoji(text, options.emoji_mode, budget, language)
        text = drop_leftover_marks(text)
    elif "<" in text:
        text = replace_emoji(text, options.emoji_mode, language=language)  # custom emoji
    text = _bound_expansion(text, options.max_length)
    text = strip_markdown(text)
    text = drop_rules(text)  # again in tidy_text, for rules exposed by later steps
    if "\n" in text:
        text = join_lines(text)
    return _tidy(text, options)


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def clean_content(info: MessageInfo, options: CleanOptions = DEFAULT_OPTIONS) -> str:
    """The message content cleaned and cut to `options.max_length` ("" if nothing to read).
    No name, reply or attachment phrases (see `clean_message`)."""
    language = resolve_language(options.language, info.content)
    body = _clean_body(info, options, language)
    if not body:
        return ""
    body = truncate(body, options.max_length, language)
    return body if HAS_WORD.search(body) else ""


def clean_message(
    info: MessageInfo,
    options: CleanOptions = DEFAULT_OPTIONS,
    *,
    say_name: bool = False,
    dictionary: PronunciationDictionary | None = None,
) -> str:
    """The full text to speak for a message, or "" when there is nothing to read.

    The content is cleaned, the pronunciation dictionary applied, and the result cut to
    `options.max_length`; then the phrases are added around it: "replying to NAME, " (if
    `options.read_replies`), "NAME said, " (if `say_name`; NAME is `info.author_name`), and
    ", with an image" / "NAME sent an image" for attachments, stickers and embeds (if
    `options.describe_attachments`). Those phrases are outside the length limit; names are at
    most 40 characters. The dictionary also applies to the names.
    """
    language = resolve_language(options.language, info.content)
    ph = PHRASES[language]
    body = _clean_body(info, options, language)
    if body and dictionary:
        # The dictionary may lengthen or shorten the text, so it sees a generous slice, not
        # all of a 4000-character message that is about to be cut to max_length anyway.
        slack = 2 * options.max_length + 100
        body = _tidy(dictionary.apply(cut(body, slack) if len(body) > slack else body), options)
    if body:
        body = truncate(body, options.max_length, language)
        if not HAS_WORD.search(body):
            body = ""
    things = describe(info, ph, language, has_text=bool(body)) if options.describe_attachments else ""
    if not body and not things:
        return ""

    def spoken(name: str) -> str:
        cleaned = clean_name(name) or ph.someone
        return dictionary.apply(cleaned) if dictionary else cleaned

    if body and things:
        core = ph.with_extras.format(text=body, things=things)
    else:
        core = body
    if say_name:
        name = spoken(info.author_name)
        core = ph.said.format(name=name, text=core) if body else ph.sent.format(name=name, things=things)
    elif not body:
        core = ph.sent_noname.format(things=things)
    if options.read_replies and info.reply_to_name is not None:
        core = ph.reply.format(name=spoken(info.reply_to_name), rest=core)
    return core


def said_prefix(name: str, language: str = "English") -> str:
    """ "NAME said, " in `language` (English for "Auto" or unknown)."""
    ph = PHRASES.get(language, PHRASES["English"])
    return ph.said.format(name=clean_name(name) or ph.someone, text="")
