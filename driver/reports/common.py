"""What every report writer shows, derived once from a Result: rows, verdicts, settings.

The writers differ only in markup; the figures and their wording live here, so the
HTML, Markdown, CSV and JUnit reports of one run never disagree.
"""
from __future__ import annotations

import re

from driver.layout import ERROR_COUNTERS
from driver.stats.endpoint import FLOW_PREFIX, ITERATION, REPLY_LAST_PREFIX, REPLY_PREFIX
from driver.stats.result import EndpointResult, Result
from driver.stats.verdict import unjudged_check_failures
from driver.durations import format_ns

ERROR_LABELS = {
    "connect_refused": "connection refused",
    "connect_timeout": "connect timeout",
    "request_timeout": "request timeout",
    "connection_reset": "connection reset",
    "protocol_error": "protocol error",
    "tls": "TLS error",
    "other": "other transport error",
    "unfinished": "unanswered at the end",
    "dropped": "arrival dropped (never sent)",
    "reply_missing": "no reply within the reply timeout",
}
assert set(ERROR_LABELS) == set(ERROR_COUNTERS)

_METHOD_NAME = re.compile(r"^([A-Z]{3,10}) (\S.*)$")


# the endpoint tables' groups, in this order: what driver sent (requests, flows, iterations),
# the bot's replies to it, the bot's calls to the mock platform API, the chaos timeline's own
GROUPS = ("requests", "replies", "api", "chaos")


def endpoint_group(name: str) -> int:
    """The index in GROUPS of an endpoint named `name`."""
    if name.startswith((REPLY_PREFIX, REPLY_LAST_PREFIX)):
        return 1
    if name.startswith("api:"):
        return 2
    if name.startswith("chaos:"):
        return 3
    return 0


def grouped(items: list, name=lambda ep: ep.name, key=None) -> list:
    """`items` (endpoints, or anything `name` names) group by group (GROUPS), each group in
    `key` order (the given order when None); "reply_last:X" right after "reply:X"."""
    position = {id(x): i for i, x in enumerate(items)}
    order = key or (lambda x: position[id(x)])
    by_name = {name(x): x for x in items}

    def sort_key(x):
        n = name(x)
        if n.startswith(REPLY_LAST_PREFIX):
            first = by_name.get(REPLY_PREFIX + n[len(REPLY_LAST_PREFIX):])
            if first is not None:  # the ordering keys are unique, so nothing falls between the two
                return endpoint_group(n), order(first), 1
        return endpoint_group(n), order(x), 0

    return sorted(items, key=sort_key)


def endpoint_rows(result: Result) -> list[dict]:
    """One summary per endpoint, then "total" when there are several.

    The endpoints come group by group (`grouped`: requests, replies, api:, chaos:), by
    count within a group, most first. Each row is `EndpointResult.summary` (count, rps,
    failures, error_rate... as the accessors define them) plus `is_aggregate` and `is_total`.
    """
    d = result.duration_s
    eps = grouped(list(result.endpoints), key=lambda e: (-e.count, e.name))
    rows = [_row(ep, d, False) for ep in eps]
    if len(eps) > 1:
        rows.append(_row(result.totals(), d, True))
    return rows


def totals(result: Result) -> EndpointResult:
    """The whole run as one endpoint (`Result.totals`; all zeros without endpoints)."""
    return result.totals()


def _row(ep: EndpointResult, duration_s: float, is_total: bool) -> dict:
    row = ep.summary(duration_s)
    row["is_aggregate"] = ep.is_aggregate
    row["is_total"] = is_total
    return row


def rate_text(rate: float | None) -> str:
    """An error rate for people: 1.25%, or – when nothing was attempted."""
    return "–" if rate is None else f"{rate:.2%}"


def method_and_name(name: str, plan: dict) -> tuple[str, str]:
    """(method, name) for tools that keep them apart (Locust's Type and Name).

    "GET /health" splits at the space; a request of the plan gives its method; a
    flow is "flow", scenario iterations "iteration"; a scenario endpoint whose method is
    not known keeps an empty type.
    """
    if name.startswith(FLOW_PREFIX):
        return "flow", name[len(FLOW_PREFIX):]
    if name == ITERATION:
        return "iteration", name
    m = _METHOD_NAME.match(name)
    if m:
        return m.group(1), m.group(2)
    for req in plan.get("requests") or []:
        if req.get("name") == name:
            return str(req.get("method", "")), name
    return "", name


def error_kinds(result: Result) -> list[tuple[str, int]]:
    """Why requests failed, all endpoints together: (label, count), largest first, zeros left out."""
    tot = totals(result)
    out = [(ERROR_LABELS[k], n) for k, n in tot.errors_by_kind.items()]
    out += [(f"HTTP {k}", n) for k, n in tot.http_errors_by_class.items()]
    out += [("throttled (429, 503 + Retry-After)", tot.throttled), ("checks failed", tot.check_failures)]
    return sorted(((k, n) for k, n in out if n), key=lambda kv: -kv[1])


