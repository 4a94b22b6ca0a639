"""Replies followed end to end: a real aiogram bot, its API pointed at the mock a run
starts, driver's updates matched to its reply calls (driver.runner.botside)."""
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "tests" / "bots" / "aiogram_bot.py"

pytest.importorskip("aiogram")


def _bot(port: int, api: str, *extra: str) -> subprocess.Popen:
    # its stderr: aiogram logs every update it fails on (the chaos battery sends many)
    proc = subprocess.Popen([sys.executable, str(BOT), "--port", str(port), "--api", api, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    assert "listening" in line, line
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


CONFIG = """\
target: {{base_url: "http://127.0.0.1:{bot}"}}
scenario:
  python: driver.scenario.telegram:CatalogBot
  users: {{size: {pool}, tiers: {{free: 0.5, premium: 0.3, admin: 0.2}}}}
  catalog:
    - {{name: /start, weight: 3, tier: free}}
    - {{name: /help, weight: 2, tier: free}}
    - {{name: /report, weight: 2, tier: premium}}
    - {{name: /admin, weight: 2, tier: admin}}
    - {{name: /settings, weight: 1, tier: free}}
mock: {{platform: telegram, port: {mock}}}
replies:
  channel: api
  timeout: {timeout}
  settle: 200ms
  refusal: "upgrade required"
  checks:
    /settings: {{buttons: true, text: "^Settings"}}
    /help: {{messages: 2}}
load: {{{load}, duration: 3s, workers: 2}}
"""


def _run(tmp_path, *bot_args, load="users: 8", timeout="3s", extra=(), pool=300):
    bot_port, mock_port = free_port(), free_port()
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(CONFIG.format(bot=bot_port, mock=mock_port, timeout=timeout, load=load, pool=pool))
    bot = _bot(bot_port, f"http://127.0.0.1:{mock_port}", *bot_args)
    try:
        proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", "-c", str(cfg), "-o", str(tmp_path / "out"),
                               "--quiet", *extra], cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        _stop(bot)
    found = list((tmp_path / "out").glob("*/result.json"))
    assert len(found) == 1, (proc.stdout, proc.stderr)
    result = json.loads(found[0].read_text())
    return proc, result


def _eps(result):
    return {e["name"]: e for e in result["endpoints"]}


def _relation_holds(ep):
    kinds = ep["errors_by_kind"]
    assert ep["sent"] == ep["count"] + kinds["reply_missing"] + kinds["unfinished"], ep


def test_a_real_aiogram_bot_has_its_replies_timed_and_judged(tmp_path):
    proc, result = _run(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    eps = _eps(result)
    for cmd in ("/start", "/help", "/report", "/admin", "/settings"):
        reply = eps["reply:" + cmd]
        _relation_holds(reply)
        assert reply["count"] > 0 and reply["errors_by_kind"]["reply_missing"] == 0
        # each update answered once: as many first replies as updates the webhook took
        assert reply["sent"] == eps[cmd]["count"]
        assert 0 < reply["latency"]["p50_ns"] <= reply["latency"]["p99_ns"]
    # /help answers with two messages: the last one timed apart, never before the first
    assert eps["reply_last:/help"]["count"] == eps["reply:/help"]["count"]
    assert eps["reply_last:/help"]["latency"]["min_ns"] >= eps["reply:/help"]["latency"]["min_ns"]
    assert "reply_last:/start" not in eps
    # tier rules judged from the replies with the bot's own refusal text; buttons, counts
    assert eps["reply:/report"]["checks"] == eps["reply:/report"]["count"]
    assert eps["reply:/settings"]["checks"] == 3 * eps["reply:/settings"]["count"]  # tier, text, buttons
    assert sum(e["check_failures"] for e in result["endpoints"]) == 0
    # the bot's calls to the mock, counted apart from driver's own requests
    assert eps["api:sendMessage"]["count"] >= sum(eps["reply:" + c]["count"] for c in ("/start", "/report"))
    assert any("mock telegram API at http://127.0.0.1:" in n for n in result["notes"])


def test_missing_replies_and_broken_tier_rules_are_errors(tmp_path):
    proc, result = _run(tmp_path, "--silent", "/admin", "--lie", timeout="1s",
                        extra=("--threshold", "reply_missing<1%", "--threshold", "reply:/start:reply_missing<1%",
                               "--threshold", "reply:/admin:p99<5s"))
    eps = _eps(result)
    admin = eps["reply:/admin"]
    _relation_holds(admin)
    assert admin["count"] == 0 and admin["errors_by_kind"]["reply_missing"] > 0
    assert admin["sent"] == eps["/admin"]["count"]
    report = eps["reply:/report"]
    assert report["check_failures"] > 0  # free users were not refused
    reasons = {c["reason"] for c in result["checks"] if c["endpoint"] == "reply:/report"}
    assert reasons == {"tier rule: free user should be refused"}
    verdicts = {v["threshold"]: v for v in result["verdicts"]}
    assert not verdicts["reply_missing<1%"]["passed"] and verdicts["reply_missing<1%"]["value"] > 0.01
    assert verdicts["reply:/start:reply_missing<1%"]["passed"]
    assert not verdicts["reply:/admin:p99<5s"]["passed"]  # no reply at all: no latency to pass
    assert proc.returncode == 1


def test_open_loop_with_several_updates_in_flight_per_chat(tmp_path):
    # few users, many arrivals: the same chats have updates in flight together; a bot
    # that quotes the update in its replies is matched exactly (one that does not is
    # matched by chat order, which out-of-order answers can fool: the README says so)
    proc, result = _run(tmp_path, "--quote-all", load="rate: 60", pool=4)
    assert proc.returncode in (0, 4), proc.stderr  # 4: a busy machine made arrivals late
    eps = _eps(result)
    assert sum(eps["reply:" + c]["sent"] for c in ("/start", "/help", "/report", "/admin", "/settings")) > 100
    for cmd in ("/start", "/help", "/report", "/admin", "/settings"):
        _relation_holds(eps["reply:" + cmd])
        assert eps["reply:" + cmd]["errors_by_kind"]["reply_missing"] == 0
    assert sum(e["check_failures"] for e in result["endpoints"]) == 0


@pytest.mark.parametrize("body, message", [
    ("replies: {channel: api}", "replies.channel api follows the bot's calls to a mock platform API"),
    ("mock: {platform: signal}", "mock.platform must be one of telegram, whatsapp"),
    ("mock: {platform: telegram, port: 70000}", "mock.port must be a port number"),
    ("mock: {platform: telegram, host: 10.0.0.1}", "mock.host must be a local address"),
    ("mock: {platform: telegram, faults: {error_rate: 2}}", "mock.faults: error_rate must be a fraction"),
    ("mock: {platform: telegram}\nreplies: {timeout: -1s}", "replies.timeout must be a duration"),
    ("mock: {platform: telegram}\nreplies: {timeout: .nan}", "replies.timeout must be"),
    ("mock: {platform: telegram}\nreplies: {refusal: '(['}", "replies.refusal is not a valid regular expression"),
    ("mock: {platform: telegram}\nreplies: {tiers: {by: ids}}", "replies.tiers.by: ids needs replies.tiers.ids"),
    ("mock: {platform: telegram}\nreplies: {tiers: {by: ranges, ranges: {gold: [1, 2]}}}", "unknown tier 'gold'"),
    ("mock: {platform: telegram}\nreplies: {tiers: {by: function, function: nope.py:f}}", "no such file"),
    ("mock: {platform: telegram}\nreplies: {checks: {/x: {colour: red}}}", "unknown key 'colour'"),
    ("mock: {platform: telegram}\nreplies: {bot_username: x}", "unknown key 'bot_username' in replies"),
])
def test_bot_config_errors_are_one_line_at_their_place(tmp_path, body, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("target: {base_url: http://127.0.0.1:9}\n"
                   "scenario: {python: driver.scenario.telegram:CatalogBot}\n" + body + "\n")
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "validate", str(cfg)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and f"{cfg}:" in lines[0], proc.stderr


def test_a_tier_function_decides_the_expected_answer(tmp_path):
    from driver.config.loader import load_config
    (tmp_path / "tiers.py").write_text("def tier_of(uid):\n    return 'admin' if uid % 2 else 'free'\n")
    cfg = tmp_path / "t.yaml"
    cfg.write_text("target: {base_url: http://127.0.0.1:9}\n"
                   "scenario: {python: driver.scenario.telegram:CatalogBot}\n"
                   "mock: {platform: telegram}\n"
                   "replies: {tiers: {by: function, function: tiers.py:tier_of}, refusal: nope}\n")
    plan = load_config(cfg)
    fn = plan.replies.tiers.resolver()
    assert (fn(3), fn(4)) == ("admin", "free")
    assert plan.replies.rules.refusal == "nope" and plan.has_bot_side


WA_CONFIG = """\
target: {{base_url: "http://127.0.0.1:{bot}"}}
scenario:
  tasks:
    - {{name: hello, path: /webhook/whatsapp, whatsapp: {{kind: text, text: hi}}}}
    - {{name: status, weight: 0.5, path: /webhook/whatsapp, whatsapp: {{kind: status, status: read}}}}
mock:
  platform: whatsapp
  port: {mock}
replies: {{timeout: 3s, settle: 100ms}}
load: {{users: 6, duration: 3s, workers: 2}}
"""


def test_whatsapp_replies_through_the_mock_cloud_api(tmp_path):
    from driver.targets.process import DemoTargetProcess
    mock_port = free_port()
    cfg = tmp_path / "wa.yaml"
    with DemoTargetProcess(whatsapp_api_url=f"http://127.0.0.1:{mock_port}") as bot:
        cfg.write_text(WA_CONFIG.format(bot=bot.port, mock=mock_port))
        proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", "-c", str(cfg), "-o", str(tmp_path / "out"),
                               "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    result = json.loads(next((tmp_path / "out").glob("*/result.json")).read_text())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    eps = _eps(result)
    hello = eps["reply:hello"]
    _relation_holds(hello)
    assert hello["count"] == eps["hello"]["count"] > 0 and hello["errors_by_kind"]["reply_missing"] == 0
    assert "reply:status" not in eps  # a status notification expects no answer
    assert eps["api:messages"]["count"] >= hello["count"]


def test_channel_both_counts_replies_in_the_webhook_response(tmp_path):
    # the demo bot in webhook mode answers in the response: with channel both that is the reply
    from driver.targets.process import DemoTargetProcess
    mock_port = free_port()
    cfg = tmp_path / "both.yaml"
    with DemoTargetProcess() as bot:
        cfg.write_text(f"""\
target: {{base_url: "http://127.0.0.1:{bot.port}"}}
scenario: {{python: driver.scenario.telegram:CatalogBot}}
mock:
  platform: telegram
  port: {mock_port}
replies: {{channel: both, timeout: 2s}}
load: {{users: 4, duration: 2s, workers: 1}}
""")
        proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", "-c", str(cfg), "-o", str(tmp_path / "o"),
                               "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    result = json.loads(next((tmp_path / "o").glob("*/result.json")).read_text())
    eps = _eps(result)
    replies = {n: e for n, e in eps.items() if n.startswith("reply:")}
    assert replies
    for name, e in replies.items():
        _relation_holds(e)
        assert e["count"] == e["sent"] == eps[name[len("reply:"):]]["count"]
        assert e["checks"] == 0  # judged by the worker on the webhook response
    assert sum(eps[n[len("reply:"):]]["checks"] for n in replies) > 0


SCENARIO = '''
from driver.payloads.telegram import TelegramUpdates
from driver.scenario.api import User, task


class Bot(User):
    @task
    async def hello(self):
        ctx = self.http.context
        gen = ctx.shared.get("gen") or ctx.shared.setdefault(
            "gen", TelegramUpdates(worker_index=ctx.index, n_workers=ctx.n_workers))
        body = gen.command(self.user, "/start")
        chat = self.user.chat_id
        tracked = self.expect_reply(chat, gen.last_message_id(chat), "start")
        await self.http.post("/webhook/telegram", body=body, headers={"Content-Type": "application/json"},
                             name="start")
        if tracked:
            await self.wait_reply(chat, gen.last_message_id(chat))
'''


def test_a_python_scenario_follows_its_own_replies_with_mock_flag(tmp_path):
    from driver.targets.process import DemoTargetProcess
    (tmp_path / "bot.py").write_text(SCENARIO)
    mock_port = free_port()
    with DemoTargetProcess(api_url=f"http://127.0.0.1:{mock_port}") as bot:
        proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", bot.url, "-s", f"{tmp_path / 'bot.py'}:Bot",
                               "--mock", f"telegram:{mock_port}", "-u", "4", "-d", "2s", "-w", "1", "-q",
                               "-o", str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    eps = _eps(json.loads(next((tmp_path / "o").glob("*/result.json")).read_text()))
    _relation_holds(eps["reply:start"])
    assert eps["reply:start"]["count"] == eps["start"]["count"] > 0


def test_the_live_view_shows_the_replies_of_the_window():
    import numpy as np
    from driver.layout import C_FLOWS, C_REPLY_MISSING, C_SENT, COUNTS_LEN, N_HISTS
    from driver.reports.live import replies_text
    from driver.stats.endpoint import EndpointResult, empty_counters, total_of
    from driver.stats.window import Window

    def row(name, flows=0, missing=0):
        c = empty_counters()
        c[C_FLOWS], c[C_REPLY_MISSING], c[C_SENT] = flows, missing, flows + missing
        return EndpointResult(name, c, np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64))

    rows = (row("/start"), row("reply:/start", flows=30, missing=2), row("reply:/help", flows=10))
    win = Window(5.0, 2.0, rows, total_of(list(rows)))
    got = dict(replies_text(win))
    assert got["replies/s"] == "20" and got["no reply"] == "2"
    assert replies_text(Window(5.0, 1.0, rows[:1], total_of(list(rows[:1])))) == []
