"""Thresholds: parsing, verdicts on hand-made results, live windows and abort, exit codes."""
import numpy as np
import pytest

from driver import histogram
from driver.errors import PlanError
from driver.layout import (
    C_CHECK_FAILED, C_CHECKS, C_DROPPED, C_ERR_CONN_RESET, C_FLOWS, C_LAT_MAX_NS, C_LAT_MIN_NS, C_LAT_SUM_NS, C_LATE,
    C_REQUESTS, C_SENT, C_STATUS_2XX, C_STATUS_4XX, C_STATUS_5XX, C_THROTTLED, C_UNFINISHED, COUNTS_LEN, H_LATENCY,
    LAT_MIN_UNSET, N_COUNTERS, N_HISTS,
)
from driver.stats.result import EndpointResult, Result
from driver.stats.window import Window
from driver.stats.thresholds import (
    AbortWatch, LiveCheck, Threshold, describe, evaluate, exit_code, is_live, parse_threshold, render,
)

MS = 1_000_000
S = 1_000_000_000


def _endpoint(name, latencies=(), *, ok=None, e4xx=0, e5xx=0, resets=0, throttled=0, checks=0, check_failed=0,
              sent=None, late=0, dropped=0, unfinished=0, flows=False):
    """An EndpointResult as the workers would leave it: latencies recorded, counters set."""
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    counters[C_LAT_MIN_NS] = LAT_MIN_UNSET
    hists = np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64)
    for v in latencies:
        histogram.record(hists[H_LATENCY], v)
        counters[C_LAT_SUM_NS] += v
        counters[C_LAT_MIN_NS] = min(counters[C_LAT_MIN_NS], v)
        counters[C_LAT_MAX_NS] = max(counters[C_LAT_MAX_NS], v)
    n = len(latencies)
    counters[C_FLOWS if flows else C_REQUESTS] = n
    if flows:  # a flow's requests are in its steps; its histogram holds whole flows
        counters[C_REQUESTS] = n
    counters[C_STATUS_2XX] = n - e4xx - e5xx if ok is None else ok
    counters[C_STATUS_4XX] = e4xx
    counters[C_STATUS_5XX] = e5xx
    counters[C_ERR_CONN_RESET] = resets
    counters[C_THROTTLED] = throttled
    counters[C_CHECKS] = checks
    counters[C_CHECK_FAILED] = check_failed
    counters[C_SENT] = n + resets if sent is None else sent
    counters[C_LATE] = late
    counters[C_DROPPED] = dropped
    counters[C_UNFINISHED] = unfinished
    return EndpointResult(name, counters, hists)


def _result(*endpoints, duration_s=10.0, **kw):
    return Result(plan={"mode": "closed"}, endpoints=list(endpoints), duration_s=duration_s, started_at="", **kw)


# --- parsing ---------------------------------------------------------------------

