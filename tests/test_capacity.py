"""Finding capacity: the step plan, each step judged on synthetic windows, the knee, the
answer, and real stepped runs against loopback servers with a known concurrency limit."""
import asyncio
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

from driver import histogram
from driver.errors import PlanError
from driver.layout import (
    C_LAT_MAX_NS, C_LAT_MIN_NS, C_LAT_SUM_NS, C_LATE, C_REQUESTS, C_SENT, C_STATUS_2XX, C_STATUS_5XX, COUNTS_LEN,
    H_LATENCY, LAT_MIN_UNSET, N_COUNTERS, N_HISTS,
)
from driver.planning import make_plan
from driver.planning.capacity import (
    capacity_thresholds, for_capacity, parse_levels, step_plan, stepped_settings,
)
from driver.planning.make import parse_thresholds
from driver.runner.capacity import find_capacity
from driver.shapes import from_stages
from driver.stats.capacity import (
    FIRST_FAILED, FOUND, GENERATOR_LIMIT, INCOMPLETE, MAX_REACHED, Step, StepTracker, answer, exit_code_of,
    judge_step, knee,
)
from driver.stats.endpoint import EndpointResult
from driver.stats.result import Result
from driver.stats.window import Window
from tests.servers import aiohttp_server
from tests.test_report_browser import chromium  # noqa: F401 - the fixture

MS = 1_000_000
ROOT = Path(__file__).resolve().parents[1]


def _window(t, *, rps=100, latency_ms=10.0, errors=0, late=0, cpu=0.3, lag_ns=1 * MS, dt=1.0):
    """One second as driver.stats.window makes it: `rps` responses of `latency_ms` each,
    `errors` of them 5xx, `late` late arrivals; the generator's CPU share and loop lag."""
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    hists = np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64)
    n = int(rps * dt)
    v = int(latency_ms * MS)
    for _ in range(n):
        histogram.record(hists[H_LATENCY], v)
    counters[C_LAT_SUM_NS] = v * n
    counters[C_REQUESTS] = counters[C_SENT] = n
    counters[C_STATUS_2XX], counters[C_STATUS_5XX] = n - errors, errors
    counters[C_LATE] = late
    counters[C_LAT_MIN_NS], counters[C_LAT_MAX_NS] = LAT_MIN_UNSET, 0  # not known in a window
    total = EndpointResult("total", counters, hists)
    return Window(t=t, dt=dt, rows=(EndpointResult("GET /", counters.copy(), hists.copy()),), total=total,
                  cpu_max=cpu, lag_mean_ns=lag_ns)


def _steps(levels, step_s=4.0, settle_s=1.0):
    return [Step(i, float(lv), i * step_s, (i + 1) * step_s, settle_s) for i, lv in enumerate(levels)]


