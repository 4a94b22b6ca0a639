"""Every Telegram and WhatsApp kind from a YAML step, as a real framework reads it.

One flow with a step per kind (arguments as YAML writes them: strings) runs once for
one user against a loopback aiohttp server that records each body; each body is then
parsed by python-telegram-bot and aiogram (Telegram) or pywa (WhatsApp), and the
step's arguments are found in the parse.
"""
from __future__ import annotations


import orjson
import pytest

import driver
from driver.config import load_config
from driver.config.tasks import TELEGRAM_KINDS, WHATSAPP_KINDS
from tests.servers import recording_server
from tests.test_payloads_frameworks import Aiogram, aiogram_unknown, ptb, ptb_unknown
from tests.test_payloads_whatsapp_pywa import Pywa

# kind -> (the step's YAML arguments, a check on the parsed update `u`)
TELEGRAM = {
    "text": ('text: "/go now"', lambda u: str(u.message.entities[0].type) == "bot_command"),
    "command": ("command: /start, mention: 'true', bot_username: my_real_bot",
                lambda u: u.message.text == "/start@my_real_bot"
                and u.message.entities[0].length == len("/start@my_real_bot")),
    "callback_query": ("data: 'buy:1'", lambda u: u.callback_query.data == "buy:1"),
    "photo": ("caption: /scan", lambda u: u.message.caption_entities[0].length == 5),
    "document": ("file_name: a.csv", lambda u: u.message.document.file_name == "a.csv"),
    "video": ("caption: v", lambda u: u.message.caption == "v"),
    "voice": ("", lambda u: u.message.voice is not None),
    "sticker": ("emoji: 🔥", lambda u: u.message.sticker.emoji == "🔥"),
    "location": ("", lambda u: u.message.location is not None),
    "contact": ("", lambda u: u.message.contact is not None),
    "edited_message": ("text: /fixed", lambda u: u.edited_message.entities[0].length == 6),
    "inline_query": ("query: sushi", lambda u: u.inline_query.query == "sushi"),
    "my_chat_member": ("blocked: 'false'",
                       lambda u: str(u.my_chat_member.new_chat_member.status) == "member"),
    "audio": ("title: Song, duration: '200'", lambda u: u.message.audio.title == "Song"),
    "animation": ("caption: gif", lambda u: u.message.animation is not None),
    "venue": ("title: Zoo, latitude: '52.5', longitude: '13.3'",
              lambda u: u.message.venue.location.latitude == 52.5),
    "video_note": ("length: '300'", lambda u: u.message.video_note.length == 300),
    "dice": ("emoji: 🎯, value: '5'", lambda u: u.message.dice.value == 5),
    "poll": ("question: 'Lunch?', options: 'A|B', option: '1'",
             lambda u: [o.voter_count for o in u.poll.options] == [0, 1]),
    "poll_answer": ("option: '1'", lambda u: list(u.poll_answer.option_ids) == [1]),
    "edited_media": ("media: video", lambda u: u.edited_message.video is not None),
    "group": ("text: /stats, mention: 'true', bot_username: my_real_bot",
              lambda u: u.message.text == "/stats@my_real_bot" and u.message.chat.type == "group"),
    "supergroup": ("text: hi, reply: 'true'",
                   lambda u: u.message.reply_to_message.from_user.is_bot),
    "channel_post": ("text: news", lambda u: u.channel_post.text == "news"),
    "chat_member": ("joined: 'false'", lambda u: str(u.chat_member.new_chat_member.status) == "left"),
    "chat_join_request": ("bio: hello", lambda u: u.chat_join_request.bio == "hello"),
    "message_reaction": ("emoji: 🔥", lambda u: u.message_reaction.new_reaction[0].emoji == "🔥"),
    "pre_checkout_query": ("total_amount: '1500'", lambda u: u.pre_checkout_query.total_amount == 1500),
    "successful_payment": ("payload: p-9", lambda u: u.message.successful_payment.invoice_payload == "p-9"),
}
WHATSAPP = {
    "text": ("text: hi", lambda u: u.text == "hi"),
    "button_reply": ("id: yes", lambda u: u.data == "yes"),
    "list_reply": ("id: r1", lambda u: u.data == "r1"),
    "image": ("caption: i", lambda u: u.image.caption == "i"),
    "video": ("caption: v", lambda u: u.video.caption == "v"),
    "sticker": ("animated: 'true'", lambda u: u.sticker.animated is True),
    "document": ("filename: a.pdf", lambda u: u.document.filename == "a.pdf"),
    "audio": ("", lambda u: u.audio is not None),
    "location": ("name: Zoo", lambda u: u.location.name == "Zoo"),
    "reaction": ("emoji: 🔥", lambda u: u.reaction.emoji == "🔥"),
    "status": ("status: failed, error_code: '131026'", lambda u: u.error.code == 131026),
}
APP_SECRET = "app-secret-1"  # tests.test_payloads_whatsapp_pywa's


def test_the_tables_cover_every_kind():
    assert set(TELEGRAM) == set(TELEGRAM_KINDS) and set(WHATSAPP) == set(WHATSAPP_KINDS)


def _config(url: str) -> str:
    steps = [f"        - {{name: tg_{k}, path: /tg/{k}, telegram: {{kind: {k}{', ' + a if a else ''}}}}}"
             for k, (a, _) in TELEGRAM.items()]
    steps += [f"        - {{name: wa_{k}, path: /wa/{k}, whatsapp: {{kind: {k}{', ' + a if a else ''}}}}}"
              for k, (a, _) in WHATSAPP.items()]
    return (f'target: {{base_url: "{url}"}}\n'
            "scenario:\n"
            f"  whatsapp: {{app_secret: {APP_SECRET}}}\n"
            "  flows:\n    - name: all\n      steps:\n" + "\n".join(steps) + "\n"
            f"load: {{users: 1, requests: {len(steps)}, workers: 1}}\n")


@pytest.fixture(scope="module")
def sent(tmp_path_factory):
    with recording_server() as server:
        path = tmp_path_factory.mktemp("kinds") / "kinds.yaml"
        path.write_text(_config(server.url))
        result = driver.run(load_config(path))
    assert result.totals().errors == 0
    return {path: (headers, body) for _, path, headers, body in server.calls}


@pytest.mark.parametrize("kind", list(TELEGRAM))
def test_telegram_kind_from_yaml(kind, sent):
    _, body = sent[f"/tg/{kind}"]
    check = TELEGRAM[kind][1]
    p = ptb(body)
    a = Aiogram().parse(body)
    assert ptb_unknown(p) == [] and aiogram_unknown(a) == []
    assert check(p) and check(a)


@pytest.mark.parametrize("kind", list(WHATSAPP))
def test_whatsapp_kind_from_yaml(kind, sent):
    headers, body = sent[f"/wa/{kind}"]
    wa = Pywa()
    assert wa.client.webhook_update_validator(body, headers["X-Hub-Signature-256"]) is None
    assert wa.client.webhook_update_handler(body) == ("ok", 200)
    (update,) = wa.got  # pywa's handler got it: it parsed
    assert WHATSAPP[kind][1](update), orjson.loads(body)