PARSED = [
    # text, endpoint, metric, op, limit, unit
    ("p99<5s", None, "p99", "<", 5 * S, "ns"),  # the plain case, whole run
    ("/start:p95<1s", "/start", "p95", "<", 1 * S, "ns"),  # an endpoint prefix
    ("flow:full_moving_flow:p99<30s", "flow:full_moving_flow", "p99", "<", 30 * S, "ns"),  # ':' inside the name
    ("GET /users/{id}: p50 <= 20 ms", "GET /users/{id}", "p50", "<=", 20 * MS, "ns"),  # spaces around parts
    ("p(99.95)<2s", None, "p99.95", "<", 2 * S, "ns"),  # any percentile, p(N)
    ("p(99)<2s", None, "p99", "<", 2 * S, "ns"),  # p(N) of a named percentile is that name
    ("p99.9<100ms", None, "p99.9", "<", 100 * MS, "ns"),  # p99.9 written plainly
    ("p75<1s", None, "p75", "<", 1 * S, "ns"),  # pN without parentheses
    ("P90<1s", None, "p90", "<", 1 * S, "ns"),  # metric names are case-insensitive
    ("mean<=300ms", None, "mean", "<=", 300 * MS, "ns"),  # mean, <=
    ("max<10s", None, "max", "<", 10 * S, "ns"),  # max
    ("min>1us", None, "min", ">", 1_000, "ns"),  # min, >, microseconds (us)
    ("min>=2µs", None, "min", ">=", 2_000, "ns"),  # the micro sign
    ("min>=2μs", None, "min", ">=", 2_000, "ns"),  # the Greek mu, as some keyboards type it
    ("p50<800ns", None, "p50", "<", 800, "ns"),  # nanoseconds
    ("p50<1.5ms", None, "p50", "<", 1_500_000, "ns"),  # a decimal value
    ("error_rate<1%", None, "error_rate", "<", 0.01, "ratio"),  # a rate in %
    ("error_rate<0.01", None, "error_rate", "<", 0.01, "ratio"),  # a rate as a bare fraction
    ("check_failure_rate<0.5%", None, "check_failure_rate", "<", 0.005, "ratio"),  # checks
    ("rps>100", None, "rps", ">", 100, "rps"),  # a minimum throughput
    ("/jobs:rps>=12.5", "/jobs", "rps", ">=", 12.5, "rps"),  # per endpoint, decimal
    ("dropped<10", None, "dropped", "<", 10, "count"),  # open loop drops as a count
    ("dropped<1%", None, "dropped", "<", 0.01, "ratio"),  # ... or a share of arrivals
    ("late<5%", None, "late", "<", 0.05, "ratio"),  # late arrivals as a share
    ("late<=100", None, "late", "<=", 100, "count"),  # ... or a count
    ("throttled<2%", None, "throttled", "<", 0.02, "ratio"),  # 429s as a share of responses
]


@pytest.mark.parametrize("text,endpoint,metric,op,limit,unit", PARSED)
def test_parse(text, endpoint, metric, op, limit, unit):
    th = parse_threshold(text)
    assert (th.endpoint, th.metric, th.op, th.unit) == (endpoint, metric, op, unit)
    assert th.limit == pytest.approx(limit)
    assert th.text == text.strip() and not th.abort


ABORTS = [
    # text, grace_s
    ("p99<5s abort", 5.0),  # the default grace
    ("p99<5s abort=10s", 10.0),  # a grace of its own
    ("error_rate<1% abort=0", 0.0),  # abort at the first broken second
    ("/start:p95<1s  ABORT=1m", 60.0),  # any duration; case-insensitive
]


@pytest.mark.parametrize("text,grace", ABORTS)
def test_parse_abort(text, grace):
    th = parse_threshold(text)
    assert th.abort and th.grace_s == grace


def test_threshold_is_frozen_and_kept_as_written():
    th = parse_threshold("  p99<5s abort ")
    assert th.text == "p99<5s abort"
    with pytest.raises(AttributeError):
        th.limit = 1  # type: ignore[misc]


ERRORS = [
    # text, part of the message
    ("p99<<5s", "more than one comparison operator"),  # a doubled operator
    ("p99=5s", "no comparison"),  # = is not an operator
    ("p99", "no comparison"),  # no operator at all
    ("<5s", "no metric"),  # no metric
    ("p99<", "no value"),  # no value
    ("perc99<5s", "did you mean 'p99'"),  # unknown metric, close to a known one
    ("errors<1%", "did you mean 'error_rate'"),  # another near miss
    ("latency<1s", "unknown metric 'latency'"),  # unknown, the list follows
    ("p99<5", "missing unit"),  # a time metric needs a time unit
    ("mean<300", "missing unit"),  # ... every time metric
    ("p99<5m", "unknown time unit 'm'"),  # minutes are not a latency unit here
    ("p99<5%", "unknown time unit '%'"),  # a share on a time
    ("error_rate<1s", "is a rate"),  # a time unit on a rate
    ("error_rate<5", "a bare rate is a fraction"),  # 5 would be 500 %
    ("error_rate<101%", "over 100%"),  # more than everything
    ("rps>100ms", "rps takes a bare number"),  # a unit on rps
    ("dropped<0.5", "not a whole count"),  # a fractional count
    ("dropped<5ms", "takes a count"),  # a time on a count
    ("p99<-5s", "negative value"),  # negative
    ("p(101)<1s", "bad percentile"),  # over 100
    ("p(abc)<1s", "bad percentile"),  # not a number
    ("p999<1s", "write p99.9"),  # a common slip for p99.9
    (":p99<1s", "empty endpoint name"),  # ':' with nothing before it
    ("p99<5s abort=soon", "abort grace"),  # a grace that is not a duration
    ("p99<five", "is not a number"),  # a word for a value
]


