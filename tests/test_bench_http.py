"""The HTTP benchmark's open-loop pieces (benchmarks/run_http.py): the verdicts it
writes into RESULTS.md, which driver exits it keeps, the open-loop command beside the
closed-loop one, and the bare open-loop client that gives the floor at a rate."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks import run_http as rh

import http_report as hr  # noqa: E402  (on the path run_http puts benchmarks/ on, as run_http imports it)

ROOT = Path(__file__).resolve().parents[1]


def _med(**steady_or_total) -> dict:
    """Medians as summarize() makes them; tool=(cpu_us, steady_cpu_us)."""
    return {t: {"cpu_us": cpu, "steady_cpu_us": steady, "rps": 1000.0, "busy": 0.5, "n": 1}
            for t, (cpu, steady) in steady_or_total.items()}


ARGS = SimpleNamespace(open_rate=20000.0, baseline="abc1234")


@pytest.mark.parametrize("med, goal, status", [
    # open loop 1.4x closed loop's steady CPU per request: within 1.5x
    (_med(driver=(7.0, 6.0), **{"driver-open": (20.0, 8.4)}), "within 1.5×", "met"),
    # 1.6x: not within; the start-up-included figure (20 vs 7) is not the one judged
    (_med(driver=(7.0, 6.0), **{"driver-open": (10.0, 9.6)}), "within 1.5×", "not met"),
    # closed loop 4% worse than the baseline: within 5%
    (_med(driver=(7.28, 6.0), **{"driver@base": (7.0, 6.0)}), "closed loop", "met"),
    # 6% worse: not
    (_med(driver=(7.42, 6.0), **{"driver@base": (7.0, 6.0)}), "closed loop", "not met"),
    # open loop far cheaper than a spinning baseline: met (lower is better)
    (_med(**{"driver-open": (20.0, 9.0), "driver-open@base": (55.0, 49.0)}), "open loop CPU per request (", "met"),
    # open loop judged on the steady figure: 8% worse there, better with start-up in
    (_med(**{"driver-open": (10.0, 9.72), "driver-open@base": (12.0, 9.0)}), "open loop CPU per request (",
     "not met"),
    # the baseline's run failed: no verdict, and it says so
    (_med(driver=(7.0, 6.0), **{"driver@base": (None, None)}), "closed loop", "not measured"),
])
def test_loop_goals_verdicts(med, goal, status):
    lines = [g for g in rh.loop_goals(med, [], ARGS) if goal in g[0]]
    assert len(lines) == 1, [g[0] for g in rh.loop_goals(med, [], ARGS)]
    assert lines[0][1] == status, lines[0]


def test_no_baseline_no_baseline_goals():
    med = _med(driver=(7.0, 6.0), **{"driver-open": (20.0, 8.4)})
    lines = rh.loop_goals(med, [], SimpleNamespace(open_rate=20000.0, baseline=None))
    assert [g[0] for g in lines if "baseline" in g[0]] == []


def test_paired_ratios_pair_runs_of_the_same_round():
    runs = [{"round": r, "tool": t, "ok": True, "cpu_us_per_req": v}
            for r, t, v in [(1, "driver", 7.0), (1, "driver@base", 7.0), (2, "driver", 8.8),
                            (2, "driver@base", 8.0), (3, "driver", 9.0)]]  # round 3's baseline is missing
    assert hr.paired_ratios(runs, "driver", "driver@base", "cpu_us_per_req") == pytest.approx([1.0, 1.1])


def _result(valid: bool, *reasons: str) -> dict:
    return {"validity": {"valid": valid, "reasons": list(reasons)}}


@pytest.mark.parametrize("rc, result, kept", [
    (0, _result(True), True),
    (4, _result(False, "the load generator was CPU-bound: a worker used >= 90% of a core in 3 of 3 s"), True),
    (4, _result(False, "7.5% of the arrivals started more than 2 ms after their intended time (limit 5%)"), True),
    (4, _result(False, "the workers' event loops lagged over 50 ms in 2 of 3 s"), True),
    # a reason about the target or the machine, beside a generator one: the run is not kept
    (4, _result(False, "the load generator was CPU-bound", "the file-descriptor limit cut the run"), False),
    (4, None, False),
    (1, _result(True), False),  # a threshold failed
    (2, None, False),
])
def test_open_loop_runs_are_kept_only_for_generator_side_verdicts(rc, result, kept):
    assert rh.open_exit_ok(rc, result) is kept


def test_open_loop_command_is_the_closed_loop_command_with_a_rate(tmp_path):
    a = SimpleNamespace(tool_core="1", duration=10.0, connections=64, driver_args="", open_rate=20000.0)
    drv = rh.c.DriverSetup(cmd=["python", "-m", "driver.cli"], env={}, cwd=ROOT, source="test")
    closed = rh.build_tool("driver", a, "http://127.0.0.1:1/", tmp_path, drv).cmd
    opened = rh.build_tool("driver-open@base", a, "http://127.0.0.1:1/", tmp_path, drv).cmd
    i = closed.index("-u")
    assert closed[i:i + 2] == ["-u", "64"]
    assert opened[:i] + opened[i + 2:] == closed[:i] + closed[i + 2:]  # same body, headers, length, worker
    assert opened[i:i + 2] == ["-r", "20000"]


def test_bare_open_client_sends_the_schedule_and_no_more(nginx):
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bare_open_client.py"), nginx.url, "-r", "2000", "-d", "1",
         "--body-file", str(ROOT / "benchmarks" / "body.json")],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    res = json.loads(done.stdout.strip().splitlines()[-1])
    assert res["requests"] == res["sent"] == 2000 and res["errors"] == 0 and res["never_sent"] == 0
    # one connection per request in flight at once, not one per request
    assert 1 <= res["connections"] < 200
