"""The demo target: a Telegram-style webhook bot, in-process and in its own process."""
from __future__ import annotations

import http.client
import os
import signal
import socket

import orjson
import pytest

from driver.payloads.catalog import (
    DEFAULT_CATALOG,
    TIERS,
    command_text,
    expected_reply,
    refusal_text,
    reply_is_refusal,
    tier_user_id,
)
from driver.targets.demo import (
    SAMPLE_UPDATE,
    SECRET_HEADER,
    WEBHOOK_PATH,
    RateLimiter,
    handle_update,
    make_app,
)
from driver.targets.process import DemoTargetProcess, TargetStartError
from tests.servers import aiohttp_server

CHAT = {"id": 1001, "type": "private", "first_name": "Grace"}
USER = {"id": 1001, "is_bot": False, "first_name": "Grace"}


def message(text: str | None = None, kind: str = "message", **extra) -> dict:
    msg = {"message_id": 7, "from": USER, "chat": CHAT, "date": 1717000000, **extra}
    if text is not None:
        msg["text"] = text
    return {"update_id": 1, kind: msg}


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        assert response.getheader("Content-Type", "").startswith("application/json"), data
        return response.status, orjson.loads(data)
    finally:
        conn.close()


def post_update(port: int, update, headers: dict | None = None) -> tuple[int, dict]:
    body = update if isinstance(update, bytes) else orjson.dumps(update)
    return request(port, "POST", WEBHOOK_PATH, body,
                   {"Content-Type": "application/json", **(headers or {})})


@pytest.fixture
def demo():
    """A fresh in-process demo app (its update count starts at 0)."""
    with aiohttp_server(make_app) as server:
        yield server


# (update, method of the answer, a field, its expected value)
ANSWERS = [
    (message("/start"), "sendMessage", "text",
     "Hello, Grace! I am the driver demo bot. Try /help."),
    (message("/start@driver_demo_bot"), "sendMessage", "chat_id", 1001),  # group form
    (message("/help"), "sendMessage", "text", None),  # checked below: lists commands
    (message("/echo hello  world"), "sendMessage", "text", "hello  world"),
    (message("/echo"), "sendMessage", "text", "Usage: /echo <text>"),
    (message("/ping"), "sendMessage", "text", "pong"),
    (message("/nope"), "sendMessage", "text", "Unknown command /nope. Try /help."),
    (message("just chatting"), "sendMessage", "reply_to_message_id", 7),  # echoed back
    (message(sticker={"file_id": "x"}), "sendMessage", "text", "I can only read text messages."),
    (message("fixed", kind="edited_message"), "sendMessage", "text",
     "You edited your message to: fixed"),
    ({"update_id": 2, "callback_query": {"id": "cq1", "from": USER, "data": "color:red",
                                         "chat_instance": "1"}},
     "answerCallbackQuery", "text", "You chose red"),
]


@pytest.mark.parametrize("update,method,field,value", ANSWERS)
def test_webhook_answers_like_a_bot(demo, update, method, field, value):
    status, reply = post_update(demo.port, update)
    assert status == 200
    assert reply["method"] == method
    if value is not None:
        assert reply[field] == value
    if method == "sendMessage":
        assert reply["chat_id"] == 1001


def test_help_lists_the_commands(demo):
    _, reply = post_update(demo.port, message("/help"))
    for command in ("/start", "/help", "/echo", "/menu"):
        assert command in reply["text"]


def test_menu_has_inline_buttons_whose_press_is_answered(demo):
    _, reply = post_update(demo.port, message("/menu"))
    button = reply["reply_markup"]["inline_keyboard"][0][1]
    press = {"update_id": 3, "callback_query": {"id": "cq2", "from": USER,
                                                "data": button["callback_data"]}}
    _, answer = post_update(demo.port, press)
    assert answer == {"method": "answerCallbackQuery", "callback_query_id": "cq2",
                      "text": "You chose blue"}


