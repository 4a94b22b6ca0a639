"""The mock Telegram Bot API (driver.mock): real frameworks (python-telegram-bot, aiogram)
talk to it unmodified; its faults, call log and error answers; `driver mock telegram`.

Every test serves the mock on loopback (in a thread, `tests.servers.aiohttp_server`) or
runs the CLI as a subprocess; nothing leaves 127.0.0.1.
"""
import asyncio
import http.client as httpclient
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from driver.mock import Faults
from driver.mock.telegram import LISTENING_PREFIX, make_app
from tests.servers import aiohttp_server, free_port

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456789:AAE-mock-token"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))  # upload content: bytes, not a real image


def call(url, path, body=None, *, method=None, content_type="application/json", timeout=10):
    """(status, parsed JSON or bytes) of one request, with a raw client."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = httpclient.HTTPConnection(host, int(port), timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = orjson.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else {}
        conn.request(method or ("POST" if body is not None else "GET"), path, body, headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, orjson.loads(data)
    except orjson.JSONDecodeError:
        return resp.status, data


def set_faults(url, **faults):
    status, body = call(url, "/_driver/faults", faults)
    assert status == 200, body
    return body


@pytest.fixture
def mock():
    with aiohttp_server(lambda: make_app(seed=7)) as server:
        yield server.url


# --- real frameworks ----------------------------------------------------------------------


def ptb_bot(url, **request):
    from telegram import Bot
    from telegram.request import HTTPXRequest

    return Bot(TOKEN, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot",
               request=HTTPXRequest(**request) if request else None)


def test_python_telegram_bot_gets_typed_objects_back(mock):
    from telegram import Message, PhotoSize, User

    async def scenario():
        async with ptb_bot(mock) as bot:
            me = await bot.get_me()
            assert isinstance(me, User) and me.is_bot and me.username == "driver_mock_bot"
            first = await bot.send_message(1001, "hello", reply_to_message_id=17)
            assert isinstance(first, Message) and first.text == "hello"
            assert first.chat.id == 1001 and first.chat.type == "private"
            assert first.from_user.id == me.id and first.reply_to_message.message_id == 17
            photo = await bot.send_photo(1001, photo=PNG, caption="a chart")  # multipart
            assert photo.message_id == first.message_id + 1 and photo.caption == "a chart"
            assert isinstance(photo.photo[-1], PhotoSize) and photo.photo[-1].file_size == len(PNG)
            assert await bot.send_chat_action(1001, "typing") is True
            edited = await bot.edit_message_text("hello again", chat_id=1001, message_id=first.message_id)
            assert edited.text == "hello again" and edited.edit_date is not None
            assert await bot.answer_callback_query("cbq-1", text="done") is True
            file = await bot.get_file(photo.photo[-1].file_id)
            assert file.file_size == len(PNG)
            assert bytes(await file.download_as_bytearray()) == PNG
            assert await bot.delete_message(1001, first.message_id) is True
            other = await bot.send_message(-1001234567890, "to a group")
            assert other.message_id == 1 and other.chat.type == "supergroup"  # ids count per chat

    asyncio.run(scenario())


def test_aiogram_gets_typed_objects_back(mock):
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import BufferedInputFile, InputMediaPhoto, Message, ReplyParameters, User

    async def scenario():
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(mock)))
        try:
            me = await bot.get_me()
            assert isinstance(me, User) and me.username == "driver_mock_bot"
            first = await bot.send_message(2002, "hi", reply_parameters=ReplyParameters(message_id=5))
            assert isinstance(first, Message) and first.message_id == 1 and first.text == "hi"
            assert first.reply_to_message.message_id == 5
            photo = await bot.send_photo(2002, BufferedInputFile(PNG, "chart.png"), caption="c")
            assert photo.message_id == 2 and photo.photo[-1].file_size == len(PNG)
            doc = await bot.send_document(2002, BufferedInputFile(b"report", "report.txt"))
            assert doc.document.file_name == "report.txt" and doc.document.file_size == 6
            assert await bot.send_chat_action(2002, "upload_photo") is True
            edited = await bot.edit_message_text("hi!", chat_id=2002, message_id=first.message_id)
            assert edited.text == "hi!" and edited.edit_date is not None
            assert await bot.answer_callback_query("cbq-2") is True
            file = await bot.get_file(photo.photo[-1].file_id)
            assert (await bot.download(file)).read() == PNG
            assert await bot.delete_message(2002, first.message_id) is True
            album = await bot.send_media_group(2002, [  # files as attach:// parts of one multipart body
                InputMediaPhoto(media=BufferedInputFile(PNG, "a.png")),
                InputMediaPhoto(media=BufferedInputFile(PNG[:8], "b.png"), caption="b")])
            assert [m.message_id for m in album] == [4, 5] and album[1].caption == "b"
            assert album[0].photo[-1].file_size == len(PNG) and album[1].photo[-1].file_size == 8
            assert await bot.answer_inline_query("iq-2", results=[]) is True
        finally:
            await bot.session.close()

    asyncio.run(scenario())


def test_media_groups_webhooks_inline_answers_and_markup_edits(mock):
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto

    async def scenario():
        async with ptb_bot(mock) as bot:
            group = await bot.send_media_group(3003, [InputMediaPhoto(PNG), InputMediaPhoto(PNG[:10])])
            assert [m.message_id for m in group] == [1, 2]
            assert group[0].media_group_id and group[0].media_group_id == group[1].media_group_id
            assert group[1].photo[-1].file_size == 10
            doc = await bot.send_document(3003, document=b"csv,data", filename="d.csv")
            assert doc.document.file_name == "d.csv"
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ok")]])
            edited = await bot.edit_message_reply_markup(3003, doc.message_id, reply_markup=keyboard)
            assert edited.reply_markup == keyboard
            assert await bot.answer_inline_query("iq-1", results=[]) is True
            assert await bot.set_webhook("https://bot.example/hook", max_connections=5) is True
            info = await bot.get_webhook_info()
            assert info.url == "https://bot.example/hook" and info.max_connections == 5
            assert await bot.delete_webhook() is True
            assert (await bot.get_webhook_info()).url == ""

    asyncio.run(scenario())


# --- faults ---------------------------------------------------------------------------------


def aiogram_bot(url):
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's own access
def test_429_reaches_both_frameworks_as_retry_after(mock):
    from aiogram.exceptions import TelegramRetryAfter
    from telegram.error import RetryAfter

    async def scenario():
        async with ptb_bot(mock) as bot:  # initialize (getMe) before the fault
            set_faults(mock, rate_limit_rate=1.0, retry_after=7)
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(1, "x")
            assert "Retry in 7 seconds" in str(caught.value)  # PTB's message, from parameters.retry_after
        abot = aiogram_bot(mock)
        try:
            with pytest.raises(TelegramRetryAfter) as caught:
                await abot.send_message(1, "x")
            assert caught.value.retry_after == 7
        finally:
            await abot.session.close()

    asyncio.run(scenario())
    status, body = call(mock, f"/bot{TOKEN}/sendMessage", {"chat_id": 1, "text": "x"})
    assert status == 429
    assert body == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
                    "parameters": {"retry_after": 7}}
    set_faults(mock)
    status, body = call(mock, f"/bot{TOKEN}/sendMessage", {"chat_id": 1, "text": "x"})
    assert status == 200 and body["ok"] is True  # lifted: answered again


def test_5xx_is_an_error_in_both_frameworks(mock):
    from aiogram.exceptions import TelegramServerError
    from telegram.error import NetworkError

    async def scenario():
        async with ptb_bot(mock) as bot:
            set_faults(mock, error_rate=1.0, error_status=502)
            with pytest.raises(NetworkError):
                await bot.send_message(1, "x")
        abot = aiogram_bot(mock)
        try:
            with pytest.raises(TelegramServerError):
                await abot.send_message(1, "x")
        finally:
            await abot.session.close()

    asyncio.run(scenario())
    status, body = call(mock, f"/bot{TOKEN}/getMe")
    assert status == 502 and body["ok"] is False and body["error_code"] == 502


def test_error_and_429_rates_are_shares_of_the_calls(mock):
    set_faults(mock, error_rate=0.25, rate_limit_rate=0.25)
    statuses = [call(mock, f"/bot{TOKEN}/getMe")[0] for _ in range(400)]
    # binomial(400, 0.25): mean 100, sd 8.7; 60..140 is beyond 4.5 sd either way
    assert 60 <= statuses.count(500) <= 140
    assert 60 <= statuses.count(429) <= 140
    assert statuses.count(200) == 400 - statuses.count(500) - statuses.count(429)


@pytest.mark.parametrize("faults, low_s", [
    ({"latency_ms": 300}, 0.3),  # fixed
    ({"latency_ms": 200, "latency_max_ms": 400}, 0.2),  # uniform: never below its low end
])
def test_added_latency_delays_every_answer_by_at_least_the_configured_time(mock, faults, low_s):
    set_faults(mock, **faults)
    for _ in range(3):
        t0 = time.monotonic()
        status, _ = call(mock, f"/bot{TOKEN}/sendMessage", {"chat_id": 5, "text": "slow"})
        assert status == 200
        assert time.monotonic() - t0 >= low_s


def test_outages_refuse_reset_and_hang_then_recover(mock):
    from telegram.error import NetworkError, TimedOut

    async def scenario():
        async with ptb_bot(mock, read_timeout=0.5) as bot:
            set_faults(mock, outage="refuse")
            with pytest.raises(NetworkError, match="Service Unavailable"):
                await bot.send_message(1, "x")
            set_faults(mock, outage="reset")
            with pytest.raises(NetworkError):
                await bot.send_message(1, "x")
            set_faults(mock, outage="hang")
            with pytest.raises(TimedOut):  # bounded by the client's read timeout
                await bot.send_message(1, "x")
            set_faults(mock)
            assert (await bot.send_message(1, "back")).text == "back"

    asyncio.run(scenario())
    set_faults(mock, outage="reset")
    with pytest.raises(ConnectionResetError):  # a TCP RST, to a raw client too
        call(mock, f"/bot{TOKEN}/getMe")
    log = call(mock, "/_driver/calls")[1]
    assert [c["status"] for c in log["calls"][-5:]] == [503, 0, 0, 200, 0]  # 0: no HTTP answer
    set_faults(mock)


def test_a_hung_call_ends_unanswered_when_the_outage_is_lifted(mock):
    set_faults(mock, outage="hang")

    async def scenario():
        reader, writer = await asyncio.open_connection("127.0.0.1", int(mock.rsplit(":", 1)[1]))
        writer.write(f"GET /bot{TOKEN}/getMe HTTP/1.1\r\nHost: x\r\n\r\n".encode())
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
    assert call(mock, f"/bot{TOKEN}/getMe")[0] == 200


def test_a_hang_lets_go_of_calls_whose_clients_left(mock):
    set_faults(mock, outage="hang")
    port = int(mock.rsplit(":", 1)[1])
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    for sock in clients:
        sock.sendall(f"GET /bot{TOKEN}/getMe HTTP/1.1\r\nHost: x\r\n\r\n".encode())

    def hanging():
        return call(mock, "/_driver/calls")[1]["hanging"]

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


@pytest.mark.parametrize("config, needle", [
    ({"error_rate": 1.5}, "error_rate must be a fraction"),
    ({"error_rate": 0.7, "rate_limit_rate": 0.5}, "must not exceed 1"),
    ({"error_status": 404}, "error_status must be a 5xx"),
    ({"retry_after": 0}, "retry_after must be"),
    ({"latency_ms": -1}, "latency_ms must be >= 0"),
    ({"latency_ms": 10, "latency_max_ms": 5}, "latency_max_ms must be >="),
    ({"outage": "maybe"}, "outage must be one of"),
    ({"eror_rate": 0.1}, "unknown fault field(s): eror_rate"),  # a typo is not ignored
    ([1], "must be a JSON object"),
])
def test_a_bad_fault_config_is_refused_and_the_old_one_kept(mock, config, needle):
    set_faults(mock, latency_ms=1)
    with pytest.raises(ValueError, match=None) as caught:
        Faults.from_dict(config)
    assert needle in str(caught.value)
    status, body = call(mock, "/_driver/faults", config)
    assert status == 400 and body["ok"] is False and needle in body["description"]
    assert call(mock, "/_driver/faults")[1]["latency_ms"] == 1


# --- the call log ---------------------------------------------------------------------------


def test_the_call_log_counts_methods_and_keeps_what_correlation_needs(mock):
    before = time.monotonic_ns()
    call(mock, f"/bot{TOKEN}/getMe")
    call(mock, f"/bot{TOKEN}/sendMessage", {"chat_id": 11, "text": "one", "reply_to_message_id": 4})
    call(mock, f"/bot{TOKEN}/sendMessage", {"chat_id": 11, "text": "two", "reply_parameters": {"message_id": 5}})
    call(mock, f"/bot{TOKEN}/sendPhoto", b"chat_id=12&photo=some-file-id&caption=three",
         content_type="application/x-www-form-urlencoded")
    call(mock, f"/bot{TOKEN}/sendMessage", {"text": "no chat"})
    after = time.monotonic_ns()
    status, log = call(mock, "/_driver/calls")
    assert status == 200
    assert log["total"] == 5 and log["counts"] == {"getMe": 1, "sendMessage": 3, "sendPhoto": 1}
    assert log["statuses"] == {"200": 4, "400": 1}
    sends = log["calls"][1:]
    assert [(c["chat_id"], c["reply_to_message_id"], c["text"], c["status"]) for c in sends] == [
        (11, 4, "one", 200), (11, 5, "two", 200), (12, None, "three", 200), (None, None, "no chat", 400)]
    times = [c["received_ns"] for c in log["calls"]]
    assert times == sorted(times) and before <= times[0] and times[-1] <= after  # one clock
    assert TOKEN not in orjson.dumps(log).decode()  # the token is never recorded
    assert [c["text"] for c in call(mock, "/_driver/calls?limit=2")[1]["calls"]] == ["three", "no chat"]
    assert call(mock, "/_driver/calls?limit=x")[0] == 400
    assert call(mock, "/_driver/calls", method="DELETE")[0] == 200
    assert call(mock, "/_driver/calls")[1] == {"total": 0, "counts": {}, "statuses": {}, "calls": [],
                                               "hanging": 0}


def test_the_call_log_keeps_only_the_last_calls_but_counts_all():
    with aiohttp_server(lambda: make_app(log_size=3)) as server:
        for i in range(10):
            call(server.url, f"/bot{TOKEN}/sendMessage", {"chat_id": 1, "text": str(i)})
        log = call(server.url, "/_driver/calls")[1]
    assert log["total"] == 10 and log["counts"] == {"sendMessage": 10}
    assert [c["text"] for c in log["calls"]] == ["7", "8", "9"]


def test_faults_given_at_start_apply_from_the_first_call_and_to_downloads():
    with aiohttp_server(lambda: make_app(Faults(outage="refuse"))) as server:
        assert call(server.url, f"/bot{TOKEN}/getMe")[0] == 503
        assert call(server.url, f"/file/bot{TOKEN}/placeholder/f1")[0] == 503
        set_faults(server.url, error_rate=1.0)
        assert call(server.url, f"/file/bot{TOKEN}/placeholder/f1")[0] == 500
        set_faults(server.url)
        assert call(server.url, f"/file/bot{TOKEN}/placeholder/f1") == (200, b"driver mock file f1")
        log = call(server.url, "/_driver/calls")[1]
    assert log["counts"] == {"getMe": 1, "download": 3} and log["statuses"] == {"503": 2, "500": 1, "200": 1}


# --- Bot API-shaped answers to everything -----------------------------------------------------


@pytest.mark.parametrize("path, body, ctype, status, description", [
    ("sendMessage", b"{not json", "application/json", 400, "Bad Request: can't parse JSON object"),
    ("sendMessage", b"[1, 2]", "application/json", 400, "Bad Request: the JSON body must be an object"),
    ("sendMessage", {"text": "hi"}, "application/json", 400, "Bad Request: chat_id is empty"),
    ("sendMessage", {"chat_id": 1}, "application/json", 400, "Bad Request: message text is empty"),
    ("sendMessage", {"chat_id": "nobody", "text": "x"}, "application/json", 400, "Bad Request: chat not found"),
    ("sendMessage", b"chat_id=1&text=x&reply_markup={bad", "application/x-www-form-urlencoded", 400,
     "Bad Request: can't parse reply_markup JSON object"),
    ("sendPhoto", {"chat_id": 1}, "application/json", 400, "Bad Request: there is no photo in the request"),
    ("sendMediaGroup", {"chat_id": 1, "media": []}, "application/json", 400,
     "Bad Request: media must be an array of 2-10 items"),
    ("editMessageText", {"chat_id": 1, "message_id": 99, "text": "x"}, "application/json", 400,
     "Bad Request: message to edit not found"),
    ("deleteMessage", {"chat_id": 1}, "application/json", 400, "Bad Request: message identifier is not specified"),
    ("answerCallbackQuery", {}, "application/json", 400, 'Bad Request: parameter "callback_query_id" is required'),
    ("getFile", {}, "application/json", 400, "Bad Request: file_id is empty"),
    ("sendMessage", b"--x\r\nbroken", "multipart/form-data; boundary=x", 400,
     "Bad Request: can't parse multipart/form-data body"),
])
def test_malformed_calls_get_bot_api_errors(mock, path, body, ctype, status, description):
    got_status, got = call(mock, f"/bot{TOKEN}/{path}", body, content_type=ctype)
    assert (got_status, got) == (status, {"ok": False, "error_code": status, "description": description})


def test_an_unknown_method_answers_true_as_most_bot_api_methods_do(mock):
    assert call(mock, f"/bot{TOKEN}/setMyCommands", {"commands": []}) == (200, {"ok": True, "result": True})
    assert call(mock, f"/bot{TOKEN}/noSuchMethod") == (200, {"ok": True, "result": True})
    assert call(mock, "/_driver/calls")[1]["counts"] == {"setMyCommands": 1, "noSuchMethod": 1}


def test_every_body_kind_and_get_with_a_query_reach_the_same_method(mock):
    answers = [
        call(mock, f"/bot{TOKEN}/sendMessage", {"chat_id": 8, "text": "json"}),
        call(mock, f"/bot{TOKEN}/sendMessage", b"chat_id=8&text=form", content_type="application/x-www-form-urlencoded"),
        call(mock, f"/bot{TOKEN}/sendMessage?chat_id=8&text=query"),
        call(mock, f"/bot{TOKEN}/SENDMESSAGE", {"chat_id": 8, "text": "any case"}),  # names ignore case
    ]
    assert [(s, b["result"]["message_id"], b["result"]["text"]) for s, b in answers] == [
        (200, 1, "json"), (200, 2, "form"), (200, 3, "query"), (200, 4, "any case")]
    assert call(mock, f"/file/bot{TOKEN}/photos/none.png") == (404, {"ok": False, "error_code": 404,
                                                                  "description": "Not Found"})


# --- the CLI --------------------------------------------------------------------------------


def test_driver_mock_telegram_serves_and_stops_on_sigterm():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "driver.cli", "mock", "telegram", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline().decode().strip()
        assert line == f"{LISTENING_PREFIX}http://127.0.0.1:{port}", proc.stderr.read()
        status, body = call(f"http://127.0.0.1:{port}", f"/bot{TOKEN}/getMe")
        assert status == 200 and body["result"]["is_bot"] is True
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
    (["--outage", "sometimes"], "'sometimes' is not one of"),
])
def test_driver_mock_telegram_bad_flags_are_one_line(args, needle):
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "mock", "telegram", "--port", "0", *args],
                          cwd=ROOT, capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.startswith("driver: error: ") and needle in err
    assert err.count("\n") == 1


def test_driver_mock_telegram_on_a_busy_port_is_one_line():
    with aiohttp_server(make_app) as busy:
        proc = subprocess.run([sys.executable, "-m", "driver.cli", "mock", "telegram", "--port", str(busy.port)],
                              cwd=ROOT, capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.startswith(f"driver: error: cannot listen on 127.0.0.1:{busy.port}")
    assert err.count("\n") == 1


# --- files -------------------------------------------------------------------------------------


def test_a_file_the_mock_never_received_still_resolves_to_placeholder_content(mock):
    async def scenario():
        async with ptb_bot(mock) as bot:
            file = await bot.get_file("AgACAgIAAxkBAAIBa-user-photo")  # from an update, not an upload
            data = bytes(await file.download_as_bytearray())
            assert data == b"driver mock file AgACAgIAAxkBAAIBa-user-photo" and file.file_size == len(data)

    asyncio.run(scenario())


def test_the_file_store_drops_the_oldest_files_past_its_bounds():
    from driver.mock.botapi import BotApi, Upload

    api = BotApi(max_files=2, max_file_bytes=10)
    ids = [api.call("sendDocument", {"chat_id": 1, "document": Upload("f.bin", None, b"x" * n)}, {})
           ["document"]["file_id"] for n in (3, 3, 3)]
    paths = [api.call("getFile", {"file_id": i}, {})["file_path"] for i in ids]
    assert api.download(paths[0]).startswith(b"driver mock file")  # dropped: a placeholder now
    assert [api.download(p) for p in paths[1:]] == [b"xxx", b"xxx"]
    big = api.call("sendDocument", {"chat_id": 1, "document": Upload("g.bin", None, b"y" * 9)}, {})
    path = api.call("getFile", {"file_id": big["document"]["file_id"]}, {})["file_path"]
    assert api.download(path) == b"y" * 9  # 9 bytes alone: the others went to stay under 10
    assert [api.download(p) for p in paths[1:]] == [None, None]  # their paths are gone
