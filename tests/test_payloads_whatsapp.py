"""WhatsApp notifications: the fields Meta's webhook reference lists, ids, signatures."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

import orjson
import pytest

from driver.payloads.users import UserPool
from driver.payloads.whatsapp import ERRORS, KINDS, SIGNATURE_HEADER, STATUSES, WhatsAppNotifications
from driver.plan import UserPoolSpec

PHONE_ID, DISPLAY, WABA = "106540352242922", "15550783881", "102290129340398"


@pytest.fixture(scope="module")
def users():
    return UserPool(UserPoolSpec(), 0, 1, 10).users


def gen(**kw) -> WhatsAppNotifications:
    return WhatsAppNotifications(PHONE_ID, DISPLAY, **kw)


def value_of(body: bytes) -> dict:
    data = orjson.loads(body)
    assert data["object"] == "whatsapp_business_account"
    (entry,) = data["entry"]
    assert entry["id"] == WABA
    (change,) = entry["changes"]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {"display_phone_number": DISPLAY, "phone_number_id": PHONE_ID}
    return value


def contact_of(value: dict, user) -> str:
    """The user's BSUID, after checking the `contacts` entry that names them."""
    (contact,) = value["contacts"]
    assert contact["profile"] == {"name": user.full_name} and contact["wa_id"] == user.wa_id
    assert re.fullmatch(r"US\.\d{20}", contact["user_id"])
    return contact["user_id"]


def message_of(body: bytes, user) -> dict:
    value = value_of(body)
    bsuid = contact_of(value, user)
    (message,) = value["messages"]
    assert message["from"] == user.wa_id and message["from_user_id"] == bsuid
    assert message["id"].startswith("wamid.")
    assert message["timestamp"].isdigit()  # unix seconds, as a string
    assert abs(int(message["timestamp"]) - time.time()) <= 60
    return message


def keys(obj: dict) -> set:
    return set(obj)


MEDIA = {"id", "mime_type", "sha256", "url"}


@pytest.mark.parametrize(
    "kind, kwargs, type_, fields",
    [
        # text: body
        ("text", {}, "text", {"text": {"body"}}),
        # reply button tapped: context of the business message, button id and title
        ("button_reply", {}, "interactive",
         {"context": {"from", "id"}, "interactive": {"type", "button_reply"}}),
        # list row picked: row id, title and description
        ("list_reply", {}, "interactive",
         {"context": {"from", "id"}, "interactive": {"type", "list_reply"}}),
        # image: media fields and its caption
        ("image", {}, "image", {"image": MEDIA | {"caption"}}),
        # video: the same
        ("video", {}, "video", {"video": MEDIA | {"caption"}}),
        # sticker: media fields and whether it is animated
        ("sticker", {}, "sticker", {"sticker": MEDIA | {"animated"}}),
        # reaction: the message reacted to and the emoji
        ("reaction", {}, "reaction", {"reaction": {"message_id", "emoji"}}),
        # document: media fields, caption and filename
        ("document", {}, "document", {"document": MEDIA | {"caption", "filename"}}),
        # audio: media fields and whether it is a voice recording
        ("audio", {}, "audio", {"audio": MEDIA | {"voice"}}),
        # a shared place: coordinates, name, address, url
        ("location", {}, "location", {"location": {"latitude", "longitude", "name", "address",
                                                   "url"}}),
    ],
)
def test_message_kinds_have_the_documented_fields(kind, kwargs, type_, fields, users):
    message = message_of(gen().render(kind, users[2], **kwargs), users[2])
    assert message["type"] == type_
    for key, expected in fields.items():
        assert keys(message[key]) == expected, key


def test_interactive_replies(users):
    g = gen()
    button = message_of(g.button_reply(users[0], button_id="yes", title="Yes!"), users[0])
    assert button["interactive"]["button_reply"] == {"id": "yes", "title": "Yes!"}
    assert button["context"]["from"] == DISPLAY
    row = message_of(g.list_reply(users[0], row_id="r2", title="Two", description="d"), users[0])
    assert row["interactive"]["list_reply"] == {"id": "r2", "title": "Two", "description": "d"}


