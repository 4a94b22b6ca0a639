"""Telegram updates: every kind parses with python-telegram-bot, field for field.

PTB is the independent parser (`bot=None` is passed explicitly: PTB 20.x / 21.0-21.3
require the argument, 21.4+ default it; tested on 20.8, 21.4, 22.8): `Update.de_json`
puts any field it does not know into `api_kwargs`, so "no api_kwargs anywhere" means
every field we send is a real Bot API field. The poll kinds carry Bot API 9.6+ fields
(`persistent_id`, `option_persistent_ids`, which PTB 22.8 requires): on an older PTB
they land in `api_kwargs` and the check fails for those two kinds only.
"""
from __future__ import annotations

import time

import orjson
import pytest
import telegram  # test dependency: python-telegram-bot>=21.4,<23

from driver.payloads.telegram import KINDS, SECRET_HEADER, TelegramUpdates, utf16_len
from driver.payloads.users import UserPool
from driver.plan import UserPoolSpec

BOT = "driver_demo_bot"


@pytest.fixture(scope="module")
def users():
    return UserPool(UserPoolSpec(), 0, 1, 10).users


def parse(body: bytes) -> telegram.Update:
    return telegram.Update.de_json(orjson.loads(body), bot=None)


def unknown_fields(obj, path="update") -> list:
    """(path, fields) for every parsed object that kept fields PTB does not know."""
    found = []
    if isinstance(obj, telegram.TelegramObject):
        if obj.api_kwargs:
            found.append((path, dict(obj.api_kwargs)))
        for name, value in obj._get_attrs(include_private=False, recursive=False).items():
            found += unknown_fields(value, f"{path}.{name}")
    elif isinstance(obj, (tuple, list)):
        for i, value in enumerate(obj):
            found += unknown_fields(value, f"{path}[{i}]")
    return found


# Kinds whose update names no user (a channel post is signed by the channel, a poll's
# new state by nobody) and the chat types of the kinds outside the private chat.
NO_USER = {"channel_post", "poll"}
CHAT_TYPE = {"group": "group", "supergroup": "supergroup", "channel_post": "channel",
             "chat_member": "supergroup", "chat_join_request": "supergroup"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_parses_with_only_known_fields(kind, users):
    gen = TelegramUpdates(BOT)
    user = users[4]  # a Russian name: non-ASCII in from/chat
    update = parse(gen.render(kind, user))
    assert unknown_fields(update) == []
    assert update.update_id >= 100_000_001
    if kind in NO_USER:
        assert update.effective_user is None
    else:
        assert update.effective_user.id == user.id
        assert update.effective_user.first_name == user.first_name
    if update.effective_chat is not None:
        chat_type = CHAT_TYPE.get(kind, "private")
        assert update.effective_chat.type == chat_type
        if chat_type == "private":
            assert update.effective_chat.id == user.chat_id
        else:
            assert update.effective_chat.id < 0 and update.effective_chat.title
    now = int(time.time())
    message = update.message or update.edited_message or update.channel_post
    if message is not None:
        assert abs(message.date.timestamp() - now) <= 60


@pytest.mark.parametrize(
    "kwargs, text, command",
    [
        # bare command
        (dict(command="/start"), "/start", "/start"),
        # the slash is optional in the argument
        (dict(command="help"), "/help", "/help"),
        # arguments given inside the command string
        (dict(command="/remind 18:00 call mom"), "/remind 18:00 call mom", "/remind"),
        # addressed to the bot, with arguments given apart
        (dict(command="/weather", args="Berlin", mention=True),
         f"/weather@{BOT} Berlin", f"/weather@{BOT}"),
        # emoji in the arguments do not move the entity
        (dict(command="/echo", args="hi 👋 there"), "/echo hi 👋 there", "/echo"),
        # an astral character in the command: length counted in UTF-16 units (2 for 𝔠)
        (dict(command="/𝔠md", mention=True), f"/𝔠md@{BOT}", f"/𝔠md@{BOT}"),
    ],
)
def test_command_entity_offsets_are_utf16(kwargs, text, command, users):
    update = parse(TelegramUpdates(BOT).command(users[0], **kwargs))
    message = update.message
    assert message.text == text
    (entity,) = message.entities
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, utf16_len(command))
    assert message.parse_entity(entity) == command  # PTB slices in UTF-16 units