def test_updates_without_an_answer_get_an_empty_object(demo):
    # Telegram ignores a webhook reply that is not a method call.
    for update in (message("news", kind="channel_post"),
                   {"update_id": 4, "inline_query": {"id": "q", "query": "x"}},
                   {"update_id": 5, "some_future_kind": {}}):
        assert post_update(demo.port, update) == (200, {})


def test_sample_update_is_a_start_message_of_about_300_bytes(demo):
    assert 250 <= len(SAMPLE_UPDATE) <= 400
    assert orjson.loads(SAMPLE_UPDATE)["message"]["text"] == "/start"
    status, reply = post_update(demo.port, SAMPLE_UPDATE)
    assert status == 200
    assert reply["method"] == "sendMessage" and reply["text"].startswith("Hello, Ada!")


BAD = [
    (b"{not json", "not valid JSON"),
    (b"", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"message": {"text": "hi"}}', "update_id"),  # no update_id
    (b'{"update_id": "1"}', "update_id"),
    (b'{"update_id": true}', "update_id"),
    (b'{"update_id": 1, "message": "hi"}', "message must be an object"),
    (b'{"update_id": 1, "message": {"text": "hi"}}', "chat.id"),
    (b'{"update_id": 1, "callback_query": {"data": "x"}}', "callback_query.id"),
]


@pytest.mark.parametrize("body,why", BAD)
def test_a_body_that_is_not_an_update_is_400(demo, body, why):
    status, error = post_update(demo.port, body)
    assert status == 400
    assert error["ok"] is False and error["error_code"] == 400
    assert why in error["description"]


def test_health_counts_handled_updates_only(demo):
    assert request(demo.port, "GET", "/health") == (200, {"status": "ok", "updates": 0})
    for _ in range(3):
        post_update(demo.port, SAMPLE_UPDATE)
    post_update(demo.port, b"{bad")
    assert request(demo.port, "GET", "/health") == (200, {"status": "ok", "updates": 3})


def test_webhook_is_post_only(demo):
    conn = http.client.HTTPConnection("127.0.0.1", demo.port, timeout=10)
    conn.request("GET", WEBHOOK_PATH)
    assert conn.getresponse().status == 405
    conn.close()


def test_secret_token_is_checked_when_configured():
    with aiohttp_server(lambda: make_app(secret="s3cret")) as server:
        for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: "s3cre"}):
            status, error = post_update(server.port, SAMPLE_UPDATE, headers)
            assert status == 401 and error["error_code"] == 401
        status, reply = post_update(server.port, SAMPLE_UPDATE, {SECRET_HEADER: "s3cret"})
        assert status == 200 and reply["method"] == "sendMessage"
        assert request(server.port, "GET", "/health")[1]["updates"] == 1


def test_delay_still_answers():
    with aiohttp_server(lambda: make_app(delay_ms=20)) as server:
        assert post_update(server.port, SAMPLE_UPDATE)[0] == 200


def test_negative_delay_is_refused():
    with pytest.raises(ValueError):
        make_app(delay_ms=-1)


def test_handle_update_is_pure():
    assert handle_update(message("/ping")) == {"method": "sendMessage", "chat_id": 1001,
                                               "text": "pong"}
    assert handle_update({"update_id": 9, "message": {"chat": {"id": 1}, "text": "/x@other_bot"}})[
        "text"] == "/x@other_bot"  # a command for another bot is just text: echoed


# --- the command catalog, with tiers -------------------------------------------------


def tier_message(text: str, tier: str, n: int = 7) -> dict:
    """A private-chat message from the n-th user of `tier`."""
    user_id = tier_user_id(tier, n)
    return {"update_id": 11, "message": {
        "message_id": 3, "date": 1717000000, "text": text,
        "from": {"id": user_id, "is_bot": False, "first_name": "Lin"},
        "chat": {"id": user_id, "type": "private", "first_name": "Lin"}}}


