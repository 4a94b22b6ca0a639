"""Seconds to write each report format for a one-hour result, and the files' sizes.

The result is synthetic but shaped like a real soak run: 3,600 per-second points
(ramp-up, a slow spell with errors, noise), 20 endpoints whose histograms hold
every one of ~7.2 million latencies (log-normal bodies with slow tails), failed
checks, thresholds and a validity verdict. Each format is written `--repeats`
times (default 3) into a temporary directory; the figure is the median. Usage:

    python benchmarks/bench_reports.py [--seconds 3600] [--rps 2000] [--repeats 3] [--write benchmarks/RESULTS.md]

`--write` replaces the section between <!-- reports:begin --> and <!-- reports:end -->
of that file (appending it when missing) and keeps the rest.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from driver import __version__, histogram  # noqa: E402
from driver.environment import cpu_model  # noqa: E402
from driver.layout import (  # noqa: E402
    C_BYTES_IN, C_BYTES_OUT, C_CHECK_FAILED, C_CHECKS, C_CONNECTS, C_ERR_CONN_RESET, C_ERR_REQUEST_TIMEOUT,
    C_LAT_MAX_NS, C_LAT_MIN_NS, C_LAT_SUM_NS, C_REQUESTS, C_SENT, C_STATUS_2XX, C_STATUS_4XX, C_STATUS_5XX,
    C_THROTTLED, COUNTS_LEN, H_LATENCY, N_COUNTERS, N_HISTS,
)
from driver.reports import write_reports  # noqa: E402
from driver.stats.result import EndpointResult, Result  # noqa: E402

BEGIN, END = "<!-- reports:begin -->", "<!-- reports:end -->"
NAMES = ["POST /webhook", "GET /api/users/{id}", "POST /jobs", "GET /jobs/{id}", "/start", "/help", "/search",
         "/weather", "/balance", "/ai_chat", "GET /health", "PUT /api/users/{id}", "/profile", "/settings",
         "DELETE /jobs/{id}", "/subscribe", "/export", "/history", "/feedback", "/broadcast"]
REASONS = ["status is 200", "json.ok is true", "body contains \"result\"", "latency < 500ms",
           "header Content-Type is application/json", "text matches /^Hello, <b>\\w+</b>/", "json.items | length > 0"]


def _endpoint(name: str, n: int, median_ms: float, rng: np.random.Generator, i: int) -> EndpointResult:
    slow = n // 100  # 1% from a tail ten times slower
    samples = np.concatenate([rng.lognormal(np.log(median_ms * 1e6), 0.45, n - slow),
                              rng.lognormal(np.log(median_ms * 1e7), 0.7, slow)])
    samples = np.clip(samples, 50_000, 3_000_000_000_000).astype(np.int64)
    hists = np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64)
    hists[H_LATENCY] = np.bincount(histogram.counts_indexes(samples), minlength=COUNTS_LEN)
    c = np.zeros(N_COUNTERS, dtype=np.int64)
    e5xx = n // 200 if i % 3 == 0 else 0
    e4xx = n // 500 if i % 4 == 1 else 0
    throttled = e4xx // 2 if i == 1 else 0
    c[C_REQUESTS] = n
    c[C_STATUS_2XX] = n - e4xx - e5xx
    c[C_STATUS_4XX], c[C_STATUS_5XX], c[C_THROTTLED] = e4xx, e5xx, throttled
    c[C_ERR_CONN_RESET] = n // 20_000
    c[C_ERR_REQUEST_TIMEOUT] = n // 50_000 if i % 2 else 0
    c[C_SENT] = n + int(c[C_ERR_CONN_RESET] + c[C_ERR_REQUEST_TIMEOUT])
    c[C_LAT_SUM_NS] = int(samples.sum())
    c[C_LAT_MIN_NS], c[C_LAT_MAX_NS] = int(samples.min()), int(samples.max())
    c[C_BYTES_IN], c[C_BYTES_OUT] = n * 310, n * 290
    c[C_CHECKS] = 2 * n
    c[C_CHECK_FAILED] = n // 1000 if i % 5 == 2 else 0
    c[C_CONNECTS] = 25
    return EndpointResult(name, c, hists)


def _series(seconds: int, rps: float, users: int, rng: np.random.Generator) -> list[dict]:
    points = []
    spell = range(int(seconds * 0.4), int(seconds * 0.4) + max(1, seconds // 30))
    for s in range(seconds):
        ramp = min(1.0, (s + 1) / max(1, min(60, seconds // 10)))
        slow = s in spell
        rate = rps * ramp * (0.6 if slow else 1.0) * (1 + rng.normal(0, 0.03))
        p50 = 4e6 * (3.0 if slow else 1.0) * (1 + rng.normal(0, 0.05))
        point = {
            "t": round(s + 1 + rng.uniform(0, 0.004), 3), "requests": int(rate), "rps": rate,
            "errors": int(rng.poisson(20 if slow else 0.3)), "http_errors": int(rng.poisson(60 if slow else 5)),
            "throttled": int(rng.poisson(2)), "check_failures": int(rng.poisson(3)), "bytes_in": int(rate * 310),
            "p50_ns": int(p50), "p90_ns": int(p50 * 2.1), "p95_ns": int(p50 * 2.9), "p99_ns": int(p50 * 6.5),
            "active_users": int(users * ramp), "in_flight": int(users * ramp * rng.uniform(0.6, 0.9)),
            "connections": int(users * ramp), "late": 0, "dropped": 0,
            "cpu_max": round(float(min(1.0, 0.45 * ramp + rng.uniform(0, 0.1))), 4),
            "lag_mean_ns": int(rng.uniform(3e5, 2e6)),
        }
        points.append(point)
    return points


def synthetic_result(seconds: int = 3600, endpoints: int = 20, rps: float = 2000.0, users: int = 500,
                     seed: int = 7) -> Result:
    """A soak-run-shaped Result: `seconds` series points, `endpoints` full histograms, verdicts and checks."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, endpoints + 1) ** 0.8
    counts = (weights / weights.sum() * rps * seconds).astype(np.int64)
    names = [NAMES[i % len(NAMES)] + (f" #{i // len(NAMES)}" if i >= len(NAMES) else "") for i in range(endpoints)]
    eps = [_endpoint(name, max(1, int(n)), float(rng.uniform(1.5, 40)), rng, i)
           for i, (name, n) in enumerate(zip(names, counts))]
    checks = [{"endpoint": names[(3 * k) % endpoints], "reason": REASONS[k % len(REASONS)], "failures": 900 // (k + 1)}
              for k in range(25)]
    result = Result(
        plan={"scenario": {"python": "bots/soak.py:SoakUser", "tasks": names[:5], "flows": [],
                           "think": ["uniform", 0.5, 1.5], "retry_after": "honour"},
              "profile": "soak", "thresholds": ["p99<500ms", "error_rate<1%", "rps>1500", "POST /jobs: p95<20ms"],
              "target": "http://127.0.0.1:8080", "mode": "closed", "shape": [[0.0, 0.0], [60.0, users],
                                                                             [float(seconds), users]],
              "duration_s": float(seconds), "max_requests": None, "workers": 8, "think_s": 1.0,
              "connect_timeout_s": 5.0, "request_timeout_s": 30.0, "max_in_flight": 1000, "requests": []},
        endpoints=eps, duration_s=float(seconds), started_at="2026-01-05T09:00:00+00:00",
        series=_series(seconds, rps, users, rng),
        workers=[{"index": i, "pid": 4000 + i, "phase": "done", "exit": "exit code 0",
                  "requests": int(counts.sum() // 8), "cpu_s": seconds * 0.45, "lag_max_ms": 4.2, "lag_mean_ms": 0.9}
                 for i in range(8)],
        environment={"driver": __version__, "python": platform.python_version(), "cpus": 8, "workers": 8},
        checks=checks,
    )
    tot = result.totals().latency()
    result.verdicts = [
        _verdict("p99<500ms", None, "p99", "<", 5e8, tot["p99_ns"], "ns"),
        _verdict("error_rate<1%", None, "error_rate", "<", 0.01, result.totals().error_rate, "ratio"),
        _verdict("rps>1500", None, "rps", ">", 1500.0, result.totals().requests / seconds, "rps"),
        _verdict("POST /jobs: p95<20ms", "POST /jobs", "p95", "<", 2e7,
                 result.endpoint("POST /jobs").latency()["p95_ns"] if "POST /jobs" in names else None, "ns"),
    ]
    result.validity = {"valid": True, "reasons": [], "figures": {
        "seconds": seconds - 1, "seconds_cpu_bound": 0, "cpu_max_share": 0.55, "seconds_loop_lagging": 0,
        "lag_max_ns": 2_000_000, "late": 0, "late_share": 0.0}}
    return result


def _verdict(threshold, endpoint, metric, op, limit, value, unit) -> dict:
    passed = value is not None and (value < limit if op == "<" else value > limit)
    return {"threshold": threshold, "endpoint": endpoint, "metric": metric, "op": op, "limit": limit,
            "value": value, "unit": unit, "passed": passed, "abort": False}


FILES = {"json": ["result.json"], "html": ["report.html"], "md": ["summary.md"],
         "csv": ["stats.csv", "stats_history.csv", "failures.csv"], "junit": ["junit.xml"]}


def measure(result: Result, repeats: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, files in FILES.items():
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                write_reports(result, Path(tmp), [fmt])
                times.append(time.perf_counter() - t0)
            size = sum((Path(tmp) / f).stat().st_size for f in files)
            rows.append({"format": fmt, "files": ", ".join(files), "seconds": statistics.median(times), "bytes": size})
    return rows


def _span(seconds: int) -> str:
    return "one-hour" if seconds == 3600 else f"{seconds / 3600:g}-hour" if seconds % 360 == 0 else f"{seconds}-second"


def render(rows: list[dict], args, build_s: float, result: Result) -> str:
    total = sum(r["seconds"] for r in rows)
    n = sum(e.requests for e in result.endpoints)
    lines = [
        BEGIN,
        f"## Reports: time to write each format for a {_span(args.seconds)} result (`bench_reports.py`)",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {cpu_model()}, {os.cpu_count()} cores; python {platform.python_version()}, "
        f"orjson {orjson.__version__}, numpy {np.__version__}, driver {__version__}",
        f"- Command: `python benchmarks/bench_reports.py --seconds {args.seconds} --rps {args.rps:g} "
        f"--repeats {args.repeats} --write {args.write or 'FILE'}`",
        f"- Result: {len(result.series):,} per-second points, {len(result.endpoints)} endpoints, {n:,} latencies "
        f"in their histograms ({sum(int(np.count_nonzero(e.hists[H_LATENCY])) for e in result.endpoints):,} "
        f"non-empty buckets), {len(result.checks)} failed checks, {len(result.verdicts)} thresholds "
        f"(built in {build_s:.1f}s, not counted)",
        f"- Median of {args.repeats} writes each; every format together: **{total:.2f}s**",
        "",
        "| format | files | seconds | size |",
        "| :--- | :--- | ---: | ---: |",
    ]
    lines += [f"| {r['format']} | {r['files']} | {r['seconds']:.3f} | {r['bytes'] / 1024:,.0f} KiB |" for r in rows]
    lines += ["", END]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    start, end = text.find(BEGIN), text.find(END)
    if start >= 0 and end > start:
        text = text[:start] + section + text[end + len(END):]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--endpoints", type=int, default=20)
    ap.add_argument("--rps", type=float, default=2000.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--write", metavar="FILE", help="replace the reports section of this markdown file")
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = synthetic_result(args.seconds, args.endpoints, args.rps)
    build_s = time.perf_counter() - t0
    section = render(measure(result, args.repeats), args, build_s, result)
    print(section)
    if args.write:
        write_section(Path(args.write), section)


if __name__ == "__main__":
    main()
