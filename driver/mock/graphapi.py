"""The WhatsApp Cloud API (Graph API) as the mock answers it: calls -> well-formed answers.

`GraphApi.messages(phone_id, body)` takes the JSON object of one
`POST /vNN.0/{phone_number_id}/messages` and returns Graph's answer, or raises
`GraphApiError` with Graph's error code and message; `upload`, `media_info`,
`delete_media` and `download` are the media endpoints. No I/O: the aiohttp app in
`driver.mock.whatsapp` wraps it, and `describe` gives it what the call log keeps.

A sent message answers `{"messaging_product": "whatsapp", "contacts": [{"input": TO,
"wa_id": DIGITS}], "messages": [{"id": "wamid...."}]}` (a BSUID recipient gets
`user_id` instead of `wa_id`, a template `message_status: "accepted"`); wamids are
unique for the mock's lifetime and between mocks (a random prefix per instance).
Mark-as-read (and the typing indicator riding on it) answers `{"success": true}`.

Validation follows Graph's error shape and codes: 400 code 100 for a missing or
invalid parameter, 400 code 131030 for a `to` that is no phone number (Graph's only
synchronous recipient error; a real number outside the test allow-list gets it too),
400 code 100 subcode 33 for a media id the mock does not hold. What the real API only
reports later, in a status webhook (an undeliverable number, a template that does not
exist), the mock cannot know and accepts.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
from collections import OrderedDict
from typing import Any

__all__ = ["GraphApi", "GraphApiError", "describe", "MEDIA_TYPES"]

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
MESSAGE_TYPES = ("text", "interactive", *MEDIA_TYPES, "location", "contacts", "template",
                 "reaction")
_CAPTIONED = ("image", "video", "document")
_MAX_TEXT = 4096
_MAX_CAPTION = 1024
_PHONE_CHARS = re.compile(r"[\s\-().+]")
_DIGITS = re.compile(r"\d{5,15}\Z")
#: the media path the mock serves (Graph's own is lookaside.fbsbx.com/whatsapp_business/...)
MEDIA_PATH = "/whatsapp_business/attachments/"
_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4",
        "audio/ogg": "ogg", "audio/mpeg": "mp3", "application/pdf": "pdf", "text/plain": "txt"}


class GraphApiError(Exception):
    """A Graph API error answer: `{"error": {"message", "type", "code", ...}}`."""

    def __init__(self, status: int, code: int, message: str, *, subcode: int | None = None,
                 details: str | None = None, type_: str = "OAuthException",
                 transient: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.subcode, self.details, self.type = subcode, details, type_
        self.transient = transient  # Graph's is_transient: retrying may succeed

    def body(self, fbtrace_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.transient:
            error["is_transient"] = True
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = fbtrace_id
        return {"error": error}


def invalid(message: str, details: str | None = None) -> GraphApiError:
    """Graph's 400 for a missing or invalid parameter (code 100)."""
    return GraphApiError(400, 100, f"(#100) {message}", details=details)


def describe(body: dict[str, Any]) -> dict[str, Any]:
    """What the call log keeps of one messages call (whatever its validity): chat_id
    (the recipient), reply (a message send, not mark-as-read), reply_to (the wamid of
    `context.message_id`), text (body, caption or interactive body) and buttons."""
    to = body.get("to", body.get("recipient"))
    if body.get("status") == "read":
        return {"chat_id": to, "reply": False}
    typ = body.get("type", "text")
    obj = body.get(typ) if isinstance(typ, str) else None
    obj = obj if isinstance(obj, dict) else {}
    text: Any = None
    if typ == "text":
        text = obj.get("body")
    elif typ == "interactive":
        inner = obj.get("body")
        text = inner.get("text") if isinstance(inner, dict) else None
    elif typ in _CAPTIONED:
        text = obj.get("caption")
    context = body.get("context")
    reply_to = context.get("message_id") if isinstance(context, dict) else None
    return {"chat_id": to, "reply": True, "reply_to": reply_to if isinstance(reply_to, str) else None,
            "text": text if isinstance(text, str) else None,
            "buttons": typ == "interactive" and obj.get("type") in ("button", "list")}