@pytest.fixture(scope="module")
def shared_demo():
    """One demo app for a table of stateless requests."""
    with aiohttp_server(make_app) as server:
        yield server


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("command", DEFAULT_CATALOG, ids=lambda c: c.name)
def test_every_command_is_allowed_or_refused_per_tier(shared_demo, command, tier):
    update = tier_message(command_text(command), tier)
    status, reply = post_update(shared_demo.port, update)
    assert status == 200  # a bot answers the webhook with 200 either way
    assert reply["method"] == "sendMessage"
    assert reply["chat_id"] == update["message"]["chat"]["id"]
    refused = expected_reply(command, tier) == "refused"
    assert reply_is_refusal(reply) is refused
    if refused:
        assert reply["text"] == refusal_text(command.name, command.tier, tier)
    else:
        assert not reply["text"].startswith(("Unknown command", "Usage:"))


def test_allowed_replies_are_command_specific():
    texts = {c.name: handle_update(tier_message(command_text(c), "admin"))["text"]
             for c in DEFAULT_CATALOG}
    assert len(set(texts.values())) == len(DEFAULT_CATALOG)
    assert texts["/weather"].startswith("Weather in Berlin: ")
    assert texts["/remind"] == "OK, I will remind you at 18:00: call mom."
    assert texts["/echo"] == "hello world"


@pytest.mark.parametrize("name", ["/settings", "/language"])
def test_settings_and_language_have_inline_keyboards(name):
    reply = handle_update(tier_message(name, "free"))
    rows = reply["reply_markup"]["inline_keyboard"]
    buttons = [b for row in rows for b in row]
    assert len(buttons) >= 3 and all(b["text"] and b["callback_data"] for b in buttons)
    press = {"update_id": 12, "callback_query": {"id": "cq", "from": USER,
                                                 "data": buttons[0]["callback_data"]}}
    assert handle_update(press)["method"] == "answerCallbackQuery"


def test_language_with_an_argument_sets_it():
    assert handle_update(tier_message("/language de", "free"))["text"].startswith(
        "Language set to Deutsch.")


def test_commands_without_their_arguments_answer_usage():
    reply = handle_update(tier_message("/weather", "free"))
    assert reply["text"] == "Usage: /weather <city>" and not reply_is_refusal(reply)
    # The tier check comes first: a refused command is refused with or without args.
    assert reply_is_refusal(handle_update(tier_message("/ban", "premium")))


def test_group_form_and_case_are_tier_checked_too():
    assert reply_is_refusal(handle_update(tier_message("/STATS@driver_demo_bot", "free")))
    assert not reply_is_refusal(handle_update(tier_message("/stats@driver_demo_bot", "admin")))


def test_only_refusals_start_with_the_refusal_mark():
    # Echoed user text that starts with the mark must not read as a refusal.
    for text in ("/echo \u26d4 stop", "\u26d4 plain text"):
        reply = handle_update(tier_message(text, "free"))
        assert not reply_is_refusal(reply) and "\u26d4" in reply["text"]


def test_a_sender_without_id_is_free():
    update = {"update_id": 1, "message": {"chat": {"id": 5}, "text": "/ai_chat hi"}}
    assert reply_is_refusal(handle_update(update))


# --- rate limiting ------------------------------------------------------------------


