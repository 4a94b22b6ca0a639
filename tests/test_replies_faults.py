"""Error paths of a run with a bot side: a busy mock port, the bot side killed, SIGTERM,
a mock that fails every reply, garbage from the bot. Real processes, real faults."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from driver.targets.process import DemoTargetProcess
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path, bot_port, mock_port, extra="", duration="3s"):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""\
target: {{base_url: "http://127.0.0.1:{bot_port}"}}
scenario: {{python: driver.scenario.telegram:CatalogBot}}
mock:
  platform: telegram
  port: {mock_port}
{extra}
replies: {{timeout: 1s}}
load: {{users: 4, duration: {duration}, workers: 1}}
""")
    return cfg


def _result(out: Path) -> dict:
    found = list(out.glob("*/result.json"))
    assert len(found) == 1, list(out.glob("**/*"))
    return json.loads(found[0].read_text())


def _driver(*args, **kw):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, **kw)


def test_a_busy_mock_port_is_one_line_exit_2(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with DemoTargetProcess() as bot:
            proc = _driver("run", "-c", str(_config(tmp_path, bot.port, port)), "-o", str(tmp_path / "o"), "-q")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "mock telegram API cannot listen on 127.0.0.1:" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_mock_failing_every_call_leaves_every_reply_missing(tmp_path):
    mock_port = free_port()
    with DemoTargetProcess(api_url=f"http://127.0.0.1:{mock_port}", breaker_failures=1000) as bot:
        cfg = _config(tmp_path, bot.port, mock_port, extra="  faults: {error_rate: 1.0}")
        proc = _driver("run", "-c", str(cfg), "-o", str(tmp_path / "o"), "-q", "-t", "reply_missing<1%")
    result = _result(tmp_path / "o")
    replies = [e for e in result["endpoints"] if e["name"].startswith("reply:")]
    assert replies and sum(e["count"] for e in replies) == 0
    for e in replies:
        kinds = e["errors_by_kind"]
        assert e["sent"] == kinds["reply_missing"] + kinds["unfinished"] and e["sent"] > 0
    api = next(e for e in result["endpoints"] if e["name"] == "api:sendMessage")
    assert api["http_errors_by_class"]["5xx"] == api["count"] > 0  # the bot did call, the mock failed it
    assert proc.returncode == 1  # the threshold
    total_errors = sum(e["errors_by_kind"]["reply_missing"] for e in replies)
    assert total_errors > 0


def test_the_bot_side_killed_mid_run_keeps_what_was_recorded(tmp_path):
    mock_port = free_port()
    with DemoTargetProcess(api_url=f"http://127.0.0.1:{mock_port}") as bot:
        cfg = _config(tmp_path, bot.port, mock_port, duration="6s")
        proc = subprocess.Popen([sys.executable, "-m", "driver.cli", "run", "-c", str(cfg), "-o",
                                 str(tmp_path / "o"), "-q"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        side = None
        deadline = time.monotonic() + 60
        while side is None and time.monotonic() < deadline:  # the bot side: a child serving the mock port
            out = subprocess.run(["ss", "-ltnpH", f"sport = :{mock_port}"], capture_output=True, text=True).stdout
            if "pid=" in out:
                side = int(out.split("pid=")[1].split(",")[0])
            time.sleep(0.2)
        assert side is not None
        time.sleep(2.5)
        os.kill(side, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=60)
    result = _result(tmp_path / "o")
    assert not result["complete"]
    assert any("bot-side process" in r and "died" in r for r in result["reasons"]), result["reasons"]
    replies = [e for e in result["endpoints"] if e["name"].startswith("reply:")]
    assert sum(e["count"] for e in replies) > 0  # recorded before it died, kept


def test_sigterm_ends_a_bot_run_with_its_result_and_no_process_left(tmp_path):
    mock_port = free_port()
    with DemoTargetProcess(api_url=f"http://127.0.0.1:{mock_port}") as bot:
        cfg = _config(tmp_path, bot.port, mock_port, duration="30s")
        proc = subprocess.Popen([sys.executable, "-m", "driver.cli", "run", "-c", str(cfg), "-o",
                                 str(tmp_path / "o"), "-q"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(5)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        assert proc.returncode == 143
        time.sleep(0.5)
        with socket.socket() as s:  # nothing listens on the mock's port: the bot side is gone
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the TIME_WAITs
            s.bind(("127.0.0.1", mock_port))
            s.listen()
    result = _result(tmp_path / "o")
    assert result["interrupted"] and result["interrupted_by"] == "SIGTERM"
    assert any(e["name"].startswith("reply:") and e["count"] > 0 for e in result["endpoints"])


@pytest.mark.parametrize("value, message", [
    ("signal", "the platform must be one of telegram, whatsapp"),
    ("telegram:99999", "'99999' is not a port number"),
    ("telegram:http", "'http' is not a port number"),
    ("", None),  # empty: no mock, a plain run (refused target: exit 3)
])
def test_mock_flag_errors_are_one_line(value, message):
    proc = _driver("run", "http://127.0.0.1:9/", "--mock", value, "-d", "1s", "-q")
    if message is None:
        assert proc.returncode != 2 or "--mock" not in proc.stderr
        return
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_a_url_run_with_a_mock_counts_the_bots_calls(tmp_path):
    mock_port = free_port()
    with DemoTargetProcess(api_url=f"http://127.0.0.1:{mock_port}") as bot:
        body = ('{"update_id": 1, "message": {"message_id": 5, "date": 0, "text": "/start",'
                ' "chat": {"id": 77, "type": "private"}, "from": {"id": 77, "is_bot": false, "first_name": "A"}}}')
        proc = _driver("run", bot.url + "/webhook/telegram", "-m", "POST", "--body", body, "-u", "2", "-d", "2s",
                       "-w", "1", "--mock", f"telegram:{mock_port}", "-q", "-o", str(tmp_path / "o"))
    # 4: a full-speed URL run may keep the worker (or the bot side) CPU-bound: not valid
    assert proc.returncode in (0, 4), proc.stdout[-2000:] + proc.stderr
    eps = {e["name"]: e for e in _result(tmp_path / "o")["endpoints"]}
    assert eps["api:sendMessage"]["count"] > 0 and "other" not in eps
    assert not any(n.startswith("reply:") for n in eps)  # a URL run sends no tracked updates


def test_a_tier_function_that_goes_wrong_at_run_time_is_counted_not_fatal(tmp_path):
    (tmp_path / "tiers.py").write_text("def tier_of(uid):\n    return 'gold' if uid % 2 else 'free'\n")
    with DemoTargetProcess() as bot:
        cfg = tmp_path / "t.yaml"
        cfg.write_text(f"""\
target: {{base_url: "http://127.0.0.1:{bot.port}"}}
scenario: {{python: driver.scenario.telegram:CatalogBot}}
replies: {{channel: webhook, tiers: {{by: function, function: tiers.py:tier_of}}}}
load: {{users: 4, duration: 2s, workers: 1}}
""")
        proc = _driver("run", "-c", str(cfg), "-o", str(tmp_path / "o"), "-q")
    result = _result(tmp_path / "o")
    eps = {e["name"]: e for e in result["endpoints"]}
    assert eps["error:ValueError"]["errors"] > 0, list(eps)
    reasons = [c["reason"] for c in result["checks"] if c["endpoint"] == "error:ValueError"]
    assert reasons and "returned 'gold', not one of free, premium, admin" in reasons[0]
    # the failing task backs off instead of spinning its worker's loop: the run ends in order
    assert result["complete"], result["reasons"]
    assert eps["error:ValueError"]["errors"] < 2000
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr
