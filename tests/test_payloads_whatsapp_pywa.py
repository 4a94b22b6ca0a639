"""Every WhatsApp notification as pywa parses it, through its own webhook path.

A pywa `WhatsApp` client without a server (`server=None`, the setup pywa documents
for a custom web framework) gets each body through `webhook_update_validator` (the
X-Hub-Signature-256 check) and `webhook_update_handler` (duplicate filter, routing by
notification type, the update's `from_update` parser, then the handlers). One handler
per update type keeps what it gets; nothing reaches the network. pywa logs a parse
failure and still answers 200 (the failure a newcomer saw as "0% errors"), so each
test asserts the handler got the update, of the right type, with the right fields.
"""
from __future__ import annotations

import logging

import pytest
from pywa import WhatsApp, handlers, types  # test dependency: pywa

from driver.payloads.users import UserPool
from driver.payloads.whatsapp import ERRORS, KINDS, WhatsAppNotifications
from driver.plan import UserPoolSpec

PHONE_ID, DISPLAY, WABA, SECRET = "106540352242922", "15550783881", "102290129340398", "app-secret-1"
HANDLERS = {
    handlers.MessageHandler: types.Message,
    handlers.CallbackButtonHandler: types.CallbackButton,
    handlers.CallbackSelectionHandler: types.CallbackSelection,
    handlers.MessageStatusHandler: types.MessageStatus,
}


@pytest.fixture(scope="module")
def users():
    return UserPool(UserPoolSpec(), 0, 1, 10).users


class Pywa:
    """A pywa client in webhook mode whose handlers keep every update they get."""

    def __init__(self):
        self.client = WhatsApp(phone_id=PHONE_ID, token="not-used", server=None,
                               verify_token="verify-1", app_secret=SECRET, waba_id=WABA)
        self.got = []
        for handler in HANDLERS:
            self.client.add_handlers(handler(lambda _, update: self.got.append(update)))

    def feed(self, gen: WhatsAppNotifications, body: bytes):
        """What pywa's handlers got from `body` (a list: empty when it dropped it)."""
        assert self.client.webhook_update_validator(body, gen.signature(body)) is None
        before = len(self.got)
        assert self.client.webhook_update_handler(body) == ("ok", 200)
        return self.got[before:]

    def parse(self, gen: WhatsAppNotifications, body: bytes):
        (update,) = self.feed(gen, body)
        return update


@pytest.fixture()
def wa():
    return Pywa()


def gen() -> WhatsAppNotifications:
    return WhatsAppNotifications(PHONE_ID, DISPLAY, SECRET)


# kind, arguments as a YAML step gives them (strings), the pywa type, and the checks
# on the parsed update `u` (with the user and the generator).
CASES = [
    # text: the body
    ("text", {"body": "hi 👋"}, types.Message,
     lambda u, user, g: (u.type, u.text) == ("text", "hi 👋")),
    # a reply button: its id, title and the message it answers
    ("button_reply", {"button_id": "yes", "title": "Yes!"}, types.CallbackButton,
     lambda u, user, g: (u.data, u.title) == ("yes", "Yes!")
     and u.reply_to_message.id.startswith("wamid.")),
    # a list row: id, title, description
    ("list_reply", {"row_id": "r2", "title": "Two", "description": "d"}, types.CallbackSelection,
     lambda u, user, g: (u.data, u.title, u.description) == ("r2", "Two", "d")),
    # an image with its caption
    ("image", {"caption": "look"}, types.Message,
     lambda u, user, g: (u.image.caption, u.image.mime_type) == ("look", "image/jpeg")
     and u.image.id.isdigit()),
    # a video with its caption
    ("video", {"caption": "watch"}, types.Message,
     lambda u, user, g: (u.type, u.video.caption, u.video.mime_type) == ("video", "watch", "video/mp4")),
    # an animated sticker (a YAML string)
    ("sticker", {"animated": "true"}, types.Message,
     lambda u, user, g: (u.type, u.sticker.animated, u.sticker.mime_type) == ("sticker", True, "image/webp")),
    # a document with its filename
    ("document", {"filename": "a.pdf"}, types.Message,
     lambda u, user, g: (u.document.filename, u.document.mime_type) == ("a.pdf", "application/pdf")),
    # a voice note
    ("audio", {}, types.Message,
     lambda u, user, g: u.audio.voice is True),
    # a shared place
    ("location", {"name": "Zoo", "address": "Hardenbergplatz 8"}, types.Message,
     lambda u, user, g: (u.location.name, u.location.address) == ("Zoo", "Hardenbergplatz 8")),
    # a reaction to a business message
    ("reaction", {"emoji": "🔥", "message_id": "wamid.ABC"}, types.Message,
     lambda u, user, g: (u.type, u.reaction.emoji, u.reaction.message_id) == ("reaction", "🔥", "wamid.ABC")),
    # sent: conversation with its expiration, pricing
    ("status", {"status": "sent"}, types.MessageStatus,
     lambda u, user, g: u.status == "sent" and u.conversation.expiration is not None
     and u.pricing is not None and u.error is None),
    # read: conversation origin
    ("status", {"status": "read"}, types.MessageStatus,
     lambda u, user, g: u.status == "read" and u.conversation.category == "service"),
    # failed: the Graph error object, no conversation
    ("status", {"status": "failed", "error_code": "131047"}, types.MessageStatus,
     lambda u, user, g: u.status == "failed" and u.error.code == 131047
     and u.error.message == ERRORS[131047][0] and u.error.details == ERRORS[131047][1]
     and u.conversation is None),
]


@pytest.mark.parametrize("kind, kwargs, type_, check", CASES,
                         ids=[f"{k}-{i}" for i, (k, _, _, _) in enumerate(CASES)])
def test_pywa_parses_each_kind_into_its_type(kind, kwargs, type_, check, users, wa):
    g = gen()
    user = users[2]
    update = wa.parse(g, g.render(kind, user, **kwargs))
    assert type(update) is type_
    assert (update.from_user.wa_id, update.from_user.bsuid, update.from_user.name) == (
        user.wa_id, g.bsuid(user), user.full_name)
    assert update.metadata.phone_number_id == PHONE_ID and update.waba_id == WABA
    assert check(update, user, g)


def test_every_kind_is_covered():
    assert {kind for kind, _, _, _ in CASES} == set(KINDS)


def test_pywa_drops_no_notification_of_a_burst(users, wa, monkeypatch):
    """Many statuses and messages for the same user in the same second: pywa's duplicate
    filter (on by default) lets every one through."""
    import driver.payloads.whatsapp as whatsapp

    monkeypatch.setattr(whatsapp.time, "time", lambda: 1_700_000_000.5)
    g = gen()
    got = []
    for i in range(60):
        kind = ("status", "status", "status", "text", "reaction")[i % 5]
        got += wa.feed(g, g.render(kind, users[0]))
    assert len(got) == 60
    assert len({u.id for u in got if isinstance(u, types.MessageStatus)}) > 1


def test_pywa_drops_a_repeated_body_so_the_check_above_can_fail(users, wa):
    g = gen()
    body = g.text(users[0])
    assert len(wa.feed(g, body)) == 1
    assert wa.feed(g, body) == []


def test_pywa_refuses_a_body_signed_with_another_secret(users, wa, caplog):
    other = WhatsAppNotifications(PHONE_ID, DISPLAY, "another-secret")
    body = other.text(users[0])
    with caplog.at_level(logging.ERROR):
        assert wa.client.webhook_update_validator(body, other.signature(body)) is not None
