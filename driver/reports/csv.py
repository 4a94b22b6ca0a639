"""CSV in Locust's layout (`locust --csv`): stats.csv, stats_history.csv, failures.csv.

Columns, order, the "Aggregated" row, milliseconds, integer percentiles and "N/A"
for an endpoint without requests are Locust's (locust.stats.StatsCSV,
PERCENTILES_TO_REPORT), so tools that read Locust's files read these. What differs
is where the numbers come from:

- percentiles come from our HdrHistograms (3 significant digits), kept within the
  exact min and max, rounded to whole ms as Locust writes them; min, max and
  average are exact (fractional ms);
- Request Count = responses + transport errors (`attempts`: Locust counts a failed
  request as a request); Failure Count = transport errors (unanswered at the end and
  dropped arrivals included) + 4xx/5xx responses that were not throttling (429, 503
  with Retry-After) (`failures`); failed checks are listed in failures.csv;
- Average Content Size is response bytes (head and body) per response;
- stats_history.csv has one "Aggregated" row per second of the run (the per-second
  series; per-endpoint history is not kept). Its percentiles are of that second
  (Locust: a ~10 s window); 66/75/80/98/99.9/99.99/100% are not kept per second and
  are "N/A", as are the running totals' median, average, min and max, except in the
  last row, whose running totals are the whole run's (those of stats.csv);
- failures.csv leaves First Seen and Last Seen empty (not recorded);
- a grouped run (a config's scenarios:) lists each group's endpoints as
  "GROUP › NAME" and its total as a row of Type "scenario" named GROUP (stats.csv),
  and one "scenario" row per group and second beside the "Aggregated" one
  (stats_history.csv); "Aggregated" is the whole run.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

from driver import histogram
from driver.layout import C_BYTES_IN, H_LATENCY
from driver.stats.result import EndpointResult, Result
from driver.reports import write_text
from driver.reports.common import ERROR_LABELS, method_and_name, totals
from driver.stats.window import point_attempts, point_failures

# locust.stats.PERCENTILES_TO_REPORT and get_readable_percentiles
PERCENTILES = (0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0)
PERCENTILE_COLUMNS = tuple(f"{int(p * 100) if (p * 100).is_integer() else round(100 * p, 6)}%" for p in PERCENTILES)

STATS_COLUMNS = (
    "Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
    "Min Response Time", "Max Response Time", "Average Content Size", "Requests/s", "Failures/s",
    *PERCENTILE_COLUMNS,
)
HISTORY_COLUMNS = (
    "Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", *PERCENTILE_COLUMNS,
    "Total Request Count", "Total Failure Count", "Total Median Response Time", "Total Average Response Time",
    "Total Min Response Time", "Total Max Response Time", "Total Average Content Size",
)
FAILURES_COLUMNS = ("Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen")
# what the series keeps per second, by Locust percentile column
_SERIES_PERCENTILES = {0.50: "p50_ns", 0.90: "p90_ns", 0.95: "p95_ns", 0.99: "p99_ns"}


def write_csv(result: Result, directory: Path) -> list[Path]:
    """stats.csv, stats_history.csv and failures.csv in `directory`; the paths."""
    directory = Path(directory)
    return [
        write_text(directory / "stats.csv", _table(STATS_COLUMNS, stats_rows(result))),
        write_text(directory / "stats_history.csv", _table(HISTORY_COLUMNS, history_rows(result))),
        write_text(directory / "failures.csv", _table(FAILURES_COLUMNS, failure_rows(result))),
    ]


def _table(columns, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out)  # Locust's dialect: excel, \r\n line ends
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def _ms(ns) -> float:
    return round(ns / 1e6, 6)


def _stats_row(ep: EndpointResult, method: str, name: str, duration_s: float) -> list:
    count, attempts, failures = ep.count, ep.attempts, ep.failures
    rate = (lambda n: n / duration_s) if duration_s > 0 else (lambda n: 0.0)
    if not count:
        return [method, name, attempts, failures, 0, 0.0, 0, 0, 0, rate(attempts), rate(failures),
                *["N/A"] * len(PERCENTILES)]
    lat = ep.latency()
    lo, hi = lat["min_ns"], lat["max_ns"]
    values = histogram.percentiles(ep.hists[H_LATENCY], [p * 100 for p in PERCENTILES[:-1]])
    # a percentile is its bucket's highest equivalent value: keep it within the exact range
    pcts = [round(_ms(min(max(v, lo), hi))) for v in values] + [round(_ms(hi))]
    median = round(_ms(min(max(lat["p50_ns"], lo), hi)))
    size = int(ep.counters[C_BYTES_IN]) / count
    return [method, name, attempts, failures, median, _ms(lat["mean_ns"]), _ms(lo), _ms(hi), size,
            rate(attempts), rate(failures), *pcts]


def stats_rows(result: Result) -> list[list]:
    """stats.csv rows: one per endpoint, sorted by (name, type) as Locust sorts, then Aggregated
    (a grouped run: group by group, each group's endpoints and its total)."""
    rows = []
    for part, prefix in ([(sub, f"{name} › ") for name, sub in result.groups.items()] or [(result, "")]):
        keyed = []
        for ep in part.endpoints:
            method, name = method_and_name(ep.name, part.plan or {})
            keyed.append(((prefix + name, method), ep))
        keyed.sort(key=lambda kv: kv[0])
        rows += [_stats_row(ep, key[1], key[0], part.duration_s) for key, ep in keyed]
        if prefix:
            rows.append(_stats_row(part.totals(), "scenario", prefix.removesuffix(" › "), part.duration_s))
    rows.append(_stats_row(totals(result), "", "Aggregated", result.duration_s))
    return rows


def _epoch(started_at: str) -> float | None:
    try:
        return datetime.fromisoformat(started_at).timestamp()
    except (TypeError, ValueError):
        return None


def history_rows(result: Result) -> list[list]:
    """stats_history.csv rows: the "Aggregated" row of every second of the series."""
    start = _epoch(result.started_at) or 0.0
    rows, group_rows = [], []
    total_requests = total_failures = total_bytes = 0
    prev_t = 0.0
    for point in result.series:
        t = float(point.get("t", 0.0))
        dt = t - prev_t
        prev_t = t
        requests = int(point.get("requests", 0))
        failures = point_failures(point)
        total_requests += point_attempts(point)
        total_failures += failures
        total_bytes += int(point.get("bytes_in", 0))
        pcts = []
        for p in PERCENTILES:
            value = point.get(_SERIES_PERCENTILES[p]) if p in _SERIES_PERCENTILES and requests else None
            pcts.append("N/A" if value is None else round(_ms(value)))
        rows.append([
            int(start + t), int(point.get("active_users", 0)), "", "Aggregated",
            f"{float(point.get('rps', 0.0)):2f}", f"{failures / dt if dt > 0 else 0.0:2f}", *pcts,
            total_requests, total_failures, "N/A", "N/A", "N/A", "N/A",
            total_bytes / total_requests if total_requests else 0,
        ])
        for name, g in (point.get("groups") or {}).items():  # a grouped run: each group's second
            n = int(g.get("requests", 0))
            g_pcts = ["N/A" if p not in (0.50, 0.99) or not n or g.get(_SERIES_PERCENTILES[p]) is None
                      else round(_ms(g[_SERIES_PERCENTILES[p]])) for p in PERCENTILES]
            g_failures = point_failures(g)
            group_rows.append([
                int(start + t), int(g.get("active_users", 0)), "scenario", name,
                f"{float(g.get('rps', 0.0)):2f}", f"{g_failures / dt if dt > 0 else 0.0:2f}", *g_pcts,
                *["N/A"] * 7,
            ])
    if rows:  # the last row's running totals are the whole run's (as stats.csv): fill in what the result knows
        tot = totals(result)
        rows[-1][-7:-5] = [tot.attempts, tot.failures]
        if tot.requests:
            lat = tot.latency()
            rows[-1][-5:] = [round(_ms(lat["p50_ns"])), _ms(lat["mean_ns"]), _ms(lat["min_ns"]), _ms(lat["max_ns"]),
                             int(tot.counters[C_BYTES_IN]) / tot.requests]
    if group_rows:  # each second's group rows after its Aggregated row
        by_second: dict = {}
        for row in group_rows:
            by_second.setdefault(row[0], []).append(row)
        merged, seen = [], set()
        for row in rows:
            merged.append(row)
            if row[0] not in seen:
                seen.add(row[0])
                merged += by_second.get(row[0], [])
        rows = merged
    return rows


def failure_rows(result: Result) -> list[list]:
    """failures.csv rows: transport errors by kind, 4xx/5xx, failed checks; most first."""
    rows = []
    for part, prefix in ([(sub, f"{name} › ") for name, sub in result.groups.items()] or [(result, "")]):
        rows += _failure_rows(part, prefix)
    rows.sort(key=lambda r: -r[3])
    return rows


def _failure_rows(result: Result, prefix: str) -> list[list]:
    rows = []
    plan = result.plan or {}
    for ep in result.endpoints:
        method, name = method_and_name(ep.name, plan)
        name = prefix + name
        for kind, n in ep.errors_by_kind.items():
            if n:
                rows.append([method, name, ERROR_LABELS[kind], n, "", ""])
        if ep.throttled:  # 429s are 4xx and 503s 5xx: say what is left once throttling is taken out
            if ep.http_errors:
                rows.append([method, name, "HTTP 4xx/5xx (not throttling)", ep.http_errors, "", ""])
        else:
            rows += [[method, name, f"HTTP {cls}", n, "", ""] for cls, n in ep.http_errors_by_class.items() if n]
    for check in result.checks or []:
        method, name = method_and_name(str(check.get("endpoint", "")), plan)
        rows.append([method, prefix + name, f"check failed: {check.get('reason', '')}", int(check.get("failures", 0)),
                     "", ""])
    return rows
