"""Emoji read aloud: custom emoji (<:name:id>) become their name, Unicode emoji their short
name, or nothing in the "none" mode.

Unicode emoji are read in the message's language: the CLDR names the `emoji` package carries for
Chinese, German, Italian, Portuguese, Spanish, Japanese, Korean, French and Russian (every
endpoint language; loaded on first use, about 30 ms for all). In English, and for what a
language lacks: a table of the emoji most used in chat, flags, keycaps, ZWJ sequences, else the
Unicode character name. Skin tones are never read. Custom emoji keep their own names.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Final, Literal

import emoji as emoji_data

__all__ = ["EmojiMode", "remove_emoji", "replace_emoji"]

# How Unicode emoji are read: "name" reads the short name, "none" drops them (custom emoji are
# always read by name). Persisted in the store and shown to members.
EmojiMode = Literal["name", "none"]

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
# The endpoint's languages whose CLDR emoji names the `emoji` package carries (English: the table).
CLDR_LANGUAGES: Final[dict[str, str]] = {
    "Chinese": "zh",
    "German": "de",
    "Italian": "it",
    "Portuguese": "pt",
    "Spanish": "es",
    "Japanese": "ja",
    "Korean": "ko",
    "French": "fr",
    "Russian": "ru",
}
_LOADED: set[str] = set()
_LOAD_LOCK = threading.Lock()


def _cldr_name(seq: str, code: str) -> str:
    """The CLDR name of emoji `seq` in language `code`, or "" when the package has none."""
    if code not in _LOADED:
        with _LOAD_LOCK:
            if code not in _LOADED:
                emoji_data.config.load_language(code)
                _LOADED.add(code)
    data = emoji_data.EMOJI_DATA
    key = _VS_AND_TONES.sub("", seq)
    for candidate in (key, key + "\ufe0f", seq):
        entry = data.get(candidate)
        if entry is not None and entry.get(code):
            return " ".join(str(entry[code]).strip(":").replace("_", " ").split())
    return ""


_BAD_NAME_PREFIXES = ("emoji modifier", "regional indicator", "variation selector", "emoji component")


def _codepoint_name(ch: str) -> str:
    name = unicodedata.name(ch, "").lower()
    if not name or name.startswith(_BAD_NAME_PREFIXES):
        return ""
    return name.removesuffix(" sign") if name.endswith(" sign") and " " in name[:-5] else name


@lru_cache(maxsize=8192)
def _emoji_name(seq: str, language: str = "English") -> str:
    """The spoken name of one Unicode emoji (a ZWJ sequence, flag or keycap) in `language`
    (English when the `emoji` package has no name in it), or ""."""
    code = CLDR_LANGUAGES.get(language)
    if code is not None and not seq.endswith("\u20e3"):  # keycaps read as their digit
        name = _cldr_name(seq, code)
        if name:
            return name
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


@lru_cache(maxsize=4096)
def _emoji_run_text(run: str, mode: EmojiMode, language: str = "English") -> str:
    names: list[str] = []
    for m in _EMOJI_ELEMENT.finditer(run):
        custom = m.group("cname")
        if custom is not None:
            name = _custom_emoji_name(custom)
        elif mode == "none":
            continue
        else:
            name = _emoji_name(m.group("uni"), language)
        if name and (not names or names[-1] != name):
            names.append(name)
    if not names:
        return " "
    return " " + ", ".join(names) + " "


def replace_emoji(text: str, mode: EmojiMode, budget: int | None = None, language: str = "English") -> str:
    """Every run of emoji in `text` replaced by its names in `language` (" thumbs up, fire ";
    German " daumen hoch, feuer "), or a space.

    With a `budget`, once the names said come to more than `budget` characters, the rest of the
    emoji are replaced by a space (what is that far into a message is cut before it is spoken).
    """
    if budget is None:
        return _EMOJI_RUN.sub(lambda m: _emoji_run_text(m.group(0), mode, language), text)
    spent = 0

    def name(m: re.Match[str]) -> str:
        nonlocal spent
        if spent > budget:
            return " "
        said = _emoji_run_text(m.group(0), mode, language)
        spent += len(said)
        return said

    return _EMOJI_RUN.sub(name, text)


def remove_emoji(text: str) -> str:
    """Every emoji in `text` replaced by a space (for names)."""
    return _EMOJI_ELEMENT.sub(" ", text)
