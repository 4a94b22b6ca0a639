"""WhatsApp Cloud API webhook notifications, as Meta POSTs them to a business's webhook.

Every body has one shape (the `messages` field of a WhatsApp Business Account):

    {"object": "whatsapp_business_account",
     "entry": [{"id": WABA_ID, "changes": [{"value": {
         "messaging_product": "whatsapp",
         "metadata": {"display_phone_number", "phone_number_id"},
         "contacts": [{"profile": {"name"}, "wa_id", "user_id"}],
         "messages": [{"from", "from_user_id", "id", "timestamp", "type", <type>: {...}}]
         # or, for the business's own messages: "statuses": [{"id", "status", ...}]
     }, "field": "messages"}]}]}

`contacts` is in both (status notifications name their recipient there too), and
`user_id` is the user's business-scoped user id (BSUID, "US.<digits>": the country of
the number, then a number fixed per business and user), which current Cloud API
payloads carry beside the phone number (`from_user_id`, `recipient_user_id`) and
which frameworks read (pywa builds its User from `contacts[0].user_id`).

The wrapper is serialised once at construction: a render serialises only the
message (or status) object and the user's contact, which is cached per user, and
splices them into the precompiled wrapper bytes.

Fields per kind follow Meta's webhook reference (messages: text, interactive
button_reply / list_reply, image, video, sticker, document, audio, location,
reaction; statuses: sent, delivered, read with `conversation` and `pricing`, failed
with the Graph API error object in `errors`). Timestamps are unix seconds as
strings, as Meta sends them. Media objects carry `id`, `mime_type`, `sha256`
(base64) and `url`, plus `caption` / `filename` / `voice` / `animated` where the
kind has them.

Ids: message ids are "wamid." + base64 of the fields Meta's own ids carry (the
user's number and a 20-hex-digit message key); the key comes from a counter strided
by worker (worker_index + k * n_workers), as do media ids, so no two workers make
the same id. No two status notifications are the same bytes unless asked for: without
an explicit `message_id`, a status the last business message already had starts a new
message (a new wamid), as each (message, status) pair is notified once by Meta, so
frameworks that drop duplicate bodies (pywa hashes them) drop none.

`signature(body)` is what Meta sends in X-Hub-Signature-256: "sha256=" + hex
HMAC-SHA256 keyed with the app secret, over the exact body bytes.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

import orjson

from driver.payloads.renderers import Renderer, bind, check_arguments, flag

__all__ = ["ERRORS", "KINDS", "SIGNATURE_HEADER", "STATUSES", "WhatsAppNotifications"]

SIGNATURE_HEADER = "X-Hub-Signature-256"
KINDS: tuple[str, ...] = (
    "text",
    "button_reply",
    "list_reply",
    "image",
    "video",
    "sticker",
    "document",
    "audio",
    "location",
    "reaction",
    "status",
)
STATUSES: tuple[str, ...] = ("sent", "delivered", "read", "failed")
# Graph API errors a `failed` status carries: code -> (title, details). Titles and
# details as Meta's error-code reference words them.
ERRORS: dict[int, tuple[str, str]] = {
    131049: ("This message was not delivered to maintain healthy ecosystem engagement.",
             "In order to maintain a healthy ecosystem engagement, the message failed to be "
             "delivered."),
    131026: ("Message undeliverable",
             "Unable to deliver message. Reasons can include: the recipient phone number is "
             "not a WhatsApp phone number."),
    131047: ("Re-engagement message",
             "Message failed to send because more than 24 hours have passed since the "
             "customer last replied to this number."),
    131050: ("User has stopped marketing messages",
             "Unable to deliver the marketing message: the user stopped receiving marketing "
             "messages from this business."),
    130472: ("User's number is part of an experiment",
             "Failed to send message because this user's phone number is part of an "
             "experiment."),
}
_ERROR_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
_CONVERSATION_S = 24 * 3600  # a conversation (customer-service window) lasts 24 h
# A BSUID's country, by the number's calling code (the synthetic users' are +1555...);
# numbers of other codes get "US" too: the prefix only has to look like a country.
_COUNTRY = {"1": "US", "7": "RU", "33": "FR", "44": "GB", "49": "DE", "55": "BR", "91": "IN"}
_b64 = base64.b64encode
_b2a = binascii.b2a_base64


class WhatsAppNotifications:
    """Webhook bodies for one worker; `render(kind, user, **kw)` or one method per kind."""

    def __init__(
        self,
        phone_number_id: str = "106540352242922",
        display_phone_number: str = "15550783881",
        app_secret: str | bytes | None = None,
        *,
        waba_id: str = "102290129340398",
        worker_index: int = 0,
        n_workers: int = 1,
    ):
        if n_workers < 1 or not 0 <= worker_index < n_workers:
            raise ValueError(f"worker_index must be in [0, {n_workers}), got {worker_index}")
        if isinstance(app_secret, str):
            app_secret = app_secret.encode()
        if app_secret is not None and not app_secret:
            raise ValueError("WhatsApp app secret must not be empty")
        self.phone_number_id = str(phone_number_id)
        self.display_phone_number = str(display_phone_number).lstrip("+")
        self.waba_id = str(waba_id)
        self._mac = hmac.new(app_secret, digestmod=hashlib.sha256) if app_secret else None
        self._next_key = worker_index
        self._step = n_workers
        self._contacts: dict[str, tuple[bytes, bytes]] = {}  # wa_id -> ("contacts" JSON, BSUID JSON)
        self._last_sent: dict[str, str] = {}  # wa_id -> id of the last business message
        self._reported: dict[str, set[str]] = {}  # wa_id -> statuses notified for it
        self._conversations: dict[str, str] = {}  # wa_id -> conversation id (32 hex)
        self._wamid_heads: dict[str, bytes] = {}  # wa_id -> the fixed part of its wamids
        head = orjson.dumps({"messaging_product": "whatsapp", "metadata": {
            "display_phone_number": self.display_phone_number,
            "phone_number_id": self.phone_number_id}})[:-1]  # without the closing brace
        # Precompiled wrapper: PREFIX + `"contacts":[..],"messages":[msg]` + SUFFIX
        self._prefix = (b'{"object":"whatsapp_business_account","entry":[{"id":'
                        + orjson.dumps(self.waba_id) + b',"changes":[{"value":' + head + b",")
        self._suffix = b'},"field":"messages"}]}]}'
        self._render = {kind: getattr(self, kind) for kind in KINDS}

    # --- signing --------------------------------------------------------------------

    def signature(self, body: bytes) -> str:
        """'sha256=<hex HMAC-SHA256(app_secret, body)>' over exactly these bytes."""
        if self._mac is None:
            raise ValueError("no WhatsApp app secret configured: cannot sign")
        mac = self._mac.copy()  # the keyed state is computed once, at construction
        mac.update(body)
        return "sha256=" + mac.hexdigest()

    def headers(self, body: bytes) -> dict[str, str]:
        """{"X-Hub-Signature-256": signature(body)} when an app secret is set, else {}."""
        if self._mac is None:
            return {}
        return {SIGNATURE_HEADER: self.signature(body)}

    # --- shared per-render helpers ------------------------------------------------

    def render(self, kind: str, user, **kw) -> bytes:
        return self._method(kind)(user, **kw)

    def _method(self, kind: str):
        try:
            return self._render[kind]
        except KeyError:
            raise ValueError(f"unknown WhatsApp notification kind {kind!r}; "
                             f"expected one of {', '.join(KINDS)}") from None

    def compile(self, kind: str, static: dict | None = None, dynamic: dict | None = None) -> Renderer:
        """`render(user, captured=None, rng=None) -> bytes` for `kind` with fixed arguments:
        `static` keyword arguments, `dynamic` ones from getters `g(user, captured, rng)`
        (see driver.payloads.renderers). Sign the result with `headers(body)`."""
        method = self._method(kind)
        static, dynamic = dict(static or {}), dict(dynamic or {})
        check_arguments(f"WhatsApp notification kind {kind}", method, static, dynamic)
        return bind(method, static, dynamic)

    def _key(self) -> int:
        key = self._next_key
        self._next_key = key + self._step
        return key

    def _wamid(self, wa_id: str) -> str:
        # Meta's ids are base64 of a small protobuf: the user's number, then a
        # 20-hex-digit message key. Same layout here, with our counter as the key.
        head = self._wamid_heads.get(wa_id)
        if head is None:
            head = self._wamid_heads[wa_id] = (b"\x1c\x18" + bytes((len(wa_id),))
                                               + wa_id.encode() + b"\x15\x02\x00\x12\x18\x14")
        return "wamid." + _b2a(head + b"%020X\x00" % self._key(), newline=False).decode()

    def bsuid(self, user) -> str:
        """The user's business-scoped user id: "US.<20 digits>", fixed per WABA and user."""
        wa_id = user.wa_id
        country = _COUNTRY.get(wa_id[:1]) or _COUNTRY.get(wa_id[:2], "US")
        digest = hashlib.blake2b(f"{self.waba_id}:{wa_id}".encode(), digest_size=8).digest()
        return f"{country}.{int.from_bytes(digest, 'big') % 10**20:020d}"

    def _contact(self, user) -> tuple[bytes, str]:
        """(the serialised `contacts` array, the BSUID) of `user`, cached."""
        wa_id = user.wa_id
        cached = self._contacts.get(wa_id)
        if cached is None:
            bsuid = self.bsuid(user)
            cached = self._contacts[wa_id] = (orjson.dumps(
                [{"profile": {"name": user.full_name}, "wa_id": wa_id, "user_id": bsuid}]), bsuid)
        return cached

    def _incoming(self, user, message: dict) -> bytes:
        """A `messages` notification carrying `message` from `user`."""
        wa_id = user.wa_id
        contacts, bsuid = self._contacts.get(wa_id) or self._contact(user)
        head = {"from": wa_id, "from_user_id": bsuid, "id": self._wamid(wa_id),
                "timestamp": str(int(time.time()))}
        head.update(message)
        return b"".join((self._prefix, b'"contacts":', contacts, b',"messages":[',
                         orjson.dumps(head), b"]", self._suffix))

    def _media(self, mime_type: str) -> dict:
        media_id = str(1_000_000_000_000_000 + self._key())
        digest = hashlib.sha256(media_id.encode()).digest()
        url = (f"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid={media_id}"
               f"&ext={int(time.time())}&hash={digest[:12].hex()}")
        return {"mime_type": mime_type, "sha256": _b64(digest).decode(), "id": media_id,
                "url": url}

    # --- incoming messages ------------------------------------------------------------

    def text(self, user, body: str = "Hello!") -> bytes:
        return self._incoming(user, {"type": "text", "text": {"body": body}})

    def button_reply(self, user, button_id: str = "btn_yes", title: str = "Yes",
                     context_id: str | None = None) -> bytes:
        """The user taps a reply button of an interactive message the business sent."""
        return self._incoming(user, {
            "context": self._context(user, context_id),
            "type": "interactive",
            "interactive": {"type": "button_reply",
                            "button_reply": {"id": button_id, "title": title}}})

    def list_reply(self, user, row_id: str = "row_1", title: str = "First option",
                   description: str = "The first row of the list",
                   context_id: str | None = None) -> bytes:
        """The user picks a row of an interactive list message the business sent."""
        return self._incoming(user, {
            "context": self._context(user, context_id),
            "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {
                "id": row_id, "title": title, "description": description}}})

    def _context(self, user, context_id: str | None) -> dict:
        """`context` of a reply: the business message replied to (by default its last one)."""
        if context_id is None:
            context_id = self._last_sent.get(user.wa_id) or self._wamid(user.wa_id)
        return {"from": self.display_phone_number, "id": context_id}

    def image(self, user, caption: str | None = "Look at this",
              mime_type: str = "image/jpeg") -> bytes:
        media = self._media(mime_type)
        if caption is not None:
            media = {"caption": caption, **media}
        return self._incoming(user, {"type": "image", "image": media})

    def video(self, user, caption: str | None = "Watch this",
              mime_type: str = "video/mp4") -> bytes:
        media = self._media(mime_type)
        if caption is not None:
            media = {"caption": caption, **media}
        return self._incoming(user, {"type": "video", "video": media})

    def sticker(self, user, animated: bool | str = False) -> bytes:
        """A sticker (image/webp); `animated` as a bool or "true"/"false"."""
        media = self._media("image/webp")
        media["animated"] = flag(animated, "animated")
        return self._incoming(user, {"type": "sticker", "sticker": media})

    def reaction(self, user, emoji: str = "\U0001F44D", message_id: str | None = None) -> bytes:
        """The user reacts to a business message (by default the last one sent to them);
        an empty emoji removes the reaction."""
        if message_id is None:
            message_id = self._last_sent.get(user.wa_id) or self._wamid(user.wa_id)
        return self._incoming(user, {"type": "reaction", "reaction": {
            "message_id": message_id, "emoji": emoji}})

    def document(self, user, filename: str = "invoice.pdf", caption: str | None = "My invoice",
                 mime_type: str = "application/pdf") -> bytes:
        media = self._media(mime_type)
        head = {"caption": caption, "filename": filename} if caption is not None else {
            "filename": filename}
        return self._incoming(user, {"type": "document", "document": {**head, **media}})

    def audio(self, user, voice: bool = True, mime_type: str = "audio/ogg; codecs=opus") -> bytes:
        """A voice note (`voice=True`, recorded in WhatsApp) or a forwarded audio file."""
        media = self._media(mime_type)
        media["voice"] = voice
        return self._incoming(user, {"type": "audio", "audio": media})

    def location(self, user, latitude: float | None = None, longitude: float | None = None,
                 name: str | None = "Brandenburger Tor",
                 address: str | None = "Pariser Platz, 10117 Berlin",
                 url: str | None = "https://maps.google.com/?cid=1234567890") -> bytes:
        """A shared place (name, address, url) or, with those None, a current position."""
        if latitude is None or longitude is None:  # around Berlin, fixed per user
            latitude = 52.52 + ((user.id * 7919) % 2001 - 1000) / 10_000
            longitude = 13.405 + ((user.id * 104_729) % 2001 - 1000) / 10_000
        place = {"latitude": latitude, "longitude": longitude}
        for key, value in (("name", name), ("address", address), ("url", url)):
            if value is not None:
                place[key] = value
        return self._incoming(user, {"type": "location", "location": place})

    # --- statuses of the business's own messages -----------------------------------

    def status(self, user, status: str = "delivered", message_id: str | None = None,
               category: str = "service", pricing_model: str = "PMP",
               error_code: int | str = 131049) -> bytes:
        """sent / delivered / read / failed of a message the business sent to `user`.

        Without `message_id`, "sent" starts a new business message and the others refer
        to the last one sent, so sent -> delivered -> read reads as one message's life;
        a status that message already had starts a new one, so no two notifications
        repeat. `pricing` follows per-message pricing ("PMP": billable, category, type;
        service replies are free) or, with pricing_model="CBP", the older
        conversation-based form; `conversation` carries its id, its origin and, on
        "sent", its expiration. "failed" carries neither, but `errors`: the Graph API
        error `error_code` (one of ERRORS) with its title, message, details and href.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown WhatsApp status {status!r}; "
                             f"expected one of {', '.join(STATUSES)}")
        wa_id = user.wa_id
        contacts, bsuid = self._contacts.get(wa_id) or self._contact(user)
        if message_id is None:
            message_id = self._last_sent.get(wa_id)
            reported = self._reported.get(wa_id)
            if status == "sent" or message_id is None or reported is None or status in reported:
                message_id = self._wamid(wa_id)
                self._reported[wa_id] = {status}
            else:
                reported.add(status)
        else:
            self._reported[wa_id] = {status}
        self._last_sent[wa_id] = message_id
        now = int(time.time())
        entry = {"id": message_id, "status": status, "timestamp": str(now),
                 "recipient_id": wa_id, "recipient_user_id": bsuid}
        if status == "failed":
            entry["errors"] = [_error(error_code)]
        else:
            entry["conversation"] = self._conversation(wa_id, status, category, now)
            entry["pricing"] = _pricing(category, pricing_model)
        return b"".join((self._prefix, b'"contacts":', contacts, b',"statuses":[',
                         orjson.dumps(entry), b"]", self._suffix))

    def _conversation(self, wa_id: str, status: str, category: str, now: int) -> dict:
        conversation_id = self._conversations.get(wa_id)
        if conversation_id is None:
            conversation_id = self._conversations[wa_id] = hashlib.blake2b(
                f"{self.phone_number_id}:{wa_id}".encode(), digest_size=16).hexdigest()
        conversation = {"id": conversation_id}
        if status == "sent":
            conversation["expiration_timestamp"] = str(now + _CONVERSATION_S)
        conversation["origin"] = {"type": category}
        return conversation


def _pricing(category: str, pricing_model: str) -> dict:
    if pricing_model == "CBP":
        return {"billable": True, "pricing_model": "CBP", "category": category}
    free = category == "service"
    return {"billable": not free, "pricing_model": pricing_model, "category": category,
            "type": "free_customer_service" if free else "regular"}


def _error(code: int | str) -> dict:
    """The Graph API error object of a failed status, for one of the known codes."""
    try:
        title, details = ERRORS[int(code)]
    except (KeyError, ValueError):
        raise ValueError(f"unknown WhatsApp error code {code!r}; expected one of "
                         f"{', '.join(map(str, ERRORS))}") from None
    return {"code": int(code), "title": title, "message": title,
            "error_data": {"details": details}, "href": _ERROR_HREF}

