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
script and common words of the message. Emoji names are English in every language.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from bot.text.pronunciation import PronunciationDictionary

__all__ = [
    "DEFAULT_OPTIONS",
    "Attachment",
    "CleanOptions",
    "EmojiMode",
    "MessageInfo",
    "SpeakerPrefixer",
    "and_so_on",
    "clean_content",
    "clean_message",
    "clean_name",
    "describe_extras",
    "detect_language",
    "said_prefix",
    "truncate",
]

EmojiMode = Literal["name", "skip"]

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
    emoji_mode: EmojiMode = "name"  # Unicode emoji: "name" reads the short name, "skip" drops it
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
        if self.emoji_mode not in ("name", "skip"):
            raise ValueError("emoji_mode must be 'name' or 'skip'")


DEFAULT_OPTIONS = CleanOptions()

# --------------------------------------------------------------------------------------------
# Phrases in the eleven languages
# --------------------------------------------------------------------------------------------

# Count forms: (n == 1 alone, "{n}" one-form, "{n}" few-form, "{n}" many-form). Only Russian
# uses the middle two; every other language uses the first and the last.
Forms = tuple[str, str, str, str]


def _f(one: str, many: str) -> Forms:
    return (one, many, many, many)


@dataclass(frozen=True, slots=True)
class _Phrases:
    and_so_on: str
    and_so_on_sep: str
    link: str  # {domain}
    links: str  # {n} {domain}
    link_plain: str
    code_block: str
    code: str
    spoiler: str
    someone: str
    a_role: str
    a_channel: str
    everyone: str
    here: str
    a_time: str
    now: str
    future: str  # {x}
    past: str  # {x}
    minute: Forms
    hour: Forms
    day: Forms
    month: Forms
    year: Forms
    others: str  # {names} {n}
    list_sep: str
    and_word: str
    said: str  # {name} {text}
    sent: str  # {name} {things}
    sent_noname: str  # {things}
    with_extras: str  # {text} {things}
    reply: str  # {name} {rest}
    image: Forms
    video: Forms
    audio: Forms
    voice: Forms
    file: Forms
    embed: Forms
    sticker_one: str  # {names}
    sticker_many: str  # {names}


