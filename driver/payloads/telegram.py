"""Telegram Bot API `Update` bodies, as Telegram POSTs them to a bot's webhook.

One `TelegramUpdates` per worker. Each method takes a `SyntheticUser` and returns the
JSON body as bytes, exactly as orjson writes the Update object (compact, keys in the
Bot API's order). Per render only the changing values are computed: the user's `from`
and `chat` objects are built and serialised once per user, and the hot kinds (text,
command, photo, callback_query) are written by one bytes %-format around those cached
pieces. `compile(kind, static, dynamic)` goes one step further for a kind whose
arguments are fixed (a scenario step): what does not change between renders (a
command's text and entities) is serialised once.

Identifiers, and why they never collide:
- update_id: start_update_id + worker_index + k * n_workers for the k-th update of a
  worker: increasing within a worker, disjoint across workers.
- message_id: per chat (= per user), increasing; a user lives in one worker only, so
  one counter per chat is enough. Bot messages (the keyboard a callback query comes
  from) take ids from the same counter, as they do in a real chat.
- callback query / inline query ids: the 10-digit user id followed by the update_id.
- file_unique_id: from the update_id; file_id: from the user id and the update_id
  (one update carries several files, e.g. photo sizes: each gets a suffix letter).

`date` is the current unix time in seconds. Entity offsets and lengths are in UTF-16
code units, as the Bot API counts them; text and captions that start with "/" carry a
bot_command entity, @usernames a mention (driver.payloads.telegram_text).

The kinds beyond private-chat messages live in two mixins: more media and polls
(driver.payloads.telegram_media) and groups, channels, membership, reactions and
payments (driver.payloads.telegram_chats).
"""
from __future__ import annotations

import itertools
import re
from time import time as _time
from typing import Any, Callable

import orjson
from orjson import dumps as _dumps

from driver.payloads.renderers import Renderer, bind, check_arguments, flag
from driver.payloads.telegram_chats import ChatKinds
from driver.payloads.telegram_media import PHOTO_SIZES as _PHOTO_SIZES, MediaKinds
from driver.payloads.telegram_text import text_fields, username, utf16_len

__all__ = ["KINDS", "SECRET_HEADER", "Renderer", "TelegramUpdates", "utf16_len"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
KINDS: tuple[str, ...] = (
    "text",
    "command",
    "photo",
    "document",
    "voice",
    "video",
    "sticker",
    "location",
    "contact",
    "edited_message",
    "callback_query",
    "inline_query",
    "my_chat_member",  # in ChatKinds, with the other membership changes
    *MediaKinds.KINDS,
    *ChatKinds.KINDS,
)
# setWebhook's rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_DEFAULT_START_UPDATE_ID = 100_000_001
# file_id prefixes as Telegram's look per file type (they encode the type).
_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "voice": "AwACAgIAAxkBAAI",
    "video": "BAACAgIAAxkBAAI",
    "sticker": "CAACAgIAAxkBAAI",
    "audio": "CQACAgIAAxkBAAI",
    "animation": "CgACAgIAAxkBAAI",
    "video_note": "DQACAgIAAxkBAAI",
}


# The Update around a message, and a callback query, as orjson writes them: the parts
# between the %-fields never change (the tests compare against orjson.dumps of the dict).
_MESSAGE = b'{"update_id":%d,"message":{"message_id":%d,%b,"date":%d,%b}}'
_CALLBACK = (b'{"update_id":%d,"callback_query":{"id":"%d%d","from":%b,"message":{"message_id":%d,'
             b'"from":%b,"chat":%b,"date":%d,"text":%b,"reply_markup":{"inline_keyboard":'
             b'[[{"text":%b,"callback_data":%b}]]}},"chat_instance":%b,"data":%b}}')
_PHOTO = b'"photo":[' + b",".join(
    b'{"file_id":"%b' + tag + b'","file_unique_id":"%b' + tag + b'","file_size":'
    + b"%d,\"width\":%d,\"height\":%d}" % (size, w, h)
    for tag, (w, h, size) in zip((b"s", b"m", b"x", b"y"), _PHOTO_SIZES)) + b"]"
