"""find-capacity's bisection (`--search bisect`): the level narrowed between the highest
passing and the first failing level of the climb (driver.planning.capacity: search_plan,
midpoint, at_level; driver.stats.capacity.refine; driver.runner.capacity), against a
target with a real limit on loopback."""
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from driver.errors import PlanError
from driver.planning import make_plan
from driver.planning.capacity import (
    BISECT,
    CLIMB,
    Search,
    at_level,
    capacity_thresholds,
    for_capacity,
    midpoint,
    search_plan,
    step_plan,
    stepped_settings,
)
from driver.reports.capacity import capacity_data, capacity_lines
from driver.runner.capacity import find_capacity
from driver.stats.capacity import FAILED, FOUND, NOT_VALID, PASSED, refine
from tests.servers import aiohttp_server
from tests.test_capacity import _limited_app

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("lo, hi, integer, want", [
    (8, 16, True, 12),      # whole users: the floor of the middle
    (10, 12, True, 11),
    (10, 11, True, None),   # nothing between two neighbours
    (50, 250, False, 150),  # a rate: the middle, to four digits
    (100, 100.00001, False, None),
])
def test_midpoint(lo, hi, integer, want):
    assert midpoint(lo, hi, integer) == want


def test_search_flags():
    assert search_plan(None) == Search(CLIMB)
    assert search_plan("bisect", "2") == Search(BISECT, 2.0)
    with pytest.raises(PlanError, match="--search must be climb or bisect"):
        search_plan("binary")
    with pytest.raises(PlanError, match="--resolution is the bisection's"):
        search_plan("climb", 5)
    with pytest.raises(PlanError, match="--resolution: the resolution must be > 0"):
        search_plan("bisect", "0")
    # the default: an eighth of the bracket, at least one whole user
    assert Search(BISECT).resolution_for(8, 16, integer=True) == 1.0
    assert Search(BISECT).resolution_for(100, 900, integer=False) == 100.0


def test_at_level_holds_one_step_of_the_climb():
    steps = step_plan("2:32:x2", None, "4s", "1s")
    plan = for_capacity(make_plan("http://127.0.0.1:9/", workers=1, **stepped_settings(steps)), steps)
    one_plan, one = at_level(plan, steps, 12)
    assert one.levels == (12.0,) and one.step_s == 4.0 and one.settle_s == 1.0
    assert one_plan.duration_s == 4.0
    assert one_plan.shape.value_at(0.5) == 12 and one_plan.shape.value_at(3.9) == 12


def _v(index, level, status):
    return {"index": index, "level": level, "status": status, "reasons": [] if status == PASSED else ["why"]}


def test_refine_narrows_the_bracket_and_keeps_the_knee():
    found = {"status": FOUND, "highest_passing": 8, "first_failing": _v(3, 16, FAILED), "knee": {"level": 8},
             "summary": "s"}
    got = refine(found, [_v(4, 12, FAILED), _v(5, 10, PASSED), _v(6, 11, FAILED)])
    assert got["highest_passing"] == 10 and got["first_failing"]["level"] == 11 and got["bracket"] == [10, 11]
    assert got["knee"] == {"level": 8} and got["bisected"] == [12, 10, 11]
    assert got["summary"].startswith("capacity: 10 users passed; 11 users failed")
    # a step the generator could not drive ends the refinement: what came before stands
    got = refine(found, [_v(4, 12, PASSED), _v(5, 14, NOT_VALID)])
    assert got["bracket"] == [12, 16]


def test_bisection_finds_the_limit_between_the_passing_and_failing_steps():
    # 10 requests at a time, 503 past that: the climb 2, 4, 8 passes and 16 fails; the bisection
    # tries 12 (fails), then 10 (passes: never more than 10 in flight), and stops 2 users wide
    with aiohttp_server(lambda: _limited_app(10, 0.02, queue=False)) as srv:
        steps = step_plan("2:32:x2", None, "3s")
        plan = make_plan(srv.url + "/", workers=1, thresholds=["error_rate<1%"], **stepped_settings(steps))
        result = find_capacity(for_capacity(plan, steps), steps, capacity_thresholds(plan.thresholds),
                               search=Search(BISECT, 2))
    cap = result.capacity
    found = cap["answer"]
    assert [s["level"] for s in cap["steps"] if s["search"] == "climb"] == [2, 4, 8, 16]
    assert [(s["level"], s["status"]) for s in cap["steps"] if s["search"] == "bisect"] == [(12, FAILED), (10, PASSED)]
    assert found["status"] == FOUND and found["bracket"] == [10, 12]
    assert 8 < found["highest_passing"] < found["first_failing"]["level"] < 16
    assert found["knee"] is None or found["knee"]["level"] <= 16  # the climb's knee, kept
    data = capacity_data(result)
    assert data["level"] == sorted(data["level"]) == [2, 4, 8, 10, 12, 16]  # the chart's x axis in order
    text = "\n".join(capacity_lines(result))
    assert "b1" in text and "bisection: the capacity lies between 10 users (passed) and 12 users (failed)" in text


def test_cli_bisect_reports_the_bracket(tmp_path):
    with aiohttp_server(lambda: _limited_app(10, 0.02, queue=False)) as srv:
        proc = subprocess.run([sys.executable, "-m", "driver.cli", "find-capacity", srv.url + "/", "-u", "4:16:x2",
                               "--step", "3s", "--search", "bisect", "--resolution", "4", "-t", "error_rate<1%",
                               "-w", "1", "-q", "-o", str(tmp_path), "--report", "html"],
                              cwd=ROOT, capture_output=True, timeout=120)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    data = orjson.loads((next(tmp_path.iterdir()) / "result.json").read_bytes())
    # 4 and 8 pass, 16 fails; 12 fails (over the limit of 10), and [8, 12] is 4 users wide
    assert data["capacity"]["search"] == "bisect" and data["capacity"]["answer"]["bracket"] == [8, 12]
    assert "bisection: the capacity lies between" in out
