"""Service-level thresholds: text -> Threshold -> verdicts on a Result, early abort, exit code.

Syntax: `[ENDPOINT:]METRIC OP VALUE[UNIT][ abort[=GRACE]]`

    p99<5s   /start:p95<1s   flow:checkout:p99<30s   p(99.95)<2s   mean<=300ms
    error_rate<1%   check_failure_rate<0.005   rps>100   dropped<10   late<5%

- METRIC: latency min, mean, max, p50, p90, p95, p99, p99.9 or any p(N) (0 <= N <= 100);
  error_rate, check_failure_rate (shares); rps (a bare number); dropped, late,
  throttled (a bare whole number is a count, a `%` a share: of the arrivals for
  dropped and late, of the responses for throttled).
- A latency takes a time unit (ns, us, µs, ms, s); a rate takes `%` or a bare
  fraction (0.01 == 1%); rps and counts take no unit.
- ENDPOINT: the endpoint name as in the report; names may hold ':' themselves, so
  the metric is what follows the last ':'. Without it, the whole run (flow
  endpoints left out, as in the report's total).
- `abort` stops the run once the threshold has been broken continuously for GRACE
  (default 5s) in the live per-second series (see LiveCheck for what is live).

Values are kept in one unit per kind: ns for latencies, a ratio 0..1 for rates and
shares, requests/s for rps, plain numbers for counts.
"""
from __future__ import annotations

import difflib
import operator
import re
from dataclasses import dataclass, field

from driver import histogram
from driver.errors import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_NOT_RUN, EXIT_OK, EXIT_THRESHOLD, PlanError
from driver.layout import C_DROPPED, C_LATE, C_SENT, H_LATENCY
from driver.durations import format_ns, parse_duration

__all__ = ["Threshold", "parse_threshold", "parse_all", "evaluate", "LiveCheck", "is_live", "AbortWatch",
           "exit_code", "describe", "format_value", "render"]

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
UPPER_OPS = ("<", "<=")
DEFAULT_GRACE_S = 5.0
TIME_UNITS = {"ns": 1.0, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9}
RATE_METRICS = ("error_rate", "check_failure_rate")
COUNT_METRICS = ("dropped", "late", "throttled")  # a count, or with % a share
NAMED_TIMES = ("min", "mean", "max")
NAMED_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9}
METRIC_NAMES = (*NAMED_TIMES, *NAMED_PERCENTILES, "p(N)", *RATE_METRICS, "rps", *COUNT_METRICS)
_SUMMARY_KEYS = {50.0: "p50_ns", 90.0: "p90_ns", 95.0: "p95_ns", 99.0: "p99_ns", 99.9: "p99_9_ns"}

_ABORT = re.compile(r"\s+abort(?:=(?P<grace>\S*))?\s*$", re.IGNORECASE)
_VALUE = re.compile(r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>\S*)$")
_PERCENTILE = re.compile(r"^p(?:\((?P<paren>[^)]*)\)|(?P<bare>\d.*))$")


@dataclass(frozen=True)
class Threshold:
    text: str  # as the user wrote it (stripped): verdicts and messages quote it
    endpoint: str | None  # None: the whole run
    metric: str  # canonical: "p99", "p99.95", "mean", "error_rate", ...
    op: str  # "<", "<=", ">", ">="
    limit: float  # ns, ratio, req/s or count, per `unit`
    unit: str  # "ns" | "ratio" | "rps" | "count"
    percentile: float | None = None  # for p metrics, 0..100
    abort: bool = False
    grace_s: float = DEFAULT_GRACE_S
    source: str = field(default="", compare=False)  # where it was given: "--threshold", "driver.yaml:12"

    def holds(self, value: float | None) -> bool:
        """True when `value` meets the threshold; no value (no data) never does."""
        return value is not None and OPS[self.op](value, self.limit)


def parse_threshold(text: str, source: str = "") -> Threshold:
    """A Threshold from its text, given at `source`; PlanError `invalid threshold 'TEXT': WHY` otherwise.

    Thresholds are parsed once, when the plan is made (driver.planning, driver.config);
    everything after takes the Threshold objects.
    """
    raw = str(text).strip()

    def fail(why: str):
        return PlanError(f"invalid threshold {raw!r}: {why}")

    expr, abort, grace = raw, False, DEFAULT_GRACE_S
    m = _ABORT.search(raw)
    if m:
        expr, abort = raw[:m.start()].strip(), True
        if m.group("grace") is not None:
            try:
                grace = parse_duration(m.group("grace"))
            except ValueError:
                raise fail(f"abort grace {m.group('grace')!r} is not a duration (e.g. abort=10s)") from None
    cut = max(expr.rfind("<"), expr.rfind(">"))
    if cut < 0:
        raise fail("no comparison: write [ENDPOINT:]METRIC OP VALUE with OP one of <, <=, >, >= (e.g. p99<5s)")
    op = expr[cut]
    left, right = expr[:cut], expr[cut + 1:]
    if right.startswith("="):
        op, right = op + "=", right[1:]
    endpoint, sep, metric_text = left.rpartition(":")
    metric_text = metric_text.strip()
    if any(c in metric_text for c in "<>="):
        raise fail("more than one comparison operator: use exactly one of <, <=, >, >=")
    if sep and not endpoint.strip():
        raise fail("empty endpoint name before ':'")
    metric, percentile = _parse_metric(metric_text, fail)
    limit, unit = _parse_value(metric, right.strip(), fail)
    return Threshold(raw, endpoint.strip() if sep else None, metric, op, limit, unit, percentile, abort, grace,
                     source)


