"""The WhatsApp Cloud API webhook as the demo bot reads it: the verification handshake,
X-Hub-Signature-256, and notifications taken apart into the messages they carry.

Pure functions (no state, no I/O) shared by the bot (`whatsapp_bot`) and the demo
server (`demo`, `api_mode`); `LRU` is the bound every per-user store of the demo uses.
"""
from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from typing import Any, Generic, Mapping, NamedTuple, TypeVar

__all__ = ["WHATSAPP_PATH", "SIGNATURE_HEADER", "BadNotification", "LRU", "Incoming",
           "signature_ok", "subscription_challenge", "values", "senders", "parse_message",
           "incoming"]

WHATSAPP_PATH = "/webhook/whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"

class BadNotification(ValueError):
    """The body parsed as JSON but is not a WhatsApp webhook notification."""


K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A dict of at most `maxsize` entries; `get` and `put` mark an entry recent."""

    __slots__ = ("maxsize", "_data")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)  # the least recently used

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

# --- webhook security ----------------------------------------------------------------


def signature_ok(body: bytes, header: str | None, app_secret: bytes) -> bool:
    """Whether `header` is "sha256=" + hex HMAC-SHA256(app_secret, body)."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[7:].lower().encode(), expected.encode())


def subscription_challenge(params: Mapping[str, str], verify_token: str) -> str | None:
    """The hub.challenge to echo for a valid verification request, else None."""
    if params.get("hub.mode") != "subscribe":
        return None
    token = params.get("hub.verify_token", "")
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    return params.get("hub.challenge")


# --- notifications ---------------------------------------------------------------------


def values(notification: Any) -> list[dict[str, Any]]:
    if not isinstance(notification, dict):
        raise BadNotification("a notification must be a JSON object")
    if notification.get("object") != "whatsapp_business_account":
        raise BadNotification('object must be "whatsapp_business_account"')
    entries = notification.get("entry")
    if not isinstance(entries, list):
        raise BadNotification("entry must be a list")
    values = []
    for i, entry in enumerate(entries):
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise BadNotification(f"entry[{i}].changes must be a list")
        for j, change in enumerate(changes):
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                raise BadNotification(f"entry[{i}].changes[{j}].value must be an object")
            values.append(value)
    return values


def senders(notification: Any) -> list[str]:
    """The wa_ids whose messages a notification carries (for rate limiting); never raises."""
    try:
        return [m["from"] for v in values(notification) for m in v.get("messages") or ()
                if isinstance(m, dict) and isinstance(m.get("from"), str)]
    except (BadNotification, AttributeError, TypeError):
        return []


def parse_message(message: Any) -> tuple[str, str, str]:
    """A message -> (wa_id, kind, value): kind is text, list_reply, button_reply, image
    or the message type; value the text, the reply id or the media id."""
    if not isinstance(message, dict):
        raise BadNotification("each message must be an object")
    wa_id, kind = message.get("from"), message.get("type")
    if not isinstance(wa_id, str) or not wa_id:
        raise BadNotification("message.from must be a non-empty string")
    if not isinstance(kind, str):
        raise BadNotification("message.type must be a string")
    body = message.get(kind)
    body = body if isinstance(body, dict) else {}
    if kind == "text":
        return wa_id, kind, str(body.get("body") or "")
    if kind == "image":
        return wa_id, kind, str(body.get("id") or "")
    if kind == "interactive":
        sub = body.get("type")
        if sub in ("list_reply", "button_reply") and isinstance(body.get(sub), dict):
            return wa_id, sub, str(body[sub].get("id") or "")
    return wa_id, kind, ""


class Incoming(NamedTuple):
    """One user message of a notification, with what a reply through the API needs:
    the business number it was sent to and its own id (the reply's context)."""
    phone_number_id: str
    wamid: str
    wa_id: str
    kind: str
    value: str


def incoming(notification: Any) -> list[Incoming]:
    """The messages of a notification, in order; raises BadNotification when it is not
    one, or when a message's value has no metadata.phone_number_id or a message no id."""
    out = []
    for i, value in enumerate(values(notification)):
        messages = value.get("messages") or ()
        if not messages:
            continue
        metadata = value.get("metadata")
        number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
        if not isinstance(number, str) or not number:
            raise BadNotification(f"value {i}: metadata.phone_number_id must be a "
                                  "non-empty string")
        for message in messages:
            wa_id, kind, text = parse_message(message)
            wamid = message.get("id")
            if not isinstance(wamid, str) or not wamid:
                raise BadNotification("message.id must be a non-empty string")
            out.append(Incoming(number, wamid, wa_id, kind, text))
    return out
