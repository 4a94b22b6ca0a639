"""What each YAML step puts on the wire, read back by a real server on loopback: paths,
headers (constant, templated, Telegram's secret, WhatsApp's per-body signature) and
bodies (generated updates, JSON and text templates, none), request by request. The
steps prepare what does not change once; these tests pin that what changes still
changes per request and that everything else is sent unchanged."""
from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest

import driver
from driver.config import load_config
from tests.servers import recording_server

SECRET, APP_SECRET = "tok-1", "app-secret-1"

CONFIG = """
target: {{base_url: "{url}"}}
scenario:
  telegram: {{secret_token: {secret}}}
  whatsapp: {{app_secret: {app_secret}}}
  tasks:
    - name: tg
      path: /tg/{{{{user.id}}}}
      headers: {{X-Trace: "t-{{{{seq}}}}", X-Static: s}}
      telegram: {{kind: text, text: "hi {{{{user.first_name}}}} {{{{seq}}}}"}}
      expect: {{status: 200}}
    - name: cmd
      path: /cmd
      headers: {{X-Static: s}}
      telegram: {{kind: command, command: /start}}
    - name: wa
      path: /wa
      whatsapp: {{kind: text, text: "w {{{{seq}}}}"}}
    - name: js
      path: /js
      json: {{u: "{{{{user.id}}}}", n: "{{{{seq}}}}", k: [1, "x"]}}
    - name: tx
      path: /tx
      body: "plain {{{{seq}}}}"
    - name: get
      path: /get
load: {{users: 3, requests: 120, workers: 1}}
"""


@pytest.fixture(scope="module")
def sent(tmp_path_factory):
    """Every request of one run of CONFIG: [(method, path, headers, body)] in arrival order."""
    with recording_server() as server:
        path = tmp_path_factory.mktemp("steps") / "steps.yaml"
        path.write_text(CONFIG.format(url=server.url, secret=SECRET, app_secret=APP_SECRET))
        result = driver.run(load_config(path))
    assert result.totals().requests == 120 and result.totals().errors == 0
    return server.calls


def by_path(sent, prefix):
    return [r for r in sent if r[1].startswith(prefix)]


def test_every_task_ran(sent):
    assert len(sent) == 120
    assert {r[1].split("/")[1] for r in sent} == {"tg", "cmd", "wa", "js", "tx", "get"}


def test_telegram_step_renders_path_headers_and_body_per_request(sent):
    tg = by_path(sent, "/tg/")
    assert len(tg) > 3
    traces = []
    for method, path, headers, body in tg:
        update = orjson.loads(body)
        user = update["message"]["from"]
        assert method == "POST" and path == f"/tg/{user['id']}"  # the path template saw the same user
        assert headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET
        assert headers["Content-Type"] == "application/json" and headers["X-Static"] == "s"
        assert update["message"]["text"].startswith(f"hi {user['first_name']} ")
        traces.append(headers["X-Trace"])
    assert len(set(traces)) == len(traces)  # a templated header renders per request


def test_command_step_sends_the_prepared_command(sent):
    cmd = by_path(sent, "/cmd")
    assert cmd
    for _, _, headers, body in cmd:
        message = orjson.loads(body)["message"]
        assert message["text"] == "/start" and message["entities"][0]["length"] == 6
        assert headers["X-Static"] == "s" and headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET


def test_update_and_message_ids_are_fresh_for_every_request(sent):
    updates = [orjson.loads(r[3]) for r in sent if r[1].startswith(("/tg/", "/cmd"))]
    ids = [u["update_id"] for u in updates]
    assert len(set(ids)) == len(ids)
    per_chat = {}
    for u in updates:
        per_chat.setdefault(u["message"]["chat"]["id"], []).append(u["message"]["message_id"])
    for mids in per_chat.values():
        assert len(set(mids)) == len(mids)


def test_whatsapp_step_signs_each_body(sent):
    wa = by_path(sent, "/wa")
    assert wa
    bodies = set()
    for _, _, headers, body in wa:
        want = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature-256"] == want
        assert headers["Content-Type"] == "application/json"
        bodies.add(body)
    assert len(bodies) == len(wa)


def test_json_text_and_empty_bodies(sent):
    for _, _, headers, body in by_path(sent, "/js"):
        doc = orjson.loads(body)
        assert headers["Content-Type"] == "application/json"
        assert type(doc["u"]) is int and type(doc["n"]) is int and doc["k"] == [1, "x"]
    texts = by_path(sent, "/tx")
    assert texts and all(b.startswith(b"plain ") for _, _, _, b in texts)
    assert all("Content-Type" not in h or "json" not in h["Content-Type"] for _, _, h, _ in texts)
    gets = by_path(sent, "/get")
    assert gets and all(m == "GET" and b == b"" for m, _, _, b in gets)
