"""Service-level thresholds: text -> Threshold -> verdicts on a Result, early abort, exit code.

Syntax: `[ENDPOINT:]METRIC OP VALUE[UNIT][ abort[=GRACE]]`

    p99<5s   /start:p95<1s   flow:checkout:p99<30s   p(99.95)<2s   mean<=300ms
    error_rate<1%   check_failure_rate<0.005   rps>100   dropped<10   late<5%
    target_rss_slope<10MB/h   driver_rss_slope<50KB/s
    recovery<30s   breaker_trip<10s   breaker_recover<30s

- METRIC: latency min, mean, max, p50, p90, p95, p99, p99.9 or any p(N) (0 <= N <= 100);
  error_rate, check_failure_rate (shares); rps (a bare number); dropped, late,
  throttled, reply_missing (a bare whole number is a count, a `%` a share: of the
  arrivals for dropped and late, of the responses for throttled, of the updates
  followed to their replies for reply_missing: every `reply:*` endpoint without
  ENDPOINT, one with it, `reply:/start:reply_missing<1%`); target_rss_slope and
  driver_rss_slope: the memory growth after warm-up (driver.stats.leak) of the
  --watch-pid processes and of driver's own processes, the largest of them, judged
  at the end of the run only and for the whole run only (no ENDPOINT). recovery,
  breaker_trip and breaker_recover: the chaos timeline's worst event (Result.chaos,
  driver.chaos.analysis): the longest recovery time, the longest time for a bot's
  breaker to trip in a platform outage and to recover after it; an event that never
  recovered (or a breaker that never tripped) fails the threshold. End of run only,
  no ENDPOINT.
- A latency takes a time unit (ns, us, µs, ms, s); a rate takes `%` or a bare
  fraction (0.01 == 1%); rps and counts take no unit; a memory slope takes a size
  per time: B, KB, MB, GB (10**3 steps) or KiB, MiB, GiB, per s, min or h (MB/h, KB/s).
- ENDPOINT: the endpoint name as in the report; names may hold ':' themselves, so
  the metric is what follows the last ':'. Without it, the whole run (the report's
  total: aggregate endpoints — `flow:NAME`, `iteration` — add their errors and
  arrivals, not their requests or latency). Scenario arrivals are iterations:
  `iteration:dropped<10` is the same as `dropped<10` in a scenario.
- `abort` stops the run once the threshold has been broken continuously for GRACE
  (default 5s) in the live per-second windows (see LiveCheck for what is live).

Every value is read through the accessors of driver.stats.endpoint.EndpointResult
(error_rate, percentile, rate, arrivals...), the same at the end and live.

Values are kept in one unit per kind: ns for latencies, a ratio 0..1 for rates and
shares, requests/s for rps, plain numbers for counts, MB/h for memory slopes.
"""
from __future__ import annotations

import difflib
import operator
import re
from dataclasses import dataclass, field

from driver.errors import PlanError
from driver.durations import parse_duration
from driver.stats.endpoint import EndpointResult, is_reply
from driver.stats.verdict import (  # noqa: F401
    CHAOS_METRICS, chaos_value, describe, exit_code, format_value, render, unjudged_check_failures,
)

__all__ = ["Threshold", "parse_threshold", "parse_all", "evaluate", "LiveCheck", "is_live", "AbortWatch",
           "exit_code", "describe", "format_value", "render", "unjudged_check_failures"]

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
UPPER_OPS = ("<", "<=")
DEFAULT_GRACE_S = 5.0
TIME_UNITS = {"ns": 1.0, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9}
RATE_METRICS = ("error_rate", "check_failure_rate")
COUNT_METRICS = ("dropped", "late", "throttled", "reply_missing")  # a count, or with % a share
NAMED_TIMES = ("min", "mean", "max")
NAMED_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9}
SLOPE_METRICS = {"target_rss_slope": "targets", "driver_rss_slope": "driver"}  # -> Result.leak's key
SIZE_UNITS = {"b": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1024.0, "mib": 1024.0 ** 2, "gib": 1024.0 ** 3}
PER_HOUR = {"s": 3600.0, "sec": 3600.0, "min": 60.0, "m": 60.0, "h": 1.0, "hr": 1.0}
METRIC_NAMES = (*NAMED_TIMES, *NAMED_PERCENTILES, "p(N)", *RATE_METRICS, "rps", *COUNT_METRICS, *SLOPE_METRICS,
                *CHAOS_METRICS)

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
    unit: str  # "ns" | "ratio" | "rps" | "count" | "MB/h"
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
    if metric in SLOPE_METRICS and sep:
        raise fail(f"{metric} is a process's memory, not an endpoint's: write it without 'ENDPOINT:'")
    if metric in CHAOS_METRICS and sep:
        raise fail(f"{metric} is judged on the chaos timeline, not on an endpoint: write it without 'ENDPOINT:'")
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
    if name in NAMED_TIMES or name in RATE_METRICS or name in COUNT_METRICS or name in SLOPE_METRICS or name == "rps" \
            or name in CHAOS_METRICS:
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
    if metric in SLOPE_METRICS:
        return _slope(metric, value, unit, fail), "MB/h"
    if metric in NAMED_TIMES or metric.startswith("p") or metric in CHAOS_METRICS:
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


