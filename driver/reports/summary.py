"""Plain-text rendering of a Result: the live line and the end-of-run tables.

The table's `errors` are failures: transport errors (unanswered at the end and
dropped arrivals included) + 4xx/5xx responses that were not throttling, with the
error rate beside them; the transport errors by kind and the HTTP errors by class
follow, so a run where every response is a 401 cannot read as error free.
"""
from __future__ import annotations

from driver.durations import format_ns
from driver.reports.capacity import capacity_lines
from driver.reports.chaos import chaos_lines
from driver.reports.common import checks_message, group_description, grouped, outcome, rate_text
from driver.reports.memory import leak_lines
from driver.stats.result import Result

_ERROR_SHORT = {
    "connect_refused": "refused",
    "connect_timeout": "conn-timeout",
    "request_timeout": "timeout",
    "connection_reset": "reset",
    "protocol_error": "protocol",
    "tls": "tls",
    "other": "other",
    "unfinished": "unanswered",
    "dropped": "dropped",
    "reply_missing": "no-reply",
}


def live_line(window, duration_s: float | None) -> str:
    """One line for a window (driver.stats.window.Window): users, req/s, failures, p50/p99;
    in a grouped run, one more line per group."""
    t = window.t
    total = f"/{duration_s:g}s" if duration_s else "s"
    tot = window.total
    line = (
        f"[{t:6.1f}{total}] users {window.active_users:>5}  req/s {window.rps:>9.0f}  "
        f"errors {tot.failures:>6} ({rate_text(tot.error_rate)})  p50 {format_ns(tot.percentile(50)):>8}  "
        f"p99 {format_ns(tot.percentile(99)):>8}  in-flight {window.in_flight}"
        + "".join(f"  rss[{pid}] {s.rss_bytes / 1e6:.1f}MB" for pid, s in window.watch.items())
    )
    width = max((len(n) for n in window.groups), default=0)
    return "\n".join([line, *(group_line(name, w, width) for name, w in window.groups.items())])


def group_line(name: str, window, width: int = 0) -> str:
    """A group's line of the live view: its users, req/s, failures, p50/p99."""
    tot = window.total
    return (f"  {name:<{width}} users {window.active_users:>5}  req/s {window.rps:>9.0f}  "
            f"errors {tot.failures:>6} ({rate_text(tot.error_rate)})  p50 {format_ns(tot.percentile(50)):>8}  "
            f"p99 {format_ns(tot.percentile(99)):>8}")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]  # rows may be none
    line = lambda cells: "  ".join(  # noqa: E731 - a tiny local formatter
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
    )
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def _listed(counts: dict[str, int], names: dict[str, str] | None = None) -> str:
    return ", ".join(f"{names[k] if names else k} {n}" for k, n in counts.items() if n) or "-"


def render(result: Result) -> str:
    """The end-of-run report: throughput and errors, then latency, per endpoint and total
    (a grouped run: a section per group, then the whole run's total)."""
    if result.groups:
        out = []
        for name, sub in result.groups.items():
            out += [f"== {name}: {group_description(sub)}", *_tables(sub), ""]
        whole = _table(["whole run", "requests", "req/s", "errors", "error rate"], [_total_row(result)])
        out.append(whole)
    else:
        out = _tables(result)
    return _tail(result, out)


def _total_row(result: Result) -> list[str]:
    tot, d = result.totals(), result.duration_s
    rate = tot.rate(d)
    return ["total", str(tot.count), f"{rate:.1f}" if rate is not None else "-", str(tot.failures),
            rate_text(tot.error_rate)]


def _tables(result: Result) -> list[str]:
    """Throughput and errors, then latency, per endpoint of `result` and its total."""
    eps = grouped(list(result.endpoints))  # requests, replies, api:, chaos:, each in the result's order
    if len(eps) > 1:
        eps.append(result.totals())
    d = result.duration_s
    rows, lat_rows = [], []
    scenario = any(ep.checks or ep.throttled or ep.is_aggregate for ep in eps)
    for ep in eps:
        rate = ep.rate(d)
        row = [ep.name, str(ep.count), f"{rate:.1f}" if rate is not None else "-", str(ep.failures),
               rate_text(ep.error_rate), _listed(ep.errors_by_kind, _ERROR_SHORT), _listed(ep.http_errors_by_class),
               " ".join(f"{k}:{n}" for k, n in ep.status.items() if n) or "-"]
        if scenario:
            row += [str(ep.throttled), f"{ep.check_failures}/{ep.checks}" if ep.checks else "-"]
        rows.append(row)
        lat = ep.latency()
        lat_rows.append([ep.name] + [format_ns(lat[k]) for k in
                                     ("min_ns", "mean_ns", "p50_ns", "p90_ns", "p95_ns", "p99_ns", "p99_9_ns",
                                      "max_ns")])
    heads = ["endpoint", "requests", "req/s", "errors", "error rate", "transport errors", "HTTP errors", "status"]
    if scenario:
        heads += ["throttled", "checks failed"]
    return [
        _table(heads, rows),
        "",
        _table(["latency", "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max"], lat_rows),
    ] + _lost(result)


def _tail(result: Result, out: list[str]) -> str:
    """Everything after the endpoint tables, and the heading line."""
    d = result.duration_s
    leaks = leak_lines(result)
    if leaks:
        out += ["", "memory slope after warm-up (Theil-Sen, MB = 10**6 bytes):", *(f"  {line}" for line in leaks)]
    if result.notes:
        out += ["", "notes:", *(f"  {note}" for note in result.notes)]
    out += chaos_lines(result)
    out += capacity_lines(result)
    if result.checks:
        out += ["", "failed checks:"]
        out += [f"  {c['failures']:>8}  {c['endpoint']}: {c['reason']}" for c in result.checks[:20]]
        if len(result.checks) > 20:
            out.append(f"  ... and {len(result.checks) - 20} more in result.json")
    checks_failed = outcome(result)["checks_failed"]
    if checks_failed:
        out += ["", "CHECKS FAILED: " + checks_message(checks_failed)]
    mode = result.plan.get("mode")
    head = f"{d:.1f}s, {result.plan.get('workers')} workers, {mode} loop, target {result.plan.get('target')}"
    if result.groups:
        head = f"{d:.1f}s, {result.plan.get('workers')} workers, {len(result.groups)} scenarios: " \
               + ", ".join(result.groups)
    out.insert(0, head + "\n")
    if not result.complete:
        out += ["", "INCOMPLETE: " + "; ".join(result.reasons)]
    return "\n".join(out)


def _lost(result: Result) -> list[str]:
    """What was asked of the target and never answered or never sent, and open-loop lateness."""
    tot = result.totals()
    out = []
    if tot.unfinished:
        out.append(f"unanswered at the end: {tot.unfinished} requests still in flight when the run ended "
                   f"(errors; their age is in the latency)")
    if result.plan.get("mode") == "open":
        service = tot.service()
        out.append(f"open loop: latency from the intended start; {tot.arrivals} arrivals, late {tot.late}, "
                   f"dropped {tot.dropped} (never sent: errors); from the actual send: "
                   f"p50 {format_ns(service['p50_ns'])}, p99 {format_ns(service['p99_ns'])}")
    elif tot.dropped:
        out.append(f"dropped: {tot.dropped} arrivals never sent (errors)")
    return [""] + out if out else []