def test_utf16_len():
    assert [utf16_len(s) for s in ("", "abc", "é", "👍", "a👍b")] == [0, 3, 1, 2, 4]


def test_callback_query_carries_data_from_an_inline_keyboard(users):
    update = parse(TelegramUpdates(BOT).callback_query(users[1], data="buy:42"))
    query = update.callback_query
    assert query.data == "buy:42"
    assert query.chat_instance
    assert query.message.from_user.is_bot and query.message.from_user.username == BOT
    (button,) = query.message.reply_markup.inline_keyboard[0]
    assert button.callback_data == "buy:42"


@pytest.mark.parametrize(
    "blocked, old, new",
    [
        # the user blocks the bot
        (True, "member", "kicked"),
        # the user unblocks it
        (False, "kicked", "member"),
    ],
)
def test_my_chat_member_block_and_unblock(blocked, old, new, users):
    change = parse(TelegramUpdates(BOT).my_chat_member(users[2], blocked=blocked)).my_chat_member
    assert (change.old_chat_member.status, change.new_chat_member.status) == (old, new)
    assert change.new_chat_member.user.is_bot
    assert change.from_user.id == users[2].id


def test_media_kinds(users):
    gen = TelegramUpdates(BOT)
    photo = parse(gen.photo(users[0], caption="look")).message
    assert [(p.width, p.height) for p in photo.photo] == [(90, 67), (320, 240), (800, 600),
                                                          (1280, 960)]
    assert len({p.file_unique_id for p in photo.photo}) == 4 and photo.caption == "look"
    assert photo.photo[-1].file_size > photo.photo[0].file_size
    document = parse(gen.document(users[0], file_name="a.csv", mime_type="text/csv")).message
    assert (document.document.file_name, document.document.mime_type) == ("a.csv", "text/csv")
    voice = gen.voice(users[0], duration=7)
    assert parse(voice).message.voice.mime_type == "audio/ogg"
    assert orjson.loads(voice)["message"]["voice"]["duration"] == 7  # PTB 22 warns on .duration
    video = parse(gen.video(users[0])).message.video
    assert (video.width, video.height, video.mime_type) == (1280, 720, "video/mp4")
    sticker = parse(gen.sticker(users[0], emoji="🔥")).message.sticker
    assert (sticker.emoji, sticker.type, sticker.is_animated) == ("🔥", "regular", False)
    again = parse(gen.photo(users[0])).message
    assert again.photo[0].file_unique_id != photo.photo[0].file_unique_id


def test_location_contact_inline_edited(users):
    gen = TelegramUpdates(BOT)
    location = parse(gen.location(users[0], latitude=48.1, longitude=11.6)).message.location
    assert (location.latitude, location.longitude) == (48.1, 11.6)
    contact = parse(gen.contact(users[0])).message.contact
    assert (contact.phone_number, contact.user_id) == (users[0].phone, users[0].id)
    other = parse(gen.contact(users[0], of=users[1])).message.contact
    assert other.user_id == users[1].id
    inline = parse(gen.inline_query(users[0], query="sushi")).inline_query
    assert (inline.query, inline.from_user.id) == ("sushi", users[0].id)
    sent = parse(gen.text(users[0], text="typo")).message
    edited = parse(gen.edited_message(users[0], text="fixed")).edited_message
    assert (edited.message_id, edited.text) == (sent.message_id, "fixed")
    assert edited.edit_date >= edited.date


