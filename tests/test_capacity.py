"""Finding capacity: the step plan, each step judged on synthetic windows, the knee, the
answer, and real stepped runs against loopback servers with a known concurrency limit."""
import numpy as np
import pytest

from driver import histogram
from driver.errors import PlanError
from driver.layout import (
    C_LAT_MAX_NS, C_LAT_MIN_NS, C_LAT_SUM_NS, C_LATE, C_REQUESTS, C_SENT, C_STATUS_2XX, C_STATUS_5XX, COUNTS_LEN,
    H_LATENCY, LAT_MIN_UNSET, N_COUNTERS, N_HISTS,
)
from driver.planning.make import parse_thresholds
from driver.stats.capacity import (
    FIRST_FAILED, FOUND, GENERATOR_LIMIT, INCOMPLETE, MAX_REACHED, Step, StepTracker, answer, exit_code_of,
    judge_step, knee,
)
from driver.stats.endpoint import EndpointResult
from driver.stats.window import Window

MS = 1_000_000


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


def test_windows_late_by_sampling_jitter_still_count():
    step = Step(1, 10.0, 4.0, 8.0, 1.0)
    assert step.steady(_window(6.0)) and step.steady(_window(8.15))
    assert not step.steady(_window(5.0))  # the settle second
    assert not step.steady(_window(8.9))  # mostly the next step


def _verdict(index, level, throughput, mean_ms):
    return {"index": index, "level": level, "throughput": throughput,
            "mean_ns": None if mean_ms is None else mean_ms * MS, "status": "passed"}


KNEES = [
    # (level, throughput, mean latency ms) per step, the knee's level (None: not reached)
    ([(2, 200, 10), (4, 400, 10), (8, 800, 10), (16, 800, 20), (32, 800, 40)], 8),  # closed loop saturating at 8
    ([(2, 200, 10), (4, 400, 10), (8, 800, 10)], None),  # still rising: no knee in the levels run
    ([(100, 100, 5), (200, 200, 5.5), (400, 380, 12), (800, 420, 200)], 200),  # open loop: latency rises faster
    ([(2, 200, 10), (4, 400, 10), (8, 790, 10.2), (16, 800, 10.4)], None),  # flat power within KNEE_DROP
    ([(2, 200, 10), (4, None, None), (8, 800, 10), (16, 400, 40)], 8),  # a step without figures is skipped
]


@pytest.mark.parametrize("points,level", KNEES)
def test_knee(points, level):
    got = knee([_verdict(i, lv, x, r) for i, (lv, x, r) in enumerate(points)])
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
