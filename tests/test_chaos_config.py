"""The config's `chaos:` list -> plan.chaos; each bad entry one error at its file:line."""
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from driver.chaos.timeline import ChaosEvent, Params
from driver.config.loader import load_config
from driver.errors import PlanError

ROOT = Path(__file__).resolve().parent.parent
HEAD = "target: {base_url: http://127.0.0.1:8080/webhook}\nload: {users: 1, duration: 60s}\n"


def config(tmp_path, text):
    path = tmp_path / "driver.yaml"
    path.write_text(HEAD + text)
    return path


def test_the_chaos_list_becomes_the_plans_timeline(tmp_path):
    path = config(tmp_path, "mock: {platform: telegram}\n"
                            "chaos:\n"
                            "  - {at: 40s, duration: 10s, fault: spike, rate: 50}\n"
                            "  - at: 10s\n"
                            "    duration: 20s\n"
                            "    fault: outage\n"
                            "    mode: hang\n")
    plan = load_config(path)
    assert plan.chaos == (ChaosEvent(10.0, 20.0, "outage", Params({"mode": "hang"}), f"{path}:6"),
                          ChaosEvent(40.0, 10.0, "spike", Params({"rate": 50.0}), f"{path}:5"))
    assert plan.describe()["chaos"][0] == {"at_s": 10.0, "duration_s": 20.0, "fault": "outage",
                                           "params": {"mode": "hang"}, "source": f"{path}:6"}
    assert pickle.loads(pickle.dumps(plan)).chaos == plan.chaos
    assert load_config(config(tmp_path, "")).chaos == ()


def test_platform_faults_need_a_mock(tmp_path):
    path = config(tmp_path, "chaos:\n  - {at: 1s, duration: 1s, fault: spike, rate: 5}\n"
                            "  - {at: 10s, duration: 1s, fault: outage}\n")
    with pytest.raises(PlanError) as err:
        load_config(path)
    assert err.value.where == f"{path}:5" and "chaos fault outage runs in the mock platform API" in str(err.value)


@pytest.mark.parametrize("text, line, message", [
    ("chaos: {at: 1s}\n", 3, "chaos must be a list, got a mapping"),
    ("chaos:\n  - {at: 1s, duration: 1s, fault: outage}\n  - {at: 1s, duration: 0s, fault: spike, rate: 1}\n",
     5, "chaos: duration must be > 0"),
    ("chaos:\n  - {at: 1s, duration: 1s, fault: outage}\n  - {at: 1.5s, duration: 1s, fault: api_errors}\n",
     5, "overlaps the outage window"),
    ("chaos:\n  - {at: 1s, duration: 1s, fault: slowloris, connections: .nan}\n", 4,
     "slowloris.connections must be a number"),
    ("chaos:\n  - just a string\n", 4, "an entry must be a mapping"),
])
def test_bad_entries_are_placed_at_their_line(tmp_path, text, line, message):
    path = config(tmp_path, text)
    with pytest.raises(PlanError) as err:
        load_config(path)
    assert err.value.where == f"{path}:{line}"
    assert message in err.value.message


def test_the_cli_says_it_in_one_line_and_exits_2(tmp_path):
    path = config(tmp_path, "chaos:\n  - {at: 1s, duration: 1s, fault: outtage}\n")
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "validate", str(path)], cwd=ROOT,
                          capture_output=True, timeout=120)
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2
    assert err == f"driver: error: {path}:4: chaos: unknown fault 'outtage' — did you mean 'outage'? " \
                  "(faults: outage, rate_limit, slow_api, api_errors, malformed, reset_mid_body, slowloris, " \
                  "idle_flood, spike)"
