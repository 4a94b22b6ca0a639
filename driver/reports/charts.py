"""The data behind report.html's charts, in display units, from a Result.

req/s with failures/s (transport + HTTP errors) and throttled/s; p50/p90/p95/p99 per
second; active users, in-flight requests and connections (late and dropped arrivals
in open loop); the load generator's own CPU and event-loop lag; and the latency
distribution as an HdrHistogram percentile plot (x = 1/(1-p) on a log axis: 0%, 90%,
99%, 99.9%...) of the busiest endpoints and the total, computed from the histograms.
"""
from __future__ import annotations

import math

import numpy as np

from driver import histogram
from driver.layout import H_LATENCY
from driver.reports.common import ms
from driver.stats.result import EndpointResult, Result
from driver.stats.window import point_failures

__all__ = ["chart_data", "series_data", "percentile_data", "TOP_ENDPOINTS"]

TOP_ENDPOINTS = 5  # endpoints in the percentile plot (and the total)
STEPS_PER_DECADE = 24  # points of the percentile plot per decade of 1/(1-p)


def _round_list(values, digits: int) -> list:
    return [None if v is None else round(float(v), digits) for v in values]


def series_data(result: Result) -> dict:
    """The per-second series as columns, in display units (ms, %, per second)."""
    pts = result.series or []
    t = [float(p.get("t", 0.0)) for p in pts]
    dts = [b - a for a, b in zip([0.0, *t[:-1]], t)]

    def per_s(key):
        return [round(p.get(key, 0) / dt, 2) if dt > 0 else 0.0 for p, dt in zip(pts, dts)]

    def lat(key):
        return _round_list((ms(p.get(key)) for p in pts), 4)

    data = {
        "t": t,
        "rps": [round(float(p.get("rps", 0.0)), 2) for p in pts],
        "errors_ps": [round(point_failures(p) / dt, 2) if dt > 0 else 0.0 for p, dt in zip(pts, dts)],
        "throttled_ps": per_s("throttled"),
        "p50": lat("p50_ns"), "p90": lat("p90_ns"), "p95": lat("p95_ns"), "p99": lat("p99_ns"),
        "users": [p.get("active_users", 0) for p in pts],
        "in_flight": [p.get("in_flight", 0) for p in pts],
        "connections": [p.get("connections", 0) for p in pts],
        "cpu": [round(100 * float(p.get("cpu_max", 0.0)), 1) for p in pts],
        "lag": lat("lag_mean_ns"),
    }
    if result.plan.get("mode") == "open" or any(p.get("late") or p.get("dropped") for p in pts):
        data["late_ps"] = per_s("late")
        data["dropped_ps"] = per_s("dropped")
    if result.groups:  # a grouped run: each group's req/s, p99 and users, a column per group
        names = list(result.groups)
        of = [[(p.get("groups") or {}).get(n) or {} for p in pts] for n in names]
        data["groups"] = {
            "names": names,
            "rps": [[round(float(g.get("rps", 0.0)), 2) for g in col] for col in of],
            "p99": [_round_list((ms(g.get("p99_ns")) for g in col), 4) for col in of],
            "users": [[g.get("active_users", 0) for g in col] for col in of],
        }
    return data


def percentile_data(result: Result) -> dict:
    """The percentile plot: x = 1/(1-p) on a shared log grid, latency (ms) per endpoint.

    Each curve runs to x = its count, where it ends at the exact maximum (HdrHistogram's
    percentile distribution); past that it is null. Percentiles are kept within the
    endpoint's exact min and max.
    """
    eps = [e for e in result.endpoints if e.count]
    eps.sort(key=lambda e: -int(e.hists[H_LATENCY].sum()))
    chosen: list[tuple[str, EndpointResult, bool]] = [(e.name, e, False) for e in eps[:TOP_ENDPOINTS]]
    if len([e for e in eps if not e.is_aggregate]) > 1:
        chosen.append(("total", result.totals(), True))
    curves = []
    for name, ep, is_total in chosen:
        n = int(ep.hists[H_LATENCY].sum())
        if n:
            curves.append((name, ep, is_total, n))
    if not curves:
        return {"x": [], "series": []}
    top = max(n for *_, n in curves)
    decades = math.log10(top) if top > 1 else 1.0
    grid = [10 ** (i / STEPS_PER_DECADE) for i in range(int(decades * STEPS_PER_DECADE) + 1)]
    xs = sorted(set([round(x, 6) for x in grid] + [float(n) for *_, n in curves]))
    series = []
    for name, ep, is_total, n in curves:
        lat = ep.latency()
        lo, hi = lat["min_ns"], lat["max_ns"]
        inside = [x for x in xs if x < n]
        values = histogram.percentiles(ep.hists[H_LATENCY], [min(100.0, 100.0 - 100.0 / x) for x in inside])
        values = np.clip(np.array(values, dtype=np.float64), lo, hi) / 1e6
        column: list = [round(float(v), 4) for v in values]
        column.append(round(hi / 1e6, 4))  # x == n: the maximum
        column += [None] * (len(xs) - len(column))
        series.append({"name": name, "total": is_total, "values": column})
    return {"x": xs, "series": series}


def chart_data(result: Result) -> dict:
    return {
        "mode": result.plan.get("mode"),
        "duration": result.duration_s,
        "aborted_t": (result.aborted or {}).get("t"),
        "series": series_data(result),
        "percentiles": percentile_data(result),
    }
