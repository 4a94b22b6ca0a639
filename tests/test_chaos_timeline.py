"""driver.chaos.timeline: chaos entries -> ChaosEvents, and every bad entry one located PlanError."""
import pickle

import pytest

from driver.chaos.timeline import MALFORMED_KINDS, ChaosEvent, Params, parse_event, parse_timeline
from driver.errors import PlanError


def test_an_entry_becomes_an_event_with_defaults_and_its_source():
    (event,) = parse_timeline([({"at": "30s", "duration": "2m", "fault": "outage"}, "driver.yaml:7")])
    assert event == ChaosEvent(30.0, 120.0, "outage", Params({"mode": "refuse"}), "driver.yaml:7")
    assert event.end_s == 150.0 and event.platform
    assert event.to_dict() == {"at_s": 30.0, "duration_s": 120.0, "fault": "outage",
                               "params": {"mode": "refuse"}, "source": "driver.yaml:7"}


@pytest.mark.parametrize("entry, params", [
    # each fault's defaults
    ({"fault": "rate_limit"}, {"rate": 1.0, "retry_after": 1}),
    ({"fault": "slow_api", "latency_ms": 200, "latency_max_ms": 900}, {"latency_ms": 200.0, "latency_max_ms": 900.0}),
    ({"fault": "slow_api"}, {"latency_ms": 1000.0}),
    ({"fault": "api_errors", "rate": 0.5, "status": 503}, {"rate": 0.5, "status": 503}),
    ({"fault": "malformed"}, {"kinds": MALFORMED_KINDS, "rate": 5.0}),
    ({"fault": "malformed", "kinds": ["empty_body", "empty_body"], "rate": 2}, {"kinds": ("empty_body",), "rate": 2.0}),
    ({"fault": "reset_mid_body"}, {"rate": 1.0}),
    ({"fault": "slowloris", "connections": 10}, {"connections": 10}),
    ({"fault": "idle_flood"}, {"connections": 100}),
    ({"fault": "spike", "rate": 200}, {"rate": 200.0}),
    ({"fault": "outage", "mode": "hang"}, {"mode": "hang"}),
])
def test_parameters_and_defaults(entry, params):
    event = parse_event({"at": 0, "duration": 1, **entry}, "f.yaml:3")
    assert dict(event.params) == params


