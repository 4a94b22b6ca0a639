"""driver's own stability over an hour at a steady rate (issue 12): RSS, CPU per request
and the achieved rate flat from minute 5 to minute 60.

    python benchmarks/run_stability.py                          # 65 min at 5,000 req/s
    python benchmarks/run_stability.py --duration 3m --from-min 1 --to-min 2   # a smoke run
    python benchmarks/run_stability.py --write benchmarks/RESULTS.md

One `driver run` in open loop (`-r RATE`, one worker, `-w 1`) against nginx `return 200`
pinned to core 0, driver pinned to core 1. The harness samples, every second, nginx's
request count (stub_status), the CPU time of driver's whole process tree
(/proc/PID/stat) and the VmRSS of driver's parent and worker. Per minute of load it
computes the achieved rate (nginx's requests in that minute / 60 s), driver's CPU per
request (its CPU in that minute / the requests) and the RSS at the minute's end.

Flat, from `--from-min` to `--to-min` (default 5 to 60), means:
- RSS: parent + worker at the end minus at the start below 5 MB, and the Theil-Sen slope
  of the per-minute RSS below 2 MB/h (the parent's RSS is also split into heap and stacks,
  RssAnon, and shared memory, RssShmem: where a growth would come from);
- CPU per request: the Theil-Sen slope within ±5 % of the median per hour;
- rate: every minute within 1 % of the asked rate.
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as c  # noqa: E402


def rss_parts_kb(pids) -> tuple[int, int, int]:
    """(RssAnon, RssFile, RssShmem) in KB, summed over `pids` (/proc/PID/status): heap and
    stacks, mapped files and libraries, shared memory (driver.shm blocks)."""
    out = [0, 0, 0]
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                for i, key in enumerate(("RssAnon:", "RssFile:", "RssShmem:")):
                    if line.startswith(key):
                        out[i] += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out[0], out[1], out[2]


class Sampler:
    """on_sample for run_monitored, every second: (t, nginx requests, driver tree CPU ticks,
    parent KB, worker KB, the parent's (anon, file, shmem) KB)."""

    def __init__(self, every: float = 1.0):
        self.every = every
        self.rows: list[tuple[float, int, int, int, int]] = []
        self._next = 0.0

    def __call__(self, s: c.Sample, root: int) -> None:
        if s.t < self._next:
            return
        self._next = s.t + self.every
        tree = c.classify_tree(root)
        kb = lambda pids: sum(c.rss_kb(p) or 0 for p in pids)  # noqa: E731
        self.rows.append((s.t, s.requests, s.cpu_ticks, kb(tree["parent"]), kb(tree["workers"]),
                          rss_parts_kb(tree["parent"])))


def at(rows, t: float):
    """The first sample at or after t."""
    return next((r for r in rows if r[0] >= t), None)


def theil_sen(xs: list[float], ys: list[float]) -> float | None:
    """The median of the pairwise slopes (robust to a few outliers)."""
    slopes = [(ys[j] - ys[i]) / (xs[j] - xs[i]) for i in range(len(xs)) for j in range(i + 1, len(xs))
              if xs[j] != xs[i]]
    return statistics.median(slopes) if slopes else None


def minutes(rows, t0: float, t1: float) -> list[dict]:
    """Per whole minute of load: rate, CPU µs per request, RSS at its end."""
    out = []
    m = 1
    while t0 + 60 * m <= t1 + 0.5:
        a, b = at(rows, t0 + 60 * (m - 1)), at(rows, t0 + 60 * m)
        if a is None or b is None:
            break
        dt, dreq, dticks = b[0] - a[0], b[1] - a[1], b[2] - a[2]
        out.append({"minute": m, "rate": dreq / dt if dt else 0.0,
                    "cpu_us_per_req": dticks / c.CLK_TCK * 1e6 / dreq if dreq else None,
                    "parent_kb": b[3], "worker_kb": b[4], "total_kb": b[3] + b[4],
                    "parent_anon_kb": b[5][0], "parent_file_kb": b[5][1], "parent_shmem_kb": b[5][2]})
        m += 1
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", default="65m", help="length of the driver run (default 65m)")
    ap.add_argument("--rate", type=float, default=5000.0, help="arrivals per second (default 5000)")
    ap.add_argument("--from-min", type=int, default=5)
    ap.add_argument("--to-min", type=int, default=60)
    ap.add_argument("--workers", type=int, default=1)
    c.add_driver_args(ap)
    ap.add_argument("--nginx-core", default=c.NGINX_CORE)
    ap.add_argument("--tool-core", default=c.TOOL_CORE)
    ap.add_argument("--nice", type=int, default=-10)
    ap.add_argument("--out", default=None, help="raw files (default benchmarks/out/stability-<time>)")
    ap.add_argument("--write", metavar="RESULTS_MD", default=None,
                    help="write/replace the <!-- stability --> section of this markdown file")
    a = ap.parse_args(argv)
    duration = c.parse_duration(a.duration)
    if not 0 <= a.from_min < a.to_min <= duration / 60:
        ap.error("need 0 <= --from-min < --to-min <= the duration in minutes")

    drv = c.prepare_driver(a.driver_src, a.driver_cmd)
    out = Path(a.out) if a.out else c.OUT_DIR / f"stability-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    a.sched = c.prepare_harness(a.tool_core, a.nice)
    with c.Nginx(core=a.nginx_core) as ngx:
        cmd = ["taskset", "-c", a.tool_core] + drv.cmd + [
            "run", ngx.url, "-r", f"{a.rate:g}", "-d", c.dur_arg(duration), "-w", str(a.workers),
            "-q", "--report", "json", "-o", str(out / "driver-out")] + shlex.split(a.driver_args)
        c.log(f"nginx on {ngx.url}; driver for {c.dur_arg(duration)}: {shlex.join(cmd)}")
        sampler = Sampler()
        rec = c.run_monitored(cmd, c.StubClient(ngx.port), timeout=duration + 300, interval=0.5, env=drv.env,
                              cwd=drv.cwd, log_prefix=out / "driver", on_sample=sampler, nginx_pid=ngx.proc.pid)
    res = c.newest_result_json(out / "driver-out") or {}
    t0, t1 = c.load_window(rec)
    per_min = minutes(sampler.rows, t0, t1)
    (out / "stability.json").write_text(json.dumps({"run": rec.summary(), "load": [t0, t1], "minutes": per_min,
                                                     "samples": sampler.rows}, default=str))
    window = [m for m in per_min if a.from_min < m["minute"] <= a.to_min]
    text = render(a, cmd, drv, rec, res, per_min, window)
    print(text)
    if a.write:
        c.update_section(Path(a.write), "stability", text)
        c.log(f"wrote the stability section of {a.write}")
    return 0 if rec.returncode in (0, c.EXIT_INVALID) and window else 1


def render(a, cmd, drv, rec, res, per_min, window) -> str:
    tot = res.get("totals", {})
    lines = ["## One hour at a steady rate: driver's own stability (`run_stability.py`)", "",
             c.environment_block(["driver", "nginx"], sys.argv, drv, a.sched),
             f"- Driver command: `{shlex.join(cmd).replace(str(c.REPO_DIR) + '/', '').replace(sys.executable, 'python')}`",
             f"- Target: nginx `return 200` pinned to core {a.nginx_core}; driver pinned to core {a.tool_core}; "
             f"open loop at {a.rate:,.0f} arrivals/s, {a.workers} worker.",
             f"- Run: exit {rec.returncode}; nginx answered {rec.requests:,} requests in {rec.window_s:,.0f} s; "
             f"driver says {c.fmt_num(tot.get('requests'))} requests, {c.fmt_num(tot.get('errors'))} errors, "
             f"{c.fmt_num(tot.get('late'))} late arrivals, {c.fmt_num(tot.get('dropped'))} dropped; validity: "
             f"{(res.get('validity') or {}).get('valid')}.", ""]
    if len(window) < 2:
        lines.append("- **Not measured**: the run ended before the minutes to judge.")
        return "\n".join(lines)
    xs = [m["minute"] / 60 for m in window]  # hours
    first, last = window[0], window[-1]
    rss_growth_mb = (last["total_kb"] - first["total_kb"]) / 1024
    rss_slope = theil_sen(xs, [m["total_kb"] / 1024 for m in window])
    parent_slope = theil_sen(xs, [m["parent_kb"] / 1024 for m in window])
    worker_slope = theil_sen(xs, [m["worker_kb"] / 1024 for m in window])
    cpus = [m["cpu_us_per_req"] for m in window if m["cpu_us_per_req"]]
    cpu_med = statistics.median(cpus)
    cpu_slope = theil_sen([m["minute"] / 60 for m in window if m["cpu_us_per_req"]], cpus)
    cpu_slope_pct = 100 * cpu_slope / cpu_med
    rates = [m["rate"] for m in window]
    worst_rate = max(rates, key=lambda r: abs(r - a.rate))
    rss_met = rss_growth_mb < 5 and abs(rss_slope) < 2
    cpu_met = abs(cpu_slope_pct) <= 5
    rate_met = all(abs(r - a.rate) <= 0.01 * a.rate for r in rates)
    span = f"minute {a.from_min} to minute {last['minute']}"
    lines += [
        f"- RSS, parent + worker, {span}: {first['total_kb'] / 1024:.1f} MB → {last['total_kb'] / 1024:.1f} MB = "
        f"{rss_growth_mb:+.2f} MB; Theil-Sen slope {rss_slope:+.2f} MB/h (parent {parent_slope:+.2f} MB/h, worker "
        f"{worker_slope:+.2f} MB/h). Goal < 5 MB and |slope| < 2 MB/h: **{'met' if rss_met else 'not met'}**.",
        f"- CPU per request, {span}: median {cpu_med:.2f} µs (per-minute min {min(cpus):.2f}, max {max(cpus):.2f}); "
        f"slope {cpu_slope:+.3f} µs/h = {cpu_slope_pct:+.2f} % of the median per hour. Goal within ±5 %/h: "
        f"**{'met' if cpu_met else 'not met'}**.",
        f"- Achieved rate, {span}: median {statistics.median(rates):,.1f}/s, worst minute {worst_rate:,.1f}/s "
        f"({100 * (worst_rate - a.rate) / a.rate:+.2f} % of {a.rate:,.0f}). Goal every minute within 1 %: "
        f"**{'met' if rate_met else 'not met'}**.", ""]
    rows = [[m["minute"], f"{m['rate']:,.1f}", f"{m['cpu_us_per_req']:.2f}" if m["cpu_us_per_req"] else "–",
             c.mb(m["parent_kb"]), c.mb(m["parent_anon_kb"]), c.mb(m["parent_shmem_kb"]), c.mb(m["worker_kb"]),
             c.mb(m["total_kb"])]
            for m in per_min if m["minute"] in (1, 2, 3, 4) or m["minute"] % 5 == 0 or m is per_min[-1]]
    lines += [c.md_table(["minute", "req/s (nginx)", "driver CPU µs/request", "parent MB", "of it heap (anon) MB",
                          "of it shared memory MB", "worker MB", "parent+worker MB"], rows), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