@pytest.mark.parametrize("text,message", ERRORS)
def test_parse_errors_are_one_clear_line(text, message):
    with pytest.raises(PlanError) as exc:
        parse_threshold(text)
    msg = str(exc.value)
    assert msg.startswith(f"invalid threshold {text.strip()!r}: ")
    assert message in msg and "\n" not in msg


# --- evaluation ------------------------------------------------------------------


def _one(text, result):
    return evaluate([text], result)[0]


def _latency_run():
    # 100 latencies 1..100 ms: p50 50 ms, p90 90 ms, p99 99 ms, mean 50.5 ms
    return _result(_endpoint("/a", [i * MS for i in range(1, 101)]), duration_s=10.0)


EVALUATED = [
    # threshold, expected value (None: no data), passed
    ("min>=1ms", 1 * MS, True),  # exact minimum from the counters
    ("min>1ms", 1 * MS, False),  # ... strict
    ("mean<=51ms", 50.5 * MS, True),  # exact mean from the latency sum
    ("mean<50ms", 50.5 * MS, False),
    ("max<=100ms", 100 * MS, True),  # exact maximum
    ("max<100ms", 100 * MS, False),
    ("p50<51ms", histogram.highest_equivalent(50 * MS), True),  # percentiles from the histogram
    ("p50<50ms", histogram.highest_equivalent(50 * MS), False),  # a bucket's top is just above 50 ms
    ("p90<91ms", histogram.highest_equivalent(90 * MS), True),
    ("p95<95ms", histogram.highest_equivalent(95 * MS), False),
    ("p99<100ms", histogram.highest_equivalent(99 * MS), True),
    ("p99.9<100ms", 100 * MS, False),  # clamped to the exact maximum, which is not < 100 ms
    ("p(99.95)<=100ms", 100 * MS, True),  # any percentile
    ("p(25)<26ms", histogram.highest_equivalent(25 * MS), True),
    ("rps>=10", 10.0, True),  # 100 responses over 10 s
    ("rps>10", 10.0, False),
    ("/a:p99<100ms", histogram.highest_equivalent(99 * MS), True),  # the endpoint itself
    ("/b:p99<100ms", None, False),  # an endpoint not in the result fails, value None
    ("/b:rps>=0", None, False),  # ... whatever the metric
    ("error_rate<=0", 0.0, True),  # no errors
    ("check_failure_rate<1%", None, False),  # no checks ran: nothing shows the rate holds
]


@pytest.mark.parametrize("text,value,passed", EVALUATED)
def test_evaluate_latency_run(text, value, passed):
    v = _one(text, _latency_run())
    assert v["threshold"] == text and v["passed"] is passed
    assert v["value"] == (None if value is None else pytest.approx(value))


def _error_run():
    # /a: 90 ok + 5 4xx + 5 5xx responses (2 of the 4xx are 429 throttles), 10 resets,
    # 20 checks with 3 failures; /b: clean. Flow "flow:f" timed end to end.
    a = _endpoint("/a", [10 * MS] * 100, e4xx=5, e5xx=5, resets=10, throttled=2, checks=20, check_failed=3)
    b = _endpoint("/b", [20 * MS] * 100)
    f = _endpoint("flow:f", [500 * MS] * 10, flows=True)
    return _result(a, b, f, duration_s=20.0)