# -- verdicts ---------------------------------------------------------------------


def format_measure(value, unit: str) -> str:
    """A threshold's value or limit in its unit: 3.10s, 1.25%, 812.0 req/s, 17."""
    if value is None:
        return "no data"
    if unit == "ns":
        return format_ns(value)
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    if unit == "rps":
        return f"{value:,.1f} req/s"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "MB/h":
        return f"{value:,.1f} MB/h"
    return f"{value:g}"


def format_limit(value, unit: str) -> str:
    """A threshold's limit as the user wrote it, without trailing zeros: 5s, 500ms, 1%, 100 req/s."""
    return re.sub(r"\.(\d*?)0+(?!\d)", lambda m: f".{m.group(1)}" if m.group(1) else "", format_measure(value, unit))


def verdict_name(v: dict) -> str:
    """The threshold as written, with its endpoint: "/start: p99<5s"; a group's threshold
    (a grouped run) with its group first: "api › p99<300ms"."""
    text = str(v.get("threshold", "?"))
    endpoint = v.get("endpoint")
    name = f"{endpoint}: {text}" if endpoint and not text.startswith(f"{endpoint}") else text
    return f"{v['group']} › {name}" if v.get("group") else name


def measured_text(v: dict) -> str:
    """What a verdict measured: its value in its unit, or, without a value, its note when it
    has one (a chaos threshold: "outage at 20s: never recovered (...)"), else "no data"."""
    if v.get("value") is None and v.get("note"):
        return str(v["note"])
    return format_measure(v.get("value"), v.get("unit", ""))


def verdict_message(v: dict) -> str:
    """"p99 = 6.20s, limit < 5s" (with " on /start" for an endpoint's threshold)."""
    unit = v.get("unit", "")
    where = f" on {v['endpoint']}" if v.get("endpoint") else ""
    value = measured_text(v)
    return f"{v.get('metric', '?')}{where} = {value}, limit {v.get('op', '?')} {format_limit(v.get('limit'), unit)}"


def outcome(result: Result) -> dict:
    """The run's verdict in one place: thresholds, failed checks, validity, completeness.

    `status` is "failed" (a threshold failed or aborted the run), "checks failed" (checks
    failed that no `check_failure_rate` threshold judges: the run exits 1, their number is
    `checks_failed`), "not valid", "incomplete", "passed" (thresholds all passed) or "done"
    (no thresholds, valid or not assessed, complete).
    """
    verdicts = result.verdicts or []
    failed = [v for v in verdicts if not v.get("passed")]
    checks_failed = _unjudged(result, verdicts)
    validity = result.validity or {}
    valid = validity.get("valid") if validity else None
    notices = run_notices(result)
    if failed or result.aborted:
        status = "failed"
    elif checks_failed:
        status = "checks failed"
    elif valid is False:
        status = "not valid"
    elif notices:
        status = "incomplete"
    else:
        status = "passed" if verdicts else "done"
    return {"status": status, "verdicts": verdicts, "failed": failed, "checks_failed": checks_failed,
            "valid": valid, "validity_reasons": list(validity.get("reasons") or []), "notices": notices}


def _unjudged(result: Result, verdicts: list[dict]) -> int:
    """Failed checks no `check_failure_rate` threshold judges; in a grouped run, each
    group's by the run's thresholds and its own (as driver.stats.thresholds.exit_code)."""
    if not result.groups:
        return unjudged_check_failures(result, verdicts)
    run_level = [v for v in verdicts if not v.get("group")]
    return sum(unjudged_check_failures(sub, [*run_level, *(v for v in verdicts if v.get("group") == name)])
               for name, sub in result.groups.items())


def checks_message(n: int) -> str:
    """Why failed checks fail the run by themselves (`outcome`'s checks_failed)."""
    return (f"{n:,} failed check{'s' if n != 1 else ''} and no check_failure_rate threshold: the run fails "
            f"(exit 1); a check_failure_rate threshold sets the tolerance instead")


def run_notices(result: Result) -> list[str]:
    """Why the numbers cover less than the plan: aborted, interrupted, incomplete (with reasons)."""
    out = []
    if result.aborted:
        t = result.aborted.get("t")
        at = f" at {t:.1f}s" if isinstance(t, (int, float)) else ""
        out.append(f"aborted{at} by threshold {result.aborted.get('threshold', '?')}")
    if result.interrupted:
        how = "SIGTERM" if result.interrupted_by == "SIGTERM" else "Ctrl-C"
        out.append(f"interrupted ({how}): the numbers cover the run up to the interruption")
    if not result.complete:
        # the interruption and the abort have their own notice above
        reasons = [r for r in result.reasons if not r.startswith(("interrupted", "aborted"))]
        if reasons or not out:
            out.append("incomplete: " + ("; ".join(reasons) if reasons else "the run did not finish as planned"))
    return out