def test_update_ids_increase_and_never_collide_across_workers(users):
    workers = [TelegramUpdates(BOT, worker_index=w, n_workers=2) for w in range(2)]
    seen = []
    for w, gen in enumerate(workers):
        ids = [parse(gen.render(KINDS[i % len(KINDS)], users[w])).update_id for i in range(40)]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        seen += ids
    assert len(set(seen)) == len(seen)


def test_start_update_id(users):
    gen = TelegramUpdates(BOT, start_update_id=500, worker_index=1, n_workers=3)
    assert [parse(gen.text(users[0])).update_id for _ in range(3)] == [501, 504, 507]


def test_message_ids_increase_per_chat(users):
    gen = TelegramUpdates(BOT)
    a = [parse(gen.text(users[0])).message.message_id for _ in range(5)]
    b = [parse(gen.text(users[1])).message.message_id for _ in range(3)]
    a += [parse(gen.photo(users[0])).message.message_id]
    assert a == list(range(a[0], a[0] + 6)) and b == list(range(b[0], b[0] + 3))
    assert 100 <= a[0] < 1100


def test_callback_and_inline_query_ids_are_unique(users):
    gens = [TelegramUpdates(BOT, worker_index=w, n_workers=2) for w in range(2)]
    ids = [orjson.loads(g.callback_query(users[w]))["callback_query"]["id"]
           for w, g in enumerate(gens) for _ in range(20)]
    ids += [orjson.loads(g.inline_query(users[w]))["inline_query"]["id"]
            for w, g in enumerate(gens) for _ in range(20)]
    assert len(set(ids)) == len(ids)


def test_secret_token_header():
    assert TelegramUpdates(BOT).headers() == {}
    assert TelegramUpdates(BOT, secret_token="abc_DEF-123").headers() == {
        SECRET_HEADER: "abc_DEF-123"}


@pytest.mark.parametrize(
    "kwargs",
    [
        # setWebhook allows only A-Z a-z 0-9 _ - in the secret
        dict(secret_token="has space"),
        dict(secret_token=""),
        dict(secret_token="x" * 257),
        # bot usernames: a letter first, 4-32 characters
        dict(bot_username="1bot"),
        dict(bot_username="bad-name"),
        # worker index outside [0, n_workers)
        dict(worker_index=2, n_workers=2),
        dict(start_update_id=0),
    ],
)
def test_bad_arguments_are_refused(kwargs):
    kwargs.setdefault("bot_username", BOT)
    with pytest.raises(ValueError):
        TelegramUpdates(**kwargs)


def test_render_dispatch(users):
    gen = TelegramUpdates(BOT)
    assert parse(gen.render("text", users[0], text="yo")).message.text == "yo"
    with pytest.raises(ValueError, match="unknown Telegram update kind 'nope'"):
        gen.render("nope", users[0])


# --- bytes as orjson writes them; compiled renderers -----------------------------------

# Arguments per kind for the tests below: each kind with its defaults and with every
# argument a scenario can template (non-ASCII, quotes and an astral emoji included).
ARGS = [(kind, {}) for kind in KINDS] + [
    ("text", {"text": 'say "hi" \\ 👋 <b>'}),
    ("command", {"command": "/remind 18:00 call mom"}),
    ("command", {"command": "weather", "args": "Berlin", "mention": True}),
    ("command", {"command": "/stats", "mention": "true", "bot_username": "other_bot"}),
    ("callback_query", {"data": "buy:42", "button_text": "Buy ✓", "message_text": "Pick one"}),
    ("callback_query", {"data": "x", "button_text": ""}),  # an empty button text shows the data
    ("photo", {"caption": "ünïcode 🔥"}),
    ("document", {"file_name": "a.csv", "caption": "c"}),
    ("video", {"caption": "v"}),
    ("sticker", {"emoji": "🔥"}),
    ("edited_message", {"text": "fixed"}),
    ("inline_query", {"query": "sushi"}),
    # text and captions with a command or a mention get their entities
    ("text", {"text": "/cmd 👋 @someone_x"}),
    ("photo", {"caption": "/scan @receipt_bot"}),
    ("audio", {"caption": "/a", "title": "T", "duration": "9"}),
    ("dice", {"emoji": "🎯", "value": "3"}),
    ("poll", {"options": "A|B", "option": "1"}),
    ("poll_answer", {"option": "1"}),
    ("group", {"text": "/start", "mention": "true", "reply": "true"}),
    ("supergroup", {"text": "hey @x_helper", "bot_username": "other_bot"}),
    ("channel_post", {"text": "/digest"}),
    ("message_reaction", {"emoji": "🔥"}),
    ("pre_checkout_query", {"total_amount": "5", "payload": "p"}),
    ("edited_media", {"media": "video", "caption": "/v"}),
]