_PHRASES: dict[str, _Phrases] = {
    "English": _Phrases(
        and_so_on="and so on", and_so_on_sep=", ",
        link="a link to {domain}", links="{n} links to {domain}", link_plain="a link",
        code_block="code block", code="code", spoiler="spoiler",
        someone="someone", a_role="a role", a_channel="a channel",
        everyone="everyone", here="here", a_time="a time", now="now",
        future="in {x}", past="{x} ago",
        minute=_f("a minute", "{n} minutes"), hour=_f("an hour", "{n} hours"),
        day=_f("a day", "{n} days"), month=_f("a month", "{n} months"), year=_f("a year", "{n} years"),
        others="{names} and {n} others", list_sep=", ", and_word=" and ",
        said="{name} said, {text}", sent="{name} sent {things}", sent_noname="sent {things}",
        with_extras="{text}, with {things}", reply="replying to {name}, {rest}",
        image=_f("an image", "{n} images"), video=_f("a video", "{n} videos"),
        audio=_f("an audio file", "{n} audio files"), voice=_f("a voice message", "{n} voice messages"),
        file=_f("a file", "{n} files"), embed=_f("an embed", "{n} embeds"),
        sticker_one="the sticker {names}", sticker_many="the stickers {names}",
    ),
    "Chinese": _Phrases(
        and_so_on="等等", and_so_on_sep="，",
        link="{domain}的链接", links="{n}个{domain}的链接", link_plain="一个链接",
        code_block="代码块", code="代码", spoiler="剧透",
        someone="某人", a_role="某个身份组", a_channel="某个频道",
        everyone="所有人", here="在线成员", a_time="某个时间", now="现在",
        future="{x}后", past="{x}前",
        minute=_f("1分钟", "{n}分钟"), hour=_f("1小时", "{n}小时"), day=_f("1天", "{n}天"),
        month=_f("1个月", "{n}个月"), year=_f("1年", "{n}年"),
        others="{names}等{n}人", list_sep="、", and_word="和",
        said="{name}说：{text}", sent="{name}发送了{things}", sent_noname="发送了{things}",
        with_extras="{text}，附带{things}", reply="回复{name}：{rest}",
        image=_f("一张图片", "{n}张图片"), video=_f("一个视频", "{n}个视频"),
        audio=_f("一段音频", "{n}段音频"), voice=_f("一条语音消息", "{n}条语音消息"),
        file=_f("一个文件", "{n}个文件"), embed=_f("一个嵌入内容", "{n}个嵌入内容"),
        sticker_one="贴纸{names}", sticker_many="贴纸{names}",
    ),
    "Japanese": _Phrases(
        and_so_on="以下略", and_so_on_sep="、",
        link="{domain}へのリンク", links="{domain}へのリンク{n}件", link_plain="リンク",
        code_block="コードブロック", code="コード", spoiler="ネタバレ",
        someone="誰か", a_role="あるロール", a_channel="あるチャンネル",
        everyone="全員", here="ここにいる皆さん", a_time="ある時刻", now="今",
        future="{x}後", past="{x}前",
        minute=_f("1分", "{n}分"), hour=_f("1時間", "{n}時間"), day=_f("1日", "{n}日"),
        month=_f("1か月", "{n}か月"), year=_f("1年", "{n}年"),
        others="{names}ほか{n}人", list_sep="、", and_word="と",
        said="{name}さん、{text}", sent="{name}さんが{things}を送信しました",
        sent_noname="{things}を送信しました",
        with_extras="{text}、{things}付き", reply="{name}さんへの返信、{rest}",
        image=_f("画像", "画像{n}枚"), video=_f("動画", "動画{n}本"), audio=_f("音声", "音声{n}件"),
        voice=_f("ボイスメッセージ", "ボイスメッセージ{n}件"), file=_f("ファイル", "ファイル{n}件"),
        embed=_f("埋め込み", "埋め込み{n}件"),
        sticker_one="スタンプ「{names}」", sticker_many="スタンプ「{names}」",
    ),
    "Korean": _Phrases(
        and_so_on="등등", and_so_on_sep=", ",
        link="{domain} 링크", links="{domain} 링크 {n}개", link_plain="링크",
        code_block="코드 블록", code="코드", spoiler="스포일러",
        someone="누군가", a_role="어떤 역할", a_channel="어떤 채널",
        everyone="모두", here="여기 있는 사람들", a_time="어떤 시간", now="지금",
        future="{x} 후", past="{x} 전",
        minute=_f("1분", "{n}분"), hour=_f("1시간", "{n}시간"), day=_f("1일", "{n}일"),
        month=_f("1개월", "{n}개월"), year=_f("1년", "{n}년"),
        others="{names} 외 {n}명", list_sep=", ", and_word=", ",
        said="{name}님, {text}", sent="{name}님, {things} 전송", sent_noname="{things} 전송",
        with_extras="{text}, {things} 첨부", reply="{name}님에게 답장, {rest}",
        image=_f("이미지", "이미지 {n}개"), video=_f("동영상", "동영상 {n}개"),
        audio=_f("오디오", "오디오 {n}개"), voice=_f("음성 메시지", "음성 메시지 {n}개"),
        file=_f("파일", "파일 {n}개"), embed=_f("임베드", "임베드 {n}개"),
        sticker_one="스티커 {names}", sticker_many="스티커 {names}",
    ),
    "German": _Phrases(
        and_so_on="und so weiter", and_so_on_sep=", ",
        link="ein Link zu {domain}", links="{n} Links zu {domain}", link_plain="ein Link",
        code_block="Codeblock", code="Code", spoiler="Spoiler",
        someone="jemand", a_role="eine Rolle", a_channel="ein Kanal",
        everyone="alle", here="alle hier", a_time="eine Uhrzeit", now="jetzt",
        future="in {x}", past="vor {x}",
        minute=_f("einer Minute", "{n} Minuten"), hour=_f("einer Stunde", "{n} Stunden"),
        day=_f("einem Tag", "{n} Tagen"), month=_f("einem Monat", "{n} Monaten"),
        year=_f("einem Jahr", "{n} Jahren"),
        others="{names} und {n} weitere", list_sep=", ", and_word=" und ",
        said="{name} sagt: {text}", sent="{name} hat gesendet: {things}", sent_noname="gesendet: {things}",
        with_extras="{text}. Anhang: {things}", reply="Antwort an {name}: {rest}",
        image=_f("ein Bild", "{n} Bilder"), video=_f("ein Video", "{n} Videos"),
        audio=_f("eine Audiodatei", "{n} Audiodateien"),
        voice=_f("eine Sprachnachricht", "{n} Sprachnachrichten"),
        file=_f("eine Datei", "{n} Dateien"), embed=_f("ein Embed", "{n} Embeds"),
        sticker_one="der Sticker {names}", sticker_many="die Sticker {names}",
    ),
    "French": _Phrases(
        and_so_on="et cetera", and_so_on_sep=", ",
        link="un lien vers {domain}", links="{n} liens vers {domain}", link_plain="un lien",
        code_block="bloc de code", code="code", spoiler="spoiler",
        someone="quelqu'un", a_role="un rôle", a_channel="un salon",
        everyone="tout le monde", here="tout le monde ici", a_time="une heure", now="maintenant",
        future="dans {x}", past="il y a {x}",
        minute=_f("une minute", "{n} minutes"), hour=_f("une heure", "{n} heures"),
        day=_f("un jour", "{n} jours"), month=_f("un mois", "{n} mois"), year=_f("un an", "{n} ans"),
        others="{names} et {n} autres", list_sep=", ", and_word=" et ",
        said="{name} a dit : {text}", sent="{name} a envoyé {things}", sent_noname="envoi : {things}",
        with_extras="{text}, avec {things}", reply="en réponse à {name}, {rest}",
        image=_f("une image", "{n} images"), video=_f("une vidéo", "{n} vidéos"),
        audio=_f("un fichier audio", "{n} fichiers audio"),
        voice=_f("un message vocal", "{n} messages vocaux"),
        file=_f("un fichier", "{n} fichiers"), embed=_f("un embed", "{n} embeds"),
        sticker_one="l'autocollant {names}", sticker_many="les autocollants {names}",
    ),
    "Spanish": _Phrases(
        and_so_on="etcétera", and_so_on_sep=", ",
        link="un enlace a {domain}", links="{n} enlaces a {domain}", link_plain="un enlace",
        code_block="bloque de código", code="código", spoiler="spoiler",
        someone="alguien", a_role="un rol", a_channel="un canal",
        everyone="todos", here="todos aquí", a_time="una hora", now="ahora",
        future="en {x}", past="hace {x}",
        minute=_f("un minuto", "{n} minutos"), hour=_f("una hora", "{n} horas"),
        day=_f("un día", "{n} días"), month=_f("un mes", "{n} meses"), year=_f("un año", "{n} años"),
        others="{names} y {n} más", list_sep=", ", and_word=" y ",
        said="{name} dijo: {text}", sent="{name} envió {things}", sent_noname="envió {things}",
        with_extras="{text}, con {things}", reply="respondiendo a {name}, {rest}",
        image=_f("una imagen", "{n} imágenes"), video=_f("un video", "{n} videos"),
        audio=_f("un audio", "{n} audios"), voice=_f("un mensaje de voz", "{n} mensajes de voz"),
        file=_f("un archivo", "{n} archivos"), embed=_f("un embed", "{n} embeds"),
        sticker_one="el sticker {names}", sticker_many="los stickers {names}",
    ),
    "Italian": _Phrases(
        and_so_on="eccetera", and_so_on_sep=", ",
        link="un link a {domain}", links="{n} link a {domain}", link_plain="un link",
        code_block="blocco di codice", code="codice", spoiler="spoiler",
        someone="qualcuno", a_role="un ruolo", a_channel="un canale",
        everyone="tutti", here="tutti qui", a_time="un orario", now="adesso",
        future="tra {x}", past="{x} fa",
        minute=_f("un minuto", "{n} minuti"), hour=_f("un'ora", "{n} ore"),
        day=_f("un giorno", "{n} giorni"), month=_f("un mese", "{n} mesi"), year=_f("un anno", "{n} anni"),
        others="{names} e altri {n}", list_sep=", ", and_word=" e ",
        said="{name} ha detto: {text}", sent="{name} ha inviato {things}", sent_noname="ha inviato {things}",
        with_extras="{text}, con {things}", reply="in risposta a {name}, {rest}",
        image=_f("un'immagine", "{n} immagini"), video=_f("un video", "{n} video"),
        audio=_f("un audio", "{n} audio"), voice=_f("un messaggio vocale", "{n} messaggi vocali"),
        file=_f("un file", "{n} file"), embed=_f("un embed", "{n} embed"),
        sticker_one="lo sticker {names}", sticker_many="gli sticker {names}",
    ),
    "Portuguese": _Phrases(
        and_so_on="e assim por diante", and_so_on_sep=", ",
        link="um link para {domain}", links="{n} links para {domain}", link_plain="um link",
        code_block="bloco de código", code="código", spoiler="spoiler",
        someone="alguém", a_role="um cargo", a_channel="um canal",
        everyone="todos", here="todos aqui", a_time="um horário", now="agora",
        future="em {x}", past="há {x}",
        minute=_f("um minuto", "{n} minutos"), hour=_f("uma hora", "{n} horas"),
        day=_f("um dia", "{n} dias"), month=_f("um mês", "{n} meses"), year=_f("um ano", "{n} anos"),
        others="{names} e mais {n}", list_sep=", ", and_word=" e ",
        said="{name} disse: {text}", sent="{name} enviou {things}", sent_noname="enviou {things}",
        with_extras="{text}, com {things}", reply="respondendo a {name}, {rest}",
        image=_f("uma imagem", "{n} imagens"), video=_f("um vídeo", "{n} vídeos"),
        audio=_f("um áudio", "{n} áudios"), voice=_f("uma mensagem de voz", "{n} mensagens de voz"),
        file=_f("um arquivo", "{n} arquivos"), embed=_f("um embed", "{n} embeds"),
        sticker_one="a figurinha {names}", sticker_many="as figurinhas {names}",
    ),
    "Russian": _Phrases(
        and_so_on="и так далее", and_so_on_sep=", ",
        link="ссылка на {domain}", links="ссылки на {domain}: {n}", link_plain="ссылка",
        code_block="блок кода", code="код", spoiler="спойлер",
        someone="кто-то", a_role="роль", a_channel="канал",
        everyone="все", here="все здесь", a_time="время", now="сейчас",
        future="через {x}", past="{x} назад",
        minute=("минуту", "{n} минуту", "{n} минуты", "{n} минут"),
        hour=("час", "{n} час", "{n} часа", "{n} часов"),
        day=("день", "{n} день", "{n} дня", "{n} дней"),
        month=("месяц", "{n} месяц", "{n} месяца", "{n} месяцев"),
        year=("год", "{n} год", "{n} года", "{n} лет"),
        others="{names} и ещё {n}", list_sep=", ", and_word=" и ",
        said="{name} говорит: {text}", sent="{name} отправляет: {things}", sent_noname="отправлено: {things}",
        with_extras="{text}. Вложение: {things}", reply="ответ пользователю {name}: {rest}",
        image=("изображение", "{n} изображение", "{n} изображения", "{n} изображений"),
        video=("видео", "{n} видео", "{n} видео", "{n} видео"),
        audio=("аудиофайл", "{n} аудиофайл", "{n} аудиофайла", "{n} аудиофайлов"),
        voice=("голосовое сообщение", "{n} голосовое сообщение", "{n} голосовых сообщения",
               "{n} голосовых сообщений"),
        file=("файл", "{n} файл", "{n} файла", "{n} файлов"),
        embed=("вставка", "{n} вставка", "{n} вставки", "{n} вставок"),
        sticker_one="стикер {names}", sticker_many="стикеры {names}",
    ),
}  # fmt: skip


def _count(forms: Forms, n: int, language: str) -> str:
    if n == 1:
        return forms[0]
    form = forms[3]
    if language == "Russian":
        if n % 10 == 1 and n % 100 != 11:
            form = forms[1]
        elif 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            form = forms[2]
    return form.format(n=n)


def _join(items: Sequence[str], ph: _Phrases) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ph.list_sep.join(items[:-1]) + ph.and_word + items[-1]


def and_so_on(language: str) -> str:
    """The "and so on" phrase of `language` (English for unknown or "Auto")."""
    return _PHRASES.get(language, _PHRASES["English"]).and_so_on