def test_rate_limit_answers_429_per_chat():
    with aiohttp_server(lambda: make_app(rate_limit=2)) as server:
        first = tier_message("/ping", "free", 1)
        # Bucket of 2: two pass at once; the third, a few ms later, is over the limit.
        assert post_update(server.port, first)[0] == 200
        assert post_update(server.port, first)[0] == 200
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("POST", WEBHOOK_PATH, body=orjson.dumps(first),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 429
        assert response.getheader("Retry-After") == "1"
        assert orjson.loads(response.read()) == {
            "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1}}
        conn.close()
        # Another chat has its own bucket; limited requests are not counted as handled.
        assert post_update(server.port, tier_message("/ping", "free", 2))[0] == 200
        assert request(server.port, "GET", "/health")[1]["updates"] == 3


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_is_a_token_bucket():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock)  # steps of 1/8 s: exact in binary
    assert [limiter.allow("a") for _ in range(5)] == [True] * 4 + [False]  # burst of 4
    assert limiter.allow("b")  # per key
    clock.now += 0.125  # half a token
    assert not limiter.allow("a")
    clock.now += 0.125  # one token (the refused request took nothing)
    assert limiter.allow("a") and not limiter.allow("a")
    clock.now += 60  # refills to the burst size, no more
    assert [limiter.allow("a") for _ in range(5)] == [True] * 4 + [False]


def test_rate_limiter_below_one_per_second_and_bounded():
    clock = FakeClock()
    limiter = RateLimiter(0.5, max_keys=2, clock=clock)
    assert limiter.allow("a") and not limiter.allow("a")
    clock.now += 2
    assert limiter.allow("a")
    limiter.allow("b"), limiter.allow("c")  # "a" is the least recent: forgotten
    assert limiter.allow("a")  # a fresh bucket
    for bad in (0, -1, float("inf"), True, "2"):
        with pytest.raises(ValueError, match="rate_limit"):
            make_app(rate_limit=bad)


# --- in its own process ----------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_process_starts_serves_and_stops_cleanly():
    with DemoTargetProcess(secret="tok") as target:
        assert target.url == f"http://127.0.0.1:{target.port}"
        pid = target.pid
        assert request(target.port, "GET", "/health") == (200, {"status": "ok", "updates": 0})
        status, _ = post_update(target.port, SAMPLE_UPDATE, {SECRET_HEADER: "tok"})
        assert status == 200
        assert post_update(target.port, SAMPLE_UPDATE)[0] == 401
    assert target.returncode == 0  # SIGTERM is a clean shutdown, not a kill
    assert not _alive(pid)  # reaped, not a zombie
    assert _refused(target.port)
    target.stop()  # idempotent


def test_process_that_cannot_bind_fails_with_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(TargetStartError, match="exited with code") as info:
            DemoTargetProcess(port=port).start()
        assert "address already in use" in str(info.value).lower()


def test_session_fixture(demo_target):
    before = request(demo_target.port, "GET", "/health")[1]["updates"]
    post_update(demo_target.port, SAMPLE_UPDATE)
    assert request(demo_target.port, "GET", "/health")[1]["updates"] == before + 1


def test_process_that_ignores_sigterm_is_killed():
    target = DemoTargetProcess(stop_timeout=0.5).start()
    os.kill(target.pid, signal.SIGSTOP)  # a stopped process cannot act on SIGTERM
    target.stop()  # SIGTERM waits, pending, for 0.5 s; then SIGKILL ends it
    # Killed by a signal (the kernel may report the pending SIGTERM as the cause).
    assert target.returncode in (-signal.SIGKILL, -signal.SIGTERM)
    assert not _alive(target.pid)


def test_process_that_never_reports_listening_fails_and_is_stopped():
    target = DemoTargetProcess(startup_timeout=0)
    with pytest.raises(TargetStartError, match="did not report listening within 0 s"):
        target.start()
    assert target.returncode is not None  # stopped and reaped, not left running


def test_process_takes_rate_limit_verify_token_and_app_secret():
    import hashlib
    import hmac

    with DemoTargetProcess(rate_limit=1, verify_token="vt", app_secret="as") as target:
        update = tier_message("/ping", "free", 3)
        assert post_update(target.port, update)[0] == 200
        assert post_update(target.port, update)[0] == 429
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
        conn.request("GET", "/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=vt"
                             "&hub.challenge=42")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"42")
        body = orjson.dumps({"object": "whatsapp_business_account", "entry": []})
        for signature, status in (("sha256=" + hmac.new(b"as", body, hashlib.sha256)
                                   .hexdigest(), 200), ("sha256=00", 401)):
            conn.request("POST", "/webhook/whatsapp", body=body,
                         headers={"X-Hub-Signature-256": signature})
            response = conn.getresponse()
            response.read()
            assert response.status == status
        conn.close()
