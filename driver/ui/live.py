"""The supervisor's per-second windows (driver.stats.window.Window) as the page's JSON,
and a finished Result as its summary.

A window's entry is its series point (`Window.point()`: the same numbers the terminal
view and Result.series have, latencies in ns) with what was asked (driver.engine.steer),
the busiest endpoints, the live threshold states (driver.stats.thresholds.LiveCheck)
and the load generator's own fitness in that second (driver.stats.validity's bounds).
"""
from __future__ import annotations

from driver.stats.thresholds import LiveCheck, is_live, parse_all
from driver.stats.validity import CPU_BOUND, LAG_BOUND_NS

__all__ = ["LiveWindows", "result_summary", "MAX_ROWS"]

MAX_ROWS = 20  # endpoints per window: the busiest


def _row(e, dt: float) -> dict:
    return {"name": e.name, "requests": e.count, "rps": e.rate(dt) or 0.0, "errors": e.failures,
            "check_failures": e.check_failures, "error_rate": e.error_rate,
            "p50_ns": e.percentile(50), "p95_ns": e.percentile(95), "p99_ns": e.percentile(99)}


class LiveWindows:
    """Turns each window of one run into a JSON-ready dict (keeps the live threshold state)."""

    def __init__(self, thresholds, steering=None):
        parsed = parse_all(thresholds)
        self.check = LiveCheck(parsed)
        self.steering = steering
        # every threshold: "pending" until judged; the end-only ones say so
        self.states = {th.text: {"threshold": th.text, "state": "pending" if is_live(th) else "at the end",
                                 "value": None, "unit": th.unit} for th in parsed}

    def entry(self, win) -> dict:
        point = win.point()
        if self.steering is not None and "asked" not in point:
            point.update(self.steering.point(win.t))
        for v in self.check.update(win):
            self.states[v["threshold"]] = {"threshold": v["threshold"], "value": v["value"], "unit": v["unit"],
                                           "state": "passing" if v["passed"] else "failing now"}
        fit = []
        if win.cpu_max >= CPU_BOUND:
            fit.append(f"a worker used {win.cpu_max:.0%} of a core: the generator may be the bottleneck")
        if win.lag_mean_ns > LAG_BOUND_NS:
            fit.append(f"event-loop lag {win.lag_mean_ns / 1e6:.1f} ms: timings are inflated")
        return {"point": point, "dt": win.dt, "rows": [_row(e, win.dt) for e in win.rows[:MAX_ROWS]],
                "more_rows": max(0, len(win.rows) - MAX_ROWS), "thresholds": list(self.states.values()),
                "fitness": fit}


def result_summary(result, run_name: str | None, files: list[str], failed: list[str] = ()) -> dict:
    """What the page shows when a run ended: totals, verdicts, failed checks, validity."""
    tot = result.totals()
    lat = tot.latency()
    return {
        "run": run_name,
        "files": files,
        "report_failures": list(failed),
        "complete": result.complete,
        "interrupted": result.interrupted,
        "reasons": list(result.reasons),
        "notes": list(result.notes),
        "duration_s": result.duration_s,
        "requests": tot.count,
        "rps": tot.rate(result.duration_s) or 0.0,
        "errors": tot.failures,
        "error_rate": tot.error_rate,
        "p50_ns": lat.get("p50_ns"), "p95_ns": lat.get("p95_ns"), "p99_ns": lat.get("p99_ns"),
        "verdicts": [{"threshold": v["threshold"], "passed": v["passed"], "value": v["value"], "unit": v["unit"]}
                     for v in result.verdicts],
        "checks": [{"endpoint": c["endpoint"], "reason": c["reason"], "failures": c["failures"]}
                   for c in result.checks],
        "validity": result.validity,
        "endpoints": [_row(e, result.duration_s) for e in result.endpoints[:MAX_ROWS]],
    }
