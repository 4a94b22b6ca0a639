"""Every Telegram kind as python-telegram-bot and aiogram 3 parse it, field for field.

PTB: `telegram.Update.de_json(json, bot=None)`; aiogram: `Dispatcher.feed_webhook_update`,
the call its webhook handlers make (it validates the body into `aiogram.types.Update`
and routes it to the observer of its update type), with one handler per type that
keeps the event. Both keep fields they do not know aside (PTB in `api_kwargs`, aiogram
in pydantic's `model_extra`): none may be there. The same checks run on both parsers'
objects, as both name the Bot API fields alike (`from` is `from_user`).
"""
from __future__ import annotations

import asyncio
import inspect

import aiogram  # test dependency: aiogram>=3.4
import orjson
import pytest
import telegram  # test dependency: python-telegram-bot
from pydantic import BaseModel

from driver.payloads.telegram import KINDS, TelegramUpdates
from driver.payloads.users import UserPool
from driver.plan import UserPoolSpec

BOT = "driver_demo_bot"
TOKEN = "7000000001:AAH-driver-tests-0123456789abcdefghij"
# aiogram's update types, as its Dispatcher routes them
OBSERVED = ("message", "edited_message", "channel_post", "callback_query", "inline_query",
            "my_chat_member", "chat_member", "chat_join_request", "poll", "poll_answer",
            "message_reaction", "pre_checkout_query")


@pytest.fixture(scope="module")
def users():
    return UserPool(UserPoolSpec(), 0, 1, 10).users


def ptb(body: bytes) -> telegram.Update:
    return telegram.Update.de_json(orjson.loads(body), bot=None)


def ptb_unknown(obj, path="update") -> list:
    found = []
    if isinstance(obj, telegram.TelegramObject):
        if obj.api_kwargs:
            found.append((path, dict(obj.api_kwargs)))
        for name, value in obj._get_attrs(include_private=False, recursive=False).items():
            found += ptb_unknown(value, f"{path}.{name}")
    elif isinstance(obj, (tuple, list)):
        for i, value in enumerate(obj):
            found += ptb_unknown(value, f"{path}[{i}]")
    return found


def aiogram_unknown(obj, path="update") -> list:
    found = []
    if isinstance(obj, BaseModel):
        if obj.model_extra:
            found.append((path, dict(obj.model_extra)))
        for name in type(obj).model_fields:
            found += aiogram_unknown(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, (tuple, list)):
        for i, value in enumerate(obj):
            found += aiogram_unknown(value, f"{path}[{i}]")
    return found


class Aiogram:
    """A Dispatcher with a handler per update type that records (type, event)."""

    def __init__(self):
        self.bot = aiogram.Bot(TOKEN)
        self.dp = aiogram.Dispatcher()
        self.seen = []
        for name in OBSERVED:
            getattr(self.dp, name).register(self._keeper(name))

    def _keeper(self, name):
        async def keep(event):
            self.seen.append((name, event))
        return keep

    def parse(self, body: bytes) -> aiogram.types.Update:
        """The update as the webhook path parses it; it must reach exactly one handler."""
        data = orjson.loads(body)
        before = len(self.seen)
        asyncio.run(self.dp.feed_webhook_update(self.bot, data))
        (name, event), = self.seen[before:]
        update = aiogram.types.Update.model_validate(data, context={"bot": self.bot})
        assert name == update.event_type and event == getattr(update, name)
        return update


@pytest.fixture(scope="module")
def ag():
    return Aiogram()


def both(body: bytes, ag: Aiogram) -> list:
    """The PTB and the aiogram parse of `body`, each without unknown fields."""
    p, a = ptb(body), ag.parse(body)
    assert ptb_unknown(p) == []
    assert aiogram_unknown(a) == []
    return [p, a]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_parses_in_both_with_only_known_fields(kind, users, ag):
    gen = TelegramUpdates(BOT)
    body = gen.render(kind, users[4])  # a Russian name: non-ASCII
    for update in both(body, ag):
        assert update.update_id == orjson.loads(body)["update_id"]


def _entity(entities, i=0):
    e = entities[i]
    return (str(e.type), e.offset, e.length)


# kind, arguments as a YAML step gives them (strings), and the checks on a parse
# `u` (either framework's Update), the user and the generator.
CASES = [
    # a command typed as text: its bot_command, 5 units long
    ("text", {"text": "/help now"},
     lambda u, user, g: _entity(u.message.entities) == ("bot_command", 0, 5)),
    # a mention inside text: offset and length in UTF-16 units
    ("text", {"text": "ask @someone_else 👋"},
     lambda u, user, g: _entity(u.message.entities) == ("mention", 4, 13)),
    # a music file with its tags
    ("audio", {"title": "Song", "performer": "Band", "duration": "200"},
     lambda u, user, g: (u.message.audio.title, u.message.audio.performer,
                         u.message.audio.mime_type) == ("Song", "Band", "audio/mpeg")),
    # a GIF: animation, and the same file as document for older clients
    ("animation", {"caption": "lol"},
     lambda u, user, g: (u.message.animation.width, u.message.caption) == (480, "lol")
     and u.message.document.file_id == u.message.animation.file_id),
    # a venue from the map, coordinates from YAML strings; also sent as location
    ("venue", {"title": "Zoo", "address": "Hardenbergplatz 8", "latitude": "52.5",
               "longitude": "13.33"},
     lambda u, user, g: (u.message.venue.title, u.message.venue.address) == ("Zoo", "Hardenbergplatz 8")
     and (u.message.venue.location.latitude, u.message.location.longitude) == (52.5, 13.33)),
    # a round video: its diameter
    ("video_note", {"length": "240"},
     lambda u, user, g: u.message.video_note.length == 240 and u.message.video_note.thumbnail),
    # a dart throw with the value given
    ("dice", {"emoji": "🎯", "value": "4"},
     lambda u, user, g: (u.message.dice.emoji, u.message.dice.value) == ("🎯", 4)),
    # the slot machine: any value of 1-64 when none is given
    ("dice", {"emoji": "🎰"},
     lambda u, user, g: 1 <= u.message.dice.value <= 64),
    # the bot's poll after the user voted option 1: same id as the answer's
    ("poll", {"question": "Lunch?", "options": "Soup|Salad", "option": "1"},
     lambda u, user, g: (u.poll.id, u.poll.question, [o.text for o in u.poll.options],
                         [o.voter_count for o in u.poll.options], u.poll.total_voter_count)
     == (g.poll_id(user), "Lunch?", ["Soup", "Salad"], [0, 1], 1)),
    # the user's vote in that poll
    ("poll_answer", {"option": "2"},
     lambda u, user, g: (u.poll_answer.poll_id, list(u.poll_answer.option_ids),
                         u.poll_answer.user.id) == (g.poll_id(user), [2], user.id)),
    # a vote taken back: no options
    ("poll_answer", {"retract": "true"},
     lambda u, user, g: list(u.poll_answer.option_ids) == []),
    # a group command addressed to the bot, replying to the bot's last message
    ("group", {"text": "/start", "mention": "true", "reply": "true"},
     lambda u, user, g: (u.message.chat.type, u.message.chat.id, u.message.text)
     == ("group", -user.id, f"/start@{BOT}")
     and _entity(u.message.entities) == ("bot_command", 0, len(f"/start@{BOT}"))
     and u.message.reply_to_message.from_user.username == BOT
     and u.message.reply_to_message.message_id == u.message.message_id - 1),
    # a supergroup mention of a bot under another name
    ("supergroup", {"text": "hi", "mention": "yes", "bot_username": "other_helper_bot"},
     lambda u, user, g: (u.message.chat.type, u.message.text) == ("supergroup", "@other_helper_bot hi")
     and str(u.message.chat.id).startswith("-100")
     and _entity(u.message.entities) == ("mention", 0, 17)
     and u.message.reply_to_message is None),
    # a supergroup command already addressed: left as written
    ("supergroup", {"text": "/weather@other_helper_bot Berlin"},
     lambda u, user, g: _entity(u.message.entities) == ("bot_command", 0, 25)),
    # a channel post: signed by the channel, no from
    ("channel_post", {"text": "/digest today"},
     lambda u, user, g: (u.channel_post.chat.type, u.channel_post.sender_chat.id,
                         u.channel_post.from_user) == ("channel", u.channel_post.chat.id, None)
     and _entity(u.channel_post.entities) == ("bot_command", 0, 7)),
    # the user joins the supergroup
    ("chat_member", {},
     lambda u, user, g: (str(u.chat_member.old_chat_member.status),
                         str(u.chat_member.new_chat_member.status),
                         u.chat_member.new_chat_member.user.id) == ("left", "member", user.id)),
    # the user leaves it
    ("chat_member", {"joined": "false"},
     lambda u, user, g: str(u.chat_member.new_chat_member.status) == "left"),
    # a join request with the user's bio
    ("chat_join_request", {"bio": "hi there"},
     lambda u, user, g: (u.chat_join_request.user_chat_id, u.chat_join_request.from_user.id,
                         u.chat_join_request.bio, u.chat_join_request.chat.type)
     == (user.id, user.id, "hi there", "supergroup")),
    # a reaction to the chat's last message
    ("message_reaction", {"emoji": "🔥"},
     lambda u, user, g: (u.message_reaction.new_reaction[0].emoji,
                         list(u.message_reaction.old_reaction), u.message_reaction.user.id)
     == ("🔥", [], user.id)),
    # a reaction taken back
    ("message_reaction", {"emoji": ""},
     lambda u, user, g: list(u.message_reaction.new_reaction) == []
     and len(u.message_reaction.old_reaction) == 1),
    # an order to confirm, amount from YAML
    ("pre_checkout_query", {"payload": "order-7", "currency": "USD", "total_amount": "1500"},
     lambda u, user, g: (u.pre_checkout_query.invoice_payload, u.pre_checkout_query.currency,
                         u.pre_checkout_query.total_amount, u.pre_checkout_query.from_user.id)
     == ("order-7", "USD", 1500, user.id)),
    # the payment went through
    ("successful_payment", {"total_amount": "250"},
     lambda u, user, g: (u.message.successful_payment.total_amount,
                         u.message.successful_payment.invoice_payload) == (250, "order-42")
     and u.message.successful_payment.telegram_payment_charge_id),
    # a photo replaced, its caption a command
    ("edited_media", {"media": "photo", "caption": "/fix this"},
     lambda u, user, g: [p.width for p in u.edited_message.photo] == [90, 320, 800, 1280]
     and _entity(u.edited_message.caption_entities) == ("bot_command", 0, 4)
     and u.edited_message.edit_date is not None),  # aiogram keeps it an int, PTB a datetime
    # a video replaced, without caption
    ("edited_media", {"media": "video", "caption": None},
     lambda u, user, g: (u.edited_message.video.width, u.edited_message.caption) == (1280, None)),
    # a caption with a command and a mention
    ("photo", {"caption": "/scan @receipt_bot"},
     lambda u, user, g: [_entity(u.message.caption_entities, i) for i in (0, 1)]
     == [("bot_command", 0, 5), ("mention", 6, 12)]),
]