def _run(levels, second, thresholds=("p99<50ms", "error_rate<1%"), open_loop=False, step_s=4):
    """Feed a tracker one window per second; `second(level, i)` -> the window's keywords.
    Returns the verdicts, stopping like the runner does at the first step that does not pass."""
    steps = _steps(levels, step_s)
    tracker = StepTracker(steps, parse_thresholds(thresholds, "-t"), open_loop)
    for t in range(1, len(levels) * step_s + 1):
        level = levels[(t - 1) // step_s]
        tracker.update(_window(float(t), **second(level, (t - 1) % step_s)))
        if tracker.done:
            break
    return tracker.verdicts


def _capacity_10(level, i):
    """A target that serves 10 users at 10 ms; beyond, latency grows with the users."""
    return {"rps": min(level, 10) * 100, "latency_ms": 10.0 * max(1.0, level / 10)}


CASES = [
    # levels, second(level, second of the step), thresholds, open loop, statuses, answer, highest
    ([2, 4, 8], _capacity_10, ("p99<50ms",), False, ["passed"] * 3, MAX_REACHED, 8),  # every step passes
    ([5, 10, 20, 80, 160], _capacity_10, ("p99<50ms",), False,  # fails by p99 at 80 (80 ms)
     ["passed", "passed", "passed", "failed"], FOUND, 20),
    ([5, 10, 20], lambda lv, i: {"errors": 5 if lv >= 20 else 0}, ("error_rate<1%",), False,  # 5% errors at 20
     ["passed", "passed", "failed"], FOUND, 10),
    ([5, 10, 20], lambda lv, i: {"cpu": 1.0 if lv >= 10 else 0.3}, ("p99<50ms",), False,  # generator CPU-bound
     ["passed", "not valid"], GENERATOR_LIMIT, 5),
    ([5, 10], lambda lv, i: {"lag_ns": 50 * MS}, ("p99<50ms",), False,  # lagging loop from the start
     ["not valid"], GENERATOR_LIMIT, None),
    ([50, 100], lambda lv, i: {"late": 10 if lv >= 100 else 0}, ("p99<50ms",), True,  # 10% late arrivals
     ["passed", "not valid"], GENERATOR_LIMIT, 50),
    ([50, 100], lambda lv, i: {"late": 10}, ("p99<50ms",), False,  # late only matters in open loop
     ["passed", "passed"], MAX_REACHED, 100),
    ([5, 10], lambda lv, i: {"latency_ms": 80}, ("p99<50ms",), False, ["failed"], FIRST_FAILED, None),
    ([5, 10], lambda lv, i: {"rps": 0}, ("p99<50ms",), False,  # nothing measured: a threshold without value fails
     ["failed"], FIRST_FAILED, None),
    ([5, 10, 20], lambda lv, i: {"latency_ms": 500 if i == 0 else 10}, ("p99<50ms",), False,  # the settle second
     ["passed"] * 3, MAX_REACHED, 20),                                                       # is not judged
]


@pytest.mark.parametrize("levels,second,thresholds,open_loop,statuses,status,highest", CASES)
def test_steps_judged(levels, second, thresholds, open_loop, statuses, status, highest):
    verdicts = _run(levels, second, thresholds, open_loop)
    assert [v["status"] for v in verdicts] == statuses
    got = answer(verdicts, [float(x) for x in levels], ended_early=False)
    assert got["status"] == status
    assert got["highest_passing"] == highest
    if status in (FOUND, FIRST_FAILED, GENERATOR_LIMIT):
        assert got["first_failing"]["level"] == verdicts[-1]["level"]
        assert got["first_failing"]["reasons"] == verdicts[-1]["reasons"]


def test_step_figures_come_from_the_steady_seconds():
    verdicts = _run([10], lambda lv, i: {"rps": 1000 if i == 0 else 200, "latency_ms": 40 if i == 0 else 20},
                    ("p99<30ms",))
    v = verdicts[0]
    assert v["seconds"] == 3  # 4 s step, 1 s settle
    assert v["throughput"] == pytest.approx(200)
    assert v["p99_ns"] == pytest.approx(20 * MS, rel=0.01)
    assert v["requests"] == 600
    assert v["verdicts"][0]["passed"] and v["verdicts"][0]["value"] == pytest.approx(20 * MS, rel=0.01)


def test_failing_reasons_name_the_threshold_and_the_value():
    v = _run([10], lambda lv, i: {"latency_ms": 80}, ("p99<50ms", "error_rate<1%"))[0]
    assert v["status"] == "failed"
    assert len(v["reasons"]) == 1 and v["reasons"][0].startswith("p99<50ms: p99 = 80")
    not_valid = _run([10], lambda lv, i: {"cpu": 0.99, "latency_ms": 80}, ("p99<50ms",))[0]
    assert not_valid["status"] == "not valid"  # an unfit generator outranks a broken threshold
    assert "not a limit of the target" in not_valid["reasons"][0]


def test_a_step_without_steady_seconds_is_not_valid():
    step = Step(0, 10.0, 0.0, 2.0, 2.0)
    v = judge_step(step, [], parse_thresholds(["p99<1s"], "-t"), open_loop=False)
    assert v["status"] == "not valid" and "no steady second" in v["reasons"][0]


def test_steady_windows():
    step = Step(1, 10.0, 4.0, 8.0, 1.0)
    assert step.steady(_window(6.0)) and step.steady(_window(8.0))
    assert step.steady(_window(5.6))  # begins in the settle part by less than LEAD_S
    assert not step.steady(_window(5.0))  # the settle second
    assert not step.steady(_window(8.04))  # 40 ms of the next level are in it


def test_the_last_step_is_judged_when_the_run_reached_its_end():
    steps = _steps([5, 10])
    tracker = StepTracker(steps, parse_thresholds(["p99<50ms"], "-t"), open_loop=False)
    for t in (1.01, 2.01, 3.01, 4.01, 5.01, 6.01, 7.01):
        tracker.update(_window(t))
    assert [v["level"] for v in tracker.verdicts] == [5]
    assert tracker.finish(7.9)["level"] == 10 and tracker.done
    early = StepTracker(steps, parse_thresholds(["p99<50ms"], "-t"), open_loop=False)
    for t in (1.01, 2.01, 3.01, 4.01, 5.01):
        early.update(_window(t))
    assert early.finish(5.01) is None  # the run ended inside the step: nothing said about it


def _verdict(index, level, throughput, mean_ms, status="passed"):
    return {"index": index, "level": level, "throughput": throughput,
            "mean_ns": None if mean_ms is None else mean_ms * MS, "status": status}


KNEES = [
    # (level, throughput, mean latency ms) per step, the knee's level (None: not reached)
    ([(2, 200, 10), (4, 400, 10), (8, 800, 10), (16, 800, 20), (32, 800, 40)], 8),  # closed loop saturating at 8
    ([(2, 200, 10), (4, 400, 10), (8, 800, 10)], None),  # still rising: no knee in the levels run
    ([(100, 100, 5), (200, 200, 5.5), (400, 380, 12), (800, 420, 200)], 200),  # open loop: latency rises faster
    ([(2, 200, 10), (4, 400, 10), (8, 790, 10.2), (16, 800, 10.4)], None),  # flat power within KNEE_DROP
    ([(2, 200, 10), (4, None, None), (8, 800, 10), (16, 400, 40)], 8),  # a step without figures is skipped
    ([(2, 200, 10), (4, 400, 10), (8, 100, 40, "not valid")], None),  # nor is a step the generator could not drive
]


@pytest.mark.parametrize("points,level", KNEES)
def test_knee(points, level):
    got = knee([_verdict(i, *point) for i, point in enumerate(points)])
    assert (got and got["level"]) == level


def test_knee_from_a_tracked_run():
    verdicts = _run([2, 4, 8, 16, 32, 64], _capacity_10, ("p99<500ms",))
    assert answer(verdicts, [2, 4, 8, 16, 32, 64], ended_early=False)["knee"]["level"] == 8


def test_answer_of_a_run_that_ended_early():
    verdicts = _run([5, 10, 20], lambda lv, i: {})[:2]
    got = answer(verdicts, [5.0, 10.0, 20.0], ended_early=True)
    assert got["status"] == INCOMPLETE and got["highest_passing"] == 10


EXIT_CODES = [
    # status, highest passing level, exit code
    (FOUND, 10, 0),
    (MAX_REACHED, 20, 0),
    (GENERATOR_LIMIT, 10, 0),  # a level passed before the generator gave out
    (FIRST_FAILED, None, 1),
    (GENERATOR_LIMIT, None, 4),
    (INCOMPLETE, None, 3),
]


@pytest.mark.parametrize("status,highest,code", EXIT_CODES)
def test_exit_codes(status, highest, code):
    assert exit_code_of(status, highest) == code


# --- the step plan ----------------------------------------------------------------

LEVELS = [
    # flag text, integer (users), levels
    ("10:50:+10", True, (10, 20, 30, 40, 50)),  # additive, landing on MAX
    ("10:45:+10", True, (10, 20, 30, 40, 45)),  # MAX is the last level when the steps miss it
    ("1:10:x1.2", True, (1, 2, 3, 4, 5, 6, 8, 10)),  # users grow by at least one
    ("100:1000:x2", False, (100, 200, 400, 800, 1000)),  # a factor
    ("5:5:+1", False, (5,)),  # one level
]


@pytest.mark.parametrize("text,integer,levels", LEVELS)
def test_levels(text, integer, levels):
    assert parse_levels(text, "--users", integer) == tuple(float(x) for x in levels)


BAD_LEVELS = [
    # text, integer, words in the one-line error
    ("10:500", True, "START:MAX:+N or START:MAX:xF"),
    ("10:500:10", True, "START:MAX:+N or START:MAX:xF"),  # the step needs + or x
    ("0:500:+10", True, "START must be > 0"),
    ("abc:500:+10", True, "START 'abc' is not a number"),
    ("50:10:+10", True, "MAX 10 is below START 50"),
    ("1:10:x1", True, "a factor must be > 1"),
    ("1.5:10:+1", True, "whole number of users"),
    ("1:100000:+1", True, "more than 100 steps"),
]


@pytest.mark.parametrize("text,integer,needle", BAD_LEVELS)
def test_bad_levels(text, integer, needle):
    with pytest.raises(PlanError, match=re.escape(needle)):
        parse_levels(text, "--users", integer)


def test_step_plan_makes_stepped_stages():
    plan = step_plan("2:8:x2", None, "4s")
    assert plan.levels == (2.0, 4.0, 8.0) and plan.settle_s == 1.0 and plan.duration_s == 12.0
    assert plan.stages() == [(0.0, 2.0), (4.0, 2.0), (0.0, 4.0), (4.0, 4.0), (0.0, 8.0), (4.0, 8.0)]
    shape = from_stages(plan.stages())
    assert [shape.value_at(t) for t in (0.5, 3.9, 4.1, 7.9, 8.5, 11.9)] == [2, 2, 4, 4, 8, 8]
    assert [s.start_s for s in plan.steps()] == [0.0, 4.0, 8.0]
    assert step_plan(None, "100:400:x2", "20s").settle_s == 5.0  # a quarter of the step
    with pytest.raises(PlanError, match="--settle must leave at least 2s"):
        step_plan("1:2:+1", None, "3s", "1.5s")
    with pytest.raises(PlanError, match="at least one threshold"):
        capacity_thresholds(())


# --- real runs on loopback ----------------------------------------------------------


def _limited_app(limit: int, service_s: float, queue: bool):
    """A target with a real capacity: at most `limit` requests served at once, each for
    `service_s`; the others wait their turn (`queue`) or are refused at once with a 503."""
    from aiohttp import web

    state = {"in": 0}
    gate = asyncio.Semaphore(limit)

    async def handle(request):
        if queue:
            async with gate:
                await asyncio.sleep(service_s)
            return web.Response(text="ok")
        if state["in"] >= limit:
            return web.Response(status=503, text="busy")
        state["in"] += 1
        try:
            await asyncio.sleep(service_s)
        finally:
            state["in"] -= 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", handle)
    return app


def test_users_climb_stops_at_the_first_step_over_the_limit():
    # 10 requests at a time; over that the target refuses: 8 users pass, 16 fail
    with aiohttp_server(lambda: _limited_app(10, 0.02, queue=False)) as srv:
        steps = step_plan("2:32:x2", None, "3s")
        plan = make_plan(srv.url + "/", workers=1, thresholds=["error_rate<1%"], **stepped_settings(steps))
        ths = capacity_thresholds(plan.thresholds)
        result = find_capacity(for_capacity(plan, steps), steps, ths)
    cap = result.capacity
    assert [s["status"] for s in cap["steps"]] == ["passed", "passed", "passed", "failed"]
    assert cap["answer"]["status"] == FOUND
    assert cap["answer"]["highest_passing"] == 8 and cap["answer"]["first_failing"]["level"] == 16
    assert cap["answer"]["first_failing"]["reasons"][0].startswith("error_rate<1%")
    assert result.series[-1]["t"] < steps.duration_s  # stopped: the 32-user step never ran
    assert result.complete and not result.interrupted and result.verdicts == []
    assert any("find-capacity stopped the run" in n for n in result.notes)
    again = Result.from_dict(orjson.loads(result.to_json()))  # the capacity section round-trips
    assert again.capacity == orjson.loads(orjson.dumps(cap, option=orjson.OPT_SERIALIZE_NUMPY))


def test_knee_of_a_queueing_target():
    # 4 served at a time, 20 ms each: throughput stops following the users past 4 while
    # latency grows with them, so throughput per unit of latency peaks at 4
    with aiohttp_server(lambda: _limited_app(4, 0.02, queue=True)) as srv:
        steps = step_plan("1:16:x2", None, "3s")
        plan = make_plan(srv.url + "/", workers=1, thresholds=["error_rate<1%"], **stepped_settings(steps))
        result = find_capacity(for_capacity(plan, steps), steps, capacity_thresholds(plan.thresholds))
    found = result.capacity["answer"]
    assert found["status"] == MAX_REACHED and found["highest_passing"] == 16
    assert found["knee"]["level"] == 4


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True,
                          timeout=timeout)


