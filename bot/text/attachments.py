"""What a message carries besides text, in words: "an image and 2 files", "the sticker Wave",
"an embed" (embeds only when there is nothing else).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.text.names import clean_name
from bot.text.phrases import PHRASES, Phrases, count, join_list, resolve_language

if TYPE_CHECKING:  # the message types live with the pipeline, which imports this module
    from bot.text.clean import Attachment, MessageInfo

__all__ = ["describe", "describe_extras"]

_IMAGE_EXT = frozenset("png jpg jpeg gif webp bmp tif tiff heic heif avif svg apng".split())
_VIDEO_EXT = frozenset("mp4 mov webm mkv avi m4v wmv flv 3gp".split())
_AUDIO_EXT = frozenset("mp3 wav ogg oga opus flac m4a aac wma aiff".split())


def _attachment_kind(a: Attachment) -> str:
    if a.is_voice_message:
        return "voice"
    ctype = (a.content_type or "").lower()
    ext = a.filename.rsplit(".", 1)[-1].lower() if "." in a.filename else ""
    if ctype.startswith("image/") or ext in _IMAGE_EXT:
        return "image"
    if ctype.startswith("video/") or ext in _VIDEO_EXT:
        return "video"
    if ctype.startswith("audio/") or ext in _AUDIO_EXT:
        return "audio"
    return "file"


def describe(info: MessageInfo, ph: Phrases, language: str, has_text: bool) -> str:
    """The attachments, stickers and embeds of `info` in `language` ("" if none); embeds are
    counted only when there is nothing else and no text (`has_text`)."""
    counts = {"image": 0, "video": 0, "audio": 0, "voice": 0, "file": 0}
    for attachment in info.attachments:
        counts[_attachment_kind(attachment)] += 1
    items = [count(getattr(ph, kind), n, language) for kind, n in counts.items() if n]
    if info.stickers:
        names = [clean_name(s) for s in info.stickers]
        named = [n for n in names if n]
        template = ph.sticker_one if len(named or names) == 1 else ph.sticker_many
        items.append(template.format(names=join_list(named, ph)).strip())
    if not items and not has_text and info.embeds > 0:
        items.append(count(ph.embed, info.embeds, language))
    return join_list(items, ph)


def describe_extras(info: MessageInfo, language: str = "Auto") -> str:
    """What the message carries besides text: "an image and 2 files", "the sticker Wave",
    "an embed" (embeds only when there is nothing else); "" if nothing."""
    lang = resolve_language(language, info.content)
    return describe(info, PHRASES[lang], lang, has_text=bool(info.content.strip()))