@pytest.mark.parametrize("entry, message", [
    ({"duration": 1, "fault": "outage"}, "has no 'at'"),
    ({"at": 1, "fault": "outage"}, "has no 'duration'"),
    ({"at": 1, "duration": 1}, "has no 'fault'"),
    ({"at": 1, "duration": 1, "fault": "outge"}, "unknown fault 'outge' — did you mean 'outage'?"),
    ({"at": 1, "duration": 1, "fault": 3}, "unknown fault 3"),
    ({"at": -1, "duration": 1, "fault": "outage"}, "at must be >= 0"),
    ({"at": "nan", "duration": 1, "fault": "outage"}, "at: not a duration"),
    ({"at": float("inf"), "duration": 1, "fault": "outage"}, "at: not a duration"),
    ({"at": "soon", "duration": 1, "fault": "outage"}, "at: not a duration"),
    ({"at": True, "duration": 1, "fault": "outage"}, "at must be a duration"),
    ({"at": None, "duration": 1, "fault": "outage"}, "at must be a duration"),
    ({"at": 1, "duration": 0, "fault": "outage"}, "duration must be > 0"),
    ({"at": 1, "duration": "-5s", "fault": "outage"}, "duration: not a duration"),
    ({"at": 1, "duration": "99999999h", "fault": "outage"}, "longer than the longest allowed"),
    ({"at": 1, "duration": 1e300, "fault": "outage"}, "longer than the longest allowed"),
    ({"at": 1, "duration": 1, "fault": "outage", "mode": "explode"}, "outage.mode must be one of refuse, reset, hang"),
    ({"at": 1, "duration": 1, "fault": "outage", "rate": 1}, "unknown parameter 'rate' of fault outage"),
    ({"at": 1, "duration": 1, "fault": "rate_limit", "rate": 1.5}, "rate_limit.rate must be between 0 and 1"),
    ({"at": 1, "duration": 1, "fault": "rate_limit", "rate": float("nan")}, "rate_limit.rate must be a number"),
    ({"at": 1, "duration": 1, "fault": "rate_limit", "retry_after": 1.5}, "must be a whole number"),
    ({"at": 1, "duration": 1, "fault": "rate_limit", "retry_after": 0}, "retry_after must be between 1"),
    ({"at": 1, "duration": 1, "fault": "api_errors", "status": 404}, "api_errors.status must be between 500 and 599"),
    ({"at": 1, "duration": 1, "fault": "api_errors", "rate": "high"}, "api_errors.rate must be a number"),
    ({"at": 1, "duration": 1, "fault": "slow_api", "latency_ms": -1}, "slow_api.latency_ms must be between"),
    ({"at": 1, "duration": 1, "fault": "slow_api", "latency_ms": 500, "latency_max_ms": 100}, "below latency_ms"),
    ({"at": 1, "duration": 1, "fault": "slowloris", "connections": 10**9}, "slowloris.connections must be between"),
    ({"at": 1, "duration": 1, "fault": "idle_flood", "connections": 0}, "idle_flood.connections must be between"),
    ({"at": 1, "duration": 1, "fault": "spike"}, "spike needs 'rate'"),
    ({"at": 1, "duration": 1, "fault": "spike", "rate": float("inf")}, "spike.rate must be a number"),
    ({"at": 1, "duration": 1, "fault": "spike", "rate": True}, "spike.rate must be a number"),
    ({"at": 1, "duration": 1, "fault": "malformed", "kinds": []}, "malformed.kinds must be a non-empty list"),
    ({"at": 1, "duration": 1, "fault": "malformed", "kinds": ["empty_bdy"]},
     "unknown kind 'empty_bdy' — did you mean 'empty_body'?"),
    ({"at": 1, "duration": 1, "fault": "malformed", "rate": 10**6}, "malformed.rate must be between"),
    ("outage at 30s", "an entry must be a mapping"),
])
def test_every_bad_entry_is_one_located_error(entry, message):
    with pytest.raises(PlanError) as err:
        parse_timeline([(entry, "driver.yaml:12")])
    assert message in err.value.message
    assert err.value.where == "driver.yaml:12"
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("driver.yaml:12: chaos: ")


def test_platform_windows_must_not_overlap_but_webhook_ones_may():
    ok = parse_timeline([({"at": "10s", "duration": "10s", "fault": "outage"}, "a.yaml:1"),
                         ({"at": "20s", "duration": "5s", "fault": "slow_api"}, "a.yaml:2"),
                         ({"at": "12s", "duration": "20s", "fault": "malformed"}, "a.yaml:3"),
                         ({"at": "12s", "duration": "20s", "fault": "spike", "rate": 5}, "a.yaml:4")])
    assert [e.at_s for e in ok] == [10.0, 12.0, 12.0, 20.0]  # sorted by start
    with pytest.raises(PlanError) as err:
        parse_timeline([({"at": "10s", "duration": "10s", "fault": "outage"}, "a.yaml:1"),
                        ({"at": "19s", "duration": "5s", "fault": "rate_limit"}, "a.yaml:2")])
    assert err.value.where == "a.yaml:2"
    assert "overlaps the outage window 10s-20s (a.yaml:1)" in err.value.message


def test_plain_entries_are_placed_by_index_and_a_non_list_is_refused():
    with pytest.raises(PlanError) as err:
        parse_timeline([{"at": 1, "duration": 1, "fault": "outage"}, {"at": 1, "fault": "outage"}])
    assert str(err.value).startswith("chaos[1]: chaos: the entry has no 'duration'")
    with pytest.raises(PlanError, match="must be a list"):
        parse_timeline({"at": 1})
    assert parse_timeline([]) == ()


def test_events_pickle_and_hash_as_plain_values():
    events = parse_timeline([({"at": 1, "duration": 2, "fault": "outage", "mode": "reset"}, "x.yaml:1"),
                             ({"at": 1, "duration": 2, "fault": "malformed", "kinds": ["empty_body"]}, "x.yaml:2")])
    again = pickle.loads(pickle.dumps(events))
    assert again == events and hash(again) == hash(events)
    assert isinstance(again[1].params, Params) and again[1].params["kinds"] == ("empty_body",)
