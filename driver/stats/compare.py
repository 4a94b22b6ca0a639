"""Two results side by side: per-endpoint deltas and `--fail-on` regression rules.

`compare(base, new)` matches endpoints by name and adds a total row (the whole run,
as in the report: Result.totals). The figures are the endpoints' own accessors. For each of req/s, p50, p95, p99 and the
error rate a row has the base and new value, the absolute change and the relative
change.

A rule is `[ENDPOINT:]METRIC OP CHANGE` and fails the comparison when the change
compares true, e.g.

    p99>+10%         the total's p99 rose by more than 10 % of the base
    p99>+50ms        ... by more than 50 ms
    rps<-5%          the total's req/s fell by more than 5 %
    error_rate>+0.5% the error rate rose by more than 0.5 percentage points
    /start:p95>+20%  one endpoint;  *:p99>+10%  every endpoint found in both runs

METRIC is rps, p50, p95, p99 or error_rate. For rps and latencies a `%` is relative to
the base; a time unit (latencies) or a bare number (rps) is an absolute change. The
error rate is already a share, so its `%` is absolute percentage points (a bare
number is a fraction: +0.005 == +0.5%). Without ENDPOINT a rule applies to the total.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from driver.errors import PlanError
from driver.stats.thresholds import OPS, TIME_UNITS
from driver.durations import format_ns

__all__ = ["compare", "Rule", "parse_rule", "check_rules", "render"]

METRICS = ("rps", "p50", "p95", "p99", "error_rate")
TOTAL = "total"
_RULE = re.compile(r"^(?P<metric>[A-Za-z_0-9]+)\s*(?P<op><=|>=|<|>)\s*"
                   r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?P<unit>\S*)$")


def _side(ep, duration_s: float) -> dict:
    return {
        "requests": ep.count,
        "rps": ep.rate(duration_s),
        "p50": ep.percentile(50),
        "p95": ep.percentile(95),
        "p99": ep.percentile(99),
        "error_rate": ep.error_rate,
    }


def _change(base: float | None, new: float | None) -> dict:
    if base is None or new is None:
        return {"base": base, "new": new, "delta": None, "relative": None}
    delta = new - base
    if base:
        relative = delta / base
    else:  # from nothing: no change, or an unbounded one
        relative = 0.0 if not delta else float("inf") if delta > 0 else float("-inf")
    return {"base": base, "new": new, "delta": delta, "relative": relative}


def compare(base, new) -> list[dict]:
    """Rows {"endpoint", "total", "in_base", "in_new", "metrics": {METRIC: {"base", "new",
    "delta", "relative"}}}: base's endpoints in order, then those only in new, then the
    total. Latencies in ns, error rates as ratios, relative changes as ratios (0.1 == +10%)."""
    base_eps = {ep.name: ep for ep in base.endpoints}
    new_eps = {ep.name: ep for ep in new.endpoints}
    pairs = [(name, base_eps.get(name), new_eps.get(name)) for name in dict.fromkeys([*base_eps, *new_eps])]
    pairs.append((TOTAL, base.totals(), new.totals()))
    rows = []
    for i, (name, b, n) in enumerate(pairs):
        bs = _side(b, base.duration_s) if b is not None else {}
        ns = _side(n, new.duration_s) if n is not None else {}
        rows.append({
            "endpoint": name,
            "total": i == len(pairs) - 1,
            "in_base": b is not None,
            "in_new": n is not None,
            "metrics": {m: _change(bs.get(m), ns.get(m)) for m in METRICS},
        })
    return rows


@dataclass(frozen=True)
class Rule:
    text: str
    endpoint: str | None  # None: the total; "*": every endpoint in both runs
    metric: str
    op: str
    limit: float  # a ratio when relative; else ns (latency), req/s or a ratio (error_rate)
    relative: bool


def parse_rule(text: str) -> Rule:
    """A Rule from `[ENDPOINT:]METRIC OP CHANGE`; PlanError `invalid --fail-on rule 'TEXT': WHY`."""
    raw = str(text).strip()

    def fail(why: str):
        return PlanError(f"invalid --fail-on rule {raw!r}: {why}")

    endpoint, sep, expr = raw.rpartition(":")
    if sep and not endpoint.strip():
        raise fail("empty endpoint name before ':'")
    m = _RULE.match(expr.strip())
    if not m:
        raise fail("write [ENDPOINT:]METRIC OP CHANGE with OP one of <, <=, >, >= (e.g. p99>+10%, rps<-5%)")
    metric, unit, value = m.group("metric").lower(), m.group("unit"), float(m.group("num"))
    if metric not in METRICS:
        raise fail(f"unknown metric {m.group('metric')!r}; metrics: {', '.join(METRICS)}")
    relative = unit == "%" and metric != "error_rate"
    if unit == "%":
        limit = value / 100
    elif metric == "error_rate":
        if unit:
            raise fail(f"error_rate changes in percentage points (e.g. +0.5%) or as a fraction, not {unit!r}")
        limit = value
    elif metric == "rps":
        if unit:
            raise fail(f"rps changes by a % (e.g. -5%) or by a bare number of requests/s, not {unit!r}")
        limit = value
    else:
        unit_key = unit.replace("\u03bc", "µ").lower()
        if unit_key not in TIME_UNITS:
            raise fail(f"{metric} changes by a % (e.g. +10%) or by a time (e.g. +50ms; units ns, us, µs, ms, s)")
        limit = value * TIME_UNITS[unit_key]
    return Rule(raw, endpoint.strip() if sep else None, metric, m.group("op"), limit, relative)


def check_rules(rows: list[dict], rules) -> list[dict]:
    """One result per rule and matched row: {"rule", "endpoint", "metric", "op", "limit",
    "relative", "base", "new", "change", "passed"}. `change` is the relative or absolute
    change the rule compares; None (and passed False) where either run lacks the value
    or the endpoint. A `*:` rule checks every endpoint that both runs have."""
    out = []
    for rule in (r if isinstance(r, Rule) else parse_rule(r) for r in rules):
        if rule.endpoint is None:
            matched = [r for r in rows if r["total"]]
        elif rule.endpoint == "*":
            matched = [r for r in rows if not r["total"] and r["in_base"] and r["in_new"]]
        else:
            matched = [r for r in rows if not r["total"] and r["endpoint"] == rule.endpoint]
        if not matched:
            out.append(_rule_result(rule, rule.endpoint, {"base": None, "new": None, "delta": None,
                                                          "relative": None}))
        for row in matched:
            out.append(_rule_result(rule, row["endpoint"], row["metrics"][rule.metric]))
    return out


def _rule_result(rule: Rule, endpoint: str | None, m: dict) -> dict:
    change = m["relative"] if rule.relative else m["delta"]
    broken = change is None or OPS[rule.op](change, rule.limit)
    return {"rule": rule.text, "endpoint": endpoint, "metric": rule.metric, "op": rule.op, "limit": rule.limit,
            "relative": rule.relative, "base": m["base"], "new": m["new"], "change": change, "passed": not broken}


# --- text -----------------------------------------------------------------------


def _value(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if metric == "rps":
        return f"{v:.1f}"
    if metric == "error_rate":
        return f"{v * 100:.2f}%"
    return format_ns(v)


def _relative(r: float | None) -> str:
    if r is None:
        return ""
    if r in (float("inf"), float("-inf")):
        return " (new)" if r > 0 else " (gone)"
    return f" ({r * 100:+.1f}%)"


def _cell(metric: str, m: dict) -> str:
    change = (f" ({m['delta'] * 100:+.2f}pp)" if m["delta"] is not None else "") if metric == "error_rate" \
        else _relative(m["relative"])
    return f"{_value(metric, m['base'])} -> {_value(metric, m['new'])}{change}"


def _rule_change(r: dict) -> str:
    if r["change"] is None:
        return "not in both runs"
    if r["relative"]:
        return _relative(r["change"]).strip(" ()")
    if r["metric"] == "error_rate":
        return f"{r['change'] * 100:+.2f}pp"
    if r["metric"] == "rps":
        return f"{r['change']:+.1f} req/s"
    return ("+" if r["change"] >= 0 else "-") + format_ns(abs(r["change"]))


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def render(rows: list[dict], rule_results: list[dict] = ()) -> str:
    """The comparison as a plain-text table (base -> new (change)), then each rule's outcome."""
    table = []
    for row in rows:
        name = row["endpoint"] + ("" if row["in_base"] else " (new only)") + ("" if row["in_new"] else
                                                                               " (base only)")
        table.append([name, *(_cell(m, row["metrics"][m]) for m in METRICS)])
    out = [_table(["endpoint", "req/s", "p50", "p95", "p99", "error rate"], table)]
    if rule_results:
        failed = sum(1 for r in rule_results if not r["passed"])
        out += ["", f"fail-on: {len(rule_results) - failed} passed, {failed} failed"]
        for r in rule_results:
            where = f"{r['endpoint']}: " if r["endpoint"] is not None else ""
            out.append(f"  {'ok  ' if r['passed'] else 'FAIL'}  {r['rule']}  ({where}{r['metric']} "
                       f"{_rule_change(r)}; {_value(r['metric'], r['base'])} -> {_value(r['metric'], r['new'])})")
    return "\n".join(out)