ERROR_RUN = [
    # threshold, value, passed
    ("/a:error_rate<15%", (10 + 8) / 110, False),  # resets + 4xx/5xx less throttles, over attempts
    ("/a:error_rate<17%", (10 + 8) / 110, True),
    ("/b:error_rate<0.001", 0.0, True),
    ("error_rate<9%", 18 / 210, True),  # the whole run: flows left out
    ("/a:check_failure_rate<=15%", 0.15, True),  # 3 of 20
    ("/a:check_failure_rate<10%", 0.15, False),
    ("/a:throttled<3", 2, True),  # a count
    ("/a:throttled<2%", 0.02, False),  # a share of responses: 2 of 100
    ("/a:throttled<=2%", 0.02, True),
    ("rps>=10", 10.0, True),  # 200 responses over 20 s (the flow's are not added again)
    ("flow:f:rps>=0.5", 0.5, True),  # a flow's rate is flows per second
    ("flow:f:p99<1s", 500 * MS, True),  # ... its latency whole flows (all equal: the exact value)
    ("flow:f:max<500ms", 500 * MS, False),
]


@pytest.mark.parametrize("text,value,passed", ERROR_RUN)
def test_evaluate_errors_checks_flows(text, value, passed):
    v = _one(text, _error_run())
    assert v["value"] == pytest.approx(value) and v["passed"] is passed


OPEN_LOOP = [
    # threshold, value, passed
    ("dropped<10", 10, False),  # 10 dropped arrivals
    ("dropped<=10", 10, True),
    ("dropped<10%", 10 / 100, False),  # of 100 arrivals (90 sent + 10 dropped)
    ("dropped<11%", 10 / 100, True),
    ("late<5%", 4 / 100, True),  # 4 late of 100 arrivals
    ("late<4", 4, False),
    ("/o:late<=4%", 4 / 100, True),  # per endpoint, from its counters
]


@pytest.mark.parametrize("text,value,passed", OPEN_LOOP)
def test_evaluate_open_loop_arrivals(text, value, passed):
    run = _result(_endpoint("/o", [MS] * 90, sent=90, late=4, dropped=10))
    v = _one(text, run)
    assert v["value"] == pytest.approx(value) and v["passed"] is passed


def _iteration(finished, *, started=None, dropped=0, late=0, unfinished=0):
    """The scenario's `iteration` endpoint: iterations started, finished (timed), late, dropped."""
    ep = _endpoint("iteration", [MS] * finished, flows=True, dropped=dropped, late=late, unfinished=unfinished)
    ep.counters[C_REQUESTS] = ep.counters[C_STATUS_2XX] = 0  # its requests are on their own endpoints
    ep.counters[C_SENT] = finished + unfinished if started is None else started
    return ep


SCENARIO_RUN = [
    # threshold, value, passed
    ("dropped<30", 30, False),  # the iterations dropped, from the iteration endpoint
    ("dropped<=12%", 30 / 120, False),  # of 120 arrivals: 90 started + 30 dropped (not the 10 requests)
    ("late<=12%", 15 / 120, False),
    ("late<16", 15, True),
    ("iteration:dropped<=30", 30, True),  # the same, by its name
    ("iteration:rps>=9", 9.0, True),  # iterations finished per second
    ("error_rate<26%", 30 / 40, False),  # dropped iterations weigh on the run's error rate: 30 of 10 + 30
    ("/o:error_rate<=0", 0.0, True),  # ... not on an endpoint's
    ("p99<2ms", MS, True),  # the total's latency leaves the iteration times out: the requests' 1 ms
]


@pytest.mark.parametrize("text,value,passed", SCENARIO_RUN)
def test_scenario_arrivals_are_iterations(text, value, passed):
    run = _result(_endpoint("/o", [MS] * 10), _iteration(90, dropped=30, late=15), duration_s=10.0)
    v = _one(text, run)
    assert v["value"] == pytest.approx(value) and v["passed"] is passed


def test_unfinished_requests_fail_the_error_rate():
    # issue 8: a server that never answers every 10th request: 500 sent, 450 answered, 50 unanswered at the end
    run = _result(_endpoint("/h", [MS] * 450, sent=500, unfinished=50))
    assert _one("error_rate<1%", run)["value"] == pytest.approx(50 / 500)
    assert not _one("error_rate<1%", run)["passed"]