def test_cli_rate_climb_saves_and_reports_the_capacity(tmp_path):
    # 10 at a time for 50 ms each: 50 req/s keep ~2.5 in flight, 250 req/s ~12.5 (refused); a
    # first step of 50 req/s has 100 arrivals to judge their lateness by
    with aiohttp_server(lambda: _limited_app(10, 0.05, queue=False)) as srv:
        proc = _cli("find-capacity", srv.url + "/", "--rate", "50:1250:x5", "--step", "3s", "-t", "error_rate<2%",
                    "-w", "1", "-q", "-o", str(tmp_path), "--report", "html,md")
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    assert "CAPACITY: capacity: 50 req/s passed; 250 req/s failed: error_rate<2%" in out
    run_dir = next(tmp_path.iterdir())
    data = orjson.loads((run_dir / "result.json").read_bytes())
    assert data["capacity"]["kind"] == "rate" and data["capacity"]["answer"]["highest_passing"] == 50
    assert [s["level"] for s in data["capacity"]["steps"]] == [50, 250]
    page = (run_dir / "report.html").read_text()
    assert 'id="capacity"' in page and 'id="chart-capacity"' in page and 'id="driver-capacity"' in page
    assert "### Capacity" in (run_dir / "summary.md").read_text()


def test_cli_first_step_failing_exits_1(tmp_path):
    with aiohttp_server(lambda: _limited_app(1, 0.02, queue=False)) as srv:
        proc = _cli("find-capacity", srv.url + "/", "--users", "4:8:+4", "--step", "3s", "-t", "error_rate<1%",
                    "-w", "1", "-q", "-o", str(tmp_path), "--report", "json")
    assert proc.returncode == 1, proc.stderr.decode()
    assert "no capacity found: the first step (4 users) failed" in proc.stdout.decode()


