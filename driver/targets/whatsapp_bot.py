"""The demo target's WhatsApp Cloud API bot: three conversation flows, state per wa_id.

A real WhatsApp bot answers the webhook POST with 200 at once and sends its replies
through the Graph API. For load testing, this bot answers the POST itself, with 200
and a JSON body describing what it would send and where the conversation now is, so
a load test can check and capture from the response:

    {"to": wa_id, "state": "moving:verify", "flow": "full_moving_flow",
     "error": null, "reply": {<the WhatsApp message object the bot would send>},
     ...step fields: "service", "verification_code", "media_id", "order_id", "slot",
     "previous_slot", "issue", "ticket_id", "priority"}

`error` is null when the message moved the conversation on, else one of
"out_of_order" (a message of the wrong kind for the state; `expected` says what the
bot waits for), "invalid_input" (the right kind, but an unknown id or too short a
text), "wrong_code" and "unknown_order"; in every error case `state` is unchanged.
A notification without messages (status updates) gets `{"ignored": true,
"statuses": n}`; one with several messages gets the last message's result plus
`"results": [...]`, one per message.

Flows (text triggers are case-insensitive, whole-message, and restart from any state;
"cancel" returns to "idle"):

    full_moving_flow   "hi" | "hello" | "moving" | "move" -> list (svc_*)
                       -> list_reply svc_* -> text details (10+ characters)
                       -> text: the "verification_code" of the previous reply
                       -> image (image.id) -> button_reply slot_* -> "order_id"
    emergency_support  "emergency" | "urgent" -> buttons (emg_*) -> button_reply emg_*
                       -> text details (10+ characters) -> "ticket_id", "priority": "high"
    reschedule_flow    "reschedule ORD-xxxxxxxx" (an order of this wa_id)
                       -> buttons (slot_*) -> button_reply slot_* -> same "order_id", new "slot"

Conversations and orders live in memory, each in an LRU of at most
`max_conversations` entries: the least recently active are forgotten first (a
forgotten conversation is "idle" again). Messages that leave an unknown wa_id idle
store nothing.
"""
from __future__ import annotations

import os
import random
from typing import Any, Callable

from driver.targets.whatsapp_webhook import (
    SIGNATURE_HEADER,
    WHATSAPP_PATH,
    LRU,
    BadNotification,
    Incoming,
    incoming,
    parse_message,
    senders,
    signature_ok,
    subscription_challenge,
    values,
)

__all__ = [
    "WHATSAPP_PATH", "SIGNATURE_HEADER", "DEFAULT_VERIFY_TOKEN", "DEFAULT_MAX_CONVERSATIONS",
    "SERVICES", "SLOTS", "ISSUES", "BadNotification", "LRU", "Incoming", "WhatsAppBot",
    "signature_ok", "subscription_challenge", "senders",
]

DEFAULT_VERIFY_TOKEN = "driver-demo-verify"
DEFAULT_MAX_CONVERSATIONS = 100_000
MIN_DETAILS_CHARS = 10

# ids the user's interactive replies carry -> titles (button titles <= 20 characters).
SERVICES = {"svc_local_move": "Local move", "svc_long_distance": "Long-distance move",
            "svc_packing": "Packing service"}
SLOTS = {"slot_morning": "Morning 8-12", "slot_afternoon": "Afternoon 12-16",
         "slot_evening": "Evening 16-20"}
ISSUES = {"emg_damage": "Damaged items", "emg_delay": "Crew is late",
          "emg_other": "Something else"}

_MOVING_WORDS = frozenset({"hi", "hello", "moving", "move"})
_EMERGENCY_WORDS = frozenset({"emergency", "urgent"})
_FLOWS = {"moving": "full_moving_flow", "emergency": "emergency_support",
          "reschedule": "reschedule_flow"}
_EXPECTED = {
    "moving:select_service": "list_reply: " + ", ".join(SERVICES),
    "moving:details": "text: addresses and date",
    "moving:verify": "text: the 6-digit verification code",
    "moving:photo": "image",
    "moving:slot": "button_reply: " + ", ".join(SLOTS),
    "emergency:issue": "button_reply: " + ", ".join(ISSUES),
    "emergency:details": "text: what happened",
    "reschedule:slot": "button_reply: " + ", ".join(SLOTS),
}
_START = "text: hi, moving, emergency or reschedule <order id>"



class _Conversation:
    __slots__ = ("state", "service", "code", "order_id", "issue")

    def __init__(self) -> None:
        self.state = "idle"
        self.service = self.code = self.order_id = self.issue = ""


class _Order:
    __slots__ = ("wa_id", "service", "slot")

    def __init__(self, wa_id: str, service: str, slot: str) -> None:
        self.wa_id, self.service, self.slot = wa_id, service, slot



# --- replies: WhatsApp message objects the bot would send ------------------------------


def _message(to: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            "type": kind, kind: payload}


def _text(to: str, body: str) -> dict[str, Any]:
    return _message(to, "text", {"preview_url": False, "body": body})