def test_no_responses_is_no_data():
    run = _result(_endpoint("/a", [], resets=5))
    assert _one("p99<1s", run)["value"] is None and not _one("p99<1s", run)["passed"]
    assert _one("error_rate<=100%", run)["value"] == 1.0  # every attempt failed


def test_verdict_fields():
    v = evaluate([parse_threshold("/a:p99<100ms abort")], _latency_run())[0]
    assert v == {"threshold": "/a:p99<100ms abort", "endpoint": "/a", "metric": "p99", "op": "<",
                 "limit": 100 * MS, "value": histogram.highest_equivalent(99 * MS), "unit": "ns",
                 "passed": True, "abort": True}


def test_evaluate_rejects_a_bad_threshold():
    with pytest.raises(PlanError, match="invalid threshold 'p99<5'"):
        evaluate(["p99<5"], _latency_run())


DESCRIBED = [
    # verdict fields, text
    (dict(metric="p99", op="<", limit=5 * S, value=6.2 * S, unit="ns", passed=False),
     "p99 = 6.20s (limit < 5s) FAILED"),  # the example
    (dict(metric="mean", op="<=", limit=300 * MS, value=212.5 * MS, unit="ns", passed=True),
     "mean = 212.50ms (limit <= 300ms) passed"),  # limits in their own unit
    (dict(metric="error_rate", op="<", limit=0.01, value=0.0234, unit="ratio", passed=False),
     "error_rate = 2.34% (limit < 1%) FAILED"),  # rates as %
    (dict(metric="rps", op=">", limit=100, value=97.25, unit="rps", passed=False),
     "rps = 97.2 (limit > 100) FAILED"),
    (dict(metric="dropped", op="<", limit=10, value=3, unit="count", passed=True),
     "dropped = 3 (limit < 10) passed"),
    (dict(metric="p99", op="<", limit=5 * S, value=None, unit="ns", passed=False),
     "p99 = no data (limit < 5s) FAILED"),
]


@pytest.mark.parametrize("fields,text", DESCRIBED)
def test_describe(fields, text):
    assert describe({"endpoint": None, **fields}) == text


def test_describe_names_the_endpoint_and_a_missing_one():
    assert describe({"endpoint": "/a", "metric": "p95", "op": "<", "limit": S, "value": 800 * MS,
                     "unit": "ns", "passed": True}) == "/a: p95 = 800.00ms (limit < 1s) passed"
    missing = describe({"endpoint": "/x", "metric": "p95", "op": "<", "limit": S, "value": None,
                        "unit": "ns", "passed": False})
    assert missing.startswith("/x: p95 = no data (no such endpoint")


def test_render_counts_and_lists():
    text = render(evaluate(["p99<100ms", "rps>100"], _latency_run()))
    assert text.splitlines()[0] == "thresholds: 1 passed, 1 failed"
    assert "FAIL  rps = 10.0 (limit > 100) FAILED" in text
    assert render([]) == ""


# --- live ------------------------------------------------------------------------


def _window(t, *, requests=100, errors=0, http_errors=0, p99=10 * MS, dropped=0, late=0, rows=(), dt=1.0, **status):
    """A Window as driver.stats.window makes it: `requests` responses (of `p99` each; no
    latency recorded when p99 is None), `errors` resets, `http_errors` 5xx among the
    responses, dropped and late arrivals; `rows`: endpoint rows (EndpointResults)."""
    total = _endpoint("total", [] if p99 is None else [p99] * requests, e5xx=http_errors, resets=errors,
                      dropped=dropped, late=late)
    total.counters[C_REQUESTS] = requests
    total.counters[C_LAT_MIN_NS], total.counters[C_LAT_MAX_NS] = LAT_MIN_UNSET, 0  # not known in a window
    return Window(t=t, dt=dt, rows=tuple(rows), total=total,
                  **{"active_users": 10, "in_flight": 3, "connections": 10, **status})