CLI_ERRORS = [
    # arguments, words of the one-line error
    (["http://127.0.0.1:1/", "--users", "1:4:+1"], "at least one threshold"),
    (["http://127.0.0.1:1/", "-t", "p99<1s"], "give the levels to climb"),
    (["http://127.0.0.1:1/", "--users", "1:4", "-t", "p99<1s"], "--users: '1:4' must be START:MAX"),
    (["http://127.0.0.1:1/", "--rate", "1:4:+1", "--step", "2s", "-t", "p99<1s"], "--step must be at least 3s"),
    (["http://127.0.0.1:1/", "--users", "1:4:+1", "-t", "max<1s"], "cannot be judged per step"),
    (["--users", "1:4:+1", "-t", "p99<1s"], "give a URL"),
]


@pytest.mark.parametrize("args,needle", CLI_ERRORS)
def test_cli_errors_are_one_line(args, needle):
    proc = _cli("find-capacity", *args)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1 and err.startswith("driver: error: ") and needle in err


# --- report.html in a browser ------------------------------------------------------------

MARK_PROBE = """(() => {
  const box = document.getElementById('chart-capacity'), c = box.querySelector('.uplot canvas');
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const near = (i, rgb) => Math.abs(px[i] - rgb[0]) < 40 && Math.abs(px[i + 1] - rgb[1]) < 40
                           && Math.abs(px[i + 2] - rgb[2]) < 40 && px[i + 3] > 200;
  const colors = {highest: [26, 127, 55], knee: [191, 135, 0], failing: [207, 34, 46], rps: [9, 105, 218]};
  const out = {drawn: box.getAttribute('data-drawn')};
  for (const k in colors) { out[k] = 0; for (let i = 0; i < px.length; i += 4) if (near(i, colors[k])) out[k]++; }
  return out;
})()"""