def test_replies_refer_to_the_last_business_message(users):
    g = gen()
    sent = value_of(g.status(users[0], "sent"))["statuses"][0]["id"]
    reply = message_of(g.button_reply(users[0]), users[0])
    assert reply["context"]["id"] == sent


def test_media_fields(users):
    g = gen()
    image = message_of(g.image(users[0], caption=None, mime_type="image/png"), users[0])["image"]
    assert "caption" not in image and image["mime_type"] == "image/png"
    assert len(base64.b64decode(image["sha256"])) == 32
    assert image["url"].startswith("https://") and image["id"] in image["url"]
    document = message_of(g.document(users[0], filename="a.pdf", caption=None), users[0])
    assert document["document"]["filename"] == "a.pdf" and "caption" not in document["document"]
    audio = message_of(g.audio(users[0], voice=False), users[0])["audio"]
    assert audio["voice"] is False and audio["mime_type"].startswith("audio/ogg")
    assert image["id"] != audio["id"]


def test_current_location_has_only_coordinates(users):
    message = message_of(gen().location(users[0], 1.5, 2.5, name=None, address=None, url=None),
                         users[0])
    assert message["location"] == {"latitude": 1.5, "longitude": 2.5}


@pytest.mark.parametrize("status", [s for s in STATUSES if s != "failed"])
def test_status_has_the_documented_fields(status, users):
    value = value_of(gen().status(users[3], status))
    assert "messages" not in value
    bsuid = contact_of(value, users[3])
    (entry,) = value["statuses"]
    assert keys(entry) == {"id", "status", "timestamp", "recipient_id", "recipient_user_id",
                           "conversation", "pricing"}
    assert entry["status"] == status and entry["recipient_id"] == users[3].wa_id
    assert entry["recipient_user_id"] == bsuid
    assert entry["id"].startswith("wamid.") and entry["timestamp"].isdigit()
    conversation = entry["conversation"]
    expected = {"id", "origin"} | ({"expiration_timestamp"} if status == "sent" else set())
    assert keys(conversation) == expected
    assert conversation["origin"] == {"type": "service"} and len(conversation["id"]) == 32
    if status == "sent":
        assert int(conversation["expiration_timestamp"]) - int(entry["timestamp"]) == 86400
    assert entry["pricing"] == {"billable": False, "pricing_model": "PMP",
                                "category": "service", "type": "free_customer_service"}


