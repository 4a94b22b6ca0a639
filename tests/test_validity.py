"""The verdict on the run itself: a starved load generator is caught, a healthy one is not."""
import pytest

import driver
from driver.stats.result import Result
from driver.stats.validity import assess


def test_a_starved_generator_makes_the_run_not_valid(nginx):
    # one worker asked for far more arrivals per second than one core can send
    plan = driver.make_plan(nginx.url + "/", rate=400_000, duration="3s", workers=1, max_in_flight=64)
    result = driver.run(plan)
    v = result.validity
    assert v["valid"] is False
    assert any("CPU-bound" in r or "intended time" in r for r in v["reasons"])
    assert v["figures"]["seconds_cpu_bound"] > 0 or v["figures"]["late_share"] > 0.05
    assert result.totals().requests > 0  # the numbers are still there, with the warning


def test_a_light_run_is_valid(nginx):
    result = driver.run(driver.make_plan(nginx.url + "/", rate=50, duration="2.5s", workers=1))
    assert result.validity["valid"] is True, result.validity
    assert result.validity["figures"]["late_share"] < 0.05


def _result(series, plan=None, workers=()):
    return Result(plan=plan or {"mode": "closed"}, endpoints=[], duration_s=len(series), started_at="",
                  series=series, workers=list(workers))


def test_cpu_bound_for_most_seconds_is_flagged():
    busy = [{"t": t, "cpu_max": 0.99, "lag_mean_ns": 0} for t in range(1, 11)]
    from tests.test_result import _endpoint

    r = _result(busy)
    r.endpoints = [_endpoint("x", [1000])]
    v = assess(r)
    assert not v["valid"] and v["figures"]["seconds_cpu_bound"] == 9  # the first second is start-up


def test_cpu_bound_for_a_few_seconds_is_not():
    from tests.test_result import _endpoint

    series = [{"t": t, "cpu_max": 0.99 if t < 4 else 0.4, "lag_mean_ns": 0} for t in range(1, 11)]
    r = _result(series)
    r.endpoints = [_endpoint("x", [1000])]
    assert assess(r)["valid"]


LATE = [
    # endpoints (name, sent, late, dropped), mode, late share, valid
    ([("/o", 100, 4, 0)], "open", 0.04, True),  # requests are the arrivals of the plain path
    ([("/o", 100, 10, 0)], "open", 0.10, False),  # over 5 % late: the generator could not keep up
    ([("/o", 100, 10, 0)], "closed", 0.10, True),  # closed loop: no intended start to be late for
    ([("/o", 1000, 0, 0), ("iteration", 90, 9, 10)], "open", 0.09, False),  # a scenario's arrivals: iterations
    ([("/o", 1000, 0, 0), ("iteration", 200, 9, 0)], "open", 0.045, True),
]


@pytest.mark.parametrize("endpoints,mode,share,valid", LATE)
def test_late_arrivals_per_endpoint(endpoints, mode, share, valid):
    from tests.test_thresholds import _endpoint

    eps = [_endpoint(name, [1000] * sent, sent=sent, late=late, dropped=dropped, flows=name == "iteration")
           for name, sent, late, dropped in endpoints]
    r = _result([], plan={"mode": mode})
    r.endpoints = eps
    v = assess(r)
    assert v["figures"]["late_share"] == pytest.approx(share) and v["valid"] is valid