def test_capacity_chart_draws_in_chromium(chromium, tmp_path):
    from benchmarks.bench_reports import synthetic_result
    from driver.reports import write_reports
    from tests.test_report_browser import inspect_page

    levels = [2, 4, 8, 16, 32, 64]
    verdicts = _run(levels, _capacity_10, ("p99<50ms",))
    result = synthetic_result(seconds=30, endpoints=2, rps=100.0, users=10)
    result.capacity = {"kind": "users", "unit": "users", "levels": levels, "step_s": 4.0, "settle_s": 1.0,
                       "thresholds": ["p99<50ms"], "steps": verdicts, "stopped_at_s": 25.0,
                       "answer": answer(verdicts, levels, ended_early=False)}
    assert result.capacity["answer"]["highest_passing"] == 32 and result.capacity["answer"]["knee"]["level"] == 8
    page = write_reports(result, tmp_path, ["html"])[0]
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    seen = asyncio.run(asyncio.wait_for(inspect_page(chromium, page, profile, {"marks": MARK_PROBE}), 60))
    assert seen["problems"] == []
    canvas = next(c for c in seen["probe"]["canvases"] if c["chart"] == "chart-capacity")
    assert canvas["width"] > 300 and canvas["drawn"] > 0.01 * canvas["width"] * canvas["height"]
    marks = seen["extra"]["marks"]
    assert marks["drawn"] == "1"
    for key in ("highest", "knee", "failing", "rps"):  # the three marks and the throughput line
        assert marks[key] > 50, marks


