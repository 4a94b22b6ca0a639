"""The mock WhatsApp Cloud API (driver.mock.whatsapp): pywa talks to it unmodified; every
message kind, the media endpoints, Graph's error shapes, faults, the call log and its
listener, `driver mock whatsapp`.

Every test serves the mock on loopback (in a thread, `tests.servers.aiohttp_server`) or
runs the CLI as a subprocess; nothing leaves 127.0.0.1.
"""
import asyncio
import base64
import contextlib
import hashlib
import http.client as httpclient
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from driver.mock import Faults
from driver.mock.graphapi import GraphApi, GraphApiError, describe
from driver.mock.whatsapp import LISTENING_PREFIX, make_app, mock_of
from tests.servers import aiohttp_server, free_port

ROOT = Path(__file__).resolve().parents[1]
PHONE_ID = "106540352242922"
TOKEN = "EAAJB-mock-token"
USER = "15550001111"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))  # upload content: bytes, not a real image
MSG = f"/v21.0/{PHONE_ID}/messages"


def call(url, path, body=None, *, method=None, content_type="application/json", token=TOKEN, timeout=10):
    """(status, parsed JSON or bytes, headers) of one request, with a raw client."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = httpclient.HTTPConnection(host, int(port), timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = orjson.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method or ("POST" if body is not None else "GET"), path, body, headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, orjson.loads(data), resp.headers
    except orjson.JSONDecodeError:
        return resp.status, data, resp.headers


def send(url, typ, obj, **extra):
    body = {"messaging_product": "whatsapp", "to": USER, "type": typ, typ: obj, **extra}
    return call(url, MSG, body)[:2]


def set_faults(url, **faults):
    status, body, _ = call(url, "/_driver/faults", faults, token=None)
    assert status == 200, body
    return body


def calls(url, limit=None):
    return call(url, "/_driver/calls" + (f"?limit={limit}" if limit else ""), token=None)[1]


@pytest.fixture
def mock():
    with aiohttp_server(lambda: make_app(seed=7)) as server:
        yield server.url


# --- pywa, pointed at the mock by its own settings ----------------------------------------


def graph_session(url, **client):
    """An httpx.Client (pywa's documented `session=` argument) that sends what pywa
    addresses to graph.facebook.com to the mock instead. pywa pins its session's
    base_url to https://graph.facebook.com/vNN.0, so the redirect is an httpx request
    hook on the session; pywa itself is not touched."""
    base = httpx.URL(url)

    def to_mock(request: httpx.Request) -> None:
        if request.url.host == "graph.facebook.com":
            request.url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)
            request.headers["Host"] = request.url.netloc.decode()

    return httpx.Client(event_hooks={"request": [to_mock]}, **({"timeout": 10} | client))


@contextlib.contextmanager
def pywa_client(url, **client):
    from pywa import WhatsApp

    with graph_session(url, **client) as session:
        yield WhatsApp(phone_id=PHONE_ID, token=TOKEN, session=session, server=None)


def test_pywa_sends_every_kind_and_gets_typed_results_back(mock):
    from pywa import types
    from pywa.types.templates import TemplateLanguage
    from pywa.types.sent_update import SentTemplateStatus

    with pywa_client(mock) as wa:
        first = wa.send_message(USER, "hello", reply_to_message_id="wamid.FROM-USER",
                                buttons=[types.Button("Yes", callback_data="y"), types.Button("No", callback_data="n")])
        assert first.id.startswith("wamid.") and first.chat.id == USER and first.input == USER
        image = wa.send_image(USER, "https://example.com/chart.png", caption="a chart")  # by link
        assert image.id.startswith("wamid.") and image.id != first.id
        reaction = wa.send_reaction(USER, "👍", message_id=first.id)
        assert reaction.message_id == first.id
        template = wa.send_template(USER, name="hello_world", language=TemplateLanguage.ENGLISH_US)
        assert template.status == SentTemplateStatus.ACCEPTED
        assert wa.mark_message_as_read("wamid.FROM-USER").success is True
        listed = wa.send_message(USER, "pick one", buttons=types.SectionList(
            button_title="Menu", sections=[types.Section(title="S", rows=[types.SectionRow(title="r1", callback_data="r1")])]))
        cta = wa.send_message(USER, "visit", buttons=types.URLButton(title="Open", url="https://example.com"))
        located = wa.send_location(USER, 32.07, 34.78, name="office")
        contact = wa.send_contact(USER, types.Contact(name=types.Contact.Name(formatted_name="Ada L", first_name="Ada")))

        media = wa.upload_media(PNG, mime_type="image/png", filename="chart.png")
        info = wa.get_media_url(media.id)
        assert (info.id, info.mime_type, info.file_size) == (media.id, "image/png", len(PNG))
        assert info.sha256 == hashlib.sha256(PNG).hexdigest()
        assert wa.get_media_bytes(url=info.url) == PNG
        sticker = wa.send_sticker(USER, media.id)  # by id
        assert wa.delete_media(media.id).success is True
        ids = [m.id for m in (first, image, reaction, template, listed, cta, located, contact, sticker)]
        assert len(set(ids)) == len(ids)

        log = calls(mock)
        assert log["counts"] == {"messages": 9, "messages.read": 1, "media.upload": 1, "media.get": 1,
                                 "media.download": 1, "media.delete": 1}
        assert set(log["statuses"]) == {"200"}
        sends = [c for c in log["calls"] if c.get("reply")]
        assert [(c["chat_id"], c["reply_to_message_id"], c["text"], c["buttons"]) for c in sends] == [
            (USER, "wamid.FROM-USER", "hello", True), (USER, None, "a chart", False), (USER, None, None, False),
            (USER, None, None, False), (USER, None, "pick one", True), (USER, None, "visit", False),
            (USER, None, None, False), (USER, None, None, False), (USER, None, None, False)]
        read = next(c for c in log["calls"] if c["method"] == "messages.read")
        assert "reply" not in read  # not a reply candidate
        assert TOKEN not in orjson.dumps(log).decode()  # the token is never recorded


def test_pywa_async_reaches_the_mock_through_an_async_session(mock):
    from pywa_async import WhatsApp

    base = httpx.URL(mock)

    async def to_mock(request: httpx.Request) -> None:  # AsyncClient hooks are coroutines
        if request.url.host == "graph.facebook.com":
            request.url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)

    async def scenario():
        async with httpx.AsyncClient(event_hooks={"request": [to_mock]}, timeout=10) as session:
            wa = WhatsApp(phone_id=PHONE_ID, token=TOKEN, session=session, server=None)
            sent = await wa.send_message(USER, "async hello", reply_to_message_id="wamid.IN")
            assert sent.id.startswith("wamid.") and sent.chat.id == USER
            assert (await wa.mark_message_as_read("wamid.IN")).success is True

    asyncio.run(scenario())
    (sent, read) = calls(mock)["calls"]
    assert (sent["method"], sent["text"], sent["reply_to_message_id"]) == ("messages", "async hello", "wamid.IN")
    assert read["method"] == "messages.read"


def test_pywa_gets_graph_errors_as_its_own_exceptions(mock):
    from pywa import errors

    with pywa_client(mock) as wa:
        with pytest.raises(errors.RecipientNotInAllowedList) as caught:
            wa.send_message("123", "x")  # three digits: no phone number
        assert caught.value.code == 131030 and caught.value.status_code == 400
        set_faults(mock, rate_limit_rate=1.0, retry_after=7)
        with pytest.raises(errors.RateLimitHit) as caught:
            wa.send_message(USER, "x")
        assert caught.value.code == 130429 and caught.value.status_code == 429
        assert caught.value.raw_response.headers["Retry-After"] == "7"
        set_faults(mock, error_rate=1.0, error_status=502)
        with pytest.raises(errors.WhatsAppError) as caught:
            wa.mark_message_as_read("wamid.X")
        assert caught.value.status_code == 502 and caught.value.is_transient is True
        set_faults(mock)
        assert wa.send_message(USER, "back").id.startswith("wamid.")


def test_outages_refuse_reset_and_hang_then_recover(mock):
    from pywa import errors

    with pywa_client(mock, timeout=0.5) as wa:
        set_faults(mock, outage="refuse")
        with pytest.raises(errors.WhatsAppError) as caught:
            wa.send_message(USER, "x")
        assert caught.value.status_code == 503 and caught.value.is_transient is True
        set_faults(mock, outage="reset")
        with pytest.raises(httpx.TransportError):
            wa.send_message(USER, "x")
        set_faults(mock, outage="hang")
        with pytest.raises(httpx.ReadTimeout):  # bounded by the client's timeout
            wa.send_message(USER, "x")
        set_faults(mock)
        assert wa.send_message(USER, "back").id.startswith("wamid.")
        set_faults(mock, outage="reset")
        with pytest.raises(ConnectionResetError):  # a TCP RST, to a raw client too
            call(mock, MSG, {"messaging_product": "whatsapp", "to": USER, "text": {"body": "x"}})
        assert [c["status"] for c in calls(mock)["calls"][-5:]] == [503, 0, 0, 200, 0]  # 0: no HTTP answer
        set_faults(mock)


def test_a_hung_call_ends_unanswered_when_the_outage_is_lifted(mock):
    set_faults(mock, outage="hang")

    async def scenario():
        reader, writer = await asyncio.open_connection("127.0.0.1", int(mock.rsplit(":", 1)[1]))
        writer.write(b"GET /v21.0/123 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n")
        await writer.drain()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.5)  # hangs
        await asyncio.to_thread(set_faults, mock)
        try:
            data = await asyncio.wait_for(reader.read(), 5)
        except ConnectionResetError:
            data = b""
        writer.close()
        return data

    assert asyncio.run(scenario()) == b""  # closed, no answer
    assert send(mock, "text", {"body": "x"})[0] == 200


def test_a_hang_lets_go_of_calls_whose_clients_left(mock):
    set_faults(mock, outage="hang")
    port = int(mock.rsplit(":", 1)[1])
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    for sock in clients:
        sock.sendall(b"GET /v21.0/123 HTTP/1.1\r\nHost: x\r\n\r\n")

    def hanging():
        return calls(mock)["hanging"]

    until = time.monotonic() + 10
    while hanging() < 3 and time.monotonic() < until:
        time.sleep(0.05)
    assert hanging() == 3
    for sock in clients:
        sock.close()
    while hanging() > 0 and time.monotonic() < until:  # the outage goes on; the clients left
        time.sleep(0.05)
    assert hanging() == 0 and call(mock, "/_driver/faults")[1]["outage"] == "hang"
    set_faults(mock)


# --- faults -------------------------------------------------------------------------------


def test_429_and_5xx_answers_are_graph_shaped(mock):
    set_faults(mock, rate_limit_rate=1.0, retry_after=3)
    status, body, headers = call(mock, MSG, {"messaging_product": "whatsapp", "to": USER, "text": {"body": "x"}})
    assert status == 429 and headers["Retry-After"] == "3"
    error = body["error"]
    assert (error["code"], error["type"], error["message"]) == (130429, "OAuthException", "(#130429) Rate limit hit")
    assert "Retry after 3 seconds" in error["error_data"]["details"] and error["fbtrace_id"]
    set_faults(mock, error_rate=1.0)
    got = httpx.post(f"{mock}/v21.0/{PHONE_ID}/media", headers={"Authorization": f"Bearer {TOKEN}"}, files={
        "file": ("a.png", PNG, "image/png"), "messaging_product": (None, "whatsapp")})
    body = got.json()
    assert got.status_code == 500 and body["error"]["code"] == 2 and body["error"]["is_transient"] is True
    set_faults(mock)
    wamid = send(mock, "sticker", {"id": "1"})[1]["messages"][0]["id"]
    assert int.from_bytes(base64.b64decode(wamid[6:])[-8:], "big") == 1  # the first: faulted calls spent none
    assert call(mock, "/v21.0/1000000000000001")[0] == 400  # the faulted upload stored nothing
    log = calls(mock)
    assert [(c["method"], c["status"], c.get("text")) for c in log["calls"]] == [
        ("messages", 429, "x"), ("media.upload", 500, None), ("messages", 200, None), ("media.get", 400, None)]
    # faulted calls are logged with what they asked for


def statuses_with_seed(seed, n=200):
    with aiohttp_server(lambda: make_app(Faults(error_rate=0.25, rate_limit_rate=0.25), seed=seed)) as server:
        return [call(server.url, f"/v21.0/{PHONE_ID}/register", {})[0] for _ in range(n)]


def test_error_and_429_rates_are_shares_of_the_calls_and_a_seed_repeats_them():
    first = statuses_with_seed(3)
    # binomial(200, 0.25): mean 50, sd 6.1; 22..78 is beyond 4.5 sd either way
    assert 22 <= first.count(500) <= 78 and 22 <= first.count(429) <= 78
    assert first.count(200) == 200 - first.count(500) - first.count(429)
    assert statuses_with_seed(3) == first  # the same seed, the same draws
    assert statuses_with_seed(4) != first


@pytest.mark.parametrize("faults, low_s", [
    ({"latency_ms": 300}, 0.3),  # fixed
    ({"latency_ms": 200, "latency_max_ms": 400}, 0.2),  # uniform: never below its low end
])
def test_added_latency_delays_every_answer_by_at_least_the_configured_time(mock, faults, low_s):
    set_faults(mock, **faults)
    for _ in range(3):
        t0 = time.monotonic()
        assert send(mock, "text", {"body": "slow"})[0] == 200
        assert time.monotonic() - t0 >= low_s


def test_faults_given_at_start_apply_from_the_first_call_and_to_downloads():
    with aiohttp_server(lambda: make_app(Faults(outage="refuse"))) as server:
        status, body, _ = call(server.url, MSG, {})
        assert status == 503 and body["error"]["code"] == 2
        assert call(server.url, "/whatsapp_business/attachments/?mid=1")[0] == 503
        set_faults(server.url, error_rate=1.0)
        assert call(server.url, "/whatsapp_business/attachments/?mid=1")[0] == 500
        set_faults(server.url)
        assert call(server.url, "/whatsapp_business/attachments/?mid=1")[0] == 404
        log = calls(server.url)
    assert log["counts"] == {"messages": 1, "media.download": 3}
    assert log["statuses"] == {"503": 2, "500": 1, "404": 1}


@pytest.mark.parametrize("config, needle", [
    ({"error_rate": 1.5}, "error_rate must be a fraction"),
    ({"eror_rate": 0.1}, "unknown fault field(s): eror_rate"),  # a typo is not ignored
    ([1], "must be a JSON object"),
])
def test_a_bad_fault_config_is_refused_and_the_old_one_kept(mock, config, needle):
    set_faults(mock, latency_ms=1)
    status, body, _ = call(mock, "/_driver/faults", config, token=None)
    assert status == 400 and body["error"]["code"] == 100 and needle in body["error"]["message"]
    assert call(mock, "/_driver/faults")[1]["latency_ms"] == 1


# --- the call log ---------------------------------------------------------------------------


def test_the_call_log_keeps_what_correlation_needs_and_its_listener_sees_every_call():
    apps, seen = [], []

    def app():
        apps.append(make_app())
        mock_of(apps[0]).log.listener = seen.append
        return apps[0]

    before = time.monotonic_ns()
    with aiohttp_server(app) as server:
        url = server.url
        send(url, "text", {"body": "one"}, context={"message_id": "wamid.IN1"})
        send(url, "image", {"id": "123", "caption": "two"})
        send(url, "interactive", {"type": "button", "body": {"text": "three"}, "action": {
            "buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]}})
        send(url, "text", {"body": ""})  # refused, still logged
        call(url, MSG, {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"})
        after = time.monotonic_ns()
        log = calls(url)
        assert [c.get("text") for c in calls(url, limit=2)["calls"]] == ["", None]
        assert call(url, "/_driver/calls?limit=x")[0] == 400
        assert call(url, "/_driver/calls", method="DELETE")[0] == 200
        assert calls(url) == {"total": 0, "counts": {}, "statuses": {}, "calls": [], "hanging": 0}
    assert log["total"] == 5 and log["counts"] == {"messages": 4, "messages.read": 1}
    assert log["statuses"] == {"200": 4, "400": 1}
    assert [(c["chat_id"], c.get("reply_to_message_id"), c.get("text"), c.get("buttons"), c["status"])
            for c in log["calls"]] == [
        (USER, "wamid.IN1", "one", False, 200), (USER, None, "two", False, 200),
        (USER, None, "three", True, 200), (USER, None, "", False, 400), (None, None, None, None, 200)]
    times = [c["received_ns"] for c in log["calls"]]
    assert times == sorted(times) and before <= times[0] and times[-1] <= after  # one clock
    assert seen == log["calls"]  # the listener got each call as it was logged


def test_the_call_log_keeps_only_the_last_calls_but_counts_all():
    with aiohttp_server(lambda: make_app(log_size=3)) as server:
        for i in range(10):
            send(server.url, "text", {"body": str(i)})
        log = calls(server.url)
    assert log["total"] == 10 and log["counts"] == {"messages": 10}
    assert [c["text"] for c in log["calls"]] == ["7", "8", "9"]


# --- messages, raw ----------------------------------------------------------------------------


@pytest.mark.parametrize("typ, obj", [
    ("text", {"body": "hi", "preview_url": False}),
    ("interactive", {"type": "list", "body": {"text": "b"}, "action": {
        "button": "Menu", "sections": [{"title": "s", "rows": [{"id": "1", "title": "one"}]}]}}),
    ("interactive", {"type": "cta_url", "body": {"text": "b"}, "action": {
        "name": "cta_url", "parameters": {"display_text": "Go", "url": "https://example.com"}}}),
    ("interactive", {"type": "flow", "action": {"name": "flow", "parameters": {}}}),  # accepted as it comes
    ("image", {"link": "https://example.com/a.png"}),
    ("video", {"id": "55", "caption": "v"}),
    ("audio", {"id": "56"}),
    ("document", {"link": "https://example.com/a.pdf", "caption": "d", "filename": "a.pdf"}),
    ("sticker", {"id": "57"}),
    ("location", {"latitude": "-33.9", "longitude": 18.4, "name": "Cape Town"}),
    ("contacts", [{"name": {"formatted_name": "Ada L"}}]),
    ("template", {"name": "hello_world", "language": {"code": "en_US"}, "components": []}),
    ("reaction", {"message_id": "wamid.X", "emoji": ""}),  # "" removes a reaction
])
def test_every_message_kind_answers_graphs_sent_message_shape(mock, typ, obj):
    status, body = send(mock, typ, obj)
    assert status == 200
    message = {"id": body["messages"][0]["id"]}
    if typ == "template":
        message["message_status"] = "accepted"
    assert body == {"messaging_product": "whatsapp", "contacts": [{"input": USER, "wa_id": USER}],
                    "messages": [message]}


def test_recipients_wamids_versions_and_tokens(mock):
    plus = call(mock, MSG, {"messaging_product": "whatsapp", "to": "+1 (555) 000-2222", "text": {"body": "x"}})[1]
    assert plus["contacts"] == [{"input": "+1 (555) 000-2222", "wa_id": "15550002222"}]
    bsuid = call(mock, MSG, {"messaging_product": "whatsapp", "recipient": "US.1234", "text": {"body": "x"}})[1]
    assert bsuid["contacts"] == [{"input": "US.1234", "user_id": "US.1234"}]
    group = call(mock, MSG, {"messaging_product": "whatsapp", "recipient_type": "group", "to": "g-1",
                             "text": {"body": "x"}})[1]
    assert group["contacts"] == [{"input": "g-1", "wa_id": "g-1"}]
    ids = [call(mock, f"/v{v}.0/{PHONE_ID}/messages" if v else f"/{PHONE_ID}/messages",
                {"messaging_product": "whatsapp", "to": USER, "text": {"body": "x"}})[1]["messages"][0]["id"]
           for v in [17, 20, 23, None] * 25]  # any version, or none
    with aiohttp_server(make_app) as other:
        ids.append(send(other.url, "text", {"body": "x"})[1]["messages"][0]["id"])
    assert len(set(ids)) == len(ids) == 101  # unique, between mocks too
    assert call(mock, f"{MSG}?access_token=abc", {"messaging_product": "whatsapp", "to": USER,
                                                  "text": {"body": "x"}}, token=None)[0] == 200
    status, body, _ = call(mock, MSG, {"messaging_product": "whatsapp", "to": USER}, token=None)
    assert status == 401 and body["error"]["code"] == 190 and body["error"]["type"] == "OAuthException"
    assert call(mock, MSG, {}, token="")[:2][0] == 401  # "Bearer " with nothing after it
    assert call(mock, f"/v21.0/{PHONE_ID}/register", {"pin": "123456"})[:2] == (200, {"success": True})
    status, body, _ = call(mock, f"/v21.0/{PHONE_ID}/phone_numbers/x")
    assert status == 400 and body["error"]["error_subcode"] == 33


def test_mark_as_read_and_the_typing_indicator_answer_success(mock):
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"}
    assert call(mock, MSG, read)[:2] == (200, {"success": True})
    assert call(mock, MSG, {**read, "typing_indicator": {"type": "text"}})[:2] == (200, {"success": True})
    for bad, needle in [({**read, "message_id": ""}, "message_id is required"),
                        ({**read, "status": "delivered"}, "status must be \"read\""),
                        ({**read, "typing_indicator": {"type": "voice"}}, "typing_indicator")]:
        status, body, _ = call(mock, MSG, bad)
        assert status == 400 and body["error"]["code"] == 100 and needle in body["error"]["message"]


BUTTON = {"type": "reply", "reply": {"id": "a", "title": "A"}}


@pytest.mark.parametrize("body, code, needle", [
    ({"to": USER, "text": {"body": "x"}}, 100, "messaging_product is required"),
    ({"messaging_product": "whatsapp", "text": {"body": "x"}}, 100, "The parameter to is required"),
    ({"messaging_product": "whatsapp", "to": "12ab", "text": {"body": "x"}}, 131030, "not in allowed list"),
    ({"messaging_product": "whatsapp", "to": "123", "text": {"body": "x"}}, 131030, "not in allowed list"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "poll", "poll": {}}, 100, "Param type must be one of"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "image"}, 100, "The parameter image is required"),
    ({"messaging_product": "whatsapp", "to": USER, "text": {"body": " "}}, 100, "text['body'] is required"),
    ({"messaging_product": "whatsapp", "to": USER, "text": {"body": "x" * 4097}}, 100, "at most 4096"),
    ({"messaging_product": "whatsapp", "to": USER, "text": {"body": "x"}, "context": {"message_id": 5}},
     100, "context['message_id']"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "interactive", "interactive": {
        "type": "button", "body": {"text": "b"}, "action": {"buttons": [BUTTON] * 4}}}, 100, "1 to 3 items"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "interactive", "interactive": {
        "type": "button", "action": {"buttons": [BUTTON]}}}, 100, "interactive['body']['text'] is required"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "interactive", "interactive": {
        "type": "button", "body": {"text": "b"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "a", "title": "t" * 21}}]}}}, 100, "at most 20"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "interactive", "interactive": {
        "type": "list", "body": {"text": "b"}, "action": {"button": "M", "sections": [{"rows": []}]}}},
     100, "1 to 10 rows"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "interactive", "interactive": {
        "type": "cta_url", "body": {"text": "b"}, "action": {"name": "cta_url", "parameters": {
            "display_text": "Go", "url": "ftp://x"}}}}, 100, "must be a URL"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "interactive", "interactive": {"type": "button"}},
     100, "interactive['action'] is required"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "image", "image": {"id": "1", "link": "https://x.y/a"}},
     100, "exactly one of id or link"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "image", "image": {"link": "file:///etc"}},
     100, "http(s) URL"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "sticker", "sticker": {"id": "1", "caption": "c"}},
     100, "no caption"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "location", "location": {"latitude": 1}},
     100, "location['longitude'] is required"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "location", "location": {"latitude": 91, "longitude": 0}},
     100, "between -90 and 90"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "contacts", "contacts": [{"name": {}}]},
     100, "formatted_name'] is required"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "template", "template": {"name": "t"}},
     100, "template['language']['code'] is required"),
    ({"messaging_product": "whatsapp", "to": USER, "type": "reaction", "reaction": {"emoji": "x"}},
     100, "reaction['message_id'] is required"),
])
def test_malformed_messages_get_graph_errors(mock, body, code, needle):
    status, got, _ = call(mock, MSG, body)
    assert status == 400 and set(got) == {"error"}
    error = got["error"]
    assert error["code"] == code and error["type"] == "OAuthException" and needle in error["message"]
    assert error["message"].startswith(f"(#{code}) ") and error["fbtrace_id"].startswith("A")


@pytest.mark.parametrize("raw, ctype, needle", [
    (b"{not json", "application/json", "Cannot parse the JSON body"),
    (b"[1]", "application/json", "must be an object"),
    (b"messaging_product=whatsapp&to=15550001111&text={bad", "application/x-www-form-urlencoded",
     "Param text must be a JSON object"),
])
def test_unreadable_bodies_get_graph_errors(mock, raw, ctype, needle):
    status, got, _ = call(mock, MSG, raw, content_type=ctype)
    assert status == 400 and got["error"]["code"] == 100 and needle in got["error"]["message"]


def test_a_form_body_with_json_values_is_a_message_too(mock):
    status, got, _ = call(mock, MSG, b'messaging_product=whatsapp&to=15550001111&text={"body":"form"}',
                          content_type="application/x-www-form-urlencoded")
    assert status == 200 and got["messages"][0]["id"].startswith("wamid.")
    assert calls(mock)["calls"][-1]["text"] == "form"


# --- media, raw -------------------------------------------------------------------------------


def test_media_upload_get_download_delete_and_their_errors(mock):
    client = httpx.Client(base_url=mock, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    with client:
        up = client.post(f"/v21.0/{PHONE_ID}/media", files={
            "file": ("a.pdf", b"%PDF-1", "application/pdf"), "messaging_product": (None, "whatsapp"),
            "type": (None, "application/pdf")})
        assert up.status_code == 200 and set(up.json()) == {"id"}
        media_id = up.json()["id"]
        info = client.get(f"/v19.0/{media_id}").json()
        assert info == {"url": info["url"], "mime_type": "application/pdf", "sha256": hashlib.sha256(b"%PDF-1").hexdigest(),
                        "file_size": 6, "id": media_id, "messaging_product": "whatsapp"}
        got = client.get(info["url"])
        assert got.content == b"%PDF-1" and got.headers["Content-Type"] == "application/pdf"
        assert httpx.get(info["url"]).status_code == 401  # the bytes need the token too
        assert client.delete(f"/v19.0/{media_id}").json() == {"success": True}
        for gone in (client.get(f"/v19.0/{media_id}"), client.delete(f"/v19.0/{media_id}")):
            assert gone.status_code == 400 and gone.json()["error"]["error_subcode"] == 33
        assert client.get(info["url"]).status_code == 404
        no_file = client.post(f"/v21.0/{PHONE_ID}/media", files={"messaging_product": (None, "whatsapp")})
        assert no_file.status_code == 400 and "file is required" in no_file.json()["error"]["message"]
        no_product = client.post(f"/v21.0/{PHONE_ID}/media", files={"file": ("a", b"x", "image/png")})
        assert "messaging_product is required" in no_product.json()["error"]["message"]
        not_multipart = client.post(f"/v21.0/{PHONE_ID}/media", json={"messaging_product": "whatsapp"})
        assert not_multipart.status_code == 400 and "multipart" in not_multipart.json()["error"]["message"]
    assert calls(mock)["counts"] == {"media.upload": 4, "media.get": 2, "media.download": 3, "media.delete": 2}


def test_the_media_store_drops_the_oldest_past_its_bounds():
    api = GraphApi(max_files=2, max_file_bytes=10)
    form = {"messaging_product": "whatsapp", "type": "image/png"}
    ids = [api.upload(PHONE_ID, form, ("f", None, b"x" * 3))["id"] for _ in range(3)]
    assert api.download(ids[0]) is None and [api.download(i)[1] for i in ids[1:]] == [b"xxx", b"xxx"]
    big = api.upload(PHONE_ID, form, ("g", None, b"y" * 9))["id"]
    assert api.download(big) == ("image/png", b"y" * 9)  # alone: the others went to stay under 10 bytes
    assert [api.download(i) for i in ids[1:]] == [None, None]
    with pytest.raises(GraphApiError) as caught:
        api.media_info(ids[1], "http://x")
    assert caught.value.body("A1")["error"]["error_subcode"] == 33


def test_describe_reads_any_body_even_a_broken_one():
    assert describe({}) == {"chat_id": None, "reply": True, "reply_to": None, "text": None, "buttons": False}
    assert describe({"to": 5, "type": "interactive", "interactive": "x"})["buttons"] is False
    assert describe({"to": USER, "type": "document", "document": {"caption": "c"}, "context": {"message_id": 3}}) == {
        "chat_id": USER, "reply": True, "reply_to": None, "text": "c", "buttons": False}


# --- the CLI ----------------------------------------------------------------------------------


def test_driver_mock_whatsapp_serves_and_stops_on_sigterm():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "driver.cli", "mock", "whatsapp", "--port", str(port),
                             "--latency-ms", "1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline().decode().strip()
        assert line == f"{LISTENING_PREFIX}http://127.0.0.1:{port}", proc.stderr.read()
        status, body = send(f"http://127.0.0.1:{port}", "text", {"body": "hi"})
        assert status == 200 and body["messages"][0]["id"].startswith("wamid.")
        assert call(f"http://127.0.0.1:{port}", "/_driver/faults")[1]["latency_ms"] == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("args, needle", [
    (["--error-rate", "2"], "--error-rate: error_rate must be a fraction in [0, 1]"),
    (["--429-rate", "-0.1"], "--429-rate: rate_limit_rate must be a fraction"),
    (["--latency-ms", "5", "--latency-max-ms", "1"], "--latency-max-ms: latency_max_ms must be >="),
    (["--retry-after", "0"], "--retry-after: retry_after must be"),
    (["--outage", "sometimes"], "'sometimes' is not one of"),
])
def test_driver_mock_whatsapp_bad_flags_are_one_line(args, needle):
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "mock", "whatsapp", "--port", "0", *args],
                          cwd=ROOT, capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.startswith("driver: error: ") and needle in err
    assert err.count("\n") == 1


def test_driver_mock_whatsapp_on_a_busy_port_is_one_line():
    with aiohttp_server(make_app) as busy:
        proc = subprocess.run([sys.executable, "-m", "driver.cli", "mock", "whatsapp", "--port", str(busy.port)],
                              cwd=ROOT, capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.startswith(f"driver: error: cannot listen on 127.0.0.1:{busy.port}")
    assert err.count("\n") == 1
