"""Comparing two results: deltas by endpoint, --fail-on rules, the text table."""
import pytest

from driver.stats.compare import Rule, check_rules, compare, parse_rule, render
from driver.errors import PlanError
from driver.stats.result import Result
from tests.test_thresholds import MS, _endpoint


def _run(endpoints, duration_s=10.0):
    return Result(plan={}, endpoints=endpoints, duration_s=duration_s, started_at="")


def _base():
    # /a: 100 responses of 10 ms over 10 s, 1 5xx; /b: 50 of 20 ms; /old: only here
    return _run([_endpoint("/a", [10 * MS] * 100, e5xx=1), _endpoint("/b", [20 * MS] * 50),
                 _endpoint("/old", [MS] * 10)])


def _new():
    # /a: 90 responses of 12 ms (20 % slower, 10 % fewer), 3 5xx; /b unchanged; /fresh: only here
    return _run([_endpoint("/a", [12 * MS] * 90, e5xx=3), _endpoint("/b", [20 * MS] * 50),
                 _endpoint("/fresh", [MS] * 10)])


def _row(rows, name):
    return next(r for r in rows if r["endpoint"] == name)


def test_rows_match_endpoints_by_name_then_the_total():
    rows = compare(_base(), _new())
    assert [r["endpoint"] for r in rows] == ["/a", "/b", "/old", "/fresh", "total"]
    assert [r["total"] for r in rows] == [False] * 4 + [True]
    old, fresh = _row(rows, "/old"), _row(rows, "/fresh")
    assert (old["in_base"], old["in_new"], fresh["in_base"], fresh["in_new"]) == (True, False, False, True)
    assert old["metrics"]["p99"]["delta"] is None and fresh["metrics"]["rps"]["base"] is None


def test_deltas_absolute_and_relative():
    m = _row(compare(_base(), _new()), "/a")["metrics"]
    assert m["rps"]["base"] == 10.0 and m["rps"]["new"] == 9.0
    assert m["rps"]["delta"] == pytest.approx(-1.0) and m["rps"]["relative"] == pytest.approx(-0.1)
    assert m["p99"]["base"] == 10 * MS and m["p99"]["new"] == 12 * MS  # exact: all values equal
    assert m["p99"]["relative"] == pytest.approx(0.2) and m["p50"]["delta"] == 2 * MS
    assert m["error_rate"]["base"] == pytest.approx(0.01) and m["error_rate"]["new"] == pytest.approx(3 / 90)
    assert m["error_rate"]["delta"] == pytest.approx(3 / 90 - 0.01)
    unchanged = _row(compare(_base(), _new()), "/b")["metrics"]
    assert all(unchanged[k]["delta"] == 0 and unchanged[k]["relative"] == 0 for k in ("rps", "p50", "p99"))


def test_relative_change_from_zero():
    base = _run([_endpoint("/a", [MS] * 10)])
    new = _run([_endpoint("/a", [MS] * 10, e5xx=2)])
    m = compare(base, new)[0]["metrics"]["error_rate"]
    assert m["delta"] == pytest.approx(0.2) and m["relative"] == float("inf")


RULES = [
    # text, endpoint, metric, op, limit, relative
    ("p99>+10%", None, "p99", ">", 0.10, True),  # relative to the base
    ("p99>10%", None, "p99", ">", 0.10, True),  # the sign may be left out
    ("p95>+50ms", None, "p95", ">", 50 * MS, False),  # an absolute change in time
    ("rps<-5%", None, "rps", "<", -0.05, True),  # throughput fell
    ("rps<-100", None, "rps", "<", -100, False),  # ... by an absolute req/s
    ("error_rate>+0.5%", None, "error_rate", ">", 0.005, False),  # percentage points, absolute
    ("error_rate>0.005", None, "error_rate", ">", 0.005, False),  # the same as a fraction
    ("/start:p50>=+20%", "/start", "p50", ">=", 0.20, True),  # one endpoint
    ("flow:checkout:p99>+10%", "flow:checkout", "p99", ">", 0.10, True),  # ':' inside the name
    ("*:p99>+10%", "*", "p99", ">", 0.10, True),  # every endpoint in both runs
]


