"""The Telegram Bot API as the mock answers it: methods -> well-formed results.

`BotApi.call(method, params, uploads)` takes the parameters of one call, already
decoded from whatever body the client sent (see `decode_params`), and returns the
`result` of the Bot API envelope, or raises `BotApiError` with Telegram's error code
and description. No I/O: the aiohttp app in `driver.mock.telegram` wraps it.

What comes back is shaped like Telegram's own answers so that frameworks parse it
unmodified: `Message` with `message_id` counting up from 1 per chat, `date`, `chat`,
`from` (the bot); `User` for getMe; `File` for getFile. Uploaded files are kept (in
a bounded store, oldest dropped first) so getFile and the download path return their
bytes; a file id the mock never issued (a user's photo from an update) still resolves,
to a short placeholder content. Photo dimensions are not decoded: PhotoSize reports a
nominal 512x512.
"""
from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import orjson

__all__ = ["BotApi", "BotApiError", "Upload", "decode_params", "DEFAULT_BOT_USERNAME"]

DEFAULT_BOT_USERNAME = "driver_mock_bot"
DEFAULT_BOT_ID = 7000000001
_NOMINAL_SIDE = 512
# form fields that carry JSON in form-urlencoded and multipart bodies
_JSON_FIELDS = ("reply_markup", "reply_parameters", "media", "entities", "caption_entities",
                "results", "allowed_updates", "link_preview_options", "button")
_INT_FIELDS = ("message_id", "reply_to_message_id", "message_thread_id", "cache_time",
               "from_chat_id", "max_connections", "offset", "limit", "timeout")
_INT_RE = re.compile(r"-?\d+\Z")
# sendX -> the Message field that carries X (the files family); upload field = the key
_MEDIA = {"sendphoto": "photo", "senddocument": "document", "sendvideo": "video",
          "sendaudio": "audio", "sendvoice": "voice", "sendanimation": "animation",
          "sendsticker": "sticker", "sendvideonote": "video_note"}


class BotApiError(Exception):
    """A Bot API error answer: `{"ok": false, "error_code": code, "description": ...}`."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code,
                                "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart body."""
    filename: str | None
    content_type: str | None
    data: bytes