# --------------------------------------------------------------------------------------------
# Language guess (for "Auto")
# --------------------------------------------------------------------------------------------

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_HAN_RE = re.compile(f"[{_HAN}]")
_KANA_RE = re.compile(f"[{_KANA}]")
_HANGUL_RE = re.compile(f"[{_HANGUL}]")
_CYRILLIC_RE = re.compile("[\u0400-\u04ff]")
_LATIN_RE = re.compile("[A-Za-z\u00c0-\u024f]")
_LATIN_WORD_RE = re.compile("[a-z\u00e0-\u00ff']+")
_CJK_CHAR = re.compile(f"[{_HAN}{_KANA}]")
_NOT_LANGUAGE_RE = re.compile(r"https?://\S+|<[^<>\s]*>|```.*?```|`[^`]*`", re.S)

_STOPWORDS: dict[str, frozenset[str]] = {
    "English": frozenset(
        "a the and is are was to you it not that of in this for with what i my me have do just "
        "but be so can on at your they we he she".split()
    ),
    "German": frozenset(
        "und ich nicht das ist der die ein eine zu mit auch du wir sie es den dem ja nein "
        "aber was wie bin hast habe noch schon mal doch".split()
    ),
    "French": frozenset(
        "le la les et est je pas un une que vous des du c'est avec pour tu il elle nous "
        "mais oui non ce qui sur très bien j'ai".split()
    ),
    "Spanish": frozenset(
        "el la que y es no un una los las por con para pero lo yo tu muy está estoy "
        "qué sí como del al también hola gracias".split()
    ),
    "Italian": frozenset(
        "il che e non un una di per sono è ma gli della anche io tu lo la ho hai sei "
        "molto ciao grazie questo come".split()
    ),
    "Portuguese": frozenset(
        "o a que e não um uma os as com para é mas você do da eu tu muito está estou "
        "sim isso obrigado também olá".split()
    ),
}


_STOPWORD_LANGS: dict[str, tuple[str, ...]] = {}
for _lang, _words in _STOPWORDS.items():
    for _word in _words:
        _STOPWORD_LANGS[_word] = (*_STOPWORD_LANGS.get(_word, ()), _lang)


def detect_language(text: str) -> str:
    """A rough guess of the language of `text` among the eleven (never "Auto").

    The script decides for Japanese (kana), Chinese (Han without kana), Korean and Russian;
    Latin text is voted on common words; anything else, or no clear winner, is English.
    """
    sample = text[:600]
    if "://" in sample or "<" in sample or "`" in sample:
        sample = _NOT_LANGUAGE_RE.sub(" ", sample)
    if not sample.isascii():
        kana = len(_KANA_RE.findall(sample))
        han = len(_HAN_RE.findall(sample))
        hangul = len(_HANGUL_RE.findall(sample))
        cyrillic = len(_CYRILLIC_RE.findall(sample))
        if kana or han or hangul or cyrillic:
            latin = len(_LATIN_RE.findall(sample))
            scores = {
                "Japanese": 3 * (kana + han) if kana else 0,
                "Chinese": 0 if kana else 3 * han,
                "Korean": 2 * hangul,
                "Russian": cyrillic,
            }
            best = max(scores, key=lambda k: scores[k])
            if scores[best] >= latin:
                return best
    votes = dict.fromkeys(_STOPWORDS, 0)
    for word in _LATIN_WORD_RE.findall(sample.lower()):
        for lang in _STOPWORD_LANGS.get(word, ()):
            votes[lang] += 1
    winner = max(votes, key=lambda k: votes[k])
    if winner != "English" and votes[winner] >= 2 and votes[winner] > votes["English"]:
        return winner
    return "English"


def _resolve_language(language: str, text: str) -> str:
    return language if language in _PHRASES else detect_language(text)


# --------------------------------------------------------------------------------------------
# Emoji
# --------------------------------------------------------------------------------------------