def _buttons(to: str, body: str, choices: dict[str, str]) -> dict[str, Any]:
    buttons = [{"type": "reply", "reply": {"id": k, "title": v}} for k, v in choices.items()]
    return _message(to, "interactive", {"type": "button", "body": {"text": body},
                                        "action": {"buttons": buttons}})


def _service_list(to: str) -> dict[str, Any]:
    rows = [{"id": k, "title": v} for k, v in SERVICES.items()]
    return _message(to, "interactive", {
        "type": "list", "header": {"type": "text", "text": "Moving services"},
        "body": {"text": "Hi! Which service do you need?"},
        "action": {"button": "Select a service",
                   "sections": [{"title": "Services", "rows": rows}]}})


# --- the bot -------------------------------------------------------------------------

Step = Callable[["WhatsAppBot", _Conversation, str, str, str], "dict[str, Any] | None"]


class WhatsAppBot:
    """The flows' state machine. `handle(notification) -> dict` is the webhook answer.

    `seed` makes verification codes and order/ticket ids reproducible (tests).
    """

    def __init__(self, max_conversations: int = DEFAULT_MAX_CONVERSATIONS,
                 seed: int | None = None) -> None:
        self.conversations: LRU[str, _Conversation] = LRU(max_conversations)
        self.orders: LRU[str, _Order] = LRU(max_conversations)
        self._rng = random.Random(seed if seed is not None else os.urandom(8))

    def handle(self, notification: Any) -> dict[str, Any]:
        """Answer a notification; raises BadNotification when it is not one."""
        notified = values(notification)
        parsed = [parse_message(m) for v in notified for m in (v.get("messages") or ())]
        if not parsed:
            statuses = sum(len(v.get("statuses") or ()) for v in notified)
            return {"ignored": True, "statuses": statuses}
        results = [self.handle_message(*p) for p in parsed]
        if len(results) == 1:
            return results[0]
        return {**results[-1], "results": results}

    def api_replies(self, notification: Any) -> list[tuple[Incoming, dict[str, Any]]]:
        """For a bot that replies through the Cloud API: each incoming message with the
        message object to send back (the webhook answer's `reply`). Raises
        BadNotification, before any state changes, when `notification` is not one."""
        messages = incoming(notification)
        return [(m, self.handle_message(m.wa_id, m.kind, m.value)["reply"]) for m in messages]

    def handle_message(self, wa_id: str, kind: str, value: str) -> dict[str, Any]:
        conv = self.conversations.get(wa_id)
        if conv is None:
            conv = _Conversation()
            result = self._step(conv, wa_id, kind, value)
            if conv.state != "idle":  # idle conversations are not worth keeping
                self.conversations.put(wa_id, conv)
            return result
        return self._step(conv, wa_id, kind, value)

    def _step(self, conv: _Conversation, wa_id: str, kind: str, value: str
              ) -> dict[str, Any]:
        result = self._trigger(conv, wa_id, kind, value)
        if result is None:
            step = _STEPS.get(conv.state)
            result = step(self, conv, wa_id, kind, value) if step else None
        if result is None:
            expected = _EXPECTED.get(conv.state, _START)
            result = self._result(conv, wa_id, _text(
                wa_id, f"Sorry, I did not expect that. I am waiting for {expected}."),
                "out_of_order", expected=expected)
        return result

    def _result(self, conv: _Conversation, wa_id: str, reply: dict[str, Any],
                error: str | None = None, **fields: Any) -> dict[str, Any]:
        flow = _FLOWS.get(conv.state.partition(":")[0])
        return {"to": wa_id, "state": conv.state, "flow": flow, "error": error,
                "reply": reply, **fields}

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{self._rng.getrandbits(32):08x}"

    # triggers: restart a flow from any state

    def _trigger(self, conv: _Conversation, wa_id: str, kind: str,
                 value: str) -> dict[str, Any] | None:
        if kind != "text":
            return None
        words = value.split()
        word = words[0].lower() if words else ""
        if len(words) == 1 and word in _MOVING_WORDS:
            conv.state = "moving:select_service"
            return self._result(conv, wa_id, _service_list(wa_id))
        if len(words) == 1 and word in _EMERGENCY_WORDS:
            conv.state = "emergency:issue"
            return self._result(conv, wa_id, _buttons(
                wa_id, "We are sorry. What is the problem?", ISSUES))
        if len(words) == 1 and word == "cancel":
            conv.state = "idle"
            return self._result(conv, wa_id, _text(wa_id, "Cancelled. Send hi to start."))
        if word == "reschedule":
            return self._reschedule(conv, wa_id, words[1] if len(words) > 1 else "")
        return None

    def _reschedule(self, conv: _Conversation, wa_id: str, given: str) -> dict[str, Any]:
        prefix, _, hex_part = given.partition("-")
        order_id = f"ORD-{hex_part.lower()}" if prefix.upper() == "ORD" else given
        order = self.orders.get(order_id)
        if order is None or order.wa_id != wa_id:
            return self._result(conv, wa_id, _text(
                wa_id, f"I cannot find order {given or '(none given)'}. "
                       "Send: reschedule ORD-xxxxxxxx"), "unknown_order", order_id=given)
        conv.state, conv.order_id = "reschedule:slot", order_id
        return self._result(conv, wa_id, _buttons(
            wa_id, f"Order {order_id} is booked for {SLOTS[order.slot]}. Pick a new slot:",
            SLOTS), order_id=order_id, slot=order.slot)

    # steps: (conversation, wa_id, kind, value) -> result, or None when out of order

    def _select_service(self, conv, wa_id, kind, value):
        if kind != "list_reply":
            return None
        if value not in SERVICES:
            return self._invalid(conv, wa_id, f"unknown service {value!r}")
        conv.state, conv.service = "moving:details", value
        return self._result(conv, wa_id, _text(
            wa_id, f"{SERVICES[value]}: please send the pickup and delivery addresses "
                   "and the date."), service=value)

    def _details(self, conv, wa_id, kind, value):
        if kind != "text":
            return None
        if len(value.strip()) < MIN_DETAILS_CHARS:
            return self._invalid(conv, wa_id, "please give addresses and a date")
        conv.state, conv.code = "moving:verify", f"{self._rng.randrange(1_000_000):06d}"
        return self._result(conv, wa_id, _text(
            wa_id, "We sent you a 6-digit code by SMS. Please type it here."),
            verification_code=conv.code)

    def _verify(self, conv, wa_id, kind, value):
        if kind != "text":
            return None
        if value.strip() != conv.code:
            return self._result(conv, wa_id, _text(
                wa_id, "That code is not right. Please type the 6-digit code we sent."),
                "wrong_code", expected=_EXPECTED[conv.state])
        conv.state = "moving:photo"
        return self._result(conv, wa_id, _text(
            wa_id, "Verified. Please send a photo of the items to move."))

    def _photo(self, conv, wa_id, kind, value):
        if kind != "image":
            return None
        if not value:
            return self._invalid(conv, wa_id, "the image has no media id")
        conv.state = "moving:slot"
        return self._result(conv, wa_id, _buttons(
            wa_id, "Thanks for the photo. Pick a time slot:", SLOTS), media_id=value)

    def _slot(self, conv, wa_id, kind, value):
        if kind != "button_reply":
            return None
        if value not in SLOTS:
            return self._invalid(conv, wa_id, f"unknown slot {value!r}")
        order_id = self._new_id("ORD")
        while order_id in self.orders:
            order_id = self._new_id("ORD")
        self.orders.put(order_id, _Order(wa_id, conv.service, value))
        conv.state, conv.order_id = "moving:confirmed", order_id
        return self._result(conv, wa_id, _text(
            wa_id, f"Order {order_id} confirmed: {SERVICES[conv.service]}, {SLOTS[value]}."),
            order_id=order_id, service=conv.service, slot=value)

    def _issue(self, conv, wa_id, kind, value):
        if kind != "button_reply":
            return None
        if value not in ISSUES:
            return self._invalid(conv, wa_id, f"unknown issue {value!r}")
        conv.state, conv.issue = "emergency:details", value
        return self._result(conv, wa_id, _text(
            wa_id, f"{ISSUES[value]}: please tell us what happened."), issue=value)

    def _emergency_details(self, conv, wa_id, kind, value):
        if kind != "text":
            return None
        if len(value.strip()) < MIN_DETAILS_CHARS:
            return self._invalid(conv, wa_id, "please tell us a bit more")
        ticket_id = self._new_id("TKT")
        conv.state = "emergency:ticket_open"
        return self._result(conv, wa_id, _text(
            wa_id, f"Ticket {ticket_id} opened with high priority. "
                   "An agent will call you within 15 minutes."),
            ticket_id=ticket_id, priority="high", issue=conv.issue)

    def _new_slot(self, conv, wa_id, kind, value):
        if kind != "button_reply":
            return None
        order = self.orders.get(conv.order_id)
        if value not in SLOTS or order is None:
            return self._invalid(conv, wa_id, f"unknown slot {value!r}")
        previous, order.slot = order.slot, value
        conv.state = "reschedule:confirmed"
        return self._result(conv, wa_id, _text(
            wa_id, f"Order {conv.order_id} moved to {SLOTS[value]}."),
            order_id=conv.order_id, slot=value, previous_slot=previous)

    def _invalid(self, conv: _Conversation, wa_id: str, why: str) -> dict[str, Any]:
        expected = _EXPECTED[conv.state]
        return self._result(conv, wa_id, _text(wa_id, f"Sorry, {why}. I am waiting for "
                                                      f"{expected}."),
                            "invalid_input", expected=expected)


_STEPS: dict[str, Step] = {
    "moving:select_service": WhatsAppBot._select_service,
    "moving:details": WhatsAppBot._details,
    "moving:verify": WhatsAppBot._verify,
    "moving:photo": WhatsAppBot._photo,
    "moving:slot": WhatsAppBot._slot,
    "emergency:issue": WhatsAppBot._issue,
    "emergency:details": WhatsAppBot._emergency_details,
    "reschedule:slot": WhatsAppBot._new_slot,
}