def test_config_thresholds_judge_the_steps_and_its_load_must_fit(tmp_path):
    from driver.config import load_config

    cfg = tmp_path / "driver.yaml"
    cfg.write_text("target: {base_url: 'http://127.0.0.1:8080'}\nload: {duration: 1h}\n"
                   "thresholds:\n  - p99<300ms\n")
    steps = step_plan("2:8:x2", None, "3s")
    plan = load_config(cfg, {**stepped_settings(steps), "thresholds": ["error_rate<1%"]})
    assert [th.text for th in capacity_thresholds(plan.thresholds)] == ["p99<300ms", "error_rate<1%"]
    stepped = for_capacity(plan, steps)
    assert stepped.thresholds == () and stepped.duration_s == 9.0  # the steps' length, not the config's hour
    assert stepped.shape.value_at(4.0) == 4 and stepped.shape.peak == 8

    cfg.write_text("target: {base_url: 'http://127.0.0.1:8080'}\nload: {rate: 50}\nthresholds: [p99<1s]\n")
    with pytest.raises(PlanError, match="the config sets a rate"):
        for_capacity(load_config(cfg, stepped_settings(steps)), steps)

    cfg.write_text("target: {base_url: 'http://127.0.0.1:8080'}\nthresholds:\n  - max<1s\n")
    with pytest.raises(PlanError, match="cannot be judged per step") as err:
        capacity_thresholds(load_config(cfg, stepped_settings(steps)).thresholds)
    assert err.value.where.endswith("driver.yaml:3")


def test_a_result_without_a_search_loads_and_reports_nothing_of_it():
    from benchmarks.bench_reports import synthetic_result
    from driver.reports.capacity import capacity_html, capacity_lines

    result = synthetic_result(seconds=5, endpoints=1, rps=10.0, users=2)
    data = orjson.loads(result.to_json())
    assert "capacity" not in data  # files of runs without a search are as before
    again = Result.from_dict(data)
    assert again.capacity == {} and capacity_lines(again) == [] and capacity_html(again, str) == ""