class _Media:
    """Uploaded media by id, bounded in count and bytes (oldest dropped first)."""

    def __init__(self, max_files: int, max_bytes: int) -> None:
        self.max_files, self.max_bytes = max_files, max_bytes
        self._items: OrderedDict[str, tuple[str, bytes, str]] = OrderedDict()  # id -> (mime, data, sha256)
        self._bytes = 0

    def add(self, media_id: str, mime: str, data: bytes) -> None:
        self._items[media_id] = (mime, data, hashlib.sha256(data).hexdigest())
        self._bytes += len(data)
        while self._items and (len(self._items) > self.max_files or self._bytes > self.max_bytes):
            _, (_, old, _) = self._items.popitem(last=False)
            self._bytes -= len(old)

    def get(self, media_id: str) -> tuple[str, bytes, str] | None:
        return self._items.get(media_id)

    def delete(self, media_id: str) -> bool:
        item = self._items.pop(media_id, None)
        if item is not None:
            self._bytes -= len(item[1])
        return item is not None


class GraphApi:
    """One mock's state: wamid and media id counters, the media store. One loop, no locks."""

    def __init__(self, max_files: int = 1000, max_file_bytes: int = 256 << 20) -> None:
        self._instance = os.urandom(6)  # wamids differ between mocks too
        self._sent = 0
        self._uploads = 0
        self._traces = 0
        self.media = _Media(max_files, max_file_bytes)

    def fbtrace_id(self) -> str:
        self._traces += 1
        digest = hashlib.blake2b(self._instance + self._traces.to_bytes(8, "big"), digest_size=16)
        return "A" + base64.urlsafe_b64encode(digest.digest()).decode()[:22]

    def _wamid(self) -> str:
        self._sent += 1
        raw = b"\x15\x02\x00\x11\x18\x12" + self._instance + self._sent.to_bytes(8, "big")
        return "wamid." + base64.b64encode(raw).decode()

    # --- messages -------------------------------------------------------------------

    def messages(self, phone_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("messaging_product") != "whatsapp":
            raise invalid("The parameter messaging_product is required.",
                          "messaging_product must be \"whatsapp\"")
        if "status" in body:
            return self._status(body)
        contact = _recipient(body)
        typ = body.get("type", "text")
        if typ not in MESSAGE_TYPES:
            raise invalid(f"Param type must be one of {{{', '.join(MESSAGE_TYPES)}}}"
                          f" - got \"{typ}\".")
        obj = body.get(typ)
        if not isinstance(obj, dict) and not (typ == "contacts" and isinstance(obj, list)):
            raise invalid(f"The parameter {typ} is required.")
        _CHECKS[typ](obj)
        context = body.get("context")
        if context is not None and not (isinstance(context, dict)
                                        and isinstance(context.get("message_id"), str)
                                        and context["message_id"]):
            raise invalid("Param context['message_id'] must be a valid message id.")
        message: dict[str, Any] = {"id": self._wamid()}
        if typ == "template":
            message["message_status"] = "accepted"
        return {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}

    @staticmethod
    def _status(body: dict[str, Any]) -> dict[str, bool]:
        if body["status"] != "read":
            raise invalid(f"Param status must be \"read\" - got {body['status']!r}.")
        if not isinstance(body.get("message_id"), str) or not body["message_id"]:
            raise invalid("The parameter message_id is required.")
        indicator = body.get("typing_indicator")
        if indicator is not None and not (isinstance(indicator, dict) and indicator.get("type") == "text"):
            raise invalid("Param typing_indicator['type'] must be \"text\".")
        return {"success": True}

    # --- media ------------------------------------------------------------------------

    def upload(self, phone_id: str, form: dict[str, Any], file: tuple[str | None, str | None, bytes] | None
               ) -> dict[str, str]:
        """`form`: the multipart's plain fields; `file`: (filename, content type, bytes)."""
        if form.get("messaging_product") != "whatsapp":
            raise invalid("The parameter messaging_product is required.")
        if file is None:
            raise invalid("The parameter file is required.")
        mime = form.get("type") or file[1]
        if not isinstance(mime, str) or "/" not in mime:
            raise invalid("Param type must be a MIME type, e.g. image/jpeg.")
        self._uploads += 1
        media_id = str(1_000_000_000_000_000 + self._uploads)
        self.media.add(media_id, mime, file[2])
        return {"id": media_id}

    def _held(self, media_id: str) -> tuple[str, bytes, str]:
        item = self.media.get(media_id)
        if item is None:
            raise GraphApiError(400, 100, f"Unsupported get request. Object with ID '{media_id}' does "
                                "not exist, cannot be loaded due to missing permissions, or does not "
                                "support this operation.", subcode=33, type_="GraphMethodException")
        return item

    def media_info(self, media_id: str, base_url: str) -> dict[str, Any]:
        """GET /vNN.0/{media_id}: where the bytes are (`base_url`: this mock's origin)."""
        mime, data, sha = self._held(media_id)
        ext = _EXT.get(mime, "bin")
        return {"url": f"{base_url}{MEDIA_PATH}?mid={media_id}&ext={ext}&hash={sha[:16]}",
                "mime_type": mime, "sha256": sha, "file_size": len(data), "id": media_id,
                "messaging_product": "whatsapp"}

    def delete_media(self, media_id: str) -> dict[str, bool]:
        self._held(media_id)
        return {"success": self.media.delete(media_id)}

    def download(self, media_id: str) -> tuple[str, bytes] | None:
        """(mime type, bytes) of held media; None for an id the mock does not hold."""
        item = self.media.get(media_id)
        return None if item is None else (item[0], item[1])


def _recipient(body: dict[str, Any]) -> dict[str, str]:
    """The answer's contacts[0]: `to` (a phone number, or a group id for recipient_type
    group) or `recipient` (a BSUID)."""
    to, bsuid = body.get("to"), body.get("recipient")
    if to is None and bsuid is None:
        raise invalid("The parameter to is required.")
    if to is None:
        if not isinstance(bsuid, str) or not bsuid:
            raise invalid("Param recipient must be a non-empty string.")
        return {"input": bsuid, "user_id": bsuid}
    if not isinstance(to, (str, int)) or isinstance(to, bool) or not str(to):
        raise invalid("Param to must be a string.")
    to = str(to)
    if body.get("recipient_type") == "group":
        return {"input": to, "wa_id": to}
    digits = _PHONE_CHARS.sub("", to)
    if not _DIGITS.match(digits):
        raise GraphApiError(400, 131030, "(#131030) Recipient phone number not in allowed list",
                            details=f"Recipient phone number not valid or not in allowed list: {to!r}")
    return {"input": to, "wa_id": digits}


def _text(name: str, value: Any, limit: int, *, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"The parameter {name} is required.")
    if len(value) > limit:
        raise invalid(f"Param {name} must be at most {limit} characters long.")


def _check_text(obj: dict[str, Any]) -> None:
    _text("text['body']", obj.get("body"), _MAX_TEXT)


def _check_interactive(obj: dict[str, Any]) -> None:
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        raise invalid("The parameter interactive['type'] is required.")
    action = obj.get("action")
    if not isinstance(action, dict):
        raise invalid("The parameter interactive['action'] is required.")
    if kind not in ("button", "list", "cta_url"):
        return  # product, flow, location_request_message ...: accepted as they come
    body = obj.get("body")
    _text("interactive['body']['text']", body.get("text") if isinstance(body, dict) else None, _MAX_TEXT)
    if kind == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise invalid("Param interactive['action']['buttons'] must have 1 to 3 items.")
        for i, button in enumerate(buttons):
            reply = button.get("reply") if isinstance(button, dict) else None
            if not isinstance(reply, dict) or not reply.get("id"):
                raise invalid(f"The parameter interactive['action']['buttons'][{i}]['reply']['id'] is required.")
            _text(f"interactive['action']['buttons'][{i}]['reply']['title']", reply.get("title"), 20)
    elif kind == "list":
        _text("interactive['action']['button']", action.get("button"), 20)
        sections = action.get("sections")
        if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
            raise invalid("Param interactive['action']['sections'] must have 1 to 10 items.")
        rows = [row for s in sections if isinstance(s, dict) and isinstance(s.get("rows"), list)
                for row in s["rows"]]
        if not 1 <= len(rows) <= 10 or not all(isinstance(r, dict) and r.get("id") and r.get("title")
                                                 for r in rows):
            raise invalid("Param interactive['action']['sections'] must hold 1 to 10 rows, each "
                          "with an id and a title.")
    else:
        params = action.get("parameters")
        if action.get("name") != "cta_url" or not isinstance(params, dict):
            raise invalid("Param interactive['action'] must be {\"name\": \"cta_url\", \"parameters\": ...}.")
        _text("interactive['action']['parameters']['display_text']", params.get("display_text"), 20)
        if not _is_url(params.get("url")):
            raise invalid("Param interactive['action']['parameters']['url'] must be a URL.")


def _media_check(typ: str):
    def check(obj: dict[str, Any]) -> None:
        media_id, link = obj.get("id"), obj.get("link")
        if (media_id is None) == (link is None):
            raise invalid(f"Param {typ} must have exactly one of id or link.")
        if media_id is not None and (not isinstance(media_id, str) or not media_id):
            raise invalid(f"Param {typ}['id'] must be a media id.")
        if link is not None and not _is_url(link):
            raise invalid(f"Param {typ}['link'] must be an http(s) URL.")
        if typ in _CAPTIONED:
            _text(f"{typ}['caption']", obj.get("caption"), _MAX_CAPTION, required=False)
        elif "caption" in obj:
            raise invalid(f"Param {typ}['caption'] is not allowed: {typ} messages have no caption.")
    return check


def _check_location(obj: dict[str, Any]) -> None:
    for name, bound in (("latitude", 90), ("longitude", 180)):
        value = obj.get(name)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise invalid(f"The parameter location['{name}'] is required.") from None
        if not -bound <= value <= bound:
            raise invalid(f"Param location['{name}'] must be between -{bound} and {bound}.")


def _check_contacts(obj: Any) -> None:
    if not isinstance(obj, list) or not obj:
        raise invalid("Param contacts must be a non-empty array.")
    for i, contact in enumerate(obj):
        name = contact.get("name") if isinstance(contact, dict) else None
        _text(f"contacts[{i}]['name']['formatted_name']",
              name.get("formatted_name") if isinstance(name, dict) else None, 1024)


def _check_template(obj: dict[str, Any]) -> None:
    _text("template['name']", obj.get("name"), 512)
    language = obj.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str) \
            or not language["code"]:
        raise invalid("The parameter template['language']['code'] is required.")
    if obj.get("components") is not None and not isinstance(obj["components"], list):
        raise invalid("Param template['components'] must be an array.")


def _check_reaction(obj: dict[str, Any]) -> None:
    if not isinstance(obj.get("message_id"), str) or not obj["message_id"]:
        raise invalid("The parameter reaction['message_id'] is required.")
    if not isinstance(obj.get("emoji"), str):  # "" removes the reaction
        raise invalid("The parameter reaction['emoji'] is required.")


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) > 8


_CHECKS = {"text": _check_text, "interactive": _check_interactive, "location": _check_location,
           "contacts": _check_contacts, "template": _check_template, "reaction": _check_reaction,
           **{typ: _media_check(typ) for typ in MEDIA_TYPES}}
