"""driver.chaos.breaker on synthetic series: a breaker seen from the mock's call counts."""
import json

import pytest

from driver.chaos.breaker import BreakerTolerance, analyse_breaker
from driver.chaos.timeline import parse_timeline


def series(n, calls, ok=None):
    """n one-second points with api calls(t) and ok(t) (default: ok outside 20s-30s)."""
    ok = ok or (lambda t: 0 if 20 < t <= 30 else calls(t))
    return [{"t": float(t), "requests": 10, "errors": 0, "http_errors": 0,
             "api": {"calls": calls(t), "ok": ok(t), "failed": calls(t) - ok(t)}} for t in range(1, n + 1)]


OUTAGE = parse_timeline([({"at": 20, "duration": 10, "fault": "outage"}, "c.yaml:3")])


def breaker(s, events=OUTAGE, **kw):
    (entry,) = analyse_breaker(s, events, **kw)
    json.dumps(entry, allow_nan=False)
    return entry


def test_a_breaker_that_trips_probes_and_recovers():
    # 20 calls/s; in the outage 3 failing calls, then open: a probe every 3rd second; back 2s after the end
    def calls(t):
        if t in (21, 22):
            return 20
        if 22 < t <= 30:
            return 1 if t % 3 == 0 else 0
        if t in (31, 32):
            return 1
        return 20

    e = breaker(series(50, calls, ok=lambda t: 0 if 20 < t <= 30 else (1 if t in (31, 32) else 20)))
    assert e["tripped"] and e["recovered"]
    assert e["baseline_calls_s"] == 20
    assert e["time_to_trip_s"] == 2.0  # the second 22-23 is the first below 10% of 20/s
    assert e["calls_while_open"] == 3  # probes at t=24, 27, 30
    assert e["probe_interval_s"] == 3.0
    assert e["time_to_recover_s"] == 2.0  # ok at 20/s again in the second 32-33
    assert e["source"] == "c.yaml:3" and e["note"] == ""


def test_a_bot_without_a_breaker_never_trips():
    e = breaker(series(50, lambda t: 20))  # hammering the dead API at the same rate
    assert not e["tripped"] and e["time_to_trip_s"] is None and e["calls_while_open"] is None
    assert e["recovered"] and e["time_to_recover_s"] == 0.0
    assert "no breaker opened" in e["note"]


def test_a_breaker_that_never_closes_again():
    e = breaker(series(50, lambda t: 20 if t <= 20 else 0))
    assert e["tripped"] and e["time_to_trip_s"] == 0.0 and e["calls_while_open"] == 0
    assert e["probe_interval_s"] is None
    assert not e["recovered"] and e["time_to_recover_s"] is None
    assert "before the run ended" in e["note"]


def test_a_run_that_ends_inside_the_outage():
    e = breaker(series(25, lambda t: 20 if t <= 21 else 0))
    assert e["tripped"] and not e["recovered"]
    assert e["note"] == "the run ended inside the outage"


@pytest.mark.parametrize("s", [[], series(50, lambda t: 0)], ids=["empty series", "no calls at all"])
def test_nothing_to_compare_with(s):
    e = breaker(s)
    assert not e["tripped"] and not e["recovered"] and e["baseline_calls_s"] is None
    assert "no platform API calls before the outage" in e["note"]


def test_only_outages_are_judged_and_fractions_are_configurable():
    events = parse_timeline([({"at": 5, "duration": 5, "fault": "slow_api"}, "c.yaml:1"),
                             ({"at": 20, "duration": 10, "fault": "outage"}, "c.yaml:2")])
    s = series(50, lambda t: 20 if not 20 < t <= 30 else 5)  # a quarter of the calls during the outage
    (e,) = analyse_breaker(s, events)
    assert not e["tripped"]
    assert breaker(s, events[1:], tolerance=BreakerTolerance(trip_fraction=0.3))["tripped"]
    assert analyse_breaker(s, events[:1]) == []