def validity_figures(validity: dict) -> list[tuple[str, str]]:
    """The load generator's own figures, readable: (label, value)."""
    f = validity.get("figures") or {}
    out = []
    if f.get("cpu_max_share") is not None:
        out.append(("busiest worker's CPU, peak", f"{f['cpu_max_share']:.0%} of a core"))
    if f.get("seconds"):
        out.append(("seconds CPU-bound", f"{f.get('seconds_cpu_bound', 0)} of {f['seconds']}"))
        if "seconds_loop_lagging" in f:
            out.append(("seconds with event-loop lag", f"{f['seconds_loop_lagging']} of {f['seconds']}"))
    for key, label in (("lag_max_ns", "event-loop lag, worst second"), ("lag_p99_ns", "event-loop lag, p99")):
        if f.get(key) is not None:
            out.append((label, format_ns(f[key])))
    if f.get("late_share") is not None:
        out.append(("arrivals started late", f"{f['late_share']:.2%}"))
    return out


# -- settings ---------------------------------------------------------------------


def load_text(plan: dict) -> str:
    """"50 users" (closed loop) or "200 req/s" (open loop): the peak of the load shape."""
    shape = plan.get("shape") or []
    peak = max((p[1] for p in shape if len(p) > 1), default=None)
    if peak is None:
        return ""
    unit = "req/s" if plan.get("mode") == "open" else "users"
    ramp = len(shape) > 2 or (len(shape) == 2 and shape[0][1] != shape[1][1])
    return f"{'peak ' if ramp else ''}{peak:g} {unit}"


def settings_items(result: Result) -> list[tuple[str, str]]:
    """The run's settings, short: (label, value) pairs for one line or a small table."""
    plan = result.plan or {}
    env = result.environment or {}
    if plan.get("groups"):  # a grouped run: each group's own settings are in its section
        targets = dict.fromkeys(str(g.get("target", "?")) for g in plan["groups"])
        items = [("target", ", ".join(targets)), ("scenarios", ", ".join(str(g.get("name")) for g in plan["groups"])),
                 ("duration", f"{result.duration_s:.1f}s"), ("workers", str(plan.get("workers")))]
        items += [(k, str(env[k])) for k in ("driver",) if env.get(k)]
        return items + ([("started", result.started_at)] if result.started_at else [])
    items = [("target", str(plan.get("target", "?")))]
    scenario = plan.get("scenario") or {}
    if scenario.get("python"):
        items.append(("scenario", str(scenario["python"])))
    elif scenario:
        items.append(("scenario", "YAML"))
    if plan.get("profile"):
        items.append(("profile", str(plan["profile"])))
    if plan.get("mode"):
        items.append(("mode", f"{plan['mode']} loop"))
    if load_text(plan):
        items.append(("load", load_text(plan)))
    items.append(("duration", f"{result.duration_s:.1f}s"))
    if plan.get("max_requests"):
        items.append(("max requests", f"{plan['max_requests']:,}"))
    if plan.get("workers"):
        items.append(("workers", str(plan["workers"])))
    if env.get("driver"):
        items.append(("driver", str(env["driver"])))
    if result.started_at:
        items.append(("started", result.started_at))
    return items


def ms(ns) -> float | None:
    """Nanoseconds as milliseconds (None stays None)."""
    return None if ns is None else ns / 1e6


# -- groups (a grouped run: a config's scenarios:) -----------------------------------


def group_description(sub: Result) -> str:
    """A group's settings in a few words: "closed loop, 20 users, 30.0s from 10s, http://host"."""
    plan = sub.plan or {}
    start = plan.get("start_s") or 0.0
    kind = "python" if (plan.get("scenario") or {}).get("python") else "YAML scenario" if plan.get("scenario") \
        else "WebSocket" if plan.get("ws") else "requests"
    parts = [f"{plan.get('mode', '?')} loop", load_text(plan), kind,
             f"{sub.duration_s:.1f}s" + (f" from {start:g}s" if start else ""), str(plan.get("target", ""))]
    return ", ".join(p for p in parts if p)


def group_rows(result: Result) -> list[dict]:
    """One row per group (its endpoints' total over its own span: count, rps, failures,
    latency...) plus `name`, `description`, `users` (the most active at once), `passed`
    (its thresholds: None without any)."""
    rows = []
    for name, sub in result.groups.items():
        row = sub.totals().summary(sub.duration_s)
        row["name"] = name
        row["description"] = group_description(sub)
        row["users"] = max((p.get("active_users", 0) for p in sub.series), default=0)
        row["passed"] = all(v.get("passed") for v in sub.verdicts) if sub.verdicts else None
        rows.append(row)
    return rows