_PHOTO_FILE_ID = _PREFIX["photo"].encode() + b"%010X%016X"
_FILE_UNIQUE_ID = b"AQAD%012x"
_CACHED_COMMANDS = 1024  # distinct commands whose text and entities are kept serialised
_DEFAULT_MESSAGE_TEXT = _dumps("Choose an option:")


def _history(chat_id: int) -> int:
    """The last message id of a chat before the run: chats have some history, ids 99..1098."""
    return 99 + (chat_id * 0x9E3779B1) % 1000


def _text(text: str) -> bytes:
    """The `"text":..` member, with `,"entities":[..]` when the text has commands or mentions."""
    if text[:1] != "/" and "@" not in text:
        return b'"text":' + _dumps(text)
    return _dumps(text_fields(text))[1:-1]


def _caption(caption: str | None) -> bytes:
    """The `,"caption":..` member (and caption_entities), or empty without a caption."""
    if caption is None:
        return b""
    if caption[:1] != "/" and "@" not in caption:
        return b',"caption":' + _dumps(caption)
    return b"," + _dumps(text_fields(caption, caption=True))[1:-1]


class _Peer:
    """A user's `from` and `chat` objects and chat_instance, as dicts and as JSON."""

    __slots__ = ("sender", "chat", "chat_instance", "sender_json", "chat_json", "from_chat",
                 "instance_json")

    def __init__(self, user):
        self.sender = {"id": user.id, "is_bot": False, "first_name": user.first_name,
                       "last_name": user.last_name, "username": user.username,
                       "language_code": user.language_code}
        self.chat = {"id": user.chat_id, "first_name": user.first_name,
                     "last_name": user.last_name, "username": user.username, "type": "private"}
        # chat_instance: a stable, opaque per-chat number, as Telegram sends it
        self.chat_instance = str(-((user.id * 0x9E3779B97F4A7C15) % 10**19))
        self.sender_json = _dumps(self.sender)
        self.chat_json = _dumps(self.chat)
        self.from_chat = b'"from":' + self.sender_json + b',"chat":' + self.chat_json
        self.instance_json = _dumps(self.chat_instance)