# Short names (CLDR style) of the emoji most used in chat. Keys are stored without variation
# selectors and skin tones. Other emoji fall back to their Unicode character name; symbols
# that are text by default (★ ♪ ✓ ...) and not in this table are decoration and dropped.
_EMOJI_TABLE = """
😀 grinning face|😃 grinning face with big eyes|😄 grinning face with smiling eyes|😁 beaming face
😆 grinning squinting face|😅 grinning face with sweat|🤣 rolling on the floor laughing
😂 face with tears of joy|🙂 slightly smiling face|🙃 upside-down face|😉 winking face
😊 smiling face with smiling eyes|😇 smiling face with halo|🥰 smiling face with hearts
😍 smiling face with heart-eyes|🤩 star-struck|😘 face blowing a kiss|😗 kissing face
😚 kissing face with closed eyes|😙 kissing face with smiling eyes|🥲 smiling face with tear
😋 face savoring food|😛 face with tongue|😜 winking face with tongue|🤪 zany face
😝 squinting face with tongue|🤑 money-mouth face|🤗 hugging face|🤭 face with hand over mouth
🫢 face with open eyes and hand over mouth|🫣 face with peeking eye|🤫 shushing face
🤔 thinking face|🫡 saluting face|🤐 zipper-mouth face|🤨 face with raised eyebrow
😐 neutral face|😑 expressionless face|😶 face without mouth|🫥 dotted line face
😶‍🌫 face in clouds|😏 smirking face|😒 unamused face|🙄 face with rolling eyes
😬 grimacing face|😮‍💨 face exhaling|🤥 lying face|😌 relieved face|😔 pensive face
😪 sleepy face|🤤 drooling face|😴 sleeping face|😷 face with medical mask
🤒 face with thermometer|🤕 face with head-bandage|🤢 nauseated face|🤮 face vomiting
🤧 sneezing face|🥵 hot face|🥶 cold face|🥴 woozy face|😵 face with crossed-out eyes
😵‍💫 face with spiral eyes|🤯 exploding head|🤠 cowboy hat face|🥳 partying face
🥸 disguised face|😎 smiling face with sunglasses|🤓 nerd face|🧐 face with monocle
😕 confused face|🫤 face with diagonal mouth|😟 worried face|🙁 slightly frowning face
☹ frowning face|😮 face with open mouth|😯 hushed face|😲 astonished face|😳 flushed face
🥺 pleading face|🥹 face holding back tears|😦 frowning face with open mouth
😧 anguished face|😨 fearful face|😰 anxious face with sweat|😥 sad but relieved face
😢 crying face|😭 loudly crying face|😱 face screaming in fear|😖 confounded face
😣 persevering face|😞 disappointed face|😓 downcast face with sweat|😩 weary face
😫 tired face|🥱 yawning face|😤 face with steam from nose|😡 enraged face|😠 angry face
🤬 face with symbols on mouth|😈 smiling face with horns|👿 angry face with horns
💀 skull|☠ skull and crossbones|💩 pile of poo|🤡 clown face|👹 ogre|👺 goblin|👻 ghost
👽 alien|👾 alien monster|🤖 robot|🫠 melting face|😺 grinning cat|😸 grinning cat with smiling eyes
😹 cat with tears of joy|😻 smiling cat with heart-eyes|😼 cat with wry smile|😽 kissing cat
🙀 weary cat|😿 crying cat|😾 pouting cat|🙈 see-no-evil monkey|🙉 hear-no-evil monkey
🙊 speak-no-evil monkey|💌 love letter|💘 heart with arrow|💝 heart with ribbon
💖 sparkling heart|💗 growing heart|💓 beating heart|💞 revolving hearts|💕 two hearts
💟 heart decoration|❣ heart exclamation|💔 broken heart|❤‍🔥 heart on fire|❤‍🩹 mending heart
❤ red heart|🩷 pink heart|🧡 orange heart|💛 yellow heart|💚 green heart|💙 blue heart
🩵 light blue heart|💜 purple heart|🤎 brown heart|🖤 black heart|🩶 grey heart|🤍 white heart
♥ heart|💋 kiss mark|💯 hundred points|💢 anger symbol|💥 collision|💫 dizzy
💦 sweat droplets|💨 dashing away|💬 speech balloon|💭 thought balloon|💤 zzz
👋 waving hand|🤚 raised back of hand|🖐 hand with fingers splayed|✋ raised hand
🖖 vulcan salute|🫱 rightwards hand|🫲 leftwards hand|👌 OK hand|🤌 pinched fingers
🤏 pinching hand|✌ victory hand|🤞 crossed fingers|🫰 hand with index finger and thumb crossed
🤟 love-you gesture|🤘 sign of the horns|🤙 call me hand|👈 pointing left|👉 pointing right
👆 pointing up|🖕 middle finger|👇 pointing down|☝ index pointing up|🫵 pointing at you
👍 thumbs up|👎 thumbs down|✊ raised fist|👊 oncoming fist|🤛 left-facing fist
🤜 right-facing fist|👏 clapping hands|🙌 raising hands|🫶 heart hands|👐 open hands
🤲 palms up together|🤝 handshake|🙏 folded hands|✍ writing hand|💅 nail polish|🤳 selfie
💪 flexed biceps|🧠 brain|🫀 anatomical heart|👀 eyes|👁 eye|👅 tongue|👄 mouth|🫦 biting lip
👶 baby|🧒 child|👦 boy|👧 girl|🧑 person|👱 person with blond hair|👨 man|👩 woman|🧓 older person
👴 old man|👵 old woman|🙍 person frowning|🙎 person pouting|🙅 person gesturing no
🙆 person gesturing OK|💁 person tipping hand|🙋 person raising hand|🧏 deaf person
🙇 person bowing|🤦 person facepalming|🤷 person shrugging|👮 police officer|🥷 ninja
👑 crown|👸 princess|🤴 prince|🎅 Santa Claus|🧙 mage|🧚 fairy|🧛 vampire|🧟 zombie
💃 woman dancing|🕺 man dancing|🚶 person walking|🏃 person running|🧍 person standing
👨‍💻 man technologist|👩‍💻 woman technologist|🧑‍💻 technologist|👨‍👩‍👧 family|👨‍👩‍👧‍👦 family
👪 family|💑 couple with heart|💏 kiss|🗣 speaking head|👤 bust in silhouette|👥 busts in silhouette
🐶 dog face|🐱 cat face|🐭 mouse face|🐹 hamster|🐰 rabbit face|🦊 fox|🐻 bear|🐼 panda
🐻‍❄ polar bear|🐨 koala|🐯 tiger face|🦁 lion|🐮 cow face|🐷 pig face|🐸 frog|🐵 monkey face
🐒 monkey|🐔 chicken|🐧 penguin|🐦 bird|🐤 baby chick|🦆 duck|🦅 eagle|🦉 owl|🦇 bat
🐺 wolf|🐗 boar|🐴 horse face|🦄 unicorn|🐝 honeybee|🐛 bug|🦋 butterfly|🐌 snail|🐞 lady beetle
🐜 ant|🕷 spider|🐢 turtle|🐍 snake|🦎 lizard|🐙 octopus|🦑 squid|🦐 shrimp|🦀 crab
🐟 fish|🐠 tropical fish|🐡 blowfish|🐬 dolphin|🐳 spouting whale|🐋 whale|🦈 shark
🐊 crocodile|🐈 cat|🐈‍⬛ black cat|🐕 dog|🐩 poodle|🐉 dragon|🐲 dragon face|🦖 T-Rex
🦕 sauropod|🐇 rabbit|🐿 chipmunk|🦔 hedgehog|🐾 paw prints|🦆 duck|🦢 swan|🦩 flamingo
🌵 cactus|🎄 Christmas tree|🌲 evergreen tree|🌳 deciduous tree|🌴 palm tree|🌱 seedling
🌿 herb|☘ shamrock|🍀 four leaf clover|🍁 maple leaf|🍂 fallen leaf|🍃 leaf fluttering in wind
🌸 cherry blossom|💮 white flower|🌹 rose|🥀 wilted flower|🌺 hibiscus|🌻 sunflower|🌼 blossom
🌷 tulip|💐 bouquet|🍄 mushroom|🌞 sun with face|🌝 full moon face|🌚 new moon face
🌛 first quarter moon face|🌜 last quarter moon face|🌙 crescent moon|🌕 full moon|🌑 new moon
⭐ star|🌟 glowing star|✨ sparkles|⚡ high voltage|🔥 fire|🌈 rainbow|☀ sun|🌤 sun behind small cloud
⛅ sun behind cloud|☁ cloud|🌧 cloud with rain|⛈ cloud with lightning and rain|🌩 cloud with lightning
🌨 cloud with snow|❄ snowflake|☃ snowman|⛄ snowman without snow|🌬 wind face|🌪 tornado
🌫 fog|☔ umbrella with rain drops|☂ umbrella|💧 droplet|🌊 water wave|🌍 globe showing Europe-Africa
🌎 globe showing Americas|🌏 globe showing Asia-Australia|🌐 globe with meridians|🪐 ringed planet
☄ comet|🌋 volcano|🗻 mount fuji|🏔 snow-capped mountain|🏖 beach with umbrella|🏝 desert island
🍎 red apple|🍏 green apple|🍐 pear|🍊 tangerine|🍋 lemon|🍌 banana|🍉 watermelon|🍇 grapes
🍓 strawberry|🫐 blueberries|🍈 melon|🍒 cherries|🍑 peach|🥭 mango|🍍 pineapple|🥥 coconut
🥝 kiwi fruit|🍅 tomato|🍆 eggplant|🥑 avocado|🥦 broccoli|🥒 cucumber|🌶 hot pepper|🌽 ear of corn
🥕 carrot|🧄 garlic|🧅 onion|🥔 potato|🍠 roasted sweet potato|🥐 croissant|🍞 bread
🥖 baguette bread|🥨 pretzel|🧀 cheese wedge|🥚 egg|🍳 cooking|🧈 butter|🥞 pancakes|🧇 waffle
🥓 bacon|🥩 cut of meat|🍗 poultry leg|🍖 meat on bone|🌭 hot dog|🍔 hamburger|🍟 french fries
🍕 pizza|🥪 sandwich|🌮 taco|🌯 burrito|🥗 green salad|🍝 spaghetti|🍜 steaming bowl|🍲 pot of food
🍛 curry rice|🍣 sushi|🍱 bento box|🥟 dumpling|🍤 fried shrimp|🍙 rice ball|🍚 cooked rice
🍘 rice cracker|🍥 fish cake with swirl|🍡 dango|🍧 shaved ice|🍨 ice cream|🍦 soft ice cream
🥧 pie|🧁 cupcake|🍰 shortcake|🎂 birthday cake|🍮 custard|🍭 lollipop|🍬 candy|🍫 chocolate bar
🍿 popcorn|🍩 doughnut|🍪 cookie|🥜 peanuts|🍯 honey pot|🥛 glass of milk|🍼 baby bottle
☕ hot beverage|🍵 teacup without handle|🧋 bubble tea|🧃 beverage box|🥤 cup with straw
🍶 sake|🍺 beer mug|🍻 clinking beer mugs|🥂 clinking glasses|🍷 wine glass|🥃 tumbler glass
🍸 cocktail glass|🍹 tropical drink|🍾 bottle with popping cork|🧊 ice|🥄 spoon|🍴 fork and knife
🍽 fork and knife with plate|🥢 chopsticks|🧂 salt
🎃 jack-o-lantern|🎆 fireworks|🎇 sparkler|🎉 party popper|🎊 confetti ball|🎈 balloon
🎁 wrapped gift|🎀 ribbon|🎗 reminder ribbon|🎟 admission tickets|🎫 ticket|🏆 trophy
🏅 sports medal|🥇 first place medal|🥈 second place medal|🥉 third place medal|⚽ soccer ball
⚾ baseball|🏀 basketball|🏐 volleyball|🏈 american football|🎾 tennis|🎳 bowling|🏓 ping pong
🏸 badminton|🥊 boxing glove|🥋 martial arts uniform|⛳ flag in hole|🎣 fishing pole|🎿 skis
🛹 skateboard|🎯 bullseye|🎱 pool 8 ball|🔮 crystal ball|🪄 magic wand|🎮 video game|🕹 joystick
🎰 slot machine|🎲 game die|🧩 puzzle piece|🧸 teddy bear|♠ spade suit|♦ diamond suit|♣ club suit
🃏 joker|🀄 mahjong red dragon|🎴 flower playing cards|🎭 performing arts|🎨 artist palette
🧵 thread|🧶 yarn|🎵 musical note|🎶 musical notes|🎤 microphone|🎧 headphone|🎼 musical score
🎷 saxophone|🎸 guitar|🎹 musical keyboard|🎺 trumpet|🎻 violin|🥁 drum|📻 radio|🎬 clapper board
📷 camera|📸 camera with flash|📹 video camera|🎥 movie camera|📺 television|💻 laptop
🖥 desktop computer|⌨ keyboard|🖱 computer mouse|💾 floppy disk|💿 optical disk|📀 dvd
📱 mobile phone|☎ telephone|📞 telephone receiver|📟 pager|🔋 battery|🪫 low battery
🔌 electric plug|💡 light bulb|🔦 flashlight|🕯 candle|📚 books|📖 open book|📕 closed book
📓 notebook|📒 ledger|📃 page with curl|📄 page facing up|📰 newspaper|🔖 bookmark|🏷 label
💰 money bag|🪙 coin|💴 yen banknote|💵 dollar banknote|💶 euro banknote|💷 pound banknote
💸 money with wings|💳 credit card|🧾 receipt|💎 gem stone|✉ envelope|📧 e-mail|📨 incoming envelope
📩 envelope with arrow|📤 outbox tray|📥 inbox tray|📦 package|📫 closed mailbox with raised flag
📮 postbox|🗳 ballot box with ballot|✏ pencil|✒ black nib|🖊 pen|🖋 fountain pen|🖌 paintbrush
🖍 crayon|📝 memo|💼 briefcase|📁 file folder|📂 open file folder|📅 calendar|📆 tear-off calendar
📇 card index|📈 chart increasing|📉 chart decreasing|📊 bar chart|📋 clipboard|📌 pushpin
📍 round pushpin|📎 paperclip|📏 straight ruler|📐 triangular ruler|✂ scissors|🗑 wastebasket
🔒 locked|🔓 unlocked|🔏 locked with pen|🔐 locked with key|🔑 key|🗝 old key|🔨 hammer
🪓 axe|⛏ pick|⚒ hammer and pick|🛠 hammer and wrench|🗡 dagger|⚔ crossed swords|🔫 water pistol
🪃 boomerang|🏹 bow and arrow|🛡 shield|🔧 wrench|🔩 nut and bolt|⚙ gear|🗜 clamp|⚖ balance scale
🔗 link|⛓ chains|🧰 toolbox|🧲 magnet|🪜 ladder|⚗ alembic|🧪 test tube|🧫 petri dish|🧬 dna
🔬 microscope|🔭 telescope|📡 satellite antenna|💉 syringe|🩸 drop of blood|💊 pill|🩹 adhesive bandage
🩺 stethoscope|🚪 door|🪞 mirror|🪟 window|🛏 bed|🛋 couch and lamp|🪑 chair|🚽 toilet|🚿 shower
🛁 bathtub|🧼 soap|🧽 sponge|🧹 broom|🧺 basket|🧻 roll of paper|🛒 shopping cart|🚬 cigarette
⚰ coffin|🪦 headstone|⚱ funeral urn|🗿 moai|🪧 placard|🔔 bell|🔕 bell with slash|📢 loudspeaker
📣 megaphone|📯 postal horn|⏰ alarm clock|⏱ stopwatch|⏲ timer clock|🕰 mantelpiece clock
⌛ hourglass done|⏳ hourglass not done|⌚ watch|📿 prayer beads|💍 ring|👓 glasses
🕶 sunglasses|🥽 goggles|👔 necktie|👕 t-shirt|👖 jeans|🧣 scarf|🧤 gloves|🧥 coat|🧦 socks
👗 dress|👘 kimono|👙 bikini|👚 woman's clothes|👛 purse|👜 handbag|🎒 backpack|👞 man's shoe
👟 running shoe|👠 high-heeled shoe|👢 woman's boot|🎩 top hat|🎓 graduation cap|🧢 billed cap
⛑ rescue worker's helmet|💄 lipstick|🚀 rocket|🛸 flying saucer|✈ airplane|🚁 helicopter
🚂 locomotive|🚃 railway car|🚄 high-speed train|🚅 bullet train|🚆 train|🚇 metro|🚌 bus
🚑 ambulance|🚒 fire engine|🚓 police car|🚕 taxi|🚗 automobile|🚙 sport utility vehicle
🛻 pickup truck|🚚 delivery truck|🚜 tractor|🏎 racing car|🏍 motorcycle|🛵 motor scooter
🚲 bicycle|🛴 kick scooter|🚨 police car light|🚥 horizontal traffic light|🚦 vertical traffic light
🛑 stop sign|🚧 construction|⚓ anchor|⛵ sailboat|🚤 speedboat|🚢 ship|⛽ fuel pump|🗺 world map
🗽 Statue of Liberty|🗼 Tokyo tower|🏰 castle|🏯 Japanese castle|🏟 stadium|🎡 ferris wheel
🎢 roller coaster|🎠 carousel horse|⛲ fountain|⛺ tent|🏠 house|🏡 house with garden|🏢 office building
🏥 hospital|🏦 bank|🏨 hotel|🏪 convenience store|🏫 school|🏬 department store|🏭 factory
⛪ church|🕌 mosque|🛕 hindu temple|🕍 synagogue|⛩ shinto shrine|🌃 night with stars
🌆 cityscape at dusk|🌇 sunset|🌉 bridge at night|🎑 moon viewing ceremony|🏞 national park
🌅 sunrise|🌄 sunrise over mountains|🌌 milky way|🎠 carousel horse
✅ check mark button|✔ check mark|✓ check mark|☑ check box with check|❌ cross mark
❎ cross mark button|✖ multiply|➕ plus|➖ minus|➗ divide|🟰 heavy equals sign|❓ question mark
❔ white question mark|❗ exclamation mark|❕ white exclamation mark|‼ double exclamation mark
⁉ exclamation question mark|⚠ warning|🚸 children crossing|⛔ no entry|🚫 prohibited
🚳 no bicycles|🚭 no smoking|🚯 no littering|📵 no mobile phones|🔞 no one under eighteen
☢ radioactive|☣ biohazard|♻ recycling symbol|⚜ fleur-de-lis|🔱 trident emblem|📛 name badge
🔰 Japanese symbol for beginner|⭕ hollow red circle|💲 heavy dollar sign|💱 currency exchange
🆗 OK button|🆕 NEW button|🆒 COOL button|🆓 FREE button|🆙 UP! button|🆘 SOS button
🆚 VS button|🆖 NG button|🆑 CL button|🆔 ID button|🅰 A button|🅱 B button|🅾 O button
🆎 AB button|🅿 P button|ℹ information|Ⓜ circled M|🔴 red circle|🟠 orange circle
🟡 yellow circle|🟢 green circle|🔵 blue circle|🟣 purple circle|🟤 brown circle|⚫ black circle
⚪ white circle|🟥 red square|🟧 orange square|🟨 yellow square|🟩 green square|🟦 blue square
🟪 purple square|🟫 brown square|⬛ black large square|⬜ white large square|🔶 large orange diamond
🔷 large blue diamond|🔸 small orange diamond|🔹 small blue diamond|🔺 red triangle pointed up
🔻 red triangle pointed down|💠 diamond with a dot|🔘 radio button|🔳 white square button
🔲 black square button|▶ play button|⏸ pause button|⏹ stop button|⏺ record button
⏭ next track button|⏮ last track button|⏩ fast-forward button|⏪ fast reverse button
⏫ fast up button|⏬ fast down button|◀ reverse button|🔼 upwards button|🔽 downwards button
🔁 repeat button|🔂 repeat single button|🔀 shuffle tracks button|🔃 clockwise arrows
🔄 counterclockwise arrows button|🔊 speaker high volume|🔉 speaker medium volume
🔈 speaker low volume|🔇 muted speaker|⬆ up arrow|↗ up-right arrow|➡ right arrow
↘ down-right arrow|⬇ down arrow|↙ down-left arrow|⬅ left arrow|↖ up-left arrow|↕ up-down arrow
↔ left-right arrow|↩ right arrow curving left|↪ left arrow curving right|⤴ right arrow curving up
⤵ right arrow curving down|🔙 BACK arrow|🔚 END arrow|🔛 ON! arrow|🔜 SOON arrow|🔝 TOP arrow
🛐 place of worship|⚛ atom symbol|🕉 om|✡ star of David|☸ wheel of dharma|☯ yin yang
✝ latin cross|☦ orthodox cross|☪ star and crescent|☮ peace symbol|🕎 menorah|🔯 dotted six-pointed star
♈ Aries|♉ Taurus|♊ Gemini|♋ Cancer|♌ Leo|♍ Virgo|♎ Libra|♏ Scorpio|♐ Sagittarius|♑ Capricorn
♒ Aquarius|♓ Pisces|⛎ Ophiuchus|♀ female sign|♂ male sign|⚧ transgender symbol|♾ infinity
〰 wavy dash|〽 part alternation mark|🔟 keycap 10|💹 chart increasing with yen|🏧 ATM sign
♿ wheelchair symbol|🚾 water closet|🛂 passport control|🚹 men's room|🚺 women's room
🚻 restroom|🚼 baby symbol|🏁 chequered flag|🚩 triangular flag|🎌 crossed flags|🏴 black flag
🏳 white flag|🏳‍🌈 rainbow flag|🏳‍⚧ transgender flag|🏴‍☠ pirate flag|🆕 NEW button
🕐 one o'clock|🕛 twelve o'clock|🈁 Japanese here button|🈹 Japanese discount button
🉐 Japanese bargain button|㊗ Japanese congratulations button|㊙ Japanese secret button
"""

