"""The demo bot in API mode: it answers its webhooks 200 `{}` at once and sends its
replies to the platform API, through a circuit breaker.

Telegram: the real mock Bot API (`driver.mock.telegram`) on a loopback port, the demo
bot on another, real webhook updates; what the bot sent is read back from the mock's
call log, and outages and 429s are the mock's programmable faults. WhatsApp: the
WhatsApp mock is not in this tree yet, so a small real aiohttp server here records the
`POST /v21.0/{phone_number_id}/messages` calls and answers them in Graph API shape.

No absolute times are asserted: waits poll until a condition holds (bounded), and the
breaker is judged by relations of counts (calls that reached the API during an outage
= the failures that trip it + the probes)."""
from __future__ import annotations

import contextlib
import http.client
import itertools
import time
from typing import Any, Callable

import orjson
import pytest
from aiohttp import web

from driver.mock.telegram import make_app as make_mock
from driver.targets import demo_args
from driver.targets.demo import HEALTH_PATH, WEBHOOK_PATH, WHATSAPP_PATH, make_app
from driver.targets.process import DemoTargetProcess, TargetStartError
from driver.targets.telegram_bot import HELP_PARTS, HELP_TEXT, MENU_MARKUP, handle_update
from tests.servers import aiohttp_server

TOKEN = "4242:API-MODE-TEST"
CHAT = {"id": 1001, "type": "private", "first_name": "Grace"}
USER = {"id": 1001, "is_bot": False, "first_name": "Grace"}
_message_ids = itertools.count(500)
WAIT_S = 15.0  # bound on every wait: a reply that has not come by then fails the test


# --- HTTP helpers --------------------------------------------------------------------


def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = body if body is None or isinstance(body, bytes) else orjson.dumps(body)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        return response.status, orjson.loads(raw) if raw else None
    finally:
        conn.close()


def update(text: str, message_id: int | None = None) -> dict:
    message_id = next(_message_ids) if message_id is None else message_id
    return {"update_id": message_id, "message": {
        "message_id": message_id, "from": USER, "chat": CHAT, "date": 1717000000,
        "text": text}}


def post_update(bot: int, body: Any) -> tuple[int, Any]:
    return call(bot, "POST", WEBHOOK_PATH, body)


def health(bot: int) -> dict:
    status, body = call(bot, "GET", HEALTH_PATH)
    assert status == 200
    return body


def calls(mock: int) -> list[dict]:
    return call(mock, "GET", "/_driver/calls")[1]["calls"]


def faults(mock: int, config: dict) -> None:
    status, body = call(mock, "POST", "/_driver/faults", config)
    assert status == 200, body


def wait_until(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT_S
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S} s: {what}")
        time.sleep(0.02)


def replies(bot: int, platform: str = "telegram") -> dict:
    return health(bot)["replies"][platform]


def settled(bot: int, ended: int, platform: str = "telegram") -> dict:
    """Wait until nothing is in flight and `ended` calls (or dropped answers) have
    ended: sent, failed, rejected by the breaker, or dropped. The counters, then."""
    def done():
        r = replies(bot, platform)
        total = r["sent"] + r["failed"] + r["rejected_by_breaker"] + r["dropped"]
        return r if r["in_flight"] == 0 and total >= ended else None
    return wait_until(f"{ended} calls ended", done)


@contextlib.contextmanager
def mock_and_bot(**options):
    with aiohttp_server(lambda: make_mock(seed=3)) as mock:
        with aiohttp_server(lambda: make_app(api_url=mock.url, bot_token=TOKEN,
                                             **options)) as bot:
            yield mock.port, bot.port


# --- replies through the Bot API ---------------------------------------------------------


