"""driver.chaos.recovery on synthetic per-second series: baseline, during, after, recovery time."""
import json
import math

import pytest

from driver.chaos.recovery import Tolerance, analyse
from driver.chaos.timeline import parse_timeline

MS = 1_000_000


def series(n, replied=lambda t: 10, missing=lambda t: 0, p99=lambda t: 100 * MS, requests=lambda t: 10,
           http_errors=lambda t: 0, replies=True):
    """n one-second points, t = 1..n; each figure a function of t."""
    out = []
    for t in range(1, n + 1):
        p = {"t": float(t), "requests": requests(t), "errors": 0, "http_errors": http_errors(t),
             "p99_ns": 5 * MS}
        if replies:
            p["replies"] = {"tracked": replied(t) + missing(t), "replied": replied(t), "missing": missing(t),
                            "check_failures": 0, "p99_ns": p99(t)}
        out.append(p)
    return out


def events(*entries):
    return parse_timeline([({"at": a, "duration": d, "fault": f}, f"c.yaml:{i}")
                           for i, (a, d, f) in enumerate(entries)])


def only(result):
    (entry,) = result
    return entry


def _finite(value):
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


OUT = set(range(21, 31))  # the outage window 20s-30s: points t=21..30


@pytest.mark.parametrize("name, kw, recovery", [
    # replies stop in the window (missing seen 2s later), back at once after it
    ("back at once", dict(replied=lambda t: 0 if t in OUT else 10,
                          missing=lambda t: 10 if t - 2 in OUT else 0), 0.0),
    # a backlog: slow replies for 5 more seconds after the window
    ("slow for 5s", dict(replied=lambda t: 0 if t in OUT else 10, missing=lambda t: 10 if t - 2 in OUT else 0,
                         p99=lambda t: 3000 * MS if 30 < t <= 35 else 100 * MS), 5.0),
    # replies lost for 8s after the window: success back at 38
    ("lossy for 8s", dict(replied=lambda t: 2 if 20 < t <= 38 else 10,
                          missing=lambda t: 8 if 20 < t - 2 <= 38 else 0), 8.0),
    # never back: p99 stays high to the end
    ("never", dict(p99=lambda t: 100 * MS if t <= 20 else 900 * MS), None),
    # a short dip after recovery does not count: needs 3 seconds in a row
    ("flapping", dict(p99=lambda t: 900 * MS if 20 < t <= 32 or t == 34 else 100 * MS), 4.0),
])
def test_recovery_time(name, kw, recovery):
    entry = only(analyse(series(60, **kw), events((20, 10, "outage")), reply_timeout_s=2))
    assert entry["recovery_s"] == recovery, name
    assert entry["recovered"] is (recovery is not None)
    if recovery is None:
        assert "before the run ended" in entry["recovery_note"]
    assert _finite(entry)
    json.dumps(entry, allow_nan=False)


def test_baseline_during_and_after_figures():
    s = series(60, replied=lambda t: 0 if t in OUT else 10, missing=lambda t: 10 if t - 2 in OUT else 0,
               http_errors=lambda t: 5 if t in OUT else 0)
    entry = only(analyse(s, events((20, 10, "outage")), reply_timeout_s=2))
    base, during, after = entry["baseline"], entry["during"], entry["after"]
    assert base["seconds"] == 15  # t=6..20: the first 5s are warm-up
    assert base["reply_rate"] == 10 and base["success_rate"] == 1.0 and base["error_rate"] == 0
    assert base["p99_ns"] == 100 * MS
    assert during["seconds"] == 10 and during["reply_rate"] == 0 and during["success_rate"] == 0.0
    assert during["error_rate"] == 0.5
    assert after["seconds"] == 30 and after["reply_rate"] == 10 and after["success_rate"] == 1.0
    assert entry["basis"] == "replies" and entry["source"] == "c.yaml:0"


def test_missing_is_shifted_back_by_the_reply_timeout():
    # the updates of t=21..30 went unanswered, seen missing at t=31..40 (timeout 10s)
    s = series(60, replied=lambda t: 0 if t in OUT else 10, missing=lambda t: 10 if t - 10 in OUT else 0)
    entry = only(analyse(s, events((20, 10, "outage")), reply_timeout_s=10))
    assert entry["during"]["success_rate"] == 0.0
    assert entry["after"]["success_rate"] == 1.0
    assert entry["recovery_s"] == 0.0


def test_without_replies_the_webhook_figures_are_used():
    s = series(40, replies=False, http_errors=lambda t: 10 if t in OUT else 0)
    entry = only(analyse(s, events((20, 10, "malformed")), reply_timeout_s=5))
    assert entry["basis"] == "webhook"
    assert entry["baseline"]["success_rate"] == 1.0 and entry["during"]["success_rate"] == 0.0
    assert entry["baseline"]["p99_ns"] == 5 * MS and entry["baseline"]["reply_rate"] is None
    assert entry["recovery_s"] == 0.0


@pytest.mark.parametrize("n, note", [
    (25, "the run ended inside the fault window"),  # the run ends at 25s, inside 20s-30s
    (0, "no baseline"),  # empty series
])
def test_no_recovery_when_the_run_cannot_show_one(n, note):
    entry = only(analyse(series(n), events((20, 10, "outage")), reply_timeout_s=2))
    assert entry["recovery_s"] is None and not entry["recovered"]
    assert note in entry["recovery_note"]
    json.dumps(entry, allow_nan=False)


def test_a_second_event_uses_the_baseline_before_the_first():
    s = series(90, p99=lambda t: 900 * MS if 20 < t <= 30 or 50 < t <= 60 else 100 * MS)
    first, second = analyse(s, events((20, 10, "outage"), (50, 10, "slow_api")), reply_timeout_s=2)
    assert first["baseline"] == second["baseline"]
    assert first["after"]["seconds"] == 20  # cut at the next event's start
    assert first["recovery_s"] == 0.0 and second["recovery_s"] == 0.0


def test_an_event_at_the_start_takes_its_baseline_outside_other_windows():
    s = series(40)
    entry = only(analyse(s, events((0, 10, "outage")), reply_timeout_s=2))
    assert entry["baseline"]["seconds"] == 0 and entry["recovery_s"] is None
    assert "no baseline" in entry["recovery_note"]


def test_tolerance_is_configurable():
    s = series(60, p99=lambda t: 170 * MS if t > 30 else 100 * MS)  # 1.7x the baseline after the window
    assert only(analyse(s, events((20, 10, "outage")), reply_timeout_s=2))["recovery_s"] is None
    loose = Tolerance(p99_ratio=2.0)
    assert only(analyse(s, events((20, 10, "outage")), reply_timeout_s=2, tolerance=loose))["recovery_s"] == 0.0


def test_no_events_no_entries():
    assert analyse(series(10), (), reply_timeout_s=1) == []
