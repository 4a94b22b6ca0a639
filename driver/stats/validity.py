"""A verdict on the run itself: was the load generator fit to measure?

A load generator that is itself the bottleneck measures itself: its CPU is
saturated, its event loop is late, its open-loop arrivals start late, and the
latencies it reports include its own queueing. The driver watches itself (each
worker's CPU share and event-loop lag every second, late arrivals) and says when
the numbers should not be trusted, with the figures.

Rules (each breach is a reason; any reason makes the run not valid):
- CPU: the busiest worker used >= CPU_BOUND of a core in more than MOST of the
  measured seconds.
- Event loop: the worst worker's mean event-loop lag was over LAG_BOUND_NS in more
  than MOST of the measured seconds.
- Open loop: more than LATE_BOUND of the arrivals started over LATE_NS late (the
  arrivals of the run's total: requests, or in a scenario iterations).
- Connections: connects failed at the process's open-file limit (EMFILE/ENFILE): the
  run had fewer users or connections than asked, and its numbers describe a
  smaller load.
The first second (start-up) and a final partial second are left out.
"""
from __future__ import annotations

from driver.layout import LATE_NS

CPU_BOUND = 0.95
MOST = 0.5
LAG_BOUND_NS = 20_000_000  # 20 ms of timer lateness means callbacks queue for a long time
LATE_BOUND = 0.05
SERIES_FIGURES = ("t", "cpu_max", "lag_mean_ns")  # what `assess` reads of each point of the series


def assess(result) -> dict:
    """{"valid": bool, "reasons": [...], "figures": {...}} for a Result."""
    points = [p for p in result.series if p.get("t", 0) > 1.0]
    if points and result.duration_s and points[-1]["t"] > result.duration_s:
        points = points[:-1] or points  # the drain after the end is not load
    n = len(points)
    cpu = [p.get("cpu_max", 0.0) for p in points]
    lag = [p.get("lag_mean_ns", 0) for p in points]
    cpu_bound = sum(1 for c in cpu if c >= CPU_BOUND)
    laggy = sum(1 for x in lag if x > LAG_BOUND_NS)
    tot = result.totals()
    late, arrivals = tot.late, tot.arrivals
    late_share = late / arrivals if arrivals else 0.0
    figures = {
        "seconds": n,
        "seconds_cpu_bound": cpu_bound,
        "cpu_max_share": max(cpu) if cpu else None,
        "seconds_loop_lagging": laggy,
        "lag_max_ns": max(lag) if lag else None,
        "late": late,
        "late_share": late_share,
        "fd_limit_errors": sum(w.get("fd_limit_errors", 0) for w in result.workers),
        "connections_max": sum(w.get("connections_max", 0) for w in result.workers),
    }
    reasons = []
    if n and cpu_bound > MOST * n:
        reasons.append(f"the load generator was CPU-bound: a worker (or the bot side: mock API and "
                       f"replies) used >= {CPU_BOUND:.0%} of a core in {cpu_bound} of {n} s (add "
                       f"workers, or lower the load per worker)")
    if n and laggy > MOST * n:
        reasons.append(f"the workers' event loops lagged over {LAG_BOUND_NS / 1e6:g} ms in {laggy} of {n} s")
    if result.plan.get("mode") == "open" and late_share > LATE_BOUND:
        reasons.append(f"{late_share:.1%} of the arrivals started more than {LATE_NS / 1e6:g} ms after "
                       f"their intended time (limit {LATE_BOUND:.0%})")
    if figures["fd_limit_errors"]:
        reasons.append(f"{figures['fd_limit_errors']} connects failed at the open-file limit: at most "
                       f"{figures['connections_max']} connections were open of the {_asked(result.plan)} asked "
                       f"(raise `ulimit -n`, or ask for fewer users)")
    return {"valid": not reasons, "reasons": reasons, "figures": figures}


def _asked(plan: dict) -> str:
    """The connections the plan asked for at its peak: users (closed loop) or the cap."""
    if plan.get("mode") == "open":
        return f"{plan.get('max_in_flight')} (--max-in-flight)"
    peak = max((p[1] for p in plan.get("shape") or [[0, 0]]), default=0)
    return f"{int(peak)} users"
