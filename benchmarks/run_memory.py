"""Memory flatness: driver at full rate for 120 s must not grow.

    python benchmarks/run_memory.py                      # 120 s, 64 users, 1 worker
    python benchmarks/run_memory.py --duration 30s --write benchmarks/RESULTS.md

One `driver run` (closed loop, no think time, the same POST as run_http.py) against
nginx `return 200` pinned to core 0, driver pinned to core 1. Every second the
harness reads VmRSS (/proc/PID/status) of driver's parent and of each worker
process (multiprocessing's resource tracker is listed apart, not counted). The goal:
parent + workers RSS at the end of the run (the last sample while load was still
running, ~120 s) minus RSS at 10 s after the load started is below 5 MB.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as c  # noqa: E402


def pick(samples: list[c.RssSample], t: float) -> c.RssSample | None:
    """First sample at or after t."""
    for s in samples:
        if s.t >= t:
            return s
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", default="120s", help="length of the driver run (default 120s)")
    ap.add_argument("--early", default="10s", help="when the first RSS figure is taken, after load start (default 10s)")
    ap.add_argument("--connections", type=int, default=64, help="virtual users (default 64)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--limit-mb", type=float, default=5.0, help="allowed growth (default 5 MB)")
    c.add_driver_args(ap)
    ap.add_argument("--nginx-core", default=c.NGINX_CORE)
    ap.add_argument("--tool-core", default=c.TOOL_CORE)
    ap.add_argument("--nice", type=int, default=-10,
                    help="scheduling priority of the harness, nginx and the tools (default -10; 0 leaves it alone)")
    ap.add_argument("--quiet-wait", type=float, default=30.0,
                    help="wait up to this many seconds for other processes to go quiet first (0: do not wait)")
    ap.add_argument("--out", default=None, help="raw files (default benchmarks/out/memory-<time>)")
    ap.add_argument("--write", metavar="RESULTS_MD", default=None,
                    help="write/replace the <!-- memory --> section of this markdown file")
    a = ap.parse_args(argv)
    duration = c.parse_duration(a.duration)
    early = c.parse_duration(a.early)
    if early >= duration:
        ap.error("--early must be shorter than --duration")

    drv = c.prepare_driver(a.driver_src, a.driver_cmd)
    ok, text = c.driver_run_help(drv)
    if not ok:
        c.log(f"`{shlex.join(drv.cmd)} run --help` does not work yet: {text.strip()[-300:]}")
        return 2
    out = Path(a.out) if a.out else c.OUT_DIR / f"memory-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    a.sched = c.prepare_harness(a.tool_core, a.nice)

    with c.Nginx(core=a.nginx_core) as ngx:
        cmd = ["taskset", "-c", a.tool_core] + drv.cmd + [
            "run", ngx.url, "-u", str(a.connections), "-d", c.dur_arg(duration), "-w", str(a.workers),
            "-m", "POST", "--body-file", str(c.BODY_FILE), "-H", "Content-Type: application/json",
            "-q", "-o", str(out / "driver-out"),
        ] + shlex.split(a.driver_args)
        c.log(f"nginx on {ngx.url}; driver for {c.dur_arg(duration)}: {shlex.join(cmd)}")
        if a.quiet_wait > 0:
            c.wait_for_quiet(max_wait=a.quiet_wait)
        sampler = c.RssSampler(every=1.0)
        rec = c.run_monitored(cmd, c.StubClient(ngx.port), timeout=duration + 120, env=drv.env,
                              cwd=drv.cwd, log_prefix=out / "driver", on_sample=sampler,
                              nginx_pid=ngx.proc.pid)
    res = c.newest_result_json(out / "driver-out") or {}
    t0, t1 = c.load_window(rec)
    ss = sampler.samples
    first = pick(ss, t0 + early)
    running = [s for s in ss if s.t <= t1 - 0.5]
    last = running[-1] if running else None
    growth_kb = (last.total_kb - first.total_kb) if first and last else None
    met = growth_kb is not None and growth_kb < a.limit_mb * 1024
    ok_run = c.driver_exit_ok(rec.returncode, res) and rec.requests > 0
    (out / "memory.json").write_text(json.dumps({
        "run": rec.summary(), "load_start_s": t0, "load_end_s": t1,
        "rss": [dict(s.__dict__, total_kb=s.total_kb) for s in ss], "result_totals": res.get("totals"),
    }, indent=1, default=str))

    # RSS every 10 s of load
    rows = []
    marks = list(range(0, int(t1 - t0) + 1, 10))
    for m in marks:
        s = pick(ss, t0 + m) if m else pick(ss, t0)
        if s is None or s.t > t1:
            continue
        rows.append([f"{s.t - t0:.0f}", c.mb(s.parent_kb), c.mb(s.workers_kb), s.n_workers, c.mb(s.total_kb),
                     c.mb(s.helpers_kb), f"{s.requests:,}"])
    if last and (not rows or rows[-1][0] != f"{last.t - t0:.0f}"):
        rows.append([f"{last.t - t0:.0f}", c.mb(last.parent_kb), c.mb(last.workers_kb), last.n_workers,
                     c.mb(last.total_kb), c.mb(last.helpers_kb), f"{last.requests:,}"])
    table = c.md_table(["s after load start", "parent MB", "worker(s) MB", "workers", "parent+workers MB",
                        "resource tracker MB", "requests so far (nginx)"], rows)
    tot = res.get("totals", {})
    if first and last:
        goal = (f"parent+workers RSS growth from {first.t - t0:.0f} s to {last.t - t0:.0f} s < {a.limit_mb:g} MB: "
                f"**{'met' if met else 'not met'}** — {c.mb(first.total_kb)} MB → {c.mb(last.total_kb)} MB "
                f"= {growth_kb / 1024:+.2f} MB (parent {(last.parent_kb - first.parent_kb) / 1024:+.2f} MB, "
                f"worker(s) {(last.workers_kb - first.workers_kb) / 1024:+.2f} MB)")
    else:
        goal = "RSS growth: **not measured** — the run ended before the samples could be taken"
    lines = [
        "## Memory flatness (`run_memory.py`)",
        "",
        c.environment_block(["driver"], sys.argv, drv, a.sched),
        f"- Driver command: `{shlex.join(cmd).replace(str(c.REPO_DIR) + '/', '').replace(sys.executable, 'python')}`",
        f"- Target: nginx `return 200` pinned to core {a.nginx_core}; driver pinned to core {a.tool_core}; "
        f"{a.connections} users, closed loop, no think time, the run_http.py POST.",
        "- RSS = VmRSS from /proc/PID/status, sampled every second; *parent+workers* leaves multiprocessing's "
        "resource tracker out (listed apart).",
        f"- Run: exit {rec.returncode}; {rec.requests:,} requests answered by nginx in {rec.window_s:.1f} s "
        f"= {rec.rps:,.0f} req/s; driver says {c.fmt_num(tot.get('requests'))} requests, "
        f"{c.fmt_num(tot.get('errors'))} errors; driver CPU {rec.cpu_s:.1f} s "
        f"({rec.cpu_us_per_req:.2f} µs/request); other processes used {rec.other_cpu_s:.1f} CPU s meanwhile.",
        "",
        f"- Goal: {goal}" + ("" if ok_run else " (the driver run itself failed, see the raw files)"),
        "",
        table,
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if a.write:
        c.update_section(Path(a.write), "memory", text)
        c.log(f"wrote the memory section of {a.write}")
    return 0 if ok_run else 1


if __name__ == "__main__":
    sys.exit(main())