def parse_all(thresholds) -> list[Threshold]:
    """`thresholds` as Threshold objects: a plan's pass as they are; a text (for a one-off
    call from Python) is parsed here. PlanError on the first bad text."""
    return [t if isinstance(t, Threshold) else parse_threshold(t) for t in thresholds]


def _parse_metric(text: str, fail) -> tuple[str, float | None]:
    name = text.lower()
    if not name:
        raise fail("no metric before the operator (e.g. p99<5s)")
    if name in NAMED_TIMES or name in RATE_METRICS or name in COUNT_METRICS or name == "rps":
        return name, None
    if name in NAMED_PERCENTILES:
        return name, NAMED_PERCENTILES[name]
    m = _PERCENTILE.match(name)
    if m:
        n_text = m.group("paren") if m.group("paren") is not None else m.group("bare")
        try:
            n = float(n_text)
        except ValueError:
            raise fail(f"bad percentile {text!r}: write p(N) with N a number, e.g. p(99.95)") from None
        if not 0.0 <= n <= 100.0:  # also rejects NaN
            hint = "; for the 99.9th write p99.9" if name == "p999" else ""
            raise fail(f"bad percentile {text!r}: N must be between 0 and 100{hint}")
        return f"p{n:g}", n
    close = difflib.get_close_matches(name, METRIC_NAMES, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise fail(f"unknown metric {text!r}{hint}; metrics: {', '.join(METRIC_NAMES)}")


def _parse_value(metric: str, text: str, fail) -> tuple[float, str]:
    m = _VALUE.match(text)
    if not m:
        raise fail(f"{text!r} is not a number with an optional unit (e.g. 5s, 300ms, 1%, 100)"
                   if text else "no value after the operator")
    value, unit = float(m.group("num")), m.group("unit")
    if value < 0:
        raise fail(f"negative value {text!r}")
    unit_key = unit.replace("\u03bc", "µ").lower()  # the Greek mu for the micro sign
    if metric in NAMED_TIMES or metric.startswith("p"):
        if not unit:
            raise fail(f"missing unit: {metric} is a time, write e.g. {metric}<{m.group('num')}ms "
                       f"(units: ns, us, µs, ms, s)")
        if unit_key not in TIME_UNITS:
            raise fail(f"unknown time unit {unit!r} (units: ns, us, µs, ms, s)")
        return value * TIME_UNITS[unit_key], "ns"
    if metric in RATE_METRICS:
        return _ratio(metric, value, unit, fail, allow_bare=True), "ratio"
    if metric == "rps":
        if unit:
            raise fail(f"rps takes a bare number of requests per second, not {unit!r}")
        return value, "rps"
    if unit == "%":  # dropped, late, throttled as a share
        return _ratio(metric, value, unit, fail, allow_bare=False), "ratio"
    if unit:
        raise fail(f"{metric} takes a count (e.g. {metric}<10) or a share (e.g. {metric}<1%), not {unit!r}")
    if value != int(value):
        raise fail(f"{metric} {text} is not a whole count; for a share write a % (e.g. {metric}<1%)")
    return value, "count"


def _ratio(metric: str, value: float, unit: str, fail, allow_bare: bool) -> float:
    if unit == "%":
        if value > 100:
            raise fail(f"{value:g}% is over 100%")
        return value / 100
    if unit:
        raise fail(f"{metric} is a rate: give a % or a fraction (e.g. 1% or 0.01), not the unit {unit!r}")
    if allow_bare and value > 1:
        raise fail(f"a bare rate is a fraction between 0 and 1: for {value:g} percent write {value:g}%")
    return value


# --- the end of the run ----------------------------------------------------------


def evaluate(thresholds, result) -> list[dict]:
    """One verdict per threshold (a plan's Threshold objects; see parse_all) on a Result, in order.

    A verdict: {"threshold", "endpoint", "metric", "op", "limit", "value", "unit",
    "passed", "abort"}. `value` is None when there is nothing to measure (an endpoint
    not in the result, no responses, no checks); such a threshold fails.
    """
    out = []
    totals = None
    by_name = {ep.name: ep for ep in result.endpoints}
    for th in parse_all(thresholds):
        if th.endpoint is None:
            totals = totals if totals is not None else result.totals()
            value = _final_value(th, totals, result, whole_run=True)
        elif th.endpoint in by_name:
            value = _final_value(th, by_name[th.endpoint], result, whole_run=False)
        else:
            value = None
        out.append(_verdict(th, value))
    return out


def _verdict(th: Threshold, value: float | None) -> dict:
    return {"threshold": th.text, "endpoint": th.endpoint, "metric": th.metric, "op": th.op, "limit": th.limit,
            "value": value, "unit": th.unit, "passed": th.holds(value), "abort": th.abort}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _final_value(th: Threshold, ep, result, whole_run: bool) -> float | None:
    if th.unit == "ns":
        return _latency(th, ep)
    if th.metric == "error_rate":
        return _share(ep.errors + ep.http_errors, ep.requests + ep.errors)
    if th.metric == "check_failure_rate":
        return _share(ep.check_failures, ep.checks)
    if th.metric == "rps":
        count = ep.flows if ep.is_flow else ep.requests
        return count / result.duration_s if result.duration_s > 0 else None
    if th.metric == "throttled":
        return ep.throttled if th.unit == "count" else _share(ep.throttled, ep.requests)
    # dropped, late: per open-loop arrival. Scenario arrivals are iterations, counted
    # per worker (as driver.stats.validity reads them), not per endpoint.
    if whole_run and result.plan.get("scenario"):
        late = sum(w.get("iterations_late", 0) for w in result.workers)
        dropped = sum(w.get("iterations_dropped", 0) for w in result.workers)
        arrivals = sum(w.get("iterations", 0) for w in result.workers) + dropped
    else:
        late, dropped = int(ep.counters[C_LATE]), int(ep.counters[C_DROPPED])
        arrivals = int(ep.counters[C_SENT]) + dropped
    count = late if th.metric == "late" else dropped
    return count if th.unit == "count" else _share(count, arrivals)


def _latency(th: Threshold, ep) -> float | None:
    lat = ep.latency()
    if not lat["count"]:
        return None
    if th.metric in NAMED_TIMES:
        return lat[f"{th.metric}_ns"]
    if th.percentile in _SUMMARY_KEYS:
        return lat[_SUMMARY_KEYS[th.percentile]]
    value = histogram.percentile(ep.hists[H_LATENCY], th.percentile)
    # as latency_summary does: a bucket's highest equivalent stays within the exact range
    return min(max(value, lat["min_ns"]), lat["max_ns"])


# --- the live series -------------------------------------------------------------


class LiveCheck:
    """Thresholds evaluated on each per-second point of the run (supervisor's on_progress).

    Live: p50/p90/p95/p99, error_rate and rps of the last second for the whole run;
    p50/p99, rps and error_rate for an endpoint (from point["endpoints"]); throttled,
    dropped and late as a share of the last second or as a count since the start.
    Where the point can undercount (an endpoint's errors without its 4xx/5xx, dropped
    and late of scenario iterations), only upper limits (<, <=) are live. Everything
    else (min, mean, max, other percentiles, check_failure_rate) is judged at the end only.
    """

    def __init__(self, thresholds):
        """`thresholds`: a plan's Threshold objects (see parse_all); only the live ones are kept."""
        self.thresholds = [th for th in parse_all(thresholds) if is_live(th)]
        self.counts = {m: 0 for m in COUNT_METRICS}  # since the start of the run

    def update(self, point: dict) -> list[dict]:
        """Verdicts (with "t") of the live thresholds that have a value in this point."""
        for m in COUNT_METRICS:
            self.counts[m] += point.get(m, 0)
        out = []
        for th in self.thresholds:
            value = self._value(th, point)
            if value is not None:
                out.append({**_verdict(th, value), "t": point["t"]})
        return out

    def _value(self, th: Threshold, point: dict) -> float | None:
        if th.endpoint is not None:
            return _endpoint_live(th, point)
        attempts = point["requests"] + point["errors"]
        if th.unit == "ns":
            return point.get(f"{th.metric}_ns")
        if th.metric == "error_rate":
            return _share(point["errors"] + point["http_errors"], attempts)
        if th.metric == "rps":
            return point["rps"]
        if th.unit == "count":
            return self.counts[th.metric]
        if th.metric == "throttled":
            return _share(point["throttled"], point["requests"])
        return _share(point[th.metric], attempts + point["dropped"])  # of the second's arrivals


def is_live(th: Threshold) -> bool:
    """Whether LiveCheck can judge `th` from the per-second points (see LiveCheck)."""
    if th.endpoint is not None:
        return th.metric in ("p50", "p99", "rps") or (th.metric == "error_rate" and th.op in UPPER_OPS)
    if th.metric in ("p50", "p90", "p95", "p99", "error_rate", "rps", "throttled"):
        return True
    return th.metric in ("dropped", "late") and th.op in UPPER_OPS


def _endpoint_live(th: Threshold, point: dict) -> float | None:
    entry = next((e for e in point.get("endpoints", ()) if e["name"] == th.endpoint), None)
    if entry is None:  # nothing from this endpoint in the last second
        return 0.0 if th.metric == "rps" else None
    if th.metric == "rps":
        return entry["rps"]
    if th.metric == "error_rate":
        return _share(entry["errors"] + entry.get("http_errors", 0), entry["requests"] + entry["errors"])
    return entry.get(f"{th.metric}_ns")


class AbortWatch:
    """Which `abort` threshold, if any, has been broken for its whole grace period.

    Feed it every point; a point covers the second before its "t", so a streak of
    broken points starts at the previous point's t. A point where the threshold holds
    ends the streak; a point with no value for it (no responses that second) neither
    starts nor ends one.
    """

    def __init__(self, thresholds):
        """`thresholds`: a plan's Threshold objects (see parse_all); only `abort` ones are watched."""
        self.live = LiveCheck([th for th in parse_all(thresholds) if th.abort])
        self.grace = {th.text: th.grace_s for th in self.live.thresholds}
        self.since: dict[str, float] = {}  # threshold text -> start of its broken streak (s)
        self.prev_t = 0.0
        self.fired: dict | None = None

    def update(self, point: dict) -> dict | None:
        """{"threshold": text, "t": seconds} the first time one has been broken for its grace; else None."""
        verdicts = self.live.update(point)
        t = point["t"]
        hit = None
        for v in verdicts:
            th = v["threshold"]
            if v["passed"]:
                self.since.pop(th, None)
                continue
            start = self.since.setdefault(th, self.prev_t)
            if hit is None and t - start >= self.grace[th] - 1e-6:
                hit = {"threshold": th, "t": t}
        self.prev_t = t
        if hit is not None and self.fired is None:
            self.fired = hit
            return hit
        return None


# --- exit code and text ----------------------------------------------------------


def exit_code(result, verdicts: list[dict] | None = None) -> int:
    """The CLI's exit code for a finished run, the first that applies:

    130 interrupted (Ctrl-C) > 3 not carried out (aborted by a threshold, or incomplete:
    a worker died) > 4 not valid (the load generator could not measure: validity) >
    1 a threshold failed (`verdicts`, by default `result.verdicts`) > 0 passed.
    A run that did not finish says nothing trustworthy about thresholds, hence the order.
    """
    if result.interrupted:
        return EXIT_INTERRUPTED
    if result.aborted or not result.complete:
        return EXIT_NOT_RUN
    if result.validity.get("valid") is False:
        return EXIT_INVALID
    if any(not v["passed"] for v in (result.verdicts if verdicts is None else verdicts)):
        return EXIT_THRESHOLD
    return EXIT_OK


def _compact_ns(ns: float) -> str:
    """A limit in the largest unit that keeps it >= 1: 5s, 300ms, 1.5µs."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:g}{unit}"
    return f"{ns:g}ns"


def format_value(value: float | None, unit: str, limit: bool = False) -> str:
    """A verdict's value (or, with limit=True, its limit) for people."""
    if value is None:
        return "no data"
    if unit == "ns":
        return _compact_ns(value) if limit else format_ns(value)
    if unit == "ratio":
        return f"{value * 100:g}%" if limit else f"{value * 100:.2f}%"
    if unit == "rps":
        return f"{value:g}" if limit else f"{value:.1f}"
    return f"{value:.0f}"


def describe(verdict: dict) -> str:
    """`p99 = 6.20s (limit < 5s) FAILED`, with `ENDPOINT: ` before it for an endpoint."""
    where = f"{verdict['endpoint']}: " if verdict.get("endpoint") is not None else ""
    value = format_value(verdict["value"], verdict["unit"])
    if verdict["value"] is None and verdict.get("endpoint") is not None and "t" not in verdict:
        value = "no data (no such endpoint, or nothing recorded)"
    limit = format_value(verdict["limit"], verdict["unit"], limit=True)
    status = "passed" if verdict["passed"] else "FAILED"
    return f"{where}{verdict['metric']} = {value} (limit {verdict['op']} {limit}) {status}"


def render(verdicts: list[dict]) -> str:
    """The report's threshold block: one line per verdict and a count ('' when none)."""
    if not verdicts:
        return ""
    failed = sum(1 for v in verdicts if not v["passed"])
    lines = [f"thresholds: {len(verdicts) - failed} passed, {failed} failed"]
    lines += [f"  {'ok  ' if v['passed'] else 'FAIL'}  {describe(v)}" for v in verdicts]
    return "\n".join(lines)
