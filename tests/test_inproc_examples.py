"""The example suite (examples/inproc/test_conversations.py) against both managers: the
good one passes every check; the broken one (a race across an await, a leak) fails
exactly the checks that catch those bugs, for those reasons."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = "examples/inproc/test_conversations.py"


def run_suite(tmp_path: Path, manager: str) -> tuple[subprocess.CompletedProcess, dict[str, str | None]]:
    """The suite's run and {test name: failure message, None when it passed}."""
    junit = tmp_path / f"{manager}.xml"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONVERSATION_MANAGER": manager, "INPROC_SUSTAINED_S": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "driver.pytest_plugin",
                           SUITE, f"--junitxml={junit}"], cwd=ROOT, capture_output=True, timeout=300, env=env)
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failure = case.find("failure")
        outcomes[case.get("name")] = None if failure is None else failure.get("message", "") + (failure.text or "")
    return proc, outcomes


def test_the_good_manager_passes_every_check(tmp_path):
    proc, outcomes = run_suite(tmp_path, "good")
    out = proc.stdout.decode()
    assert proc.returncode == 0, out
    assert len(outcomes) == 7 and all(v is None for v in outcomes.values())
    # every load reports its figures
    for needle in ("min", "max", "mean", "p50", "p95", "p99", "success", "calls/s", "rss", "peak", "growth"):
        assert needle in out, needle


def test_the_broken_manager_is_caught_for_the_right_reasons(tmp_path):
    proc, outcomes = run_suite(tmp_path, "broken")
    assert proc.returncode == 1
    failed = {name for name, message in outcomes.items() if message is not None}
    assert failed == {"test_fifty_users_against_twenty_slots", "test_per_user_limits", "test_sustained_load",
                      "test_thousand_rapid_start_stop_cycles"}
    # the race: every simultaneous start passes the check before any claims its slot
    assert "success 50 (expected 20), rejected 0 (expected 30)" in outcomes["test_fifty_users_against_twenty_slots"]
    assert "success 25 (expected 15), rejected 0 (expected 10)" in outcomes["test_per_user_limits"]
    # the leak: each conversation's transcript is kept, and the site is named
    for name in ("test_thousand_rapid_start_stop_cycles", "test_sustained_load"):
        assert "memory growth" in outcomes[name] and "broken_conversations.py:" in outcomes[name], outcomes[name]