@pytest.mark.parametrize("kind, kwargs", ARGS)
def test_bodies_are_exactly_what_orjson_writes(kind, kwargs, users):
    """The hot kinds are written by a bytes format around cached pieces: byte for byte the
    compact JSON orjson makes of the same object."""
    body = TelegramUpdates(BOT).render(kind, users[4], **kwargs)
    assert orjson.dumps(orjson.loads(body)) == body


def _pair(**kw):
    """Two generators in the same state."""
    return TelegramUpdates(BOT, **kw), TelegramUpdates(BOT, **kw)


@pytest.mark.parametrize("kind, kwargs", ARGS)
@pytest.mark.parametrize("templated", [False, True])
def test_compiled_renderer_equals_the_method(kind, kwargs, templated, users, monkeypatch):
    """compile(kind, static, dynamic) renders what the method renders with the same arguments,
    the same ids and the same counters, render after render; `templated` passes every
    argument as a getter (what a templated YAML field becomes)."""
    import driver.payloads.telegram as tg

    monkeypatch.setattr(tg, "_time", lambda: 1_700_000_000.25)  # one clock for both
    compiled_gen, method_gen = _pair(start_update_id=7, worker_index=1, n_workers=3)
    if templated:
        seen = []

        def getter(name):
            def get(user, captured, rng):
                seen.append((user.id, captured, rng))
                return kwargs[name]
            return get
        render = compiled_gen.compile(kind, {}, {k: getter(k) for k in kwargs})
    else:
        render = compiled_gen.compile(kind, kwargs)
    method = getattr(method_gen, kind)
    for i in range(6):
        user = users[i % 3]
        assert render(user, {"c": 1}, "rng") == method(user, **kwargs)
    if templated and kwargs:
        assert seen[0] == (users[0].id, {"c": 1}, "rng")  # getters see the user, captured, rng


def test_compiled_and_methods_share_the_counters(users):
    gen = TelegramUpdates(BOT)
    render = gen.compile("command", {"command": "/start"})
    ids = [orjson.loads(render(users[0]))["update_id"], orjson.loads(gen.text(users[0]))["update_id"],
           orjson.loads(render(users[0]))["update_id"]]
    assert ids == [ids[0], ids[0] + 1, ids[0] + 2]
    mids = [orjson.loads(gen.text(users[0]))["message"]["message_id"],
            orjson.loads(render(users[0]))["message"]["message_id"]]
    assert mids[1] == mids[0] + 1


@pytest.mark.parametrize(
    "kind, static, dynamic, message",
    [
        # an unknown kind is named
        ("nope", {}, {}, "unknown Telegram update kind 'nope'"),
        # an argument the kind does not take, static or templated
        ("text", {"caption": "x"}, {}, "Telegram update kind text"),
        ("photo", {}, {"text": lambda u, c, r: "x"}, "Telegram update kind photo"),
    ],
)
def test_compile_refuses_what_the_method_would(kind, static, dynamic, message):
    with pytest.raises(ValueError, match=message):
        TelegramUpdates(BOT).compile(kind, static, dynamic)
