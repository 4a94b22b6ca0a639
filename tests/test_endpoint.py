"""The accessors every reader of the numbers uses, on hand-made counters: one definition each."""
import numpy as np
import pytest

from driver.layout import (
    C_CHECK_FAILED, C_CHECKS, C_DROPPED, C_ERR_CONN_RESET, C_ERR_CONNECT_REFUSED, C_ERR_REQUEST_TIMEOUT, C_ERR_TLS,
    C_FLOWS, C_LATE, C_REQUESTS, C_SENT, C_STATUS_2XX, C_STATUS_4XX, C_STATUS_5XX, C_THROTTLED, C_UNFINISHED,
    C_LAT_MAX_NS, C_LAT_MIN_NS, COUNTS_LEN, H_LATENCY, LAT_MIN_UNSET, N_HISTS,
)
from driver.reports.common import endpoint_rows
from driver.stats.compare import compare
from driver.stats.endpoint import EndpointResult, empty_counters, error_rate, is_aggregate, total_of
from driver.stats.result import Result
from driver.stats.thresholds import LiveCheck, evaluate
from driver.stats.window import Window, point_error_rate
from tests.test_thresholds import MS, _endpoint

COLUMNS = {
    "responses": C_REQUESTS, "sent": C_SENT, "ok": C_STATUS_2XX, "s4xx": C_STATUS_4XX, "s5xx": C_STATUS_5XX,
    "throttled": C_THROTTLED, "refused": C_ERR_CONNECT_REFUSED, "timeout": C_ERR_REQUEST_TIMEOUT,
    "reset": C_ERR_CONN_RESET, "tls": C_ERR_TLS, "unfinished": C_UNFINISHED, "dropped": C_DROPPED, "late": C_LATE,
    "flows": C_FLOWS, "checks": C_CHECKS, "check_failed": C_CHECK_FAILED,
}


def _counts(name="/a", **cols) -> EndpointResult:
    """An endpoint with these counters and nothing else (no latencies)."""
    counters = empty_counters()
    for key, value in cols.items():
        counters[COLUMNS[key]] = value
    return EndpointResult(name, counters, np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64))


ERROR_RATES = [
    # counters, error rate
    (dict(responses=100, ok=100), 0.0),  # clean
    (dict(responses=100, s4xx=100), 1.0),  # every response a 401: all errors, whatever the transport says
    (dict(responses=450, sent=500, unfinished=50), 50 / 500),  # a server that never answers every 10th request
    (dict(sent=4, unfinished=4), 1.0),  # a stalled server: nothing answered is not "no errors"
    (dict(responses=90, sent=90, dropped=10), 10 / 100),  # arrivals dropped at the in-flight cap: failed
    (dict(responses=90, reset=10), 10 / 100),  # transport errors count once, in both parts
    (dict(responses=100, s4xx=5, s5xx=5, throttled=2), 8 / 100),  # throttled responses are not errors
    (dict(refused=50), 1.0),  # nothing answered
    (dict(responses=10, tls=10), 10 / 20),  # TLS failures are transport errors
    (dict(), None),  # nothing attempted: no rate
]


@pytest.mark.parametrize("cols,rate", ERROR_RATES)
def test_error_rate(cols, rate):
    ep = _counts(**cols)
    assert ep.error_rate == (None if rate is None else pytest.approx(rate))
    assert ep.failures == ep.errors + ep.http_errors and ep.attempts == ep.requests + ep.errors


def test_error_rate_of_numbers_is_the_accessors():
    assert error_rate(90, 10, 5) == pytest.approx(15 / 100) and error_rate(0, 0, 0) is None


def test_http_errors_by_class_beside_transport_errors():
    ep = _counts(responses=100, ok=80, s4xx=15, s5xx=5, throttled=3, reset=2, unfinished=1)
    assert ep.http_errors_by_class == {"4xx": 15, "5xx": 5}  # the classes as they came, throttled included
    assert ep.http_errors == 17 and ep.throttled == 3
    assert ep.errors == 3 and ep.errors_by_kind["unfinished"] == 1 and ep.errors_by_kind["connection_reset"] == 2


UNACCOUNTED = [
    # endpoint, counters, unaccounted
    ("/a", dict(sent=500, responses=450, unfinished=50), 0),  # every request sent: answered, failed or unfinished
    ("/a", dict(sent=100, responses=90, reset=5, timeout=5), 0),  # errors after the send end a sent request
    ("/a", dict(sent=100, responses=90), 10),  # ten requests vanished: the relation shows it
    ("/a", dict(sent=90, responses=90, dropped=10, refused=3), 0),  # dropped and refused were never sent
    ("iteration", dict(sent=50, flows=45, unfinished=5), 0),  # iterations: started = finished + unfinished
]


