"""Plain-text rendering of a Result: the live line and the end-of-run tables."""
from __future__ import annotations

from driver.stats.result import Result
from driver.durations import format_ns

_ERROR_SHORT = {
    "connect_refused": "refused",
    "connect_timeout": "conn-timeout",
    "request_timeout": "timeout",
    "connection_reset": "reset",
    "protocol_error": "protocol",
    "tls": "tls",
    "other": "other",
    "unfinished": "unfinished",
    "dropped": "dropped",
}


def live_line(point: dict, duration_s: float | None) -> str:
    t = point["t"]
    total = f"/{duration_s:g}s" if duration_s else "s"
    errors = point["errors"] + point["http_errors"]
    return (
        f"[{t:6.1f}{total}] users {point['active_users']:>5}  req/s {point['rps']:>9.0f}  "
        f"errors {errors:>6}  p50 {format_ns(point['p50_ns']):>8}  p99 {format_ns(point['p99_ns']):>8}  "
        f"in-flight {point['in_flight']}"
    )


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(  # noqa: E731 - a tiny local formatter
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
    )
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def render(result: Result) -> str:
    """The end-of-run report: throughput and errors, then latency, per endpoint and total."""
    eps = list(result.endpoints)
    if len(eps) > 1:
        eps.append(result.totals())
    d = result.duration_s
    rows, lat_rows = [], []
    scenario = any(ep.checks or ep.throttled or ep.is_flow for ep in eps)
    for ep in eps:
        kinds = ", ".join(f"{_ERROR_SHORT[k]} {n}" for k, n in ep.errors_by_kind.items() if n) or "-"
        status = " ".join(f"{k}:{n}" for k, n in ep.status.items() if n) or "-"
        count = ep.flows if ep.is_flow else ep.requests
        row = [ep.name, str(count), f"{count / d:.1f}" if d else "-", str(ep.errors), kinds, status]
        if scenario:
            row += [str(ep.throttled), f"{ep.check_failures}/{ep.checks}" if ep.checks else "-"]
        rows.append(row)
        lat = ep.latency()
        lat_rows.append([ep.name] + [format_ns(lat[k]) for k in
                                     ("min_ns", "mean_ns", "p50_ns", "p90_ns", "p95_ns", "p99_ns", "p99_9_ns",
                                      "max_ns")])
    heads = ["endpoint", "requests", "req/s", "errors", "error kinds", "status"]
    if scenario:
        heads += ["throttled", "checks failed"]
    out = [
        _table(heads, rows),
        "",
        _table(["latency", "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max"], lat_rows),
    ]
    mode = result.plan.get("mode")
    if mode == "open":
        tot = result.totals()
        c = tot.summary(d)["counters"]
        out += ["", f"open loop: latency from the intended start; late arrivals {c['late']}, "
                    f"dropped at the in-flight cap {c['dropped']}; from the actual send: "
                    f"p50 {format_ns(tot.service()['p50_ns'])}, p99 {format_ns(tot.service()['p99_ns'])}"]
    if result.checks:
        out += ["", "failed checks:"]
        out += [f"  {c['failures']:>8}  {c['endpoint']}: {c['reason']}" for c in result.checks[:20]]
        if len(result.checks) > 20:
            out.append(f"  ... and {len(result.checks) - 20} more in result.json")
    head = f"{d:.1f}s, {result.plan.get('workers')} workers, {mode} loop, target {result.plan.get('target')}"
    out.insert(0, head + "\n")
    if not result.complete:
        out += ["", "INCOMPLETE: " + "; ".join(result.reasons)]
    return "\n".join(out)