def _slope(metric: str, value: float, unit: str, fail) -> float:
    """A memory slope in MB/h from VALUE SIZE/TIME (10MB/h, 50KB/s, 1MiB/min)."""
    size, slash, per = unit.lower().partition("/")
    if not slash or size not in SIZE_UNITS or per not in PER_HOUR:
        raise fail(f"{metric} is a memory slope: give a size per time, e.g. {metric}<10MB/h or "
                   f"{metric}<50KB/s (sizes: B, KB, MB, GB, KiB, MiB, GiB; per s, min, h), not {unit!r}")
    return value * SIZE_UNITS[size] / 1e6 * PER_HOUR[per]


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
        if th.metric in CHAOS_METRICS:
            value, note = chaos_value(th.metric, result)
            out.append({**_verdict(th, value), **({"note": note} if note else {})})
            continue
        if th.endpoint is None and th.metric == "reply_missing":  # every reply:* endpoint together
            replies = [ep for ep in result.endpoints if is_reply(ep.name)]
            value = _final_value(th, EndpointResult.merged("replies", replies), result) if replies else None
        elif th.endpoint is None:
            totals = totals if totals is not None else result.totals()
            value = _final_value(th, totals, result)
        elif th.endpoint in by_name:
            value = _final_value(th, by_name[th.endpoint], result)
        else:
            value = None
        out.append(_verdict(th, value))
    return out


def _verdict(th: Threshold, value: float | None) -> dict:
    return {"threshold": th.text, "endpoint": th.endpoint, "metric": th.metric, "op": th.op, "limit": th.limit,
            "value": value, "unit": th.unit, "passed": th.holds(value), "abort": th.abort}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _final_value(th: Threshold, ep, result) -> float | None:
    if th.metric in SLOPE_METRICS:  # the largest slope of the processes (Result.leak), None without any
        procs = (getattr(result, "leak", None) or {}).get(SLOPE_METRICS[th.metric], {})
        slopes = [v["slope_mb_h"] for v in procs.values()]
        return max(slopes, default=None)
    return _measure(th, ep, result.duration_s)


def _measure(th: Threshold, ep, span_s: float) -> float | None:
    """The value of `th` on `ep` (an EndpointResult: an endpoint or a total, over the whole
    run or one window) whose span is `span_s` seconds. Every figure is the accessor's."""
    if th.unit == "ns":
        return _latency(th, ep)
    if th.metric == "error_rate":
        return ep.error_rate
    if th.metric == "check_failure_rate":
        return ep.check_failure_rate
    if th.metric == "rps":
        return ep.rate(span_s)
    if th.metric == "throttled":
        return ep.throttled if th.unit == "count" else _share(ep.throttled, ep.requests)
    if th.metric == "reply_missing":  # of the updates followed to their replies
        missing = ep.errors_by_kind["reply_missing"]
        return missing if th.unit == "count" else _share(missing, ep.sent)
    count = ep.late if th.metric == "late" else ep.dropped  # per open-loop arrival (iterations in scenarios)
    return count if th.unit == "count" else _share(count, ep.arrivals)


def _latency(th: Threshold, ep) -> float | None:
    if th.metric in NAMED_TIMES:
        return ep.latency()[f"{th.metric}_ns"]
    return ep.percentile(th.percentile)


# --- the live series -------------------------------------------------------------


class LiveCheck:
    """Thresholds evaluated on each window of the run (driver.stats.window.Window, about a second).

    Live: every percentile, error_rate, check_failure_rate, rps and throttled, dropped
    and late as shares, of the last window, for the whole run or an endpoint (an endpoint
    absent from the window has rps 0 and no other value); dropped, late and throttled as
    counts since the start, upper limits only (a count only grows, so only an upper limit
    can be broken for good). min, mean and max are judged at the end only: a window does
    not know the exact extremes.
    """

    def __init__(self, thresholds):
        """`thresholds`: a plan's Threshold objects (see parse_all); only the live ones are kept."""
        self.thresholds = [th for th in parse_all(thresholds) if is_live(th)]
        self.counts = [0] * len(self.thresholds)  # count thresholds: their count since the start

    def update(self, point) -> list[dict]:
        """Verdicts (with "t") of the live thresholds that have a value in this window."""
        out = []
        for i, th in enumerate(self.thresholds):
            value = self._value(th, point)
            if th.unit == "count":
                self.counts[i] += value or 0
                value = self.counts[i]
            if value is not None:
                out.append({**_verdict(th, value), "t": point.t})
        return out

    def _value(self, th: Threshold, point) -> float | None:
        """`th` on one window: the whole run's total or the endpoint's row."""
        return _endpoint_live(th, point) if th.endpoint is not None else _measure(th, point.total, point.dt)


def is_live(th: Threshold) -> bool:
    """Whether LiveCheck can judge `th` from the windows (see LiveCheck)."""
    if th.metric in NAMED_TIMES or th.metric in SLOPE_METRICS or th.metric in CHAOS_METRICS:
        return False
    return th.unit != "count" or th.op in UPPER_OPS


def _endpoint_live(th: Threshold, point) -> float | None:
    row = point.row(th.endpoint)
    if row is None:  # nothing from this endpoint in the window
        return 0.0 if th.metric == "rps" else None
    return _measure(th, row, point.dt)


class AbortWatch:
    """Which `abort` threshold, if any, has been broken for its whole grace period.

    Feed it every window; a window covers the second before its `t`, so a streak of
    broken windows starts at the previous window's t. A window where the threshold holds
    ends the streak; a window with no value for it (no responses that second) neither
    starts nor ends one.
    """

    def __init__(self, thresholds):
        """`thresholds`: a plan's Threshold objects (see parse_all); only `abort` ones are watched."""
        self.live = LiveCheck([th for th in parse_all(thresholds) if th.abort])
        self.grace = {th.text: th.grace_s for th in self.live.thresholds}
        self.since: dict[str, float] = {}  # threshold text -> start of its broken streak (s)
        self.prev_t = 0.0
        self.fired: dict | None = None

    def update(self, point) -> dict | None:
        """{"threshold": text, "t": seconds} the first time one has been broken for its grace; else None.

        `point`: a driver.stats.window.Window."""
        verdicts = self.live.update(point)
        t = point.t
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