@pytest.mark.parametrize("name,cols,unaccounted", UNACCOUNTED)
def test_sent_is_responses_plus_errors_of_sent_requests(name, cols, unaccounted):
    assert _counts(name, **cols).unaccounted == unaccounted


AGGREGATES = [
    ("iteration", True), ("flow:checkout", True), ("flow:", True),
    ("/flow:x", False), ("iterations", False), ("GET /iteration", False), ("other", False),
]


@pytest.mark.parametrize("name,aggregate", AGGREGATES)
def test_is_aggregate(name, aggregate):
    assert is_aggregate(name) is aggregate and _counts(name).is_aggregate is aggregate


def test_count_and_rate_of_request_and_aggregate_endpoints():
    assert _counts(responses=30).count == 30 and _counts(responses=30).rate(10.0) == 3.0
    assert _counts("flow:f", responses=7, flows=5).count == 5  # whole flows
    assert _counts("iteration", flows=40).rate(4.0) == 10.0  # iterations per second
    assert _counts(responses=30).rate(0.0) is None


def test_total_leaves_aggregate_requests_out_and_keeps_their_errors():
    a = _endpoint("/a", [MS] * 90, resets=10, late=3)
    it = _counts("iteration", sent=60, flows=50, dropped=20, late=7)
    flow = _endpoint("flow:f", [900 * MS] * 5, flows=True)
    tot = total_of([a, it, flow])
    assert tot.requests == 90 and tot.latency()["max_ns"] == MS  # the flows' latency stays out
    assert tot.errors == 10 + 20 and tot.dropped == 20 and tot.late == 3 + 7
    assert tot.arrivals == 60 + 20  # a scenario's arrivals are its iterations
    assert tot.error_rate == pytest.approx((10 + 20) / (90 + 30))
    assert total_of([a]).arrivals == 100  # without iterations: the requests sent + dropped
    assert total_of([]).requests == 0 and total_of([]).error_rate is None


def test_percentile_within_the_exact_range_only_when_known():
    ep = _endpoint("/a", [1000, 2000, 3000, 4000])
    assert ep.percentile(100) == 4000 and ep.percentile(0) == 1000  # clamped to the exact extremes
    window_row = EndpointResult("/a", ep.counters.copy(), ep.hists)
    window_row.counters[[C_LAT_MIN_NS, C_LAT_MAX_NS]] = [LAT_MIN_UNSET, 0]  # a window: extremes unknown
    assert window_row.percentile(100) > 4000  # the bucket's highest equivalent value
    assert _counts().percentile(50) is None and ep.hists[H_LATENCY].sum() == 4


def test_every_reader_has_the_same_error_rate():
    # one formula: thresholds (final and live), compare, the reports, a saved point
    a = _endpoint("/a", [MS] * 90, e4xx=9, resets=10, unfinished=4, throttled=2)
    it = _counts("iteration", sent=40, flows=40, dropped=6)
    run = Result(plan={"mode": "open"}, endpoints=[a, it], duration_s=10.0, started_at="")
    want = run.totals().error_rate
    assert want == pytest.approx((10 + 4 + 6 + 7) / (90 + 20))
    assert evaluate(["error_rate<1%"], run)[0]["value"] == want
    assert compare(run, run)[-1]["metrics"]["error_rate"]["new"] == want
    assert endpoint_rows(run)[-1]["error_rate"] == want
    window = Window(t=1.0, dt=1.0, rows=(a, it), total=run.totals())
    assert LiveCheck(["error_rate<1%"]).update(window)[0]["value"] == want
    assert point_error_rate(window.point()) == pytest.approx(want)


def test_the_error_rate_formula_is_written_once():
    # a guard against copies: transport errors + HTTP errors is summed only where failures and the
    # error rate are defined (EndpointResult, and a saved series point read back), nowhere else
    import re
    from pathlib import Path

    summed = re.compile(r"errors[\w\"'\]]*(?:,\s*0\))?\s*\+\s*[\w.\[\]\"'(]*http_errors")
    root = Path(__file__).resolve().parents[1] / "driver"
    found = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py")
                   for _ in summed.finditer(p.read_text(encoding="utf-8")))
    assert found == ["stats/endpoint.py", "stats/endpoint.py", "stats/window.py"], found