def test_the_reply_goes_to_the_api_as_a_reply_to_the_update():
    with mock_and_bot() as (mock, bot):
        status, body = post_update(bot, update("/start", message_id=41))
        assert (status, body) == (200, {})  # at once, the reply comes later
        sent = wait_until("the reply", lambda: [c for c in calls(mock) if c.get("reply")])
        assert len(sent) == 1
        assert sent[0]["method"] == "sendMessage" and sent[0]["status"] == 200
        assert sent[0]["chat_id"] == CHAT["id"] and sent[0]["reply_to_message_id"] == 41
        assert sent[0]["text"] == handle_update(update("/start"))["text"]
        assert sent[0]["buttons"] is False
        r = settled(bot, 1)
        assert (r["sent"], r["failed"], r["rejected_by_breaker"]) == (1, 0, 0)
        assert r["breaker"]["state"] == "closed" and health(bot)["updates"] == 1


def test_buttons_and_plain_text_replies():
    with mock_and_bot() as (mock, bot):
        post_update(bot, update("/menu", message_id=7))
        post_update(bot, update("hello there", message_id=8))
        sent = wait_until("two replies", lambda: len(
            [c for c in calls(mock) if c.get("reply")]) == 2 and calls(mock))
        by_id = {c["reply_to_message_id"]: c for c in sent}
        assert by_id[7]["text"] == "Pick a colour:" and by_id[7]["buttons"] is True
        assert MENU_MARKUP["inline_keyboard"]  # what "buttons" stands for
        assert by_id[8]["text"] == "hello there" and by_id[8]["buttons"] is False


def test_help_is_a_multi_message_answer():
    with mock_and_bot() as (mock, bot):
        post_update(bot, update("/help", message_id=77))
        settled(bot, 3)
        log = calls(mock)
        assert [c["method"] for c in log] == ["sendChatAction", "sendMessage", "sendMessage"]
        assert [c["text"] for c in log[1:]] == list(HELP_PARTS)
        assert all(c["reply_to_message_id"] == 77 for c in log[1:])
        assert "\n".join(HELP_PARTS) == HELP_TEXT  # the webhook mode's text, in two parts


def test_a_button_press_is_answered_and_acknowledged():
    press = {"update_id": 9, "callback_query": {
        "id": "cbq-1", "from": USER, "data": "color:red", "chat_instance": "1",
        "message": {"message_id": 3, "chat": CHAT, "date": 1717000000, "text": "Pick"}}}
    with mock_and_bot() as (mock, bot):
        assert post_update(bot, press) == (200, {})
        settled(bot, 2)
        log = calls(mock)
        assert [c["method"] for c in log] == ["answerCallbackQuery", "sendMessage"]
        assert log[1]["text"] == "You chose red." and log[1]["chat_id"] == CHAT["id"]


@pytest.mark.parametrize("body,status", [
    (b"{not json", 400),
    ({"message": {"text": "/start"}}, 400),  # no update_id
    ({"update_id": 1, "message": {"text": "/start"}}, 400),  # no chat
])
def test_bad_updates_are_refused_before_anything_is_sent(body, status):
    with mock_and_bot() as (mock, bot):
        code, answer = post_update(bot, body)
        assert code == status and answer["ok"] is False
        post_update(bot, update("/ping", message_id=5))  # a good one, as a marker
        settled(bot, 1)
        assert [c["method"] for c in calls(mock)] == ["sendMessage"]
        assert health(bot)["updates"] == 1


def test_webhook_mode_health_has_no_replies():
    with aiohttp_server(lambda: make_app()) as bot:
        assert "replies" not in health(bot.port)


# --- the breaker, against the mock's outages ----------------------------------------------