LIVE = [
    # threshold, judged live?
    ("p99<1s", True),  # percentiles of the window's histogram
    ("p90<1s", True),
    ("p99.9<1s", True),  # any percentile
    ("mean<1s", False),  # min/mean/max: a window does not know the exact extremes
    ("max<1s", False),
    ("error_rate<1%", True),
    ("error_rate>1%", True),  # the window's full counters: no undercount, either direction
    ("rps>10", True),
    ("throttled<1%", True),
    ("check_failure_rate<1%", True),
    ("dropped<10", True),  # counted since the start
    ("dropped>10", False),  # a count only grows: only an upper limit can be broken for good
    ("dropped>10%", True),  # a share of the window's arrivals: either direction
    ("/a:p99<1s", True),  # the endpoint's row
    ("/a:p95<1s", True),
    ("/a:error_rate>1%", True),
    ("/a:late<=5", True),
    ("/a:min<1s", False),
]


@pytest.mark.parametrize("text,live", LIVE)
def test_is_live(text, live):
    assert is_live(parse_threshold(text)) is live


def test_live_check_values():
    check = LiveCheck(["p99<20ms", "error_rate<5%", "rps>50", "dropped<=5", "/a:p99<5ms", "/a:rps>20",
                      "/a:error_rate<5%", "/gone:rps>1", "/gone:p99<1s", "/gone:dropped<1", "mean<1s"])
    rows = [_endpoint("/a", [8 * MS] * 30, resets=3)]
    v1 = {v["threshold"]: v for v in check.update(_window(1.0, errors=10, http_errors=1, dropped=3, rows=rows))}
    assert v1["p99<20ms"]["passed"] and v1["p99<20ms"]["t"] == 1.0
    assert v1["error_rate<5%"]["value"] == pytest.approx(14 / 113)  # 10 resets + 1 5xx + 3 dropped of 113
    assert not v1["error_rate<5%"]["passed"] and v1["rps>50"]["passed"]
    assert v1["dropped<=5"]["value"] == 3 and v1["dropped<=5"]["passed"]
    assert not v1["/a:p99<5ms"]["passed"] and v1["/a:rps>20"]["passed"]
    assert v1["/a:error_rate<5%"]["value"] == pytest.approx(3 / 33)
    assert v1["/gone:rps>1"]["value"] == 0.0  # absent this window: no requests
    assert v1["/gone:dropped<1"]["value"] == 0  # ... and nothing dropped
    assert "/gone:p99<1s" not in v1 and "mean<1s" not in v1  # no value / not live
    v2 = {v["threshold"]: v for v in check.update(_window(2.0, dropped=3))}
    assert v2["dropped<=5"]["value"] == 6 and not v2["dropped<=5"]["passed"]  # 3 + 3 since the start


def test_live_values_are_the_accessors_of_the_window():
    # the same EndpointResult accessors as at the end: a half-second window doubles the rate
    w = _window(1.5, requests=50, errors=5, http_errors=5, dt=0.5)
    check = LiveCheck(["rps>1", "error_rate<1%", "p(50)<1s"])
    values = {v["threshold"]: v["value"] for v in check.update(w)}
    assert values == {"rps>1": pytest.approx(100.0), "error_rate<1%": pytest.approx(10 / 55),
                      "p(50)<1s": w.total.percentile(50)}


def test_abort_watch_waits_for_the_grace_period():
    watch = AbortWatch(["p99<100ms abort=3s", "p99<50ms"])  # the second is not an abort threshold
    assert watch.update(_window(1.0, p99=10 * MS)) is None  # holds
    assert watch.update(_window(2.0, p99=200 * MS)) is None  # broken since t=1
    assert watch.update(_window(3.0, p99=200 * MS)) is None  # 2 s
    assert watch.update(_window(4.0, p99=200 * MS)) == {"threshold": "p99<100ms abort=3s", "t": 4.0}  # 3 s
    assert watch.update(_window(5.0, p99=200 * MS)) is None  # reported once


def test_abort_watch_recovery_resets_the_streak():
    watch = AbortWatch(["error_rate<1% abort=2s"])
    assert watch.update(_window(1.0, errors=50)) is None  # broken 1 s
    assert watch.update(_window(2.0)) is None  # recovered: the streak ends
    assert watch.update(_window(3.0, errors=50)) is None  # broken again, 1 s
    assert watch.update(_window(4.0, errors=50)) == {"threshold": "error_rate<1% abort=2s", "t": 4.0}