def decode_params(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Form and query values are strings: JSON fields parsed, ids made ints; file parts
    split out. JSON bodies pass through this too (their values are already typed)."""
    params: dict[str, Any] = {}
    uploads: dict[str, Upload] = {}
    for key, value in raw.items():
        if isinstance(value, Upload):
            uploads[key] = value
            continue
        if isinstance(value, str):
            if key in _JSON_FIELDS and value[:1] in ("{", "["):
                try:
                    value = orjson.loads(value)
                except orjson.JSONDecodeError:
                    raise BotApiError(400, f"Bad Request: can't parse {key} JSON object") from None
            elif (key == "chat_id" or key in _INT_FIELDS) and _INT_RE.match(value):
                value = int(value)
        params[key] = value
    return params, uploads


class _Files:
    """Uploaded files by file_id, bounded in count and bytes (oldest dropped first)."""

    def __init__(self, max_files: int, max_bytes: int) -> None:
        self.max_files, self.max_bytes = max_files, max_bytes
        # file_id -> (file_unique_id, path, data)
        self._files: OrderedDict[str, tuple[str, str, bytes]] = OrderedDict()
        self._paths: dict[str, str] = {}  # path -> file_id, for downloads
        self._bytes = 0
        self._n = 0

    def add(self, kind: str, data: bytes, filename: str | None) -> tuple[str, str, str]:
        self._n += 1
        file_id = f"mock-{kind}-{self._n}"
        ext = filename.rsplit(".", 1)[1] if filename and "." in filename else "bin"
        path = f"{kind}s/file_{self._n}.{ext}"
        self._files[file_id] = (f"u{self._n}", path, data)
        self._paths[path] = file_id
        self._bytes += len(data)
        while self._files and (len(self._files) > self.max_files or self._bytes > self.max_bytes):
            _, (_, old_path, old) = self._files.popitem(last=False)
            del self._paths[old_path]
            self._bytes -= len(old)
        return file_id, f"u{self._n}", path

    def get(self, file_id: str) -> tuple[str, str, bytes] | None:
        return self._files.get(file_id)

    def by_path(self, path: str) -> bytes | None:
        file_id = self._paths.get(path)
        return None if file_id is None else self._files[file_id][2]


def _unique(text: str) -> str:
    return "u" + hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def placeholder(file_id: str) -> bytes:
    """The content served for a file the mock never received."""
    return b"driver mock file " + file_id.encode()


class BotApi:
    """One bot's state: message ids per chat, files, webhook. Not thread-safe (one loop)."""

    def __init__(self, token_id: int | None = None, username: str = DEFAULT_BOT_USERNAME,
                 max_files: int = 1000, max_file_bytes: int = 256 << 20,
                 clock: Callable[[], float] = time.time) -> None:
        self.bot = {"id": token_id or DEFAULT_BOT_ID, "is_bot": True, "first_name": "Driver Mock",
                    "username": username}
        self._clock = clock
        # the last message id per chat: one int per chat seen, kept for the mock's life
        # (ids must not repeat in a chat; a soak's chats are the users driver simulates)
        self._last_id: dict[Any, int] = {}
        self._media_groups = 0
        self.files = _Files(max_files, max_file_bytes)
        self.webhook: dict[str, Any] = {"url": "", "has_custom_certificate": False,
                                        "pending_update_count": 0}
        self._methods: dict[str, Callable[[dict[str, Any], dict[str, Upload]], Any]] = {
            "getme": lambda p, u: {**self.bot, "can_join_groups": True,
                                   "can_read_all_group_messages": False,
                                   "supports_inline_queries": True},
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": lambda p, u: dict(self.webhook),
            "getupdates": lambda p, u: [],
            "sendmessage": self._send_message,
            "sendchataction": self._send_chat_action,
            "sendmediagroup": self._send_media_group,
            "editmessagetext": self._edit_text,
            "editmessagereplymarkup": self._edit_markup,
            "editmessagecaption": self._edit_markup,
            "answercallbackquery": self._answer_callback,
            "answerinlinequery": self._answer_inline,
            "deletemessage": self._delete_message,
            "getfile": self._get_file,
        }
        for method, field in _MEDIA.items():
            self._methods[method] = self._media_sender(field)

    def known(self, method: str) -> bool:
        return method.lower() in self._methods

    def call(self, method: str, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        """The result of one call. A method the mock does not implement answers True,
        as most Bot API methods not listed here do (set*, pin*, ban*, ...)."""
        handler = self._methods.get(method.lower())
        return True if handler is None else handler(params, uploads)

    def download(self, path: str) -> bytes | None:
        data = self.files.by_path(path)
        if data is None and path.startswith("placeholder/"):
            data = placeholder(path[len("placeholder/"):])
        return data

    # --- messages ------------------------------------------------------------

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        if isinstance(chat_id, str):  # @channelusername
            return {"id": -1000000000000 - int(_unique(chat_id)[1:9], 16), "type": "channel",
                    "title": chat_id.lstrip("@"), "username": chat_id.lstrip("@")}
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        if chat_id <= -1000000000000:
            return {"id": chat_id, "type": "supergroup", "title": "Group"}
        return {"id": chat_id, "type": "group", "title": "Group"}

    def _message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = _chat_id(params)
        self._last_id[chat_id] = message_id = self._last_id.get(chat_id, 0) + 1
        msg: dict[str, Any] = {"message_id": message_id, "from": self.bot,
                               "chat": self._chat(chat_id), "date": int(self._clock())}
        thread = params.get("message_thread_id")
        if isinstance(thread, int):
            msg["message_thread_id"] = thread
        reply_to = params.get("reply_parameters", {})
        reply_to = reply_to.get("message_id") if isinstance(reply_to, dict) else None
        reply_to = reply_to if reply_to is not None else params.get("reply_to_message_id")
        if isinstance(reply_to, int):
            msg["reply_to_message"] = {"message_id": reply_to, "chat": msg["chat"],
                                       "date": msg["date"]}
        msg.update(content)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        return msg

    def _send_message(self, params: dict[str, Any], uploads: dict[str, Upload]) -> dict[str, Any]:
        _chat_id(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        content: dict[str, Any] = {"text": text}
        if isinstance(params.get("entities"), list):
            content["entities"] = params["entities"]
        return self._message(params, **content)

    def _send_chat_action(self, params: dict[str, Any], uploads: dict[str, Upload]) -> bool:
        _chat_id(params)
        _need(params, "action")
        return True

    def _file_object(self, field: str, value: Any, uploads: dict[str, Upload]) -> dict[str, Any]:
        """The Telegram file object (Document, Video, ... without the PhotoSize list)."""
        if isinstance(value, str) and value.startswith("attach://"):
            value = uploads.get(value[len("attach://"):])
            if value is None:
                raise BotApiError(400, f"Bad Request: wrong HTTP URL specified ({field} attach)")
        if isinstance(value, Upload):
            file_id, unique, _ = self.files.add(field, value.data, value.filename)
            obj: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique,
                                   "file_size": len(value.data)}
            if value.filename:
                obj["file_name"] = value.filename
            if value.content_type:
                obj["mime_type"] = value.content_type
            return obj
        if isinstance(value, str) and value:
            stored = self.files.get(value)
            obj = {"file_id": value, "file_unique_id": _unique(value)}
            if stored is not None:
                obj.update(file_unique_id=stored[0], file_size=len(stored[2]))
            return obj
        raise BotApiError(400, f"Bad Request: there is no {field} in the request")

    def _media_content(self, field: str, value: Any, uploads: dict[str, Upload]) -> dict[str, Any]:
        obj = self._file_object(field, value, uploads)
        if field == "photo":
            obj.pop("file_name", None)
            obj.pop("mime_type", None)
            return {"photo": [{**obj, "width": _NOMINAL_SIDE, "height": _NOMINAL_SIDE}]}
        if field in ("video", "animation", "video_note", "sticker"):
            obj.update(width=_NOMINAL_SIDE, height=_NOMINAL_SIDE, duration=0)
            if field == "video_note":
                obj = {k: v for k, v in obj.items() if k not in ("width", "height")}
                obj["length"] = _NOMINAL_SIDE
            if field == "sticker":
                del obj["duration"]
                obj.update(type="regular", is_animated=False, is_video=False)
        elif field in ("audio", "voice"):
            obj["duration"] = 0
        return {field: obj}

    def _media_sender(self, field: str) -> Callable[[dict[str, Any], dict[str, Upload]], Any]:
        def send(params: dict[str, Any], uploads: dict[str, Upload]) -> dict[str, Any]:
            _chat_id(params)
            value = uploads.get(field, params.get(field))
            content = self._media_content(field, value, uploads)
            if isinstance(params.get("caption"), str):
                content["caption"] = params["caption"]
            return self._message(params, **content)
        return send

    def _send_media_group(self, params: dict[str, Any], uploads: dict[str, Upload]) -> list:
        _chat_id(params)
        media = params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise BotApiError(400, "Bad Request: media must be an array of 2-10 items")
        self._media_groups += 1
        group_id = str(13_000_000_000_000_000 + self._media_groups)
        out = []
        for item in media:
            if not isinstance(item, dict) or item.get("type") not in (
                    "photo", "video", "document", "audio"):
                raise BotApiError(400, "Bad Request: can't parse InputMedia")
            content = self._media_content(item["type"], item.get("media"), uploads)
            if isinstance(item.get("caption"), str):
                content["caption"] = item["caption"]
            out.append(self._message(params, media_group_id=group_id, **content))
        return out

    def _edited(self, params: dict[str, Any], **content: Any) -> Any:
        if params.get("inline_message_id"):
            return True
        chat_id = _chat_id(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise BotApiError(400, "Bad Request: message identifier is not specified")
        if message_id > self._last_id.get(chat_id, 0) or message_id < 1:
            raise BotApiError(400, "Bad Request: message to edit not found")
        msg = {"message_id": message_id, "from": self.bot, "chat": self._chat(chat_id),
               "date": int(self._clock()), "edit_date": int(self._clock()), **content}
        if isinstance(params.get("reply_markup"), dict):
            msg["reply_markup"] = params["reply_markup"]
        return msg

    def _edit_text(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        return self._edited(params, text=text)

    def _edit_markup(self, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
        caption = params.get("caption")
        return self._edited(params, **({"caption": caption} if isinstance(caption, str) else {}))

    def _delete_message(self, params: dict[str, Any], uploads: dict[str, Upload]) -> bool:
        chat_id = _chat_id(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise BotApiError(400, "Bad Request: message identifier is not specified")
        if not 1 <= message_id <= self._last_id.get(chat_id, 0):
            raise BotApiError(400, "Bad Request: message to delete not found")
        return True

    def _answer_callback(self, params: dict[str, Any], uploads: dict[str, Upload]) -> bool:
        _need(params, "callback_query_id")
        return True

    def _answer_inline(self, params: dict[str, Any], uploads: dict[str, Upload]) -> bool:
        _need(params, "inline_query_id")
        if not isinstance(params.get("results"), list):
            raise BotApiError(400, "Bad Request: results must be an array")
        return True

    # --- webhook and files -----------------------------------------------------

    def _set_webhook(self, params: dict[str, Any], uploads: dict[str, Upload]) -> bool:
        url = params.get("url")
        if not isinstance(url, str):
            raise BotApiError(400, "Bad Request: parameter \"url\" is required")
        self.webhook = {"url": url, "has_custom_certificate": "certificate" in uploads,
                        "pending_update_count": 0}
        if isinstance(params.get("max_connections"), int):
            self.webhook["max_connections"] = params["max_connections"]
        return True

    def _delete_webhook(self, params: dict[str, Any], uploads: dict[str, Upload]) -> bool:
        self.webhook = {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        return True

    def _get_file(self, params: dict[str, Any], uploads: dict[str, Upload]) -> dict[str, Any]:
        file_id = params.get("file_id")
        if not isinstance(file_id, str) or not file_id:
            raise BotApiError(400, "Bad Request: file_id is empty")
        stored = self.files.get(file_id)
        if stored is None:
            return {"file_id": file_id, "file_unique_id": _unique(file_id),
                    "file_size": len(placeholder(file_id)), "file_path": f"placeholder/{file_id}"}
        unique, path, data = stored
        return {"file_id": file_id, "file_unique_id": unique, "file_size": len(data),
                "file_path": path}


def _chat_id(params: dict[str, Any]) -> Any:
    chat_id = params.get("chat_id")
    if chat_id is None or chat_id == "":
        raise BotApiError(400, "Bad Request: chat_id is empty")
    if isinstance(chat_id, bool) or not isinstance(chat_id, (int, str)) \
            or (isinstance(chat_id, str) and not chat_id.startswith("@")) or chat_id == 0:
        raise BotApiError(400, "Bad Request: chat not found")
    return chat_id


def _need(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise BotApiError(400, f"Bad Request: parameter \"{name}\" is required")
    return value
