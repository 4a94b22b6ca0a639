"""10,000 concurrent keep-alive connections held by one driver worker.

    python benchmarks/run_connections.py                       # 10,000 users, 20 s, think 1 s
    python benchmarks/run_connections.py --write benchmarks/RESULTS.md

Two driver runs against nginx (pinned to core 0; driver pinned to core 1), one
worker each, closed loop with a think time so that the connections stay open but
the request rate stays low (~users / think requests per second):

1. idle baseline: 1 user;
2. the real run: --users (10,000) users.

The harness raises RLIMIT_NOFILE (inherited by driver) and gives nginx
worker_connections and worker_rlimit_nofile to match. Every second it reads VmRSS
of driver's parent and worker(s) and nginx's stub_status. Steady state = the
median of the samples taken between 50 % and 90 % of the load window (all
connections are open by then). Reported: RSS per connection = (steady RSS of the
big run - steady RSS of the idle run) / users, for parent+workers and for the
worker(s) alone, and the connections nginx saw active (stub_status "Active
connections", the harness's own connection taken out).
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


def steady(samples: list[c.RssSample], t0: float, t1: float) -> dict:
    w = t1 - t0
    mid = [s for s in samples if t0 + 0.5 * w <= s.t <= t0 + 0.9 * w] or samples[-3:]
    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    return {
        "n": len(mid),
        "total_kb": med([s.total_kb for s in mid]),
        "workers_kb": med([s.workers_kb for s in mid]),
        "parent_kb": med([s.parent_kb for s in mid]),
        "active": med([s.active for s in mid]),
        "max_total_kb": max((s.total_kb for s in samples), default=None),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=10_000, help="connections to hold (default 10000)")
    ap.add_argument("--duration", default="20s", help="length of each driver run (default 20s)")
    ap.add_argument("--think", default="1s", help="think time per user (default 1s)")
    ap.add_argument("--think-flag", default=None,
                    help="driver's think-time option (default: found in `driver run --help`)")
    c.add_driver_args(ap)
    ap.add_argument("--nginx-core", default=c.NGINX_CORE)
    ap.add_argument("--tool-core", default=c.TOOL_CORE)
    ap.add_argument("--nice", type=int, default=-10,
                    help="scheduling priority of the harness, nginx and the tools (default -10; 0 leaves it alone)")
    ap.add_argument("--quiet-wait", type=float, default=30.0,
                    help="wait up to this many seconds for other processes to go quiet before each run")
    ap.add_argument("--out", default=None, help="raw files (default benchmarks/out/connections-<time>)")
    ap.add_argument("--write", metavar="RESULTS_MD", default=None,
                    help="write/replace the <!-- connections --> section of this markdown file")
    a = ap.parse_args(argv)
    duration = c.parse_duration(a.duration)

    drv = c.prepare_driver(a.driver_src, a.driver_cmd)
    ok, help_text = c.driver_run_help(drv)
    if not ok:
        c.log(f"`{shlex.join(drv.cmd)} run --help` does not work yet: {help_text.strip()[-300:]}")
        return 2
    think_flag = a.think_flag or c.find_flag(help_text, "--think", "--think-time", "--wait")
    if not think_flag:
        c.log("driver run has no think-time option (looked for --think, --think-time, --wait); use --think-flag")
        return 2

    fds = a.users * 2 + 2048
    nofile = c.raise_nofile(fds)
    c.log(f"RLIMIT_NOFILE for driver: {nofile}")
    if nofile < a.users + 100:
        c.log(f"open-file limit {nofile} is too low for {a.users} connections")
        return 2
    out = Path(a.out) if a.out else c.OUT_DIR / f"connections-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    a.sched = c.prepare_harness(a.tool_core, a.nice)

    results = {}
    cmds = {}
    with c.Nginx(core=a.nginx_core, worker_connections=a.users + 1024, rlimit_nofile=nofile) as ngx:
        stub = c.StubClient(ngx.port)
        for label, users in (("idle", 1), ("full", a.users)):
            cmd = ["taskset", "-c", a.tool_core] + drv.cmd + [
                "run", ngx.url, "-u", str(users), "-w", "1", "-d", c.dur_arg(duration), think_flag, a.think,
                "-q", "-o", str(out / f"driver-out-{label}"),
            ] + shlex.split(a.driver_args)
            cmds[label] = cmd
            if a.quiet_wait > 0:
                c.wait_for_quiet(max_wait=a.quiet_wait)
            c.log(f"{label}: {shlex.join(cmd)}")
            sampler = c.RssSampler(every=1.0)
            rec = c.run_monitored(cmd, stub, timeout=duration + 120, env=drv.env, cwd=drv.cwd,
                                  log_prefix=out / f"driver-{label}", on_sample=sampler, nginx_pid=ngx.proc.pid)
            t0, t1 = c.load_window(rec)
            res = c.newest_result_json(out / f"driver-out-{label}") or {}
            st = steady(sampler.samples, t0, t1)
            results[label] = {"rec": rec, "samples": sampler.samples, "steady": st, "result": res,
                              "t0": t0, "t1": t1}
            c.log(f"{label}: exit {rec.returncode}, {rec.requests:,} requests, {rec.rps:,.0f} req/s, "
                  f"steady RSS {c.mb(st['total_kb'])} MB, nginx active max {rec.max_active:,}")
            (out / f"{label}.json").write_text(json.dumps({
                "run": rec.summary(), "steady": st, "load_start_s": t0, "load_end_s": t1,
                "rss": [dict(s.__dict__, total_kb=s.total_kb) for s in sampler.samples],
                "result_totals": res.get("totals"),
            }, indent=1, default=str))
            time.sleep(1)

    idle, full = results["idle"], results["full"]
    per_conn = per_conn_w = None
    if idle["steady"]["total_kb"] is not None and full["steady"]["total_kb"] is not None:
        per_conn = (full["steady"]["total_kb"] - idle["steady"]["total_kb"]) * 1024 / a.users
        per_conn_w = (full["steady"]["workers_kb"] - idle["steady"]["workers_kb"]) * 1024 / a.users

    rows = []
    for label in ("idle", "full"):
        r = results[label]
        rec, st, tot = r["rec"], r["steady"], r["result"].get("totals", {})
        cnt = tot.get("counters", {})
        rows.append([
            f"{label} ({1 if label == 'idle' else a.users:,} users)", rec.returncode,
            c.mb(st["parent_kb"]), c.mb(st["workers_kb"]), c.mb(st["total_kb"]), c.mb(st["max_total_kb"]),
            c.fmt_num(st["active"]), c.fmt_num(rec.max_active), f"{rec.requests:,}", c.fmt_num(rec.rps),
            c.fmt_num(tot.get("errors")), c.fmt_num(cnt.get("connects")), f"{rec.cpu_s:.1f}",
        ])
    table = c.md_table(
        ["run", "exit", "parent MB", "worker MB", "parent+worker MB (steady)", "max MB", "nginx active (steady)",
         "nginx active (max)", "requests (nginx)", "req/s", "errors", "connects (driver)", "driver CPU s"], rows)

    # the big run's ramp: RSS and connections over time
    ramp = []
    for s in full["samples"]:
        rel = s.t - full["t0"]
        if rel < -1 or len(ramp) > 40:
            continue
        ramp.append([f"{round(rel):d}", c.mb(s.total_kb), f"{s.active:,}", f"{s.requests:,}"])
    ramp_table = c.md_table(["s after load start", "parent+worker MB", "nginx active connections",
                             "requests so far"], ramp)

    want = a.users
    active_ok = full["steady"]["active"] is not None and full["steady"]["active"] >= 0.99 * want
    fmt_cmd = lambda cmd: shlex.join(cmd).replace(str(c.REPO_DIR) + "/", "").replace(sys.executable, "python")  # noqa: E731
    lines = [
        "## 10,000 connections (`run_connections.py`)",
        "",
        c.environment_block(["driver"], sys.argv, drv, a.sched),
        f"- Driver commands: idle `{fmt_cmd(cmds['idle'])}`; full `{fmt_cmd(cmds['full'])}`",
        f"- nginx `return 200`, worker_connections {a.users + 1024}, worker_rlimit_nofile {nofile}, pinned to core "
        f"{a.nginx_core}; driver pinned to core {a.tool_core}, RLIMIT_NOFILE {nofile}.",
        "- Steady state = median of the 1 s samples between 50 % and 90 % of the load window. RSS = VmRSS "
        "(/proc/PID/status) of driver's parent + worker (resource tracker left out).",
        "",
        f"- **RSS per connection: {c.fmt_num(per_conn / 1024 if per_conn is not None else None, 1)} KiB** "
        f"(parent+worker; worker alone {c.fmt_num(per_conn_w / 1024 if per_conn_w is not None else None, 1)} KiB) "
        f"= (steady RSS with {a.users:,} users − steady RSS with 1 user) / {a.users:,}",
        f"- Connections nginx saw active at steady state: **{c.fmt_num(full['steady']['active'])}** "
        f"(max {full['rec'].max_active:,}) of {want:,} — {'all held' if active_ok else 'NOT all held'}",
        "",
        table,
        "",
        "Ramp of the full run:",
        "",
        ramp_table,
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if a.write:
        c.update_section(Path(a.write), "connections", text)
        c.log(f"wrote the connections section of {a.write}")
    return 0 if all(r["rec"].returncode == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