def test_abort_watch_default_grace_and_seconds_without_data():
    watch = AbortWatch(["p99<100ms abort"])  # 5 s
    hits = [watch.update(_window(float(t), p99=None if t == 3 else 200 * MS, requests=0 if t == 3 else 100))
            for t in range(1, 7)]
    # t=3 had no responses: it neither breaks nor ends the streak begun at t=0
    assert hits[:4] == [None] * 4 and hits[4] == {"threshold": "p99<100ms abort", "t": 5.0}


def test_abort_watch_zero_grace_and_endpoint_rps():
    watch = AbortWatch(["/a:rps>10 abort=0"])
    assert watch.update(_window(1.0, rows=[_endpoint("/a", [MS] * 20)])) is None
    assert watch.update(_window(2.0, rows=[])) == {"threshold": "/a:rps>10 abort=0", "t": 2.0}


def test_abort_watch_ignores_what_cannot_be_judged_live():
    watch = AbortWatch(["mean<1ms abort=0", "max<1ms abort=0", "dropped>1 abort=0"])
    assert all(watch.update(_window(float(t), p99=S)) is None for t in range(1, 10))


# --- exit codes ------------------------------------------------------------------

FAILED = [{"passed": False}]
PASSED = [{"passed": True}]

EXIT_CODES = [
    # result fields, exit code
    (dict(), 0),  # nothing to fail
    (dict(verdicts=PASSED), 0),  # thresholds passed
    (dict(verdicts=PASSED + FAILED), 1),  # one threshold failed
    (dict(validity={"valid": True}, verdicts=FAILED), 1),  # valid but failed
    (dict(validity={"valid": False}, verdicts=FAILED), 4),  # not valid outranks a failed threshold
    (dict(validity={}), 0),  # validity not assessed is not invalid
    (dict(complete=False, validity={"valid": False}), 3),  # a worker died outranks not valid
    (dict(aborted={"threshold": "p99<1s abort", "t": 7.0}, verdicts=FAILED), 3),  # aborted early
    (dict(interrupted=True, complete=False, aborted={"threshold": "x", "t": 1}), 130),  # Ctrl-C above all
]


@pytest.mark.parametrize("fields,code", EXIT_CODES)
def test_exit_code_precedence(fields, code):
    assert exit_code(_result(_endpoint("/a", [MS]), **fields)) == code


CHECK_CASES = [
    # thresholds, exit code
    ((), 1),  # checks failed and nothing sets a tolerance: the run fails (Locust's convention)
    (("p99<1s",), 1),  # other thresholds do not set one
    (("check_failure_rate<40%",), 0),  # the plan's own tolerance for the whole run (6 of 20 failed): it decides
    (("check_failure_rate<25%",), 1),  # ... and fails it
    (("/a:check_failure_rate<60%",), 1),  # a tolerance for /a only: /b's failed checks still fail the run
    (("/a:check_failure_rate<60%", "/b:check_failure_rate<=100%"), 0),  # every failing endpoint judged
]


@pytest.mark.parametrize("thresholds,code", CHECK_CASES)
def test_failed_checks_fail_the_run_unless_a_threshold_judges_them(thresholds, code):
    run = _result(_endpoint("/a", [MS] * 10, checks=10, check_failed=5),
                  _endpoint("/b", [MS] * 10, checks=10, check_failed=1))
    run.verdicts = evaluate(list(thresholds), run)
    assert exit_code(run) == code


def test_checks_that_all_passed_exit_0():
    assert exit_code(_result(_endpoint("/a", [MS] * 10, checks=10))) == 0


def test_exit_code_takes_verdicts_not_yet_on_the_result():
    run = _result(_endpoint("/a", [MS]))
    assert exit_code(run, evaluate(["p99<1us"], run)) == 1 and exit_code(run) == 0


def test_threshold_type_is_exported():
    assert isinstance(parse_threshold("p99<1s"), Threshold)