_FLAGS = {
    "US": "the United States", "GB": "the United Kingdom", "JP": "Japan", "CN": "China",
    "KR": "South Korea", "DE": "Germany", "FR": "France", "ES": "Spain", "IT": "Italy",
    "BR": "Brazil", "PT": "Portugal", "RU": "Russia", "CA": "Canada", "MX": "Mexico", "IN": "India",
    "UA": "Ukraine", "AU": "Australia", "NL": "the Netherlands", "PL": "Poland", "TR": "Turkey",
    "SE": "Sweden", "NO": "Norway", "FI": "Finland", "DK": "Denmark", "IE": "Ireland",
    "CH": "Switzerland", "AT": "Austria", "BE": "Belgium", "GR": "Greece", "TW": "Taiwan",
    "HK": "Hong Kong", "AR": "Argentina", "CL": "Chile", "CO": "Colombia", "PE": "Peru",
    "PH": "the Philippines", "ID": "Indonesia", "VN": "Vietnam", "TH": "Thailand",
    "MY": "Malaysia", "SG": "Singapore", "NZ": "New Zealand", "ZA": "South Africa", "EG": "Egypt",
    "SA": "Saudi Arabia", "IL": "Israel", "IR": "Iran", "PK": "Pakistan", "NG": "Nigeria",
    "EU": "the European Union", "UN": "the United Nations", "CZ": "Czechia", "HU": "Hungary",
    "RO": "Romania", "BY": "Belarus", "KZ": "Kazakhstan",
}  # fmt: skip
_SUBDIVISION_FLAGS = {"gbeng": "England", "gbsct": "Scotland", "gbwls": "Wales"}