@pytest.mark.parametrize("text,endpoint,metric,op,limit,relative", RULES)
def test_parse_rule(text, endpoint, metric, op, limit, relative):
    rule = parse_rule(text)
    assert isinstance(rule, Rule)
    assert (rule.endpoint, rule.metric, rule.op, rule.relative) == (endpoint, metric, op, relative)
    assert rule.limit == pytest.approx(limit)


BAD_RULES = [
    # text, part of the message
    ("p99", "write [ENDPOINT:]METRIC OP CHANGE"),  # no operator
    ("p99>>10%", "write [ENDPOINT:]METRIC OP CHANGE"),  # a doubled operator
    ("p99.9>+10%", "write [ENDPOINT:]METRIC OP CHANGE"),  # not a compared metric
    ("mean>+10%", "unknown metric 'mean'"),  # not a compared metric
    ("p99>+10", "changes by a % (e.g. +10%) or by a time"),  # a latency needs % or a time
    ("rps<-5s", "rps changes by a %"),  # a time on rps
    ("error_rate>+1s", "percentage points"),  # a time on a rate
    (":p99>+10%", "empty endpoint name"),
]


@pytest.mark.parametrize("text,message", BAD_RULES)
def test_bad_rules_are_one_line(text, message):
    with pytest.raises(PlanError) as exc:
        parse_rule(text)
    assert str(exc.value).startswith(f"invalid --fail-on rule {text!r}: ")
    assert message in str(exc.value) and "\n" not in str(exc.value)


CHECKS = [
    # rule, [(endpoint, passed)]
    ("/a:p99>+10%", [("/a", False)]),  # /a is 20 % slower
    ("/a:p99>+25%", [("/a", True)]),
    ("/a:p99>+1ms", [("/a", False)]),  # 2 ms slower
    ("/a:rps<-5%", [("/a", False)]),  # 10 % fewer req/s
    ("/a:rps<-15%", [("/a", True)]),
    ("/a:error_rate>+1%", [("/a", False)]),  # 1 % -> 3.3 %: +2.3 points
    ("/a:error_rate>+3%", [("/a", True)]),
    ("/b:p99>+0%", [("/b", True)]),  # unchanged
    ("/old:p99>+10%", [("/old", False)]),  # not in the new run: cannot be shown to hold
    ("/nowhere:p99>+10%", [("/nowhere", False)]),
    ("*:p99>+10%", [("/a", False), ("/b", True)]),  # each endpoint in both runs
    ("p99>+50%", [("total", True)]),  # the total: 10/20 ms -> 12/20 ms
]


@pytest.mark.parametrize("rule,expected", CHECKS)
def test_check_rules(rule, expected):
    results = check_rules(compare(_base(), _new()), [rule])
    assert [(r["endpoint"], r["passed"]) for r in results] == expected
    assert all(r["rule"] == rule for r in results)


def test_rule_result_fields():
    [r] = check_rules(compare(_base(), _new()), [parse_rule("/a:p99>+10%")])
    assert r == {"rule": "/a:p99>+10%", "endpoint": "/a", "metric": "p99", "op": ">", "limit": 0.1,
                 "relative": True, "base": 10 * MS, "new": 12 * MS, "change": pytest.approx(0.2), "passed": False}


def test_render_table_and_rules():
    rows = compare(_base(), _new())
    text = render(rows, check_rules(rows, ["/a:p99>+10%", "/b:p99>+10%", "/a:error_rate>+1%"]))
    lines = text.splitlines()
    assert lines[0].split() == ["endpoint", "req/s", "p50", "p95", "p99", "error", "rate"]
    a = next(line for line in lines if line.startswith("/a "))
    assert "10.0 -> 9.0 (-10.0%)" in a and "10.00ms -> 12.00ms (+20.0%)" in a and "(+2.33pp)" in a
    assert any(line.startswith("/old (base only)") for line in lines)
    assert any(line.startswith("/fresh (new only)") for line in lines)
    assert "fail-on: 1 passed, 2 failed" in text
    assert "FAIL  /a:p99>+10%  (/a: p99 +20.0%; 10.00ms -> 12.00ms)" in text
    assert "FAIL  /a:error_rate>+1%  (/a: error_rate +2.33pp;" in text
    assert render(rows).count("fail-on") == 0