class TelegramUpdates(MediaKinds, ChatKinds):
    """Update bodies for one worker; `render(kind, user, **kw)` or one method per kind."""

    def __init__(
        self,
        bot_username: str = "driver_demo_bot",
        secret_token: str | None = None,
        start_update_id: int = _DEFAULT_START_UPDATE_ID,
        *,
        worker_index: int = 0,
        n_workers: int = 1,
        bot_id: int = 7_000_000_001,
        bot_name: str = "Driver Demo",
    ):
        username(bot_username)
        if secret_token is not None and not _SECRET_RE.fullmatch(secret_token):
            raise ValueError("invalid Telegram secret token: 1-256 characters of "
                             "A-Z, a-z, 0-9, _ and - (setWebhook's rule)")
        if n_workers < 1 or not 0 <= worker_index < n_workers:
            raise ValueError(f"worker_index must be in [0, {n_workers}), got {worker_index}")
        if start_update_id < 1:
            raise ValueError(f"start_update_id must be >= 1, got {start_update_id}")
        self.bot_username = bot_username
        self.secret_token = secret_token
        # the k-th update id of this worker: start + worker_index + k * n_workers
        self._ids = itertools.count(start_update_id + worker_index, n_workers)
        self._headers = {SECRET_HEADER: secret_token} if secret_token else {}
        self._bot = {"id": bot_id, "is_bot": True, "first_name": bot_name,
                     "username": bot_username}
        self._bot_json = _dumps(self._bot)
        self._peers: dict[int, _Peer] = {}  # user id -> _Peer, built on first use
        self._last_message_id: dict[int, int] = {}  # chat id -> last message id used
        self._commands: dict[tuple, bytes] = {}  # (command, args, mention, bot) -> its message fields
        self._render = {kind: getattr(self, kind) for kind in KINDS}

    # --- shared per-render helpers ------------------------------------------------

    def headers(self) -> dict[str, str]:
        """The secret-token header when one is configured, else {} (shared: do not mutate)."""
        return self._headers

    def render(self, kind: str, user, **kw) -> bytes:
        return self._method(kind)(user, **kw)

    def _method(self, kind: str):
        try:
            return self._render[kind]
        except KeyError:
            raise ValueError(f"unknown Telegram update kind {kind!r}; "
                             f"expected one of {', '.join(KINDS)}") from None

    def _peer(self, user) -> _Peer:
        peer = self._peers.get(user.id)
        if peer is None:
            peer = self._peers[user.id] = _Peer(user)
        return peer

    def last_message_id(self, chat_id: int) -> int | None:
        """The id of the last message generated in a chat (what a reply to it quotes)."""
        return self._last_message_id.get(chat_id)

    def _message_id(self, chat_id: int) -> int:
        last = (self._last_message_id.get(chat_id) or _history(chat_id)) + 1
        self._last_message_id[chat_id] = last
        return last

    def _message(self, user, update_id: int, members: bytes) -> bytes:
        """A `message` update from `user` in their private chat; `members` is the JSON of
        the message's content fields, without braces (`"text":"hi"`)."""
        peer = self._peers.get(user.id) or self._peer(user)
        chat_id = user.chat_id
        last = (self._last_message_id.get(chat_id) or _history(chat_id)) + 1  # _message_id, inlined
        self._last_message_id[chat_id] = last
        return _MESSAGE % (update_id, last, peer.from_chat, int(_time()), members)

    def _wrap(self, user, update_id: int, content: dict) -> bytes:
        """A `message` update carrying the fields of `content`."""
        return self._message(user, update_id, _dumps(content)[1:-1])

    @staticmethod
    def _file_ids(kind: str, user_id: int, update_id: int) -> tuple[str, str]:
        """(file_id stem, file_unique_id stem), unique per update.

        Telegram's are opaque base64url; hex digits are a subset of that alphabet, and
        formatting them is several times cheaper than encoding.
        """
        return f"{_PREFIX[kind]}{user_id:010X}{update_id:016X}", f"AQAD{update_id:012x}"

    # --- compiled renderers -----------------------------------------------------------

    def compile(self, kind: str, static: dict[str, Any] | None = None,
                dynamic: dict[str, Callable] | None = None) -> Renderer:
        """`render(user, captured=None, rng=None) -> bytes` for `kind` with fixed arguments.

        `static` are keyword arguments of the kind's method; `dynamic` maps further ones
        to getters `g(user, captured, rng)` (a compiled template's `render`) called per
        render. The bodies equal the method's for the same arguments and the same
        generator state (the same update and message id counters are used), but what
        does not change between renders is serialised once.
        """
        method = self._method(kind)
        static, dynamic = dict(static or {}), dict(dynamic or {})
        check_arguments(f"Telegram update kind {kind}", method, static, dynamic)
        special = getattr(self, f"_compile_{kind}", None)
        render = special(static, dynamic) if special is not None else None
        return render if render is not None else bind(method, static, dynamic)

    # Each _compile_KIND(static, dynamic) returns a renderer for the argument sets it
    # knows how to speed up, or None (then `bind` calls the method).

    def _compile_text(self, static: dict, dynamic: dict) -> Renderer:
        ids, message = self._ids, self._message
        if "text" in dynamic:
            get = dynamic["text"]
            return lambda user, c=None, r=None: message(user, next(ids), _text(get(user, c, r)))
        members = _text(static.get("text", "Hello!"))
        return lambda user, c=None, r=None: message(user, next(ids), members)

    def _compile_command(self, static: dict, dynamic: dict) -> Renderer | None:
        if dynamic:
            return None
        ids, message, members = self._ids, self._message, self._command_members(**static)
        return lambda user, c=None, r=None: message(user, next(ids), members)

    def _compile_photo(self, static: dict, dynamic: dict) -> Renderer:
        photo = self._photo
        if "caption" in dynamic:
            get = dynamic["caption"]
            return lambda user, c=None, r=None: photo(user, _caption(get(user, c, r)))
        tail = _caption(static.get("caption"))
        return lambda user, c=None, r=None: photo(user, tail)

    def _compile_callback_query(self, static: dict, dynamic: dict) -> Renderer | None:
        if set(dynamic) - {"data"}:
            return None
        callback = self._callback
        text_json = _dumps(static.get("message_text", "Choose an option:"))
        button = static.get("button_text")
        button_json = _dumps(button) if button else None  # None: the button shows the data
        if "data" in dynamic:
            get = dynamic["data"]
            return lambda user, c=None, r=None: callback(user, _dumps(get(user, c, r)), button_json, text_json)
        data_json = _dumps(static.get("data", "menu:1"))
        return lambda user, c=None, r=None: callback(user, data_json, button_json, text_json)

    # --- messages -----------------------------------------------------------------

    def text(self, user, text: str = "Hello!") -> bytes:
        return self._message(user, next(self._ids), _text(text))

    def _command_members(self, command: str = "/start", args: str | None = None,
                         mention: bool | str = False, bot_username: str | None = None) -> bytes:
        mention = flag(mention, "mention")
        bot = self.bot_username if bot_username is None else username(bot_username)
        if args is None:
            command, _, args = command.partition(" ")
        if not command.startswith("/"):
            command = "/" + command
        head = f"{command}@{bot}" if mention else command
        text = f"{head} {args}" if args else head
        return _dumps(text_fields(text))[1:-1]

    def command(self, user, command: str = "/start", args: str | None = None,
                mention: bool | str = False, bot_username: str | None = None) -> bytes:
        """`/cmd args` or `/cmd@bot args`; `command` may carry the args ("/remind 18:00 x");
        `mention` a bool or its YAML spelling ("true"); `bot_username` the bot's name in
        `/cmd@bot` when it is not the generator's."""
        key = (command, args, mention, bot_username)
        members = self._commands.get(key)
        if members is None:  # a scenario sends a few commands over and over: serialise each once
            if len(self._commands) >= _CACHED_COMMANDS:
                self._commands.clear()
            members = self._commands[key] = self._command_members(command, args, mention,
                                                                  bot_username)
        return self._message(user, next(self._ids), members)

    def photo(self, user, caption: str | None = None) -> bytes:
        return self._photo(user, _caption(caption))

    def _photo(self, user, tail: bytes) -> bytes:
        """A photo message; `tail` is the caption member (`,"caption":...`) or empty."""
        update_id = next(self._ids)
        file_id, unique = _PHOTO_FILE_ID % (user.id, update_id), _FILE_UNIQUE_ID % update_id
        members = _PHOTO % (file_id, unique, file_id, unique, file_id, unique, file_id, unique)
        return self._message(user, update_id, members + tail)

    def document(self, user, file_name: str = "report.pdf", mime_type: str = "application/pdf",
                 file_size: int = 48_213, caption: str | None = None) -> bytes:
        update_id = next(self._ids)
        file_id, unique = self._file_ids("document", user.id, update_id)
        content = {"document": {"file_name": file_name, "mime_type": mime_type,
                                "file_id": file_id, "file_unique_id": unique,
                                "file_size": file_size}}
        if caption is not None:
            content.update(text_fields(caption, caption=True))
        return self._wrap(user, update_id, content)

    def voice(self, user, duration: int = 4, file_size: int = 9_530) -> bytes:
        update_id = next(self._ids)
        file_id, unique = self._file_ids("voice", user.id, update_id)
        content = {"voice": {"duration": duration, "mime_type": "audio/ogg",
                             "file_id": file_id, "file_unique_id": unique,
                             "file_size": file_size}}
        return self._wrap(user, update_id, content)

    def video(self, user, duration: int = 12, width: int = 1280, height: int = 720,
              file_size: int = 2_310_557, caption: str | None = None) -> bytes:
        update_id = next(self._ids)
        file_id, unique = self._file_ids("video", user.id, update_id)
        thumb = {"file_id": f"{file_id}t", "file_unique_id": f"{unique}t", "file_size": 9_218,
                 "width": 320, "height": 180}
        content = {"video": {"duration": duration, "width": width, "height": height,
                             "file_name": "video.mp4", "mime_type": "video/mp4",
                             "thumbnail": thumb, "file_id": file_id,
                             "file_unique_id": unique, "file_size": file_size}}
        if caption is not None:
            content.update(text_fields(caption, caption=True))
        return self._wrap(user, update_id, content)

    def sticker(self, user, emoji: str = "\U0001F44D", set_name: str = "DriverDemoPack") -> bytes:
        update_id = next(self._ids)
        file_id, unique = self._file_ids("sticker", user.id, update_id)
        thumb = {"file_id": f"{file_id}t", "file_unique_id": f"{unique}t", "file_size": 4_106,
                 "width": 128, "height": 128}
        content = {"sticker": {"width": 512, "height": 512, "emoji": emoji,
                               "set_name": set_name, "is_animated": False, "is_video": False,
                               "type": "regular", "thumbnail": thumb, "file_id": file_id,
                               "file_unique_id": unique, "file_size": 23_418}}
        return self._wrap(user, update_id, content)

    def location(self, user, latitude: float | None = None,
                 longitude: float | None = None) -> bytes:
        if latitude is None or longitude is None:  # somewhere around Berlin, fixed per user
            latitude = 52.52 + ((user.id * 7919) % 2001 - 1000) / 10_000
            longitude = 13.405 + ((user.id * 104_729) % 2001 - 1000) / 10_000
        content = {"location": {"latitude": latitude, "longitude": longitude}}
        return self._wrap(user, next(self._ids), content)

    def contact(self, user, of=None) -> bytes:
        """The user shares a contact card: their own (`of=None`) or another user's."""
        who = of or user
        content = {"contact": {"phone_number": who.phone, "first_name": who.first_name,
                               "last_name": who.last_name, "user_id": who.id}}
        return self._wrap(user, next(self._ids), content)

    def edited_message(self, user, text: str = "Hello! (edited)",
                       message_id: int | None = None) -> bytes:
        """An edit of `message_id`, by default the chat's latest message; sent 30 s ago."""
        peer = self._peer(user)
        sender, chat = peer.sender, peer.chat
        if message_id is None:
            message_id = self._last_message_id.get(user.chat_id) or self._message_id(user.chat_id)
        now = int(_time())
        message = {"message_id": message_id, "from": sender, "chat": chat, "date": now - 30,
                   "edit_date": now, **text_fields(text)}
        return orjson.dumps({"update_id": next(self._ids), "edited_message": message})

    # --- callback, inline, membership -------------------------------------------------

    def callback_query(self, user, data: str = "menu:1", button_text: str | None = None,
                       message_text: str = "Choose an option:") -> bytes:
        """A tap on an inline-keyboard button of a message the bot sent to this chat."""
        text_json = _DEFAULT_MESSAGE_TEXT if message_text == "Choose an option:" else _dumps(message_text)
        return self._callback(user, _dumps(data), _dumps(button_text) if button_text else None, text_json)

    def _callback(self, user, data_json: bytes, button_json: bytes | None, text_json: bytes) -> bytes:
        """callback_query from JSON pieces; no `button_json`: the button's text is the data."""
        peer = self._peers.get(user.id) or self._peer(user)
        update_id = next(self._ids)
        chat_id = user.chat_id
        last = (self._last_message_id.get(chat_id) or _history(chat_id)) + 1  # _message_id, inlined
        self._last_message_id[chat_id] = last
        return _CALLBACK % (update_id, user.id, update_id, peer.sender_json, last, self._bot_json, peer.chat_json,
                            int(_time()) - 2, text_json, button_json or data_json, data_json, peer.instance_json,
                            data_json)

    def inline_query(self, user, query: str = "pizza", offset: str = "",
                     chat_type: str = "sender") -> bytes:
        sender = self._peer(user).sender
        update_id = next(self._ids)
        inline = {"id": f"{user.id}{update_id}", "from": sender, "query": query,
                  "offset": offset, "chat_type": chat_type}
        return orjson.dumps({"update_id": update_id, "inline_query": inline})