_VS_AND_TONES = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")
_TAG_CHARS = re.compile("[\U000e0000-\U000e007f]")


def _load_emoji_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for entry in _EMOJI_TABLE.replace("\n", "|").split("|"):
        entry = entry.strip()
        if not entry:
            continue
        emoji, _, name = entry.partition(" ")
        table[_VS_AND_TONES.sub("", emoji)] = name.strip()
    return table


_EMOJI_NAMES = _load_emoji_table()
_PEOPLE = frozenset(_VS_AND_TONES.sub("", e) for e in "👨👩👦👧🧑🧒")
_GENDER_SIGNS = frozenset("♀♂⚧")

_EMOJI_BASE = (
    "[\u203c\u2049\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
    "\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf\u2934\u2935"
    "\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299"
    "\U0001f000-\U0001f1e5\U0001f200-\U0001faff]"
)
_EMOJI_MOD = "[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]"
_UNICODE_EMOJI = (
    "(?:[\U0001f1e6-\U0001f1ff]{2}"
    "|[0-9#*]\ufe0f?\u20e3"
    f"|{_EMOJI_BASE}{_EMOJI_MOD}*[\U000e0020-\U000e007f]*(?:\u200d{_EMOJI_BASE}{_EMOJI_MOD}*)*)"
)
_CUSTOM_EMOJI = r"<a?:(?P<cname>\w{1,64}):\d{1,20}>"
_EMOJI_ELEMENT = re.compile(f"{_CUSTOM_EMOJI}|(?P<uni>{_UNICODE_EMOJI})")
_EMOJI_RUN = re.compile(
    f"(?:{_CUSTOM_EMOJI}|{_UNICODE_EMOJI})(?:\\s*(?:<a?:\\w{{1,64}}:\\d{{1,20}}>|{_UNICODE_EMOJI}))*"
)
_BAD_NAME_PREFIXES = ("emoji modifier", "regional indicator", "variation selector", "emoji component")


def _codepoint_name(ch: str) -> str:
    name = unicodedata.name(ch, "").lower()
    if not name or name.startswith(_BAD_NAME_PREFIXES):
        return ""
    return name.removesuffix(" sign") if name.endswith(" sign") and " " in name[:-5] else name


@lru_cache(maxsize=4096)
def _emoji_name(seq: str) -> str:
    """The spoken name of one Unicode emoji (a ZWJ sequence, flag or keycap), or ""."""
    first = seq[0]
    if "\U0001f1e6" <= first <= "\U0001f1ff":
        code = "".join(chr(ord(c) - 0x1F1E6 + ord("A")) for c in seq[:2])
        country = _FLAGS.get(code)
        return f"flag of {country}" if country else "flag"
    if seq.endswith("\u20e3"):
        return first
    tags = "".join(chr(ord(c) - 0xE0000) for c in _TAG_CHARS.findall(seq)).rstrip("\x7f")
    if tags and tags in _SUBDIVISION_FLAGS:
        return f"flag of {_SUBDIVISION_FLAGS[tags]}"
    key = _TAG_CHARS.sub("", _VS_AND_TONES.sub("", seq))
    if not key:
        return ""
    known = _EMOJI_NAMES.get(key)
    if known is not None:
        return known
    parts = [p for p in key.split("\u200d") if p]
    if len(parts) > 1:
        if sum(1 for p in parts if p in _PEOPLE) >= 3:
            return "family"
        names: list[str] = []
        for part in parts:
            if part in _GENDER_SIGNS:
                continue
            name = _emoji_name(part)
            if name and name not in names:
                names.append(name)
        return " ".join(names)
    if len(key) != 1:
        return ""
    if ord(key) < 0x1F000 and "\ufe0f" not in seq:
        return ""  # a text symbol used as decoration (★ ♪ ☆ ...), not an emoji
    return _codepoint_name(key)


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


@lru_cache(maxsize=4096)
def _custom_emoji_name(name: str) -> str:
    return " ".join(_CAMEL.sub(" ", name.replace("_", " ")).split()).lower()


def _emoji_run_text(run: str, mode: EmojiMode) -> str:
    names: list[str] = []
    for m in _EMOJI_ELEMENT.finditer(run):
        custom = m.group("cname")
        if custom is not None:
            name = _custom_emoji_name(custom)
        elif mode == "skip":
            continue
        else:
            name = _emoji_name(m.group("uni"))
        if name and (not names or names[-1] != name):
            names.append(name)
    if not names:
        return " "
    return " " + ", ".join(names) + " "


# --------------------------------------------------------------------------------------------
# Character-level cleanup
# --------------------------------------------------------------------------------------------

_REMOVE_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff0-\ufffb\ue000-\uf8ff\ud800-\udfff"
    "\U00040000-\U000dffff\U000e0080-\U0010ffff]"
)
_SPACE_CHARS = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u3164\u115f\u1160\u2800]")
_NEWLINES = re.compile("\r\n?|[\u2028\u2029\x85\x0b\x0c]")
_GENERIC_MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_ANY_MARK = re.compile(f"[{_GENERIC_MARKS}]")
_ZALGO_RUN = re.compile(f"[{_GENERIC_MARKS}]{{3,}}")
_MARKS_AFTER_ASCII = re.compile(f"(?<=[A-Za-z])[{_GENERIC_MARKS}]+")
_STRAY_MARKS = re.compile(f"(?:^|(?<=[A-Za-z\\s]))[{_GENERIC_MARKS}]+")
_OVERLAY_MARKS = re.compile("[\u0334-\u0338\u20d2-\u20d6\u20d8-\u20da\u20e5-\u20ea]")
_FANCY = re.compile(
    "[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff61-\uff9f\u2460-\u24ff\U0001d400-\U0001d7ff]+"
)
_LEFTOVER_JOINERS = re.compile("[\u200d\ufe0e\ufe0f\U000e0000-\U000e007f\U0001f3fb-\U0001f3ff\u20e3]")
_BOX_DRAWING = re.compile("[\u2500-\u259f\u2b1d-\u2b2f\u30fb\uff65\u2022\u25cf\u25cb\u25a0\u25a1]")


def _fancy_to_plain(m: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", m.group(0))


def _normalize_chars(text: str) -> str:
    """Control/format characters out, NFC, zalgo reduced, fancy letters to plain ones."""
    ascii_only = text.isascii()
    if "\r" in text or "\x0b" in text or "\x0c" in text or not ascii_only:
        text = _NEWLINES.sub("\n", text)
    text = _REMOVE_CHARS.sub("", text)
    if ascii_only:
        return text.replace("\t", " ")
    text = _SPACE_CHARS.sub(" ", text)
    if _ANY_MARK.search(text):
        text = _ZALGO_RUN.sub("", text)
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
        text = _MARKS_AFTER_ASCII.sub("", text)
        text = _OVERLAY_MARKS.sub("", text)
    elif not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if _FANCY.search(text):
        text = _FANCY.sub(_fancy_to_plain, text)
    return text


_NAME_JUNK = re.compile(r"[*_~|`\\<>\[\]{}]+")
_WS = re.compile(r"\s+")
_HAS_WORD = re.compile(r"[^\W_]")
NAME_MAX = 40


@lru_cache(maxsize=8192)
def clean_name(name: str) -> str:
    """A display name ready to be spoken: no emoji, decoration, markdown or zalgo; at most
    40 characters; "" if nothing speakable is left (the caller then says "someone")."""
    text = _normalize_chars(name)
    text = _EMOJI_ELEMENT.sub(" ", text)
    text = _LEFTOVER_JOINERS.sub("", text)
    text = _NAME_JUNK.sub(" ", text)
    text = _BOX_DRAWING.sub(" ", text)
    text = _repeat_char_re(3).sub(_cap_chars(3), text)
    text = _WS.sub(" ", text).strip()
    if not _HAS_WORD.search(text):
        return ""
    if len(text) > NAME_MAX:
        text = _cut(text, NAME_MAX)
    return text


# --------------------------------------------------------------------------------------------
# Structure: code, spoilers, links, mentions, timestamps
# --------------------------------------------------------------------------------------------

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
_URL_PART = (
    r"(?:<https?://[^\s<>]+>"
    r"|(?<![^\W_])(?<![/@.])https?://(?=[^\s<>]*[^\W_])[^\s<>]+"
    r"|(?<![^\W_])(?<![/@.\-])www\.(?=[^\s<>]*[^\W_])[^\s<>]+)"
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


def _domain(url: str) -> str:
    """The host of `url` without "www.", or "" if it has no valid host name."""
    if url.lower().startswith("www."):
        url = "http://" + url
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


def _links_text(run: str, ph: _Phrases) -> str:
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


def _relative_time(seconds: float, ph: _Phrases, language: str) -> str:
    d = abs(seconds)
    if d < 60:
        return ph.now
    if d < 3600:
        amount = _count(ph.minute, int(d // 60), language)
    elif d < 86400:
        amount = _count(ph.hour, int(d // 3600), language)
    elif d < 30 * 86400:
        amount = _count(ph.day, int(d // 86400), language)
    elif d < 365 * 86400:
        amount = _count(ph.month, int(d // (30 * 86400)), language)
    else:
        amount = _count(ph.year, int(d // (365 * 86400)), language)
    return (ph.future if seconds > 0 else ph.past).format(x=amount)


_MAX_TIMESTAMP_SPAN = 1000 * 365 * 86400


class _Context:
    """What the replacement callbacks of one cleaning pass need."""

    __slots__ = ("info", "language", "options", "ph")

    def __init__(self, info: MessageInfo, options: CleanOptions, language: str) -> None:
        self.info = info
        self.options = options
        self.language = language
        self.ph = _PHRASES[language]

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
            return f" {_join(shown, self.ph)} "
        if rest == 1:
            return f" {_join([*shown, self.ph.someone], self.ph)} "
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

    def emoji(self, m: re.Match[str]) -> str:
        return _emoji_run_text(m.group(0), self.options.emoji_mode)


# --------------------------------------------------------------------------------------------
# Markdown, repetition, whitespace
# --------------------------------------------------------------------------------------------

_LINE_MARKERS = re.compile(r"^[ \t]*(?:(?:#{1,3}|-#|>>>|>|[-+•])[ \t]+)+", re.MULTILINE)
_LEADING_MARKERS = re.compile(r"^(?:(?:#{1,3}|-#|>>>|>|[-+•])(?: |$))+")
_ESCAPES = re.compile(r"\\(?=[!-/:-@\[-`{-~])")  # Discord escapes ASCII punctuation
_INLINE_MARKERS = re.compile(r"[*_~|`\\]+")  # backslashes left after escapes: paths
_RULE_CHARS = re.compile("[-=+#—–][ \t]*[-=+#—–]")
_RULE_LINES = re.compile(r"[-=+#—–](?:[ \t]*[-=+#—–]){2,}")  # "-----", "= = =", "# # #"
_SENTENCE_END = frozenset(".!?…。！？,;:、，；：")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.!?;…。、，！？；])")
_DUP_SEPARATORS = re.compile(r"([,、，;])(?:\s*[,、，;])+")
_EDGE_CHARS = " ,;、，"
_MARKER_STARTS = frozenset("#->+•")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")


@lru_cache(maxsize=16)
def _repeat_char_re(cap: int) -> re.Pattern[str]:
    return re.compile(f"([^\\d\\s])\\1{{{cap},}}")


@lru_cache(maxsize=16)
def _cap_chars(cap: int) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        return m.group(1) * cap

    return replace


@lru_cache(maxsize=16)
def _repeat_word_re(cap: int) -> re.Pattern[str]:
    return re.compile(f"\\b(\\w+)(?:\\s+\\1\\b){{{cap},}}", re.IGNORECASE)


@lru_cache(maxsize=16)
def _repeat_phrase_re(cap: int) -> re.Pattern[str]:
    return re.compile(f"\\b(\\w+(?:\\s+\\w+){{1,3}})(?:\\s+\\1\\b){{{cap},}}", re.IGNORECASE)


@lru_cache(maxsize=16)
def _cap_words(cap: int) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        """The first `cap` repetitions, as written (case kept)."""
        unit = len(m.group(1).split())
        return " ".join(m.group(0).split()[: unit * cap])

    return replace


def _is_cjk(ch: str) -> bool:
    return bool(_CJK_CHAR.match(ch))


def _join_lines(text: str) -> str:
    """Join lines into one: a pause (". " or "。") where a line has no final punctuation."""
    out = ""
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if out:
            last = out[-1]
            if last in _SENTENCE_END or line[0] in _SENTENCE_END:
                out += " "
            elif _is_cjk(last):
                out += "。"
            else:
                out += ". "
        out += line
    return out


_WORD_RE = re.compile(r"\w+")


def _has_repeats(text: str, cap: int) -> bool:
    """Cheap test: could `text` contain a word or short phrase repeated more than `cap` times?"""
    words = _WORD_RE.findall(text.lower())
    return len(words) - len(set(words)) >= cap


def _tidy(text: str, options: CleanOptions) -> str:
    """Repetition caps, whitespace and punctuation spacing; "" if nothing speakable is left.

    The order matters for idempotence: spacing before punctuation is fixed first (it can
    join runs, "word... ." -> "word...."), then runs are capped.
    """
    if "(" in text or "[" in text:
        for _ in range(8):  # "([])" needs two passes
            text, found = _EMPTY_BRACKETS.subn(" ", text)
            if not found:
                break
    if not text.isascii() and _ANY_MARK.search(text):
        text = _STRAY_MARKS.sub("", text)  # marks left on a letter or space by earlier steps
    if _RULE_CHARS.search(text):
        text = _RULE_LINES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _repeat_char_re(options.repeat_char_cap).sub(_cap_chars(options.repeat_char_cap), text)
    cap = options.repeat_word_cap
    if _has_repeats(text, cap):
        text = _WS.sub(" ", text)
        text = _repeat_word_re(cap).sub(_cap_words(cap), text)
        text = _repeat_phrase_re(cap).sub(_cap_words(cap), text)
    text = _DUP_SEPARATORS.sub(r"\1", text)
    text = " ".join(text.split())
    previous = None
    while previous != text:  # what one strip exposes, the next one removes
        previous = text
        text = text.strip(_EDGE_CHARS)
        if text[:1] in _MARKER_STARTS:
            text = _LEADING_MARKERS.sub("", text)
        if _ANY_MARK.match(text):
            text = _STRAY_MARKS.sub("", text)
    if not _HAS_WORD.search(text):
        return ""
    return text


def _clean_body(info: MessageInfo, options: CleanOptions, language: str) -> str:
    """The cleaned message content, not yet cut to the length limit."""
    text = info.content
    if not text:
        return ""
    ctx = _Context(info, options, language)
    text = _normalize_chars(text)
    if "`" in text or "||" in text:
        text = _STRUCTURE.sub(ctx.structure, text)
    if "](" in text:
        text = _MASKED_LINK.sub(ctx.masked_link, text)
    if "http" in text or "HTTP" in text or "www." in text.lower():
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
    if not text.isascii():
        text = _EMOJI_RUN.sub(ctx.emoji, text)
        text = _LEFTOVER_JOINERS.sub("", text)
        if _ANY_MARK.search(text):
            text = _MARKS_AFTER_ASCII.sub("", text)
        text = _BOX_DRAWING.sub(" ", text)
    elif "<" in text:
        text = _EMOJI_RUN.sub(ctx.emoji, text)  # custom emoji
    if "\\" in text:
        text = _ESCAPES.sub("", text)
    text = _INLINE_MARKERS.sub(" ", text)
    text = _LINE_MARKERS.sub("", text)
    if _RULE_CHARS.search(text):
        text = _RULE_LINES.sub(" ", text)  # again in _tidy, for rules exposed by later steps
    if "\n" in text:
        text = _join_lines(text)
    return _tidy(text, options)


# --------------------------------------------------------------------------------------------
# Length
# --------------------------------------------------------------------------------------------

_CUT_TRAILING = " \t\n,;:.!?…、，。！？；：-—–(\"'«「『"
_CJK_BREAKS = "。！？、，；：」』）"


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Me", "Mc") or ch in "\u200d\ufe0f\ufe0e"


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, cut at a word boundary when there is one."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    if text[limit].isspace():
        head = text[:limit]
    else:
        space = text.rfind(" ", 0, limit + 1)
        if space >= limit // 2:
            head = text[:space]
        else:
            # No usable space (CJK, or one very long word): cut after punctuation near the
            # end if there is some, else between characters (never inside a cluster).
            cut = max(text.rfind(p, max(0, limit - 30), limit) for p in _CJK_BREAKS) + 1
            if cut <= limit // 2:
                cut = limit
                while cut > 1 and _is_mark(text[cut]):
                    cut -= 1
            head = text[:cut]
    stripped = head.rstrip(_CUT_TRAILING)
    return stripped or head.rstrip()


def truncate(text: str, limit: int, language: str = "Auto") -> str:
    """`text` if it fits in `limit` characters, else cut at a word boundary with "and so on"
    (in `language`; "Auto" guesses from the text) appended. Never longer than `limit`.

    When the phrase would take more than half of a small limit (under 20 characters or so),
    the text is only cut, without the phrase. A single word longer than the limit (or CJK
    text without spaces) is cut between characters, after punctuation when there is some.
    """
    if limit <= 0:
        return ""
    text = text.strip()
    if len(text) <= limit:
        return text
    ph = _PHRASES[_resolve_language(language, text)]
    suffix = ph.and_so_on_sep + ph.and_so_on
    budget = limit - len(suffix)
    if budget < min(10, limit // 2) or budget < 1:  # the phrase would crowd out the text
        return _cut(text, limit)
    head = _cut(text, budget)
    if not head or not _HAS_WORD.search(head):
        return _cut(text, limit)
    return head + suffix


# --------------------------------------------------------------------------------------------
# Attachments, stickers, embeds
# --------------------------------------------------------------------------------------------

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


def _describe(info: MessageInfo, ph: _Phrases, language: str, has_text: bool) -> str:
    counts = {"image": 0, "video": 0, "audio": 0, "voice": 0, "file": 0}
    for attachment in info.attachments:
        counts[_attachment_kind(attachment)] += 1
    items = [_count(getattr(ph, kind), n, language) for kind, n in counts.items() if n]
    if info.stickers:
        names = [clean_name(s) for s in info.stickers]
        named = [n for n in names if n]
        template = ph.sticker_one if len(named or names) == 1 else ph.sticker_many
        items.append(template.format(names=_join(named, ph)).strip())
    if not items and not has_text and info.embeds > 0:
        items.append(_count(ph.embed, info.embeds, language))
    return _join(items, ph)


def describe_extras(info: MessageInfo, language: str = "Auto") -> str:
    """What the message carries besides text: "an image and 2 files", "the sticker Wave",
    "an embed" (embeds only when there is nothing else); "" if nothing."""
    lang = _resolve_language(language, info.content)
    return _describe(info, _PHRASES[lang], lang, has_text=bool(info.content.strip()))


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def clean_content(info: MessageInfo, options: CleanOptions = DEFAULT_OPTIONS) -> str:
    """The message content cleaned and cut to `options.max_length` ("" if nothing to read).
    No name, reply or attachment phrases (see `clean_message`)."""
    language = _resolve_language(options.language, info.content)
    body = _clean_body(info, options, language)
    if not body:
        return ""
    body = truncate(body, options.max_length, language)
    return body if _HAS_WORD.search(body) else ""


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
    language = _resolve_language(options.language, info.content)
    ph = _PHRASES[language]
    body = _clean_body(info, options, language)
    if body and dictionary:
        # The dictionary may lengthen or shorten the text, so it sees a generous slice, not
        # all of a 4000-character message that is about to be cut to max_length anyway.
        slack = 2 * options.max_length + 100
        body = _tidy(dictionary.apply(_cut(body, slack) if len(body) > slack else body), options)
    if body:
        body = truncate(body, options.max_length, language)
        if not _HAS_WORD.search(body):
            body = ""
    things = _describe(info, ph, language, has_text=bool(body)) if options.describe_attachments else ""
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
    ph = _PHRASES.get(language, _PHRASES["English"])
    return ph.said.format(name=clean_name(name) or ph.someone, text="")


# --------------------------------------------------------------------------------------------
# "NAME said" suppression
# --------------------------------------------------------------------------------------------


class SpeakerPrefixer:
    """Decides when to say "NAME said": not for a member's consecutive messages in the same
    channel within `window_seconds` of their previous one.

    State is kept per server (the bot speaks in one voice channel per server): the name is
    omitted only if the last message read in that server came from the same member in the same
    channel, at most `window_seconds` earlier (so Alice, Bob, Alice names Alice twice).
    `should_name`/`prefix` record the message by default: call them once per message read.
    """

    def __init__(
        self,
        window_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_servers: int = 10_000,
    ) -> None:
        if window_seconds < 0:
            raise ValueError("window_seconds must not be negative")
        self.window_seconds = window_seconds
        self._clock = clock
        self._max = max_servers
        self._last: dict[int, tuple[int, int, float]] = {}

    def should_name(
        self,
        guild_id: int,
        channel_id: int,
        author_id: int,
        now: float | None = None,
        *,
        record: bool = True,
    ) -> bool:
        """True if the name should be said for this message. With `record` (the default) the
        message becomes the server's last one; with `record=False` nothing changes (call
        `remember` once the message is known to be read, e.g. its cleaned text is not empty)."""
        if now is None:
            now = self._clock()
        last = self._last.get(guild_id)
        same = (
            last is not None
            and last[0] == channel_id
            and last[1] == author_id
            and 0 <= now - last[2] <= self.window_seconds
        )
        if record:
            self.remember(guild_id, channel_id, author_id, now)
        return not same

    def remember(self, guild_id: int, channel_id: int, author_id: int, now: float | None = None) -> None:
        """Record a message that will be read as the server's last one."""
        if now is None:
            now = self._clock()
        self._last[guild_id] = (channel_id, author_id, now)
        if len(self._last) > self._max:
            self._prune(now)

    def prefix(
        self,
        guild_id: int,
        channel_id: int,
        author_id: int,
        name: str,
        now: float | None = None,
        *,
        language: str = "English",
    ) -> str:
        """ "NAME said, " (in `language`), or "" when the name is omitted."""
        if self.should_name(guild_id, channel_id, author_id, now):
            return said_prefix(name, language)
        return ""

    def forget(self, guild_id: int) -> None:
        """Forget the server's last speaker (e.g. when the bot leaves voice)."""
        self._last.pop(guild_id, None)

    def _prune(self, now: float) -> None:
        expired = [g for g, (_, _, t) in self._last.items() if now - t > self.window_seconds]
        for guild in expired:
            del self._last[guild]
        while len(self._last) > self._max:  # all recent: drop the oldest entries
            del self._last[next(iter(self._last))]
