"""Thresholds on the chaos timeline: recovery, breaker_trip, breaker_recover (end of run only)."""
import pytest

from driver.errors import PlanError
from driver.stats.result import Result
from driver.stats.thresholds import describe, evaluate, is_live, parse_threshold


def result(chaos):
    return Result(plan={}, endpoints=[], duration_s=60.0, started_at="", chaos=chaos)


def event(fault="outage", at=20.0, recovery=5.0, breaker=None, note=""):
    return {"fault": fault, "at_s": at, "recovery_s": recovery, "recovered": recovery is not None,
            "recovery_note": note, "breaker": breaker}


def brk(trip=2.0, recover=3.0, note=""):
    return {"time_to_trip_s": trip, "tripped": trip is not None, "time_to_recover_s": recover,
            "recovered": recover is not None, "note": note}


@pytest.mark.parametrize("text, chaos, value, passed, note", [
    # the worst event's recovery
    ("recovery<30s", [event(recovery=5.0), event("malformed", 50, 12.5)], 12.5e9, True, ""),
    ("recovery<10s", [event(recovery=5.0), event("malformed", 50, 12.5)], 12.5e9, False, ""),
    # never recovered: fails, whatever the limit
    ("recovery<3600s", [event(recovery=None, note="not back within tolerance of the baseline before the run ended")],
     None, False, "outage at 20s: never recovered (not back within tolerance of the baseline before the run ended)"),
    ("recovery<30s", [], None, False, "no chaos events in this run"),
    ("breaker_trip<10s", [event(breaker=brk(trip=4.0)), event("spike", 40)], 4e9, True, ""),
    ("breaker_trip<10s", [event(breaker=brk(trip=None, note="no breaker opened"))], None, False,
     "outage at 20s: no breaker tripped (no breaker opened)"),
    ("breaker_recover<30s", [event(breaker=brk(recover=31.0))], 31e9, False, ""),
    ("breaker_recover<30s", [event("slow_api")], None, False, "no platform outage in the chaos timeline"),
])
def test_chaos_thresholds(text, chaos, value, passed, note):
    (v,) = evaluate([parse_threshold(text)], result(chaos))
    assert v["value"] == value and v["passed"] is passed and v["unit"] == "ns"
    assert v.get("note", "") == note
    if note:
        assert note in describe(v) and "FAILED" in describe(v)


def test_chaos_thresholds_are_not_live_and_take_no_endpoint():
    assert not is_live(parse_threshold("recovery<30s"))
    with pytest.raises(PlanError, match="judged on the chaos timeline, not on an endpoint"):
        parse_threshold("/start:recovery<30s")
    with pytest.raises(PlanError, match="missing unit"):
        parse_threshold("breaker_trip<10")
    assert parse_threshold("breaker_recover<=2m".replace("2m", "120s")).limit == 120e9


def test_result_chaos_round_trips_and_old_results_load():
    r = result([event()])
    again = Result.from_dict(r.to_dict())
    assert again.chaos == [event()]
    old = r.to_dict()
    del old["chaos"]
    assert Result.from_dict(old).chaos == []