@pytest.mark.parametrize(
    "kwargs, pricing",
    [
        # per-message pricing of a paid category
        (dict(category="utility"),
         {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}),
        # the older conversation-based pricing
        (dict(category="marketing", pricing_model="CBP"),
         {"billable": True, "pricing_model": "CBP", "category": "marketing"}),
    ],
)
def test_status_pricing(kwargs, pricing, users):
    (entry,) = value_of(gen().status(users[0], "sent", **kwargs))["statuses"]
    assert entry["pricing"] == pricing
    assert entry["conversation"]["origin"] == {"type": kwargs["category"]}


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_failed_status_carries_the_graph_error(code, users):
    value = value_of(gen().status(users[3], "failed", error_code=str(code)))
    (entry,) = value["statuses"]
    assert keys(entry) == {"id", "status", "timestamp", "recipient_id", "recipient_user_id", "errors"}
    (error,) = entry["errors"]
    assert error == {"code": code, "title": ERRORS[code][0], "message": ERRORS[code][0],
                     "error_data": {"details": ERRORS[code][1]},
                     "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}


def test_statuses_in_the_same_second_are_never_the_same_bytes(users, monkeypatch):
    """Frameworks drop a body they saw before (pywa hashes them): a status the last
    message already had starts a new message, as each (message, status) is notified once."""
    import driver.payloads.whatsapp as wa

    monkeypatch.setattr(wa.time, "time", lambda: 1_700_000_000.5)
    g = gen()
    bodies = [g.status(users[0], s) for s in ("delivered", "delivered", "read", "read", "sent",
                                              "sent", "failed", "failed")]
    assert len(set(bodies)) == len(bodies)
    ids = [value_of(b)["statuses"][0]["id"] for b in bodies]
    assert ids[0] != ids[1] and ids[1] == ids[2] and ids[4] != ids[5] and ids[5] == ids[6]
    assert ids[6] != ids[7]


def test_status_life_of_one_message(users):
    g = gen()
    ids = [value_of(g.status(users[0], s))["statuses"][0]["id"] for s in STATUSES]
    assert len(set(ids)) == 1
    other = value_of(g.status(users[1], "delivered", message_id="wamid.X"))["statuses"][0]
    assert other["id"] == "wamid.X"
    again = value_of(g.status(users[0], "sent"))["statuses"][0]["id"]
    assert again != ids[0]


def test_message_ids_unique_across_workers_and_carry_the_number(users):
    workers = [gen(worker_index=w, n_workers=3) for w in range(3)]
    message_kinds = [k for k in KINDS if k != "status"]
    ids = [message_of(g.render(message_kinds[i % len(message_kinds)], users[0]), users[0])["id"]
           for g in workers for i in range(30)]
    assert len(set(ids)) == len(ids)
    raw = base64.b64decode(ids[0][len("wamid."):])
    assert users[0].wa_id.encode() in raw


def test_signature_matches_an_independent_hmac(users):
    secret = "app-secret-0123"
    g = gen(app_secret=secret)
    for kind in KINDS:
        body = g.render(kind, users[5])
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert g.signature(body) == expected
        assert g.headers(body) == {SIGNATURE_HEADER: expected}
        wrong = "sha256=" + hmac.new(b"wrong-secret", body, hashlib.sha256).hexdigest()
        assert g.signature(body) != wrong
        assert g.signature(body + b" ") != expected  # the exact bytes are signed


def test_bytes_secret_and_no_secret(users):
    body = gen().text(users[0])
    assert gen(app_secret=b"k").signature(body) == gen(app_secret="k").signature(body)
    assert gen().headers(body) == {}
    with pytest.raises(ValueError, match="no WhatsApp app secret"):
        gen().signature(body)
    with pytest.raises(ValueError, match="must not be empty"):
        gen(app_secret="")


def test_render_dispatch_and_errors(users):
    g = gen()
    assert message_of(g.render("text", users[0], body="hey"), users[0])["text"]["body"] == "hey"
    with pytest.raises(ValueError, match="unknown WhatsApp notification kind 'poll'"):
        g.render("poll", users[0])
    with pytest.raises(ValueError, match="unknown WhatsApp status 'deleted'"):
        g.status(users[0], "deleted")
    with pytest.raises(ValueError, match="unknown WhatsApp error code '42'"):
        g.status(users[0], "failed", error_code="42")
    with pytest.raises(ValueError, match="animated must be true or false"):
        g.sticker(users[0], animated="sometimes")
    with pytest.raises(ValueError, match="worker_index"):
        gen(worker_index=1, n_workers=1)


@pytest.mark.parametrize(
    "kind, static, templated",
    [
        # a templated text
        ("text", {}, {"body": "hi 👋"}),
        # static arguments only
        ("list_reply", {"row_id": "r2", "title": "Two"}, {}),
        # static and templated together
        ("button_reply", {"button_id": "b1"}, {"title": "Yes {{seq}}"}),
        # defaults only
        ("status", {}, {}),
        # a failed status, its code from YAML (a string)
        ("status", {"status": "failed", "error_code": "131026"}, {}),
        # the new message kinds
        ("video", {}, {"caption": "v {{seq}}"}),
        ("sticker", {"animated": "true"}, {}),
        ("reaction", {}, {"emoji": "🔥"}),
    ],
)
def test_compiled_renderer_equals_the_method(kind, static, templated, users, monkeypatch):
    import driver.payloads.whatsapp as wa

    monkeypatch.setattr(wa.time, "time", lambda: 1_700_000_000.5)
    a, b = gen(app_secret="k"), gen(app_secret="k")
    render = a.compile(kind, static, {k: (lambda v: lambda u, c, r: v)(v) for k, v in templated.items()})
    for i in range(4):
        assert render(users[i % 2], None, None) == getattr(b, kind)(users[i % 2], **static, **templated)


def test_compile_refuses_unknown_kinds_and_arguments():
    with pytest.raises(ValueError, match="unknown WhatsApp notification kind 'nope'"):
        gen().compile("nope")
    with pytest.raises(ValueError, match="WhatsApp notification kind text"):
        gen().compile("text", {"caption": "x"})