def test_breaker_trips_in_an_outage_probes_and_recovers():
    failures = 3
    with mock_and_bot(breaker_failures=failures, breaker_reset_s=1.0) as (mock, bot):
        post_update(bot, update("/ping"))
        settled(bot, 1)
        before = len(calls(mock))
        faults(mock, {"outage": "refuse"})
        sent_updates = 12
        for i in range(sent_updates):
            post_update(bot, update("/ping"))
            settled(bot, 2 + i)
        r = replies(bot)
        b = r["breaker"]
        assert b["trips"] == 1 and r["failed"] >= failures
        outage_calls = len(calls(mock)) - before
        # calls stopped reaching the API once it tripped, apart from probes
        assert outage_calls == failures + b["probes"] == r["failed"]
        assert r["rejected_by_breaker"] == sent_updates - outage_calls > 0
        assert b["state"] in ("open", "half_open")
        # half-open after the reset time; a probe in the outage fails and re-opens it
        wait_until("half-open", lambda: replies(bot)["breaker"]["state"] == "half_open")
        probe_failures = replies(bot)["breaker"]["probe_failures"]
        post_update(bot, update("/ping"))
        settled(bot, sent_updates + 2)
        b = replies(bot)["breaker"]
        assert b["state"] == "open" and b["probe_failures"] == probe_failures + 1
        # lift the outage: half-open, one probe, closed, and replies flow again
        faults(mock, {})
        wait_until("half-open", lambda: replies(bot)["breaker"]["state"] == "half_open")
        mark = len(calls(mock))
        for i in range(3):
            post_update(bot, update("/ping", message_id=900 + i))
            settled(bot, sent_updates + 3 + i)
        r = replies(bot)
        assert r["breaker"]["state"] == "closed" and r["breaker"]["trips"] == 1
        after = calls(mock)[mark:]
        assert [(c["status"], c["reply_to_message_id"]) for c in after] == [
            (200, 900), (200, 901), (200, 902)]
        assert r["sent"] == 1 + 3


def test_replies_in_flight_are_bounded_and_a_hang_ends_in_a_counted_failure():
    with mock_and_bot(max_replies_in_flight=1, api_timeout_s=30) as (mock, bot):
        faults(mock, {"outage": "hang"})
        post_update(bot, update("/ping"))
        wait_until("the call hangs", lambda: call(mock, "GET", "/_driver/calls")[1]["hanging"])
        post_update(bot, update("/ping"))
        post_update(bot, update("/ping"))
        r = replies(bot)
        assert r["dropped"] == 2 and r["in_flight"] == 1
        faults(mock, {})  # the hung call's connection closes unanswered: a failure
        r = settled(bot, 3)
        assert (r["failed"], r["dropped"], r["sent"]) == (1, 2, 0)
        assert r["breaker"]["failures"] == 1


# --- 429 with retry_after -----------------------------------------------------------------


def test_a_429_is_retried_once_after_retry_after():
    with mock_and_bot() as (mock, bot):
        faults(mock, {"rate_limit_rate": 1.0, "retry_after": 1})
        post_update(bot, update("/ping", message_id=61))
        wait_until("the 429", lambda: any(c["status"] == 429 for c in calls(mock)))
        faults(mock, {})  # lifted before retry_after has passed: the retry gets through
        r = settled(bot, 1)
        assert (r["sent"], r["retried"], r["failed"]) == (1, 1, 0)
        assert [(c["status"], c["reply_to_message_id"]) for c in calls(mock)] == [
            (429, 61), (200, 61)]
        assert r["breaker"]["failures"] == 0  # a 429: the API is up


def test_a_second_429_fails_the_reply_and_does_not_trip_the_breaker():
    with mock_and_bot(breaker_failures=1) as (mock, bot):
        faults(mock, {"rate_limit_rate": 1.0, "retry_after": 1})
        post_update(bot, update("/ping"))
        r = settled(bot, 1)
        assert (r["sent"], r["retried"], r["failed"]) == (0, 1, 1)
        assert r["failure_causes"] == {"HTTP 429": 1}
        assert r["breaker"]["state"] == "closed" and r["breaker"]["trips"] == 0
        assert [c["status"] for c in calls(mock)] == [429, 429]


def test_a_retry_after_over_the_cap_is_not_waited_for():
    with mock_and_bot(retry_after_cap_s=0.5) as (mock, bot):
        faults(mock, {"rate_limit_rate": 1.0, "retry_after": 3})
        post_update(bot, update("/ping"))
        r = settled(bot, 1)
        assert (r["sent"], r["retried"], r["failed"]) == (0, 0, 1)
        assert [c["status"] for c in calls(mock)] == [429]


