"""The read-aloud text cleaner, pronunciation dictionary and "NAME said" prefixer."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.readaloud.said import SpeakerPrefixer
from bot.text.attachments import describe_extras
from bot.text.clean import Attachment, CleanOptions, MessageInfo, clean_content, clean_message, said_prefix
from bot.text.cut import truncate
from bot.text.language import detect_language
from bot.text.names import clean_name
from bot.text.phrases import and_so_on
from bot.text.pronunciation import PronunciationDictionary, apply_dictionary
from tests.standins.clock import ManualClock

USERS = {111: "Alice", 222: "Bob 🌸", 333: "ゆき", 444: "**Zed**"}
SPOKEN = {222: "Bobby"}  # the server's /readaloud nickname for Bob wins over his display name
ROLES = {9: "Moderators"}
CHANNELS = {5: "off-topic", 6: "🎮│gaming"}
T0 = 1_700_000_000.0


@dataclass
class Case:
    content: str
    expected: str
    options: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def _info(content: str, **extra: Any) -> MessageInfo:
    fields: dict[str, Any] = {
        "user_names": USERS,
        "spoken_names": SPOKEN,
        "role_names": ROLES,
        "channel_names": CHANNELS,
        "created_at": T0,
    }
    fields.update(extra)
    return MessageInfo(content, **fields)


LONG_WORDS = " ".join(f"word{i}" for i in range(600))  # 4289 characters, no repetition


def _words_within(text: str, budget: int) -> str:
    """The longest run of whole words of `text` that fits in `budget` characters."""
    out = ""
    for word in text.split():
        candidate = f"{out} {word}" if out else word
        if len(candidate) > budget:
            break
        out = candidate
    return out


CASES: dict[str, Case] = {
    # --- plain text passes through -------------------------------------------------------
    "plain": Case("hello everyone, how are you?", "hello everyone, how are you?"),
    "plain-whitespace": Case("  hello \t  there   friend  ", "hello there friend"),
    "empty": Case("", ""),
    "only-spaces": Case("   \n\t  ", ""),
    # --- mentions --------------------------------------------------------------------------
    "user-mention": Case("hi <@111>!", "hi Alice!"),
    "user-mention-nick-form": Case("hi <@!111>", "hi Alice"),
    "spoken-nickname-wins": Case("ask <@222>", "ask Bobby"),
    "mention-name-emoji-dropped": Case("<@222> <@111>", "Bob and Alice", info={"spoken_names": {}}),
    "mention-name-raw-fallback": Case("yo <@222>", "yo Bob", info={"spoken_names": {}}),
    "mention-name-markdown": Case("thanks <@444>", "thanks Zed"),
    "unknown-user": Case("ping <@999>", "ping someone"),
    "role-mention": Case("<@&9> help please", "Moderators help please"),
    "unknown-role": Case("calling <@&8>", "calling a role"),
    "channel-mention": Case("go to <#5>", "go to off topic"),
    "channel-decorated": Case("see <#6>", "see gaming"),
    "unknown-channel": Case("see <#7>", "see a channel"),
    "everyone": Case("@everyone meeting now", "everyone meeting now"),
    "here": Case("@here anyone?", "here anyone?"),
    "everyone-italic": Case("_@everyone_ look", "everyone look"),
    "everyone-not-in-address": Case("mail me@everyone.org", "mail me@everyone.org"),
    "everyone-after-at": Case("\\@@everyone's", "@ everyone's"),
    "slash-command": Case("use </help:123> or </ban user:456>", "use help or ban user"),
    "guild-navigation": Case("check <id:customize>", "check a channel"),
    "mass-mentions-500": Case(" ".join(f"<@{i}>" for i in range(1000, 1500)), "someone and 499 others"),
    "mass-mentions-known": Case(
        "<@111> <@222> <@333> <@1> <@2> <@3> <@4> hi", "Alice, Bobby, ゆき and 4 others hi"
    ),
    "few-mentions-listed": Case("<@111> <@222> <@333>", "Alice, Bobby and ゆき"),
    "mentions-unknown-counted": Case("<@111>, <@998> <@999> hi", "Alice and 2 others hi"),
    "mentions-one-unknown": Case("<@111> <@&8>", "Alice and someone"),
    "mentions-repeated-once": Case("<@111> <@111> <@!111>", "Alice"),
    # --- emoji -----------------------------------------------------------------------------
    "custom-emoji": Case("nice <:pepe_laugh:123>", "nice pepe laugh"),
    "animated-custom-emoji": Case("<a:PartyBlob:55> yay", "party blob yay"),
    "custom-emoji-repeated": Case("<:kek:1><:kek:1><:kek:1><:kek:1>", "kek"),
    "unicode-emoji": Case("good job 👍", "good job thumbs up"),
    "emoji-run-collapsed": Case("lol 😂😂😂😂😂 🔥", "lol face with tears of joy, fire"),
    "emoji-skin-tone": Case("👍🏽", "thumbs up"),
    "emoji-zwj-family": Case("👨‍👩‍👧‍👦", "family man woman girl boy"),  # CLDR's name
    "emoji-zwj-family-unlisted": Case("👨‍👨‍👨", "family"),  # no CLDR name: 👪's
    "emoji-zwj-rainbow": Case("🏳️‍🌈", "rainbow flag"),
    "emoji-flag": Case("🇯🇵 trip", "flag of Japan trip"),
    "emoji-keycap": Case("1️⃣ first", "1 first"),
    "emoji-variation-selector": Case("love ❤️", "love red heart"),
    "decorative-symbols-dropped": Case("よろしく♪ ★☆", "よろしく"),
    "emoji-fallback-unicode-name": Case("🦩", "flamingo"),
    "emoji-skip-mode": Case("good job 👍🔥", "good job", options={"emoji_mode": "none"}),
    "emoji-skip-keeps-custom": Case("<:pog:1> 😀", "pog", options={"emoji_mode": "none"}),
    "only-emoji": Case("😭😭😭", "loudly crying face"),
    "only-emoji-skipped": Case("😭😭😭", "", options={"emoji_mode": "none"}),
    # --- links -----------------------------------------------------------------------------
    "link": Case("watch https://www.youtube.com/watch?v=abc now", "watch a link to youtube.com now"),
    "link-trailing-punct": Case("see https://example.com/a.", "see a link to example.com."),
    "link-in-parens": Case(
        "(see https://en.wikipedia.org/wiki/Foo_(bar))", "(see a link to en.wikipedia.org)"
    ),
    "link-suppressed-embed": Case("docs: <https://docs.python.org/3/>", "docs: a link to docs.python.org"),
    "link-www-only": Case("go www.example.org today", "go a link to example.org today"),
    "links-same-domain": Case("https://x.com/a https://x.com/b", "2 links to x.com"),
    "only-links": Case("https://a.com https://b.org", "a link to a.com, a link to b.org"),
    "links-with-commas": Case("https://a.com, https://b.org.", "a link to a.com, a link to b.org."),
    "link-invalid-host": Case("http://-bad-.com/x ok", "a link ok"),
    "masked-link": Case("[click here](https://example.com/very/long)", "click here"),
    "masked-link-url-text": Case("[https://evil.com](https://good.com)", "a link to good.com"),
    "link-port-and-auth": Case("http://user:pw@Example.COM:8080/x", "a link to example.com"),
    # --- code and spoilers -----------------------------------------------------------------
    "code-block": Case("look:\n```py\nprint('secret')\n```\nnice", "look: code block. nice"),
    "inline-code": Case("run `git pull` first", "run code first"),
    "double-backtick-code": Case("``a `tick` b`` ok", "code ok"),
    "spoiler": Case("the killer is ||Bob||!", "the killer is spoiler!"),
    "spoiler-multiline": Case("||line one\nline two|| ok", "spoiler ok"),
    "only-spoilers": Case("||a|| ||b||", "spoiler spoiler"),
    "spoiler-inside-code": Case("`||not a spoiler||`", "code"),
    "code-inside-spoiler": Case("||see `x`|| done", "spoiler done"),
    "unclosed-spoiler-read": Case("a || b", "a b"),
    # --- markdown --------------------------------------------------------------------------
    "bold-italic": Case("**bold** and *italic* and __under__", "bold and italic and under"),
    "strike": Case("~~wrong~~ right", "wrong right"),
    "nested-markdown": Case("***__~~deep~~__***", "deep"),
    "heading": Case("# Big news\ntoday", "Big news. today"),
    "subtext": Case("-# small print", "small print"),
    "quote": Case("> quoted text\nmy reply", "quoted text. my reply"),
    "block-quote": Case(">>> all of this", "all of this"),
    "list": Case("shopping:\n- milk\n- eggs\n* bread", "shopping: milk. eggs. bread"),
    "escaped-markdown": Case(r"\*not bold\*", "not bold"),
    "underscores-in-words": Case("snake_case_name", "snake case name"),
    "empty-brackets": Case("look ([ ]) here", "look here"),
    "rule-line": Case("above\n-----\nbelow", "above. below"),
    # --- timestamps ------------------------------------------------------------------------
    "timestamp-future": Case("starts <t:1700003600:R>", "starts in an hour"),
    "timestamp-past": Case("was <t:1699999700:R>", "was 5 minutes ago"),
    "timestamp-days": Case("on <t:1700259200:D>", "on in 3 days"),
    "timestamp-now": Case("<t:1700000010> go", "now go"),
    "timestamp-unknown-reference": Case("at <t:1700003600:t>", "at a time", info={"created_at": None}),
    # --- repetition ------------------------------------------------------------------------
    "repeated-chars": Case("sooooooo goooood", "sooo goood"),
    "repeated-punct": Case("what!!!!!!??????", "what!!!???"),
    "repeated-chars-cap-2": Case("nooooo", "noo", options={"repeat_char_cap": 2}),
    "digits-not-capped": Case("I have 1000000 points", "I have 1000000 points"),
    "repeated-words": Case("lol lol lol lol lol lol", "lol lol lol"),
    "repeated-words-case": Case("LOL lol Lol lol lol", "LOL lol Lol"),
    "repeated-phrase": Case(
        "I love you I love you I love you I love you", "I love you I love you I love you"
    ),
    "repeated-kanji": Case("草草草草草草", "草草草"),
    # --- character hygiene -----------------------------------------------------------------
    "zalgo": Case("h̷̛̖e̸͓l̵l̶o̵ w̴o̸r̷l̸d̶", "hello world"),
    "zalgo-heavy": Case("Z" + "\u0300\u0301\u0302\u0303\u0304\u0305" * 20 + "ALGO", "ZALGO"),
    "accents-kept": Case("café naïve résumé", "café naïve résumé"),
    "decomposed-accents-composed": Case("cafe\u0301", "café"),
    "control-chars": Case("a\x00b\x07c\u200bd\u202ee\ufeff", "abcde"),
    "fancy-letters": Case("𝐛𝐨𝐥𝐝 𝓼𝓬𝓻𝓲𝓹𝓽 Ｆｕｌｌ", "bold script Full"),
    "windows-newlines": Case("one\r\ntwo", "one. two"),
    "punctuation-only": Case("?!...", ""),
    "single-question-mark": Case("?", ""),
    "vietnamese-kept": Case("Tiếng Việt", "Tiếng Việt"),
    # --- other scripts ---------------------------------------------------------------------
    "japanese": Case("今日は楽しかった！また明日ね", "今日は楽しかった！また明日ね"),
    "japanese-lines-joined": Case("おはよう\nよろしく", "おはよう。よろしく"),
    "japanese-phrases": Case("見て https://example.jp", "見て example.jpへのリンク"),
    "chinese": Case("你好，我们一起玩吧", "你好，我们一起玩吧"),
    "chinese-spoiler": Case("结局是||秘密||", "结局是 剧透"),
    "korean": Case("안녕하세요 여러분", "안녕하세요 여러분"),
    "korean-code": Case("이거 `코드` 봐", "이거 코드 봐"),
    "russian": Case("Привет, как дела?", "Привет, как дела?"),
    "russian-link": Case("смотри https://ya.ru", "смотри ссылка на ya.ru"),
    "arabic": Case("مَرْحَبًا بِالْعَالَم", "مَرْحَبًا بِالْعَالَم"),
    "german-auto": Case("ich bin nicht da, das ist ||geheim||", "ich bin nicht da, das ist Spoiler"),
    "explicit-language": Case("ok ||x||", "ok spoiler", options={"language": "English"}),
    "explicit-language-french": Case("ok ||x||", "ok spoiler", options={"language": "French"}),
    "mixed-scripts": Case("gg 草 <@333> молодец", "gg 草 ゆき молодец"),
    # --- length ----------------------------------------------------------------------------
    "long-message-cut": Case(LONG_WORDS, _words_within(LONG_WORDS, 300 - 11) + ", and so on"),
    "long-repeated-word": Case(" ".join(["word"] * 1000), "word word word"),
    "short-limit": Case("one two three four five", "one two, and so on", options={"max_length": 22}),
    "short-limit-no-room-for-phrase": Case(
        "one two three four five", "one two three four", options={"max_length": 20}
    ),
    "tiny-limit": Case("one two three four five", "one two", options={"max_length": 8}),
    "cjk-cut": Case(
        "これは長い文章です。" * 10,
        "これは長い文章です。これは長い文章です、以下略",
        options={"max_length": 28},
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_clean_content(case: Case) -> None:
    options = CleanOptions(**case.options)
    result = clean_content(_info(case.content, **case.info), options)
    assert result == case.expected
    assert len(result) <= options.max_length
    # Cleaning is a projection: cleaned text (in the same language) is left alone.
    if result and detect_language(result) == detect_language(case.content):
        assert clean_content(_info(result, **case.info), options) == result


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 60


# --- whole messages: names, replies, attachments ---------------------------------------------

MESSAGE_CASES: dict[str, tuple[MessageInfo, dict[str, Any], str]] = {
    "said": (MessageInfo("hello", author_name="Alice"), {"say_name": True}, "Alice said, hello"),
    "not-said": (MessageInfo("hello", author_name="Alice"), {}, "hello"),
    "said-name-cleaned": (MessageInfo("hi", author_name="✨Alice✨"), {"say_name": True}, "Alice said, hi"),
    "said-name-empty": (MessageInfo("hi", author_name="🌸"), {"say_name": True}, "someone said, hi"),
    "reply": (MessageInfo("yes", reply_to_name="Bob"), {}, "replying to Bob, yes"),
    "reply-and-said": (
        MessageInfo("yes", author_name="Alice", reply_to_name="Bob"),
        {"say_name": True},
        "replying to Bob, Alice said, yes",
    ),
    "image-only": (
        MessageInfo("", author_name="Alice", attachments=[Attachment("cat.png", "image/png")]),
        {"say_name": True},
        "Alice sent an image",
    ),
    "image-only-no-name": (MessageInfo("", attachments=[Attachment("cat.jpg")]), {}, "sent an image"),
    "text-and-files": (
        MessageInfo("look", author_name="Alice", attachments=[Attachment("a.png"), Attachment("b.zip")] * 2),
        {"say_name": True},
        "Alice said, look, with 2 images and 2 files",
    ),
    "video-audio-voice": (
        MessageInfo(
            "",
            attachments=[
                Attachment("clip.mp4"),
                Attachment("song.mp3"),
                Attachment("voice-message.ogg", "audio/ogg", is_voice_message=True),
            ],
        ),
        {},
        "sent a video, an audio file and a voice message",
    ),
    "sticker": (
        MessageInfo("", author_name="Alice", stickers=["Wave"]),
        {"say_name": True},
        "Alice sent the sticker Wave",
    ),
    "two-stickers": (MessageInfo("", stickers=["Wave", "Hi"]), {}, "sent the stickers Wave and Hi"),
    "embed-only": (MessageInfo("", embeds=1, author_name="Bot"), {"say_name": True}, "Bot sent an embed"),
    "embed-with-link-not-described": (
        MessageInfo("https://example.com", embeds=1),
        {},
        "a link to example.com",
    ),
    "empty-with-nothing": (MessageInfo("", author_name="Alice", reply_to_name="Bob"), {"say_name": True}, ""),
    "spoiler-only-still-read": (MessageInfo("||x||", author_name="A"), {"say_name": True}, "A said, spoiler"),
    "japanese-said-and-image": (
        MessageInfo("これ見て", author_name="太郎", attachments=[Attachment("a.png")]),
        {"say_name": True},
        "太郎さん、これ見て、画像付き",
    ),
    "chinese-reply": (MessageInfo("好的", reply_to_name="小明"), {}, "回复小明：好的"),
    "russian-plural": (
        MessageInfo("смотри", author_name="Петя", attachments=[Attachment("a.png")] * 22),
        {"say_name": True},
        "Петя говорит: смотри. Вложение: 22 изображения",
    ),
    "german-said": (
        MessageInfo("hallo", author_name="Jan"),
        {"say_name": True, "options": CleanOptions(language="German")},
        "Jan sagt: hallo",
    ),
    "replies-off": (
        MessageInfo("yes", reply_to_name="Bob"),
        {"options": CleanOptions(read_replies=False)},
        "yes",
    ),
    "attachments-off": (
        MessageInfo("", attachments=[Attachment("a.png")]),
        {"options": CleanOptions(describe_attachments=False)},
        "",
    ),
}


@pytest.mark.parametrize("info,kwargs,expected", MESSAGE_CASES.values(), ids=MESSAGE_CASES.keys())
def test_clean_message(info: MessageInfo, kwargs: dict[str, Any], expected: str) -> None:
    options = kwargs.pop("options", CleanOptions())
    assert clean_message(info, options, **kwargs) == expected


def test_dictionary_applies_after_cleaning_and_to_names() -> None:
    dictionary = PronunciationDictionary({"gg": "good game", "Xiao": "Shao", "link": "LINK"})
    info = MessageInfo("gg <@1> https://gg.com", author_name="Xiao", user_names={1: "Xiao"})
    # "gg" inside the domain is a whole word too ("gg.com"), and "link" from our own phrase is
    # the member's dictionary at work; names are replaced as words.
    assert (
        clean_message(info, say_name=True, dictionary=dictionary)
        == "Shao said, good game Shao a LINK to good game.com"
    )


def test_dictionary_result_is_cut_to_limit() -> None:
    dictionary = PronunciationDictionary({"a": "a very long reading indeed"})
    text = clean_message(MessageInfo("a " * 100), CleanOptions(max_length=50), dictionary=dictionary)
    assert len(text) <= 50
    assert text.endswith(", and so on")


def test_dictionary_never_sees_spoiler_content() -> None:
    dictionary = PronunciationDictionary({"spoiler": "hidden part"})
    assert clean_message(MessageInfo("||the butler||"), dictionary=dictionary) == "hidden part"


# --- truncate, language, names -------------------------------------------------------------

AND_SO_ON = {
    "English": "and so on",
    "Chinese": "等等",
    "Japanese": "以下略",
    "German": "und so weiter",
    "French": "et cetera",
    "Spanish": "etcétera",
    "Italian": "eccetera",
    "Portuguese": "e assim por diante",
    "Korean": "등등",
    "Russian": "и так далее",
}


@pytest.mark.parametrize("language,phrase", AND_SO_ON.items())
def test_truncate_appends_and_so_on_in_language(language: str, phrase: str) -> None:
    text = "lorem ipsum dolor sit amet " * 20
    result = truncate(text, 60, language)
    assert result.endswith(phrase)
    assert len(result) <= 60
    assert and_so_on(language) == phrase


@pytest.mark.parametrize(
    "text,expected",
    [
        ("今日はとても楽しい一日でした。" * 10, "以下略"),
        ("今天我们一起去玩吧，好不好" * 10, "等等"),
        ("오늘 같이 게임 할 사람 있어요 " * 10, "등등"),
        ("сегодня вечером играем вместе " * 10, "и так далее"),
        ("we are going to play tonight " * 10, "and so on"),
        ("مرحبا بكم في الخادم " * 10, "and so on"),
    ],
)
def test_truncate_auto_detects_script(text: str, expected: str) -> None:
    result = truncate(text, 50, "Auto")
    assert result.endswith(expected)
    assert len(result) <= 50


def test_truncate_keeps_short_text_and_cuts_at_words() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("alpha beta gamma delta epsilon zeta", 30, "English") == "alpha beta gamma, and so on"
    assert truncate("x" * 100, 30, "English") == "x" * 19 + ", and so on"
    assert truncate("anything", 0) == ""


@pytest.mark.parametrize(
    "text,language",
    [
        ("hello how are you", "English"),
        ("ich bin nicht sicher, ob das geht", "German"),
        ("je ne sais pas, c'est pour vous", "French"),
        ("no sé si está bien, pero gracias", "Spanish"),
        ("non lo so, ma grazie per questo", "Italian"),
        ("não sei se você está bem", "Portuguese"),
        ("ひらがなとカタカナ", "Japanese"),
        ("漢字だけ", "Japanese"),
        ("汉字", "Chinese"),
        ("한국어", "Korean"),
        ("русский язык", "Russian"),
        ("", "English"),
        ("12345 !!!", "English"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_clean_name() -> None:
    assert clean_name("✨ Alice ✨") == "Alice"
    assert clean_name("xX_Gamer_Xx") == "xX Gamer Xx"
    assert clean_name("🌸🌸") == ""
    assert clean_name("Z̷̛̖a̸͓l̵g̶o̵") == "Zalgo"
    assert len(clean_name("very long name " * 10)) <= 40


def test_describe_extras() -> None:
    info = MessageInfo("hi", attachments=[Attachment("a.gif"), Attachment("b.webm")], stickers=["Hi"])
    assert describe_extras(info) == "an image, a video and the sticker Hi"
    assert describe_extras(MessageInfo("")) == ""


def test_said_prefix() -> None:
    assert said_prefix("Alice") == "Alice said, "
    assert said_prefix("太郎", "Japanese") == "太郎さん、"
    assert said_prefix("Ana", "Auto") == "Ana said, "


def test_options_validated() -> None:
    with pytest.raises(ValueError):
        CleanOptions(max_length=0)
    with pytest.raises(ValueError):
        CleanOptions(repeat_char_cap=0)
    with pytest.raises(ValueError):
        CleanOptions(emoji_mode="loud")  # type: ignore[arg-type]


def test_4000_character_adversarial_message_is_cut() -> None:
    content = ("**bold** <@111> 😂 https://x.com/a ||secret|| `code` " * 80)[:4000]
    result = clean_content(_info(content))
    assert len(result) <= 300
    assert "secret" not in result
    assert result.startswith("bold Alice face with tears of joy a link to x.com spoiler code")


# --- properties ------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like chat: plain words plus every kind of token the cleaner handles.
TOKENS = st.sampled_from(
    [
        "word", "hello", " ", " ", "\n", ".", ",", "!", "?", "*", "**", "_", "~~", "`", "```", "||",
        "> ", "# ", "- ", "<@1>", "<@&2>", "<#3>", "<t:1700000000:R>", "<:kek:4>", "@everyone",
        "https://example.com/path", "www.site.org", "[text](https://a.b)", "😂", "👍🏽", "🇯🇵",
        "\u200d", "\u0301", "\u0336", "草", "ありがとう", "안녕", "привет", "مرحبا", "ooooo",
        "\\", "@", "[]", ":", "(", ")", "/",
    ]
)  # fmt: skip
CHAT = st.one_of(st.lists(TOKENS, max_size=80).map("".join), st.text(max_size=300))


@PROPERTY_SETTINGS
@given(
    content=CHAT,
    name=st.text(max_size=40),
    limit=st.integers(1, 400),
    emoji_mode=st.sampled_from(["name", "none"]),
    language=st.sampled_from(["Auto", "English", "Japanese", "Russian", "Klingon"]),
    files=st.lists(st.text(max_size=20), max_size=3),
)
def test_never_raises_and_never_exceeds_limit(
    content: str, name: str, limit: int, emoji_mode: Any, language: str, files: list[str]
) -> None:
    options = CleanOptions(max_length=limit, emoji_mode=emoji_mode, language=language)
    info = MessageInfo(
        content,
        author_name=name,
        user_names={1: name},
        role_names={2: name},
        channel_names={3: name},
        reply_to_name=name or None,
        attachments=[Attachment(f) for f in files],
        stickers=[name] if name else [],
        created_at=T0,
    )
    body = clean_content(info, options)
    assert len(body) <= limit
    assert body == body.strip()
    clean_message(info, options, say_name=True, dictionary=PronunciationDictionary({name: content[:20]}))
    # Without name, reply and attachments, the whole message respects the limit too.
    plain = MessageInfo(content, user_names={1: name}, created_at=T0)
    assert len(clean_message(plain, options)) <= limit


def _no_secret_letters(ch: str) -> bool:
    folded = unicodedata.normalize("NFKC", ch).casefold()
    return "z" not in folded and "q" not in folded


SURROUNDINGS = st.one_of(
    st.lists(TOKENS.filter(lambda t: "|" not in t and "`" not in t), max_size=20).map("".join),
    st.text(st.characters(blacklist_characters="|`").filter(_no_secret_letters), max_size=60),
)
INSIDE = st.lists(
    st.sampled_from([" ", "\n", "**", "<@1>", "https://example.com", "😂", "`", "> ", "_", "~~"]), max_size=4
).map("".join)


@PROPERTY_SETTINGS
@given(
    before=SURROUNDINGS,
    after=SURROUNDINGS,
    secret=st.from_regex(r"zq[a-y]{4,10}", fullmatch=True),
    inner_left=INSIDE,
    inner_right=INSIDE,
    limit=st.integers(20, 400),
)
def test_spoiler_content_is_never_read(
    before: str, after: str, secret: str, inner_left: str, inner_right: str, limit: int
) -> None:
    assume(secret not in before and secret not in after)
    content = f"{before}||{inner_left}{secret}{inner_right}||{after}"
    info = MessageInfo(content, author_name="A", user_names={1: "Al"}, reply_to_name="B")
    options = CleanOptions(max_length=limit)
    dictionary = PronunciationDictionary({"spoiler": "hidden"})
    for text in (
        clean_content(info, options),
        clean_message(info, options, say_name=True, dictionary=dictionary),
    ):
        assert secret not in text.casefold()


WORD = st.from_regex(r"[A-Za-z][a-z]{0,9}", fullmatch=True).filter(
    lambda w: not any(w[i] == w[i + 1] == w[i + 2] == w[i + 3] for i in range(len(w) - 3))
)


@PROPERTY_SETTINGS
@given(
    words=st.lists(WORD, min_size=1, max_size=30, unique_by=str.lower),
    end=st.sampled_from(["", ".", "!", "?"]),
)
def test_clean_plain_sentence_is_unchanged(words: list[str], end: str) -> None:
    sentence = " ".join(words) + end
    assume(len(sentence) <= 300)
    assert clean_content(MessageInfo(sentence)) == sentence


@PROPERTY_SETTINGS
@given(content=CHAT)
def test_cleaning_twice_changes_nothing(content: str) -> None:
    options = CleanOptions(max_length=2000)
    once = clean_content(MessageInfo(content, user_names={1: "Al"}), options)
    assume(detect_language(once) == detect_language(content))  # added phrases follow the language
    assert clean_content(MessageInfo(once, user_names={1: "Al"}), options) == once


# --- pronunciation dictionary ----------------------------------------------------------------


@pytest.mark.parametrize(
    "entries,text,expected",
    [
        ({"gg": "good game"}, "gg everyone", "good game everyone"),
        ({"gg": "good game"}, "GG! Gg.", "good game! good game."),
        ({"gg": "good game"}, "eggs ggg gg", "eggs ggg good game"),
        ({"gg": "good game", "gg wp": "good game, well played"}, "gg wp all", "good game, well played all"),
        ({"new york": "NYC"}, "I love New  York", "I love NYC"),
        ({"a": "b", "b": "c"}, "a b", "b c"),  # single pass: "a" -> "b" is not turned into "c"
        ({"cat": "dog", "dog": "cat"}, "cat and dog", "dog and cat"),
        ({"c++": "see plus plus"}, "I like c++ a lot", "I like see plus plus a lot"),
        ({":)": "smiley"}, "hi :)", "hi smiley"),
        ({"東京": "とうきょう"}, "東京都に行く", "とうきょう都に行く"),
        ({"Parla": "par la"}, "Parla很好", "par la很好"),
        ({"디스코드": "Discord"}, "디스코드에서 만나요", "Discord에서 만나요"),
        ({"디스코드": "Discord"}, "새디스코드", "새디스코드"),
        ({"привет": "прив"}, "Привет всем, приветик", "прив всем, приветик"),
        ({"lol": ""}, "that was lol funny", "that was funny"),
        ({"istanbul": "Constantinople"}, "İzmir and Istanbul", "İzmir and Constantinople"),
        ({}, "unchanged", "unchanged"),
        ({"  ": "x", "ok": "okay"}, "ok", "okay"),
    ],
)
def test_pronunciation(entries: dict[str, str], text: str, expected: str) -> None:
    assert PronunciationDictionary(entries).apply(text) == expected
    assert apply_dictionary(text, entries) == expected


def test_pronunciation_dictionary_object() -> None:
    d = PronunciationDictionary([("GG", "good game"), ("wp", "well played")])
    assert len(d) == 2 and bool(d)
    assert dict(d.entries) == {"GG": "good game", "wp": "well played"}
    assert d("gg wp") == "good game well played"
    assert not PronunciationDictionary()


# --- "NAME said" prefixer --------------------------------------------------------------------


def test_prefixer_omits_name_for_consecutive_messages_within_window() -> None:
    clock = ManualClock(1000.0)
    p = SpeakerPrefixer(window_seconds=30, clock=clock)
    assert p.prefix(1, 10, 100, "Alice") == "Alice said, "
    clock.advance(10)
    assert p.prefix(1, 10, 100, "Alice") == ""
    clock.advance(30)  # exactly the window after the previous message: still consecutive
    assert p.prefix(1, 10, 100, "Alice") == ""
    clock.advance(30.5)  # longer than the window
    assert p.prefix(1, 10, 100, "Alice") == "Alice said, "


def test_prefixer_names_again_after_someone_else_or_elsewhere() -> None:
    clock = ManualClock(1000.0)
    p = SpeakerPrefixer(clock=clock)
    assert p.should_name(1, 10, 100)
    assert p.should_name(1, 10, 200)  # Bob
    assert p.should_name(1, 10, 100)  # Alice again after Bob
    assert not p.should_name(1, 10, 100)
    assert p.should_name(1, 11, 100)  # same member, other channel
    assert p.should_name(2, 11, 100)  # other server: independent
    assert not p.should_name(1, 11, 100)
    p.forget(1)
    assert p.should_name(1, 11, 100)


def test_prefixer_check_without_recording() -> None:
    clock = ManualClock(1000.0)
    p = SpeakerPrefixer(clock=clock)
    assert p.should_name(1, 10, 100, record=False)
    assert p.should_name(1, 10, 100, record=False)  # nothing was read: still named
    p.remember(1, 10, 100)
    clock.advance(5)
    assert not p.should_name(1, 10, 100, record=False)
    assert p.should_name(1, 10, 200, record=False)  # a check does not change the last speaker
    assert not p.should_name(1, 10, 100)


def test_prefixer_explicit_now_and_language() -> None:
    p = SpeakerPrefixer(window_seconds=5, clock=lambda: 0.0)
    assert p.prefix(1, 1, 1, "太郎", now=100.0, language="Japanese") == "太郎さん、"
    assert p.prefix(1, 1, 1, "太郎", now=104.0) == ""
    assert p.prefix(1, 1, 1, "✨", now=200.0) == "someone said, "


def test_prefixer_memory_is_bounded() -> None:
    clock = ManualClock(1000.0)
    p = SpeakerPrefixer(clock=clock, max_servers=100)
    for guild in range(1000):
        p.should_name(guild, 1, 1)
        clock.advance(1)
    assert len(p._last) <= 100
    assert not p.should_name(999, 1, 1)  # the most recent server is still remembered
