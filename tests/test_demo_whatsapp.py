"""The demo target's WhatsApp Cloud API bot: verification, signatures, the three flows,
errors, rate limiting and the conversation bound, through a real server on loopback.

Payloads are built by hand here, in the shape Meta posts them."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import itertools
import re
from urllib.parse import urlencode

import orjson
import pytest

from driver.targets.demo import DEFAULT_VERIFY_TOKEN, WHATSAPP_PATH, make_app
from driver.targets.whatsapp_bot import ISSUES, LRU, SERVICES, SLOTS, WhatsAppBot
from tests.servers import aiohttp_server

ADA = "15550100001"
BOB = "15550100002"
_ids = itertools.count(1)


# --- hand-built messages and notifications ---------------------------------------------


def _msg(wa_id: str, kind: str, body: dict) -> dict:
    return {"from": wa_id, "id": f"wamid.HBgL{next(_ids):08d}", "timestamp": "1717000000",
            "type": kind, kind: body}


def text(wa_id: str, body: str) -> dict:
    return _msg(wa_id, "text", {"body": body})


def list_reply(wa_id: str, reply_id: str) -> dict:
    return _msg(wa_id, "interactive", {"type": "list_reply", "list_reply": {
        "id": reply_id, "title": SERVICES.get(reply_id, "?")}})


def button_reply(wa_id: str, reply_id: str) -> dict:
    return _msg(wa_id, "interactive", {"type": "button_reply", "button_reply": {
        "id": reply_id, "title": "?"}})


def image(wa_id: str, media_id: str = "1479537139650973") -> dict:
    return _msg(wa_id, "image", {"mime_type": "image/jpeg", "id": media_id,
                                 "sha256": "aGVsbG8="})


def notification(*messages: dict, statuses: tuple = ()) -> dict:
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "15550009999",
                          "phone_number_id": "106540352242922"}}
    if messages:
        value["contacts"] = [{"profile": {"name": "Ada"}, "wa_id": m.get("from", "")}
                             for m in messages]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398",
                       "changes": [{"value": value, "field": "messages"}]}]}


def status_update(wa_id: str) -> dict:
    return {"id": "wamid.X", "status": "delivered", "timestamp": "1717000001",
            "recipient_id": wa_id}


# --- HTTP ----------------------------------------------------------------------------


def call(port: int, method: str, path: str, body: bytes | None = None,
         headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def post(port: int, payload, headers: dict | None = None) -> tuple[int, dict]:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    status, head, data = call(port, "POST", WHATSAPP_PATH, body,
                              {"Content-Type": "application/json", **(headers or {})})
    assert head["Content-Type"].startswith("application/json"), data
    return status, orjson.loads(data)


def send(port: int, message: dict) -> dict:
    """Post one message; the bot must answer 200."""
    status, result = post(port, notification(message))
    assert status == 200, result
    assert result["to"] == message["from"]
    return result


@contextlib.contextmanager
def bot(**options):
    with aiohttp_server(lambda: make_app(**options)) as server:
        yield server


@pytest.fixture
def wa():
    with bot() as server:
        yield server


def reply_text(result: dict) -> str:
    assert result["reply"]["type"] == "text"
    return result["reply"]["text"]["body"]


def button_ids(result: dict) -> list[str]:
    interactive = result["reply"]["interactive"]
    assert interactive["type"] == "button"
    return [b["reply"]["id"] for b in interactive["action"]["buttons"]]


def book_move(port: int, wa_id: str, slot: str = "slot_morning") -> str:
    """Walk the moving flow to the end; the order id."""
    send(port, text(wa_id, "hi"))
    send(port, list_reply(wa_id, "svc_local_move"))
    code = send(port, text(wa_id, "From 1 Main St to 9 Oak Ave, 2024-07-01"))[
        "verification_code"]
    send(port, text(wa_id, code))
    send(port, image(wa_id))
    return send(port, button_reply(wa_id, slot))["order_id"]


# --- the flows -----------------------------------------------------------------------


def test_full_moving_flow(wa):
    r = send(wa.port, text(ADA, "Hi"))
    assert (r["state"], r["flow"], r["error"]) == ("moving:select_service",
                                                   "full_moving_flow", None)
    reply = r["reply"]
    assert reply["messaging_product"] == "whatsapp" and reply["to"] == ADA
    listing = reply["interactive"]
    assert listing["type"] == "list"
    rows = listing["action"]["sections"][0]["rows"]
    assert [row["id"] for row in rows] == ["svc_local_move", "svc_long_distance",
                                           "svc_packing"]

    r = send(wa.port, list_reply(ADA, "svc_long_distance"))
    assert (r["state"], r["service"]) == ("moving:details", "svc_long_distance")
    assert "addresses" in reply_text(r)

    r = send(wa.port, text(ADA, "From 1 Main St, Boston to 9 Oak Ave, Denver on 2024-07-01"))
    assert r["state"] == "moving:verify"
    code = r["verification_code"]
    assert re.fullmatch(r"\d{6}", code)

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    r = send(wa.port, text(ADA, wrong))
    assert (r["state"], r["error"]) == ("moving:verify", "wrong_code")
    assert "not right" in reply_text(r) and "verification_code" not in r

    r = send(wa.port, text(ADA, f" {code} "))
    assert (r["state"], r["error"]) == ("moving:photo", None)

    r = send(wa.port, image(ADA, "MEDIA123"))
    assert (r["state"], r["media_id"]) == ("moving:slot", "MEDIA123")
    assert button_ids(r) == ["slot_morning", "slot_afternoon", "slot_evening"]

    r = send(wa.port, button_reply(ADA, "slot_evening"))
    assert (r["state"], r["error"], r["slot"], r["service"]) == (
        "moving:confirmed", None, "slot_evening", "svc_long_distance")
    assert re.fullmatch(r"ORD-[0-9a-f]{8}", r["order_id"])
    assert r["order_id"] in reply_text(r)


def test_emergency_support(wa):
    r = send(wa.port, text(ADA, "URGENT"))
    assert (r["state"], r["flow"]) == ("emergency:issue", "emergency_support")
    assert button_ids(r) == list(ISSUES) == ["emg_damage", "emg_delay", "emg_other"]

    r = send(wa.port, button_reply(ADA, "emg_damage"))
    assert (r["state"], r["issue"]) == ("emergency:details", "emg_damage")

    r = send(wa.port, text(ADA, "The movers dropped my piano on the stairs"))
    assert (r["state"], r["priority"], r["issue"], r["error"]) == (
        "emergency:ticket_open", "high", "emg_damage", None)
    assert re.fullmatch(r"TKT-[0-9a-f]{8}", r["ticket_id"])


def test_reschedule_flow(wa):
    order_id = book_move(wa.port, ADA, "slot_morning")
    r = send(wa.port, text(ADA, f"reschedule {order_id.upper()}"))  # ids match any case
    assert (r["state"], r["flow"], r["order_id"], r["slot"]) == (
        "reschedule:slot", "reschedule_flow", order_id, "slot_morning")
    assert button_ids(r) == list(SLOTS)

    r = send(wa.port, button_reply(ADA, "slot_afternoon"))
    assert (r["state"], r["order_id"], r["slot"], r["previous_slot"], r["error"]) == (
        "reschedule:confirmed", order_id, "slot_afternoon", "slot_morning", None)

    # The order now holds the new slot.
    assert send(wa.port, text(ADA, f"reschedule {order_id}"))["slot"] == "slot_afternoon"


# (who asks, what they send) -> unknown_order
@pytest.mark.parametrize("text_of", [
    lambda order: "reschedule ORD-00000000",  # no such order
    lambda order: "reschedule",  # no order id
    lambda order: f"reschedule {order}",  # sent by BOB: not his order
])
def test_reschedule_of_an_unknown_order_is_an_error(wa, text_of):
    order_id = book_move(wa.port, ADA)
    r = send(wa.port, text(BOB, text_of(order_id)))
    assert (r["state"], r["error"]) == ("idle", "unknown_order")
    assert reply_text(r).startswith("I cannot find order")


def test_conversations_are_per_wa_id(wa):
    send(wa.port, text(ADA, "moving"))
    send(wa.port, text(BOB, "emergency"))
    assert send(wa.port, list_reply(ADA, "svc_packing"))["state"] == "moving:details"
    assert send(wa.port, button_reply(BOB, "emg_delay"))["state"] == "emergency:details"


def test_a_trigger_restarts_and_cancel_resets(wa):
    send(wa.port, text(ADA, "hi"))
    send(wa.port, list_reply(ADA, "svc_packing"))
    assert send(wa.port, text(ADA, "emergency"))["state"] == "emergency:issue"
    r = send(wa.port, text(ADA, "cancel"))
    assert (r["state"], r["flow"]) == ("idle", None)


# --- out of order and invalid input ------------------------------------------------------

# Steps that bring ADA to a state, then a message of the wrong kind for it.
TO_STATE = {
    "idle": [],
    "moving:select_service": [text(ADA, "hi")],
    "moving:details": [text(ADA, "hi"), list_reply(ADA, "svc_local_move")],
    "emergency:issue": [text(ADA, "emergency")],
    "emergency:details": [text(ADA, "emergency"), button_reply(ADA, "emg_other")],
}
OUT_OF_ORDER = [
    ("idle", image(ADA)),
    ("idle", text(ADA, "what can you do?")),
    ("idle", button_reply(ADA, "slot_morning")),
    ("moving:select_service", text(ADA, "local please")),
    ("moving:select_service", button_reply(ADA, "svc_local_move")),  # a button, not list
    ("moving:details", image(ADA)),
    ("emergency:issue", text(ADA, "broken!")),
    ("emergency:details", list_reply(ADA, "svc_packing")),
    ("idle", _msg(ADA, "sticker", {"id": "s1"})),
]


@pytest.mark.parametrize("state,message", OUT_OF_ORDER)
def test_out_of_order_messages_keep_the_state_and_say_what_is_expected(wa, state, message):
    for step in TO_STATE[state]:
        send(wa.port, step)
    r = send(wa.port, message)
    assert (r["state"], r["error"]) == (state, "out_of_order")
    assert r["expected"] and r["expected"] in reply_text(r)


def test_out_of_order_in_the_later_moving_states(wa):
    send(wa.port, text(ADA, "hi"))
    send(wa.port, list_reply(ADA, "svc_local_move"))
    code = send(wa.port, text(ADA, "From A street to B street"))["verification_code"]
    r = send(wa.port, image(ADA))  # verify wants the code
    assert (r["state"], r["error"], r["expected"]) == (
        "moving:verify", "out_of_order", "text: the 6-digit verification code")
    send(wa.port, text(ADA, code))
    r = send(wa.port, text(ADA, "here is the photo"))  # photo wants an image
    assert (r["state"], r["error"], r["expected"]) == ("moving:photo", "out_of_order", "image")
    send(wa.port, image(ADA))
    r = send(wa.port, list_reply(ADA, "svc_packing"))  # slot wants a button
    assert (r["state"], r["error"]) == ("moving:slot", "out_of_order")
    r = send(wa.port, button_reply(ADA, "slot_midnight"))
    assert (r["state"], r["error"]) == ("moving:slot", "invalid_input")


def test_invalid_input_keeps_the_state(wa):
    send(wa.port, text(ADA, "hi"))
    r = send(wa.port, list_reply(ADA, "svc_teleport"))
    assert (r["state"], r["error"]) == ("moving:select_service", "invalid_input")
    send(wa.port, list_reply(ADA, "svc_packing"))
    r = send(wa.port, text(ADA, "soon"))  # too short to be addresses and a date
    assert (r["state"], r["error"]) == ("moving:details", "invalid_input")


# --- notifications that are not one message ------------------------------------------------


def test_status_updates_are_accepted_and_ignored(wa):
    status, r = post(wa.port, notification(statuses=(status_update(ADA),
                                                     status_update(BOB))))
    assert (status, r) == (200, {"ignored": True, "statuses": 2})


def test_several_messages_in_one_notification(wa):
    status, r = post(wa.port, notification(text(ADA, "hi"), text(BOB, "urgent")))
    assert status == 200
    assert [x["state"] for x in r["results"]] == ["moving:select_service", "emergency:issue"]
    assert (r["to"], r["state"]) == (BOB, "emergency:issue")  # the last message's result


BAD = [
    (b"{nope", "not valid JSON"),
    (b"[]", "JSON object"),
    (orjson.dumps({"object": "page", "entry": []}), "whatsapp_business_account"),
    (orjson.dumps({"object": "whatsapp_business_account"}), "entry must be a list"),
    (orjson.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [1]}]}),
     "value must be an object"),
    (orjson.dumps(notification({"type": "text", "text": {"body": "hi"}})), "message.from"),
    (orjson.dumps(notification({"from": ADA, "text": {"body": "hi"}})), "message.type"),
]


@pytest.mark.parametrize("body,why", BAD)
def test_a_body_that_is_not_a_notification_is_400(wa, body, why):
    status, error = post(wa.port, body)
    assert status == 400 and error["error"]["code"] == 400
    assert why in error["error"]["message"]


def test_health_counts_notifications(wa):
    send(wa.port, text(ADA, "hi"))
    post(wa.port, b"{bad")
    status, _, data = call(wa.port, "GET", "/health")
    assert orjson.loads(data)["updates"] == 1


# --- webhook verification and signatures -----------------------------------------------------


def verify_path(**params) -> str:
    return WHATSAPP_PATH + "?" + urlencode({f"hub.{k}": v for k, v in params.items()})


# (query parameters, status)
VERIFY = [
    (dict(mode="subscribe", verify_token="tok", challenge="1158201444"), 200),
    (dict(mode="subscribe", verify_token="wrong", challenge="1"), 403),
    (dict(mode="subscribe", verify_token="", challenge="1"), 403),
    (dict(mode="subscribe", challenge="1"), 403),  # no token
    (dict(mode="unsubscribe", verify_token="tok", challenge="1"), 403),
]


@pytest.mark.parametrize("params,status", VERIFY)
def test_get_verification(params, status):
    with bot(verify_token="tok") as server:
        got, head, body = call(server.port, "GET", verify_path(**params))
        assert got == status
        if status == 200:
            assert body == b"1158201444" and head["Content-Type"].startswith("text/plain")


def test_get_verification_with_the_default_token(wa):
    path = verify_path(mode="subscribe", verify_token=DEFAULT_VERIFY_TOKEN, challenge="7")
    assert call(wa.port, "GET", path)[::2] == (200, b"7")


def sign(body: bytes, secret: bytes = b"app-secret") -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def test_signature_is_verified_when_an_app_secret_is_set():
    body = orjson.dumps(notification(text(ADA, "hi")))
    other = orjson.dumps(notification(text(ADA, "urgent")))
    with bot(app_secret="app-secret") as server:
        for headers in ({},  # missing
                        {"X-Hub-Signature-256": sign(body, b"other-secret")},  # wrong key
                        {"X-Hub-Signature-256": sign(other)},  # another body's
                        {"X-Hub-Signature-256": sign(body)[7:]},  # no sha256= prefix
                        {"X-Hub-Signature-256": "sha256=zz"}):
            status, error = post(server.port, body, headers)
            assert status == 401 and "X-Hub-Signature-256" in error["error"]["message"]
        status, r = post(server.port, body, {"X-Hub-Signature-256": sign(body)})
        assert (status, r["state"]) == (200, "moving:select_service")
        upper = "sha256=" + sign(body)[7:].upper()  # hex digits in either case
        assert post(server.port, body, {"X-Hub-Signature-256": upper})[0] == 200


def test_no_app_secret_means_no_signature_needed(wa):
    assert send(wa.port, text(ADA, "hi"))["state"] == "moving:select_service"


# --- rate limiting and the conversation bound -------------------------------------------------


def test_rate_limit_answers_429_per_wa_id():
    with bot(rate_limit=1) as server:
        send(server.port, text(ADA, "hi"))
        status, head, data = call(server.port, "POST", WHATSAPP_PATH,
                                  orjson.dumps(notification(list_reply(ADA, "svc_packing"))))
        assert status == 429 and head["Retry-After"] == "1"
        assert orjson.loads(data) == {
            "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1}}
        assert send(server.port, text(BOB, "hi"))["error"] is None  # another bucket
        status, r = post(server.port, notification(statuses=(status_update(ADA),)))
        assert status == 200  # status-only notifications have no sender to limit


def test_conversations_are_bounded_least_recent_first():
    with bot(max_conversations=2) as server:
        send(server.port, text(ADA, "hi"))
        send(server.port, text(BOB, "hi"))
        send(server.port, list_reply(ADA, "svc_packing"))  # ADA is now the most recent
        send(server.port, text("15550100003", "hi"))  # over the bound: BOB is forgotten
        r = send(server.port, list_reply(BOB, "svc_packing"))
        assert (r["state"], r["error"]) == ("idle", "out_of_order")  # stores nothing
        r = send(server.port, text(ADA, "From 1 Main St to 9 Oak Ave, 2024-07-01"))
        assert r["state"] == "moving:verify"  # kept


def test_lru():
    lru: LRU[str, int] = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # "a" is now the most recent
    lru.put("c", 3)
    assert "b" not in lru and "a" in lru and "c" in lru and len(lru) == 2
    with pytest.raises(ValueError):
        LRU(0)


def test_bot_holds_at_most_max_conversations():
    wa_bot = WhatsAppBot(max_conversations=100, seed=1)
    for n in range(1000):
        wa_bot.handle(notification(text(f"1555{n:07d}", "hi")))
    assert len(wa_bot.conversations) == 100
    # Messages that leave a new wa_id idle (out of order, cancel) store nothing.
    wa_bot = WhatsAppBot(max_conversations=100)
    for n in range(50):
        wa_bot.handle(notification(image(f"1666{n:07d}"), text(f"1777{n:07d}", "cancel")))
    assert len(wa_bot.conversations) == 0


def test_seeded_bot_is_reproducible():
    def walk(seed: int) -> tuple[str, str]:
        wa_bot = WhatsAppBot(seed=seed)
        wa_bot.handle(notification(text(ADA, "hi")))
        wa_bot.handle(notification(list_reply(ADA, "svc_packing")))
        code = wa_bot.handle(notification(text(ADA, "1 Main St, 2024-07-01")))
        wa_bot.handle(notification(text(ADA, code["verification_code"])))
        wa_bot.handle(notification(image(ADA)))
        order = wa_bot.handle(notification(button_reply(ADA, "slot_morning")))
        return code["verification_code"], order["order_id"]

    assert walk(7) == walk(7)