# --- WhatsApp: a real Graph-shaped server that records the bot's calls -------------------

NUMBER_ID = "106540352242922"
WA_TOKEN = "wa-secret-token"
ADA, BOB = "15550100001", "15550100002"
_wamids = itertools.count(1)


def wa_text(wa_id: str, body: str) -> dict:
    return {"from": wa_id, "id": f"wamid.IN{next(_wamids):06d}", "timestamp": "1717000000",
            "type": "text", "text": {"body": body}}


def notification(*messages: dict, statuses: tuple = (), number: str = NUMBER_ID) -> dict:
    value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": {
        "display_phone_number": "15550009999", "phone_number_id": number}}
    if messages:
        value["contacts"] = [{"profile": {"name": "Ada"}, "wa_id": m["from"]} for m in messages]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"value": value,
                                                             "field": "messages"}]}]}


def graph_app(state: dict) -> web.Application:
    """Records POST /{version}/{number}/messages; answers as the Cloud API does, or
    503 with a Graph error while state["down"]."""
    async def messages(request: web.Request) -> web.Response:
        body = await request.json()
        state["posts"].append({"path": request.path, "body": body,
                               "auth": request.headers.get("Authorization")})
        if state["down"]:
            return web.json_response({"error": {
                "message": "Service temporarily unavailable", "type": "OAuthException",
                "code": 2, "fbtrace_id": "Adriver"}}, status=503)
        return web.json_response({
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": f"wamid.OUT{len(state['posts']):06d}"}]})

    app = web.Application()
    app.router.add_post("/{version}/{number}/messages", messages)
    return app


@contextlib.contextmanager
def graph_and_bot(**options):
    state: dict[str, Any] = {"posts": [], "down": False}
    with aiohttp_server(lambda: graph_app(state)) as graph:
        with aiohttp_server(lambda: make_app(whatsapp_api_url=graph.url + "/",
                                             whatsapp_token=WA_TOKEN, **options)) as bot:
            yield state, bot.port


def post_wa(bot: int, body: Any) -> tuple[int, Any]:
    return call(bot, "POST", WHATSAPP_PATH, body)


def test_whatsapp_replies_go_to_the_cloud_api_with_context():
    with graph_and_bot() as (state, bot):
        first, second = wa_text(ADA, "hi"), wa_text(BOB, "emergency")
        assert post_wa(bot, notification(first, second)) == (200, {})
        r = settled(bot, 2, "whatsapp")
        assert (r["sent"], r["failed"]) == (2, 0)
        posts = sorted(state["posts"], key=lambda p: p["body"]["to"])
        assert [p["path"] for p in posts] == [f"/v21.0/{NUMBER_ID}/messages"] * 2
        assert all(p["auth"] == f"Bearer {WA_TOKEN}" for p in posts)
        assert [p["body"]["context"] for p in posts] == [
            {"message_id": first["id"]}, {"message_id": second["id"]}]
        ada, bob = (p["body"] for p in posts)
        assert ada["messaging_product"] == "whatsapp" and ada["to"] == ADA
        assert ada["interactive"]["type"] == "list"  # the service list of the moving flow
        assert bob["interactive"]["type"] == "button"  # the emergency issue buttons
        # statuses get no reply; a bad notification is refused before anything is sent
        status = {"id": "wamid.X", "status": "read", "timestamp": "1", "recipient_id": ADA}
        assert post_wa(bot, notification(statuses=(status,))) == (200, {})
        code, body = post_wa(bot, {"object": "whatsapp_business_account", "entry": "x"})
        assert code == 400 and "error" in body
        code, body = post_wa(bot, notification(wa_text(ADA, "hi"), number=""))
        assert code == 400 and "phone_number_id" in body["error"]["message"]
        assert len(state["posts"]) == 2 and health(bot)["updates"] == 2


def test_whatsapp_has_its_own_breaker():
    with aiohttp_server(lambda: make_mock(seed=5)) as mock, \
            graph_and_bot(api_url=mock.url, bot_token=TOKEN, breaker_failures=2,
                          breaker_reset_s=60) as (state, bot):
        state["down"] = True
        for i in range(5):
            post_wa(bot, notification(wa_text(ADA, "hi")))
            settled(bot, i + 1, "whatsapp")
        r = replies(bot, "whatsapp")
        assert r["breaker"]["state"] == "open" and r["breaker"]["trips"] == 1
        assert len(state["posts"]) == 2 == r["failed"]  # none sent once open
        assert r["rejected_by_breaker"] == 3
        assert r["failure_causes"] == {"HTTP 503": 2}
        # Telegram's replies do not go through WhatsApp's breaker
        post_update(bot, update("/ping"))
        t = settled(bot, 1)
        assert t["sent"] == 1 and t["breaker"]["state"] == "closed"


# --- the demo target in its own process, pointed at the mock -----------------------------


def test_demo_target_process_in_api_mode():
    with aiohttp_server(lambda: make_mock(seed=9)) as mock:
        with DemoTargetProcess(api_url=mock.url, bot_token=TOKEN, breaker_failures=4,
                               breaker_reset_s=2.5, api_timeout_s=3) as target:
            assert post_update(target.port, update("/ping", message_id=33)) == (200, {})
            r = settled(target.port, 1)
            assert r["sent"] == 1
            assert r["breaker"]["failures_to_trip"] == 4
            assert r["breaker"]["reset_timeout_s"] == 2.5
            sent = calls(mock.port)
            assert [(c["method"], c["reply_to_message_id"]) for c in sent] == [
                ("sendMessage", 33)]
            assert TOKEN not in orjson.dumps(health(target.port)).decode()


def test_a_bad_api_flag_stops_the_target_and_secrets_stay_out_of_the_error():
    with pytest.raises(TargetStartError) as info:
        DemoTargetProcess(api_url="not-a-url", bot_token=TOKEN, startup_timeout=10).start()
    message = str(info.value)
    assert "--api-url" in message and "must be an http" in message
    assert TOKEN not in message and "--bot-token ***" in message


def test_flags_map_to_make_app_options():
    options = demo_args.parse([
        "--port", "0", "--api-url", "http://127.0.0.1:8081/", "--bot-token", TOKEN,
        "--whatsapp-api-url", "http://127.0.0.1:8082", "--whatsapp-token", WA_TOKEN,
        "--breaker-failures", "7", "--breaker-reset", "1.5", "--api-timeout", "2",
        "--max-replies-in-flight", "50"])
    assert options["api_url"] == "http://127.0.0.1:8081/" and options["bot_token"] == TOKEN
    assert options["whatsapp_api_url"] == "http://127.0.0.1:8082"
    assert (options["breaker_failures"], options["breaker_reset_s"]) == (7, 1.5)
    assert (options["api_timeout_s"], options["max_replies_in_flight"]) == (2.0, 50)
    assert demo_args.parse([])["api_url"] is None  # webhook mode by default


@pytest.mark.parametrize("argv,error", [
    (["--breaker-failures", "0"], "--breaker-failures must be >= 1"),
    (["--breaker-reset", "0"], "--breaker-reset must be a positive number"),
    (["--api-timeout", "-1"], "--api-timeout must be a positive number"),
    (["--max-replies-in-flight", "0"], "--max-replies-in-flight must be >= 1"),
    (["--api-url", "127.0.0.1:8081"], "api_url (--api-url) must be an http"),
    (["--whatsapp-api-url", "x"], "whatsapp_api_url (--whatsapp-api-url) must be an http"),
    (["--api-url", "http://h", "--bot-token", "a/b"], "bot_token must be non-empty"),
])
def test_bad_flags_exit_2_with_one_error_line(argv, error, capsys):
    with pytest.raises(SystemExit) as info:
        demo_args.parse(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("python -m driver.targets.demo: error: ") and error in err[-1]
