"""A config's `scenarios:` read into a grouped Plan (driver.config.groups): what each group
gets, and every mistake as one error at file:line."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from driver.config import load_config
from driver.errors import PlanError
from driver.plan import CLOSED, OPEN

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
target: http://127.0.0.1:8080
load: {workers: 2}
scenarios:
  api:
    users: 20
    duration: 30s
    tasks:
      - {name: health, path: /health}
    thresholds: ["p99<300ms"]
  websocket:
    url: ws://127.0.0.1:8765/echo
    users: 50
    duration: 20s
    body: hello
  jobs:
    target: http://127.0.0.1:8090
    rate: 5
    duration: 30s
    start: 10s
    tasks:
      - name: report
        job:
          submit: {path: /jobs, json: {kind: r}}
          id: id
          state: state
          success: [done]
          failure: [failed]
          poll: {path: "/jobs/{id}", interval: 50ms}
thresholds: ["error_rate<1%"]
"""


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "driver.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_each_group_is_a_whole_plan_of_its_own(tmp_path):
    plan = load_config(_write(tmp_path, GOOD))
    api, ws, jobs = plan.groups
    assert [g.name for g in plan.groups] == ["api", "websocket", "jobs"]
    assert (api.plan.mode, api.plan.shape.peak, api.plan.duration_s) == (CLOSED, 20, 30.0)
    assert [t.text for t in api.plan.thresholds] == ["p99<300ms"]
    assert ws.plan.ws is not None and ws.plan.target.scheme == "ws" and ws.plan.requests[0].body == b"hello"
    assert (jobs.plan.mode, jobs.start_s, jobs.end_s) == (OPEN, 10.0, 40.0)
    assert jobs.plan.target.port == 8090 and api.plan.target.port == 8080  # its own target, or the top one
    assert {g.plan.workers for g in plan.groups} == {2} and plan.workers == 2
    assert plan.duration_s == 40.0  # the run ends with its last group
    assert [t.text for t in plan.thresholds] == ["error_rate<1%"]
    # each group's blocks are sized for its own endpoints; the workers' own blocks hold the first group
    assert (api.plan.endpoint_slots, ws.plan.endpoint_slots) == (2, 3) and jobs.plan.endpoint_slots == 7
    assert plan.endpoint_slots == api.plan.endpoint_slots
    assert plan.endpoints[:3] == ("health", "WS /echo", "ws:connect")
    described = plan.describe()
    assert [g["name"] for g in described["groups"]] == ["api", "websocket", "jobs"]
    assert described["mode"] == OPEN  # the validity verdict judges late arrivals: one group is open loop


def test_a_flag_for_the_run_applies_and_one_for_a_single_load_is_refused(tmp_path):
    path = _write(tmp_path, GOOD)
    assert load_config(path, {"workers": 3}).workers == 3
    plan = load_config(path, {"thresholds": ["p95<1s"]})
    assert [t.text for t in plan.thresholds] == ["error_rate<1%", "p95<1s"]
    with pytest.raises(PlanError) as err:
        load_config(path, {"users": 5})
    assert err.value.flag == "--users" and "scenarios" in err.value.message


BAD = [
    # (what is wrong, the config's group part, the line of the error, words in the message)
    ("an unknown key, with a suggestion", "  api:\n    users: 2\n    duratoin: 5s\n    url: /x\n", 6, "duration"),
    ("a group with no load", "  api:\n    duration: 5s\n    url: /x\n", 4, "no load"),
    ("a group with nothing to do", "  api:\n    users: 2\n", 4, "nothing to do"),
    ("a duplicate group", "  api: {users: 1, url: /x}\n  api: {users: 2, url: /y}\n", 5, "duplicate"),
    ("a start past the run's end", "  api: {users: 1, url: /x, start: 60s}\n", 4, "past the run's end"),
    ("a negative start", "  api: {users: 1, url: /x, start: -5s}\n", 4, "got '-5s'"),
    ("a rate that is not a number", "  api: {rate: .nan, url: /x}\n", 4, "must be a number"),
    ("negative users", "  api: {users: -3, url: /x}\n", 4, "> 0"),
    ("a bad group name", "  'a b': {users: 1, url: /x}\n", 4, "group name"),
    ("url and tasks together", "  api:\n    users: 1\n    url: /x\n    tasks: [{name: a, path: /a}]\n", 6,
     "either url"),
]


@pytest.mark.parametrize("why, groups, line, words", BAD, ids=[b[0] for b in BAD])
def test_mistakes_are_one_error_at_their_line(tmp_path, why, groups, line, words):
    text = "target: http://127.0.0.1:8080\nload: {duration: 30s}\nscenarios:\n" + groups
    path = _write(tmp_path, text)
    with pytest.raises(PlanError) as err:
        load_config(path)
    assert (err.value.file, err.value.line) == (str(path), line), str(err.value)
    assert words in err.value.message


def test_a_single_workload_section_beside_scenarios_is_refused(tmp_path):
    path = _write(tmp_path, "target: http://127.0.0.1:8080\nscenario: {tasks: [{name: a, path: /a}]}\n"
                            "scenarios:\n  api: {users: 1, url: /x}\n")
    with pytest.raises(PlanError) as err:
        load_config(path)
    assert err.value.line == 2 and "cannot be used with scenarios" in err.value.message


def test_driver_validate_accepts_a_grouped_config_and_places_an_error(tmp_path):
    good = _write(tmp_path, GOOD)
    ok = subprocess.run([sys.executable, "-m", "driver.cli", "validate", str(good)], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("    users: 50\n", "    users: 50\n    colour: red\n"))
    out = subprocess.run([sys.executable, "-m", "driver.cli", "validate", str(bad)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"driver: error: {bad}:13: unknown key 'colour'"), out.stderr


def test_the_example_reads_as_the_readme_says():
    plan = load_config(ROOT / "examples" / "scenarios.yaml", env={})
    assert [g.name for g in plan.groups] == ["api", "websocket", "jobs"]
    api, ws, jobs = plan.groups
    assert api.plan.shape.peak == 20 and ws.plan.ws is not None and ws.plan.requests[0].body == b'{"op":"ping"}'
    assert (jobs.plan.mode, jobs.start_s, jobs.end_s, jobs.plan.max_in_flight) == (OPEN, 10.0, 30.0, 200)
    assert plan.duration_s == 30.0 and plan.workers == 2
    assert [t.text for t in plan.thresholds] == ["error_rate<2%"]


def test_a_grouped_plan_built_by_hand_runs_on_its_workers_with_a_block_layout_per_group():
    import dataclasses

    from driver.plan import Group
    from driver.planning import make_plan
    from driver.runner.groups import group_layouts, normalised

    http = make_plan("http://127.0.0.1:8080/a", users=2, duration="1s", workers=1)
    ws = make_plan("ws://127.0.0.1:8765/echo", users=2, duration="2s", workers=1)
    plan = dataclasses.replace(http, workers=3, groups=(Group("http", http), Group("ws", ws, start_s=1.0)))
    fixed = normalised(plan)
    assert {g.plan.workers for g in fixed.groups} == {3}
    assert normalised(fixed) is fixed
    assert [layout.n_endpoints for layout in group_layouts(fixed)] == [ws.endpoint_slots]
    assert fixed.endpoint_slots == http.endpoint_slots == 1