@pytest.mark.parametrize("kind, kwargs, check", CASES,
                         ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(CASES)])
def test_fields_as_both_frameworks_read_them(kind, kwargs, check, users, ag):
    gen = TelegramUpdates(BOT)
    user = users[1]
    gen.text(user)  # the chat has a message for edits and reactions to refer to
    body = gen.render(kind, user, **kwargs)
    for update in both(body, ag):
        assert check(update, user, gen), (type(update).__module__, body)


TEXT_KINDS = [k for k in KINDS
              if {"text", "caption"} & set(inspect.signature(getattr(TelegramUpdates, k)).parameters)]


def _text_of(update):
    """(text or caption, its entities) of whatever message the update carries."""
    for name in ("message", "edited_message", "channel_post"):
        message = getattr(update, name)
        if message is not None:
            if message.text is not None:
                return message.text, message.entities
            return message.caption, message.caption_entities
    raise AssertionError("no message in the update")


@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_text_starting_with_a_slash_carries_a_bot_command(kind, users, ag):
    """Every kind that carries a text or caption: "/probe ..." has its bot_command."""
    assert {"text", "command", "group", "supergroup", "channel_post", "photo",
            "edited_media", "audio"} <= set(TEXT_KINDS) | {"command"}
    gen = TelegramUpdates(BOT)
    arg = "text" if "text" in inspect.signature(getattr(gen, kind)).parameters else "caption"
    body = gen.render(kind, users[2], **{arg: "/probe 👋 x"})
    for update in both(body, ag):
        text, entities = _text_of(update)
        assert text.startswith("/probe")
        assert _entity(entities) == ("bot_command", 0, 6)


@pytest.mark.parametrize(
    "kind, kwargs, message",
    [
        # a dice value outside the emoji's range
        ("dice", {"emoji": "🎲", "value": "7"}, r"value must be in \[1, 6\]"),
        # an emoji Telegram does not roll
        ("dice", {"emoji": "🍕"}, "unknown dice emoji"),
        # a poll needs 2-10 options
        ("poll", {"options": "Only"}, "2-10 non-empty options"),
        # an option outside the poll
        ("poll", {"options": "A|B", "option": "2"}, r"option must be in \[0, 1\]"),
        # YAML booleans only
        ("group", {"mention": "maybe"}, "mention must be true or false"),
        # a bot username Telegram would not allow
        ("supergroup", {"mention": "true", "bot_username": "x"}, "invalid bot username"),
        # numbers that are not
        ("pre_checkout_query", {"total_amount": "ten"}, "total_amount must be a whole number"),
        ("venue", {"latitude": "north", "longitude": "1"}, "latitude must be a number"),
        ("edited_media", {"media": "sticker"}, "edits a photo or a video"),
    ],
)
def test_bad_arguments_name_the_argument(kind, kwargs, message, users):
    with pytest.raises(ValueError, match=message):
        TelegramUpdates(BOT).render(kind, users[0], **kwargs)


def test_group_and_channel_ids_are_per_user_and_never_collide(users):
    gen = TelegramUpdates(BOT)
    ids = set()
    for user in users:
        for kind in ("group", "supergroup", "channel_post"):
            update = orjson.loads(gen.render(kind, user))
            ids.add((update.get("message") or update.get("channel_post"))["chat"]["id"])
        ids.add(user.chat_id)
    assert len(ids) == 4 * len(users)
    mids = [orjson.loads(gen.group(users[0]))["message"]["message_id"] for _ in range(3)]
    assert mids == list(range(mids[0], mids[0] + 3))


def test_the_unknown_field_checks_see_an_invented_field(users, ag):
    """The "only known fields" checks above are not vacuous: a field the Bot API does
    not have, nested in the message, is found by both."""
    data = orjson.loads(TelegramUpdates(BOT).text(users[0]))
    data["message"]["chat"]["sparkles"] = 3
    body = orjson.dumps(data)
    assert ptb_unknown(ptb(body)) == [("update.message.chat", {"sparkles": 3})]
    assert aiogram_unknown(ag.parse(body)) == [("update.message.chat", {"sparkles": 3})]
