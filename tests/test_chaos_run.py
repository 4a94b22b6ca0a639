"""A chaos timeline in a real run: the mock's outage seen through a real bot's replies,
recovery times judged from them, and the demo bot's circuit breaker seen from outside."""
import json
import subprocess
import sys
from pathlib import Path

from driver.targets.process import DemoTargetProcess
from tests.servers import free_port
from tests.test_replies_run import _bot, _stop

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp_path, bot_port, mock_port, chaos, thresholds, users=8, duration="15s"):
    cfg = tmp_path / "chaos.yaml"
    cfg.write_text(f"""\
target: {{base_url: "http://127.0.0.1:{bot_port}"}}
scenario:
  python: driver.scenario.telegram:CatalogBot
  users: {{size: 200}}
  catalog:
    - {{name: /start, weight: 3, tier: free}}
    - {{name: /help, weight: 1, tier: free}}
mock:
  platform: telegram
  port: {mock_port}
replies: {{timeout: 1s, settle: 100ms}}
chaos:
{chaos}
load: {{users: {users}, duration: {duration}, workers: 1}}
thresholds: {thresholds}
""")
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", "-c", str(cfg), "-o", str(tmp_path / "o"), "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    result = json.loads(next((tmp_path / "o").glob("*/result.json")).read_text())
    return proc, result


def test_the_demo_bots_breaker_trips_and_recovers_seen_from_the_mock(tmp_path):
    mock_port = free_port()
    with DemoTargetProcess(api_url=f"http://127.0.0.1:{mock_port}", breaker_failures=3, breaker_reset_s=1) as bot:
        proc, result = _run(tmp_path, bot.port, mock_port,
                            "  - {at: 4s, duration: 4s, fault: outage, mode: refuse}",
                            '["breaker_trip<3s", "breaker_recover<4s", "recovery<4s"]')
    (event,) = result["chaos"]
    breaker = event["breaker"]
    assert breaker["tripped"] and breaker["recovered"], event
    assert breaker["time_to_trip_s"] < 3 and breaker["time_to_recover_s"] < 4
    # while open the bot called the API far less than before: probes only
    assert breaker["calls_while_open"] < breaker["baseline_calls_s"] * 4 * 0.5
    assert event["recovery_s"] is not None and event["during"]["success_rate"] < event["baseline"]["success_rate"]
    assert all(v["passed"] for v in result["verdicts"]), result["verdicts"]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr


def test_a_real_aiogram_bot_with_a_breaker_through_an_outage_and_a_malformed_battery(tmp_path):
    bot_port, mock_port = free_port(), free_port()
    bot = _bot(bot_port, f"http://127.0.0.1:{mock_port}", "--breaker", "3")
    try:
        proc, result = _run(tmp_path, bot_port, mock_port,
                            "  - {at: 3s, duration: 3s, fault: outage, mode: reset}\n"
                            "  - {at: 8s, duration: 2s, fault: malformed, rate: 10}",
                            '["recovery<5s"]')
    finally:
        _stop(bot)
    outage, malformed = result["chaos"]
    # replies lost while the API was down, back afterwards: a recovery time measured from them
    assert outage["during"]["success_rate"] < 1.0 and outage["recovery_s"] is not None, outage
    # the bot's breaker (an aiogram session middleware) seen from the mock: it tripped,
    # called little while open, and recovered after the outage
    breaker = outage["breaker"]
    assert breaker["tripped"] and breaker["recovered"], breaker
    assert breaker["calls_while_open"] < breaker["baseline_calls_s"] * 3 * 0.5
    eps = {e["name"]: e for e in result["endpoints"]}
    assert sum(e["errors_by_kind"]["reply_missing"] for n, e in eps.items() if n.startswith("reply:")) > 0
    # what the battery finds in aiogram 3's webhook handler, unmodified: bodies that do not
    # parse as JSON get 500 (never the 4xx expected), a JSON body of the wrong shape 200
    # (it is parsed in the background, after the answer); too large a body 413, and an
    # update kind it does not know is accepted
    battery = {n[len("chaos:malformed:"):]: e for n, e in eps.items() if n.startswith("chaos:malformed:")}
    for kind in ("truncated_json", "invalid_utf8", "empty_body", "non_json"):
        assert battery[kind]["status"]["5xx"] == battery[kind]["check_failures"] > 0, (kind, battery[kind]["status"])
    assert battery["wrong_types"]["status"]["2xx"] == battery["wrong_types"]["check_failures"] > 0
    for kind in ("huge_body", "unknown_kind"):
        assert battery[kind]["check_failures"] == 0 and battery[kind]["count"] > 0, (kind, battery[kind]["status"])
    reasons = {c["reason"] for c in result["checks"] if c["endpoint"] == "chaos:malformed:truncated_json"}
    assert reasons == {"malformed truncated_json answered 500, expected 4xx"}, reasons
    assert malformed["recovery_s"] is not None
