"""The words the cleaner adds, in the eleven languages ("a link to", "spoiler", "sent an image",
"NAME said", "and so on", ...), with count forms, list joining, and the choice of language for a
message ("Auto": a guess from the text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.text.language import detect_language

__all__ = ["PHRASES", "Forms", "Phrases", "and_so_on", "count", "join_list", "resolve_language"]

# Count forms: (n == 1 alone, "{n}" one-form, "{n}" few-form, "{n}" many-form). Only Russian
# uses the middle two; every other language uses the first and the last.
Forms = tuple[str, str, str, str]


def _f(one: str, many: str) -> Forms:
    return (one, many, many, many)


@dataclass(frozen=True, slots=True)
class Phrases:
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


PHRASES: dict[str, Phrases] = {
    "English": Phrases(
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
    "Chinese": Phrases(
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
    "Japanese": Phrases(
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
    "Korean": Phrases(
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
    "German": Phrases(
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
    "French": Phrases(
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
    "Spanish": Phrases(
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
    "Italian": Phrases(
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
    "Portuguese": Phrases(
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
    "Russian": Phrases(
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


def count(forms: Forms, n: int, language: str) -> str:
    """`n` things in words: "an image", "3 images" (Russian: its three plural forms)."""
    if n == 1:
        return forms[0]
    form = forms[3]
    if language == "Russian":
        if n % 10 == 1 and n % 100 != 11:
            form = forms[1]
        elif 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            form = forms[2]
    return form.format(n=n)


def join_list(items: Sequence[str], ph: Phrases) -> str:
    """ "A, B and C" in the language of `ph`."""
    if len(items) <= 1:
        return "".join(items)
    return ph.list_sep.join(items[:-1]) + ph.and_word + items[-1]


def and_so_on(language: str) -> str:
    """The "and so on" phrase of `language` (English for unknown or "Auto")."""
    return PHRASES.get(language, PHRASES["English"]).and_so_on


def resolve_language(language: str, text: str) -> str:
    """`language` if it is one of the eleven, else (for "Auto") a guess from `text`."""
    return language if language in PHRASES else detect_language(text)
