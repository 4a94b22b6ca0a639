"""driver's scenario paths beside its plain path and beside Locust, against the same nginx.

    python benchmarks/run_scenario.py                       # 10 s runs, 3 interleaved rounds
    python benchmarks/run_scenario.py --write benchmarks/RESULTS.md
    python benchmarks/run_scenario.py --quick               # a look in about a minute (3 s, 1 round, no profile)
    python benchmarks/run_scenario.py --baseline HEAD~3     # the scenarios before a change, in the same run

Four tools, interleaved (driver scenario python locust, driver scenario ...), each pinned to
core 1 with 64 keep-alive connections busy and no think time, against the nginx of
run_http.py (`return 200` on every path, core 0):

- driver:   `driver run URL` POSTing benchmarks/body.json - exactly run_http.py's driver;
- scenario: `driver run -c benchmarks/scenario.yaml` - the YAML scenario: five weighted tasks
            (5:3:2:1:1) on five paths, each POSTing a Telegram Update generated per request
            from a template, each answer checked for status 200 (1 worker; the YAML's
            base_url is $DRIVER_BENCH_URL, set to the nginx here);
- python:   `driver run -s benchmarks/scenario_python.py URL` - the same five tasks written
            as a Python scenario: `async def` tasks calling `self.http.post(...)` with the
            same updates and `resp.expect(status=200)` (1 worker);
- locust:   Locust FastHttpUser running benchmarks/locustfile_scenario.py, the same five
            tasks, weights, updates and checks (1 process).

Both scenarios record every request (driver has no sampling: every response goes into
the histograms and counters). With --baseline REV, `scenario@base` and `python@base` run
the same two scenario files on driver built at REV, interleaved with the rest: before
and after a change in one run, on the same machine state.

Measured as run_http.py measures (benchmarks/common.py: requests counted by nginx's
stub_status, req/s over the load window, CPU of the tool's process tree from /proc,
start-up included; p50 is each tool's own; medians over the rounds). Goals from the
issue: YAML scenario CPU/request <= 1.5x the plain driver's and req/s >= 10x Locust's;
Python scenario CPU/request <= 2.5x the plain driver's.

When a CPU goal is missed (or with --profile yes) one more run of each driver tool is
made with py-spy attached to driver's worker (outside the measured rounds: the
profiler slows what it samples), and the hot functions go into the report
(benchmarks/scenario_profile.py).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as c  # noqa: E402
import run_http as rh  # noqa: E402  (its output parsers and tables; nothing there is changed)
import scenario_profile as sp  # noqa: E402
from scenario_report import (  # noqa: E402
    BASE, EXIT_INVALID, SCENARIOS, URL_ENV, before_after, goals, medians_table, profile_section, profiled, render,
)

SCENARIO_YAML = c.BENCH_DIR / "scenario.yaml"
SCENARIO_PY = c.BENCH_DIR / "scenario_python.py"
LOCUSTFILE_SCENARIO = c.BENCH_DIR / "locustfile_scenario.py"

ALL_TOOLS = ["driver", "scenario", "python", "locust"]


# --------------------------------------------------------------------------- tools


def parse_plain(out: str, err: str, run_dir: Path) -> dict:
    """run_http's parser, plus driver's validity verdict."""
    d = rh.parse_driver(out, err, run_dir)
    res = c.newest_result_json(run_dir / "driver-out")
    if res is not None:
        validity = res.get("validity") or {}
        d["valid"] = validity.get("valid")
        d["invalid_reasons"] = validity.get("reasons") or []
    return d


def parse_scenario(out: str, err: str, run_dir: Path) -> dict:
    """driver's result.json, with failed checks counted as errors and the request mix."""
    d = parse_plain(out, err, run_dir)
    res = c.newest_result_json(run_dir / "driver-out")
    if res is not None:
        tot = res.get("totals", {})
        d["check_failures"] = tot.get("check_failures")
        d["checks"] = tot.get("checks")
        if d.get("errors") is not None and tot.get("check_failures"):
            d["errors"] += tot["check_failures"]
        d["mix"] = {e["name"]: e.get("requests", 0) for e in res.get("endpoints", [])}
    return d


def parse_locust_scenario(out: str, err: str, run_dir: Path) -> dict:
    d = rh.parse_locust(out, err, run_dir)
    p = run_dir / "locust.json"
    if p.exists():
        d["mix"] = {e["name"]: e["num_requests"] for e in json.loads(p.read_text())}
    return d


def build_tool(name: str, a, url: str, run_dir: Path, drvs: dict) -> rh.Tool:
    kind = name.removesuffix(BASE)
    drv = drvs.get("base" if name.endswith(BASE) else "head")
    if kind == "driver":  # the very command of run_http.py
        tool = rh.build_tool("driver", a, url, run_dir, drv)
        tool.parse = parse_plain
        return tool
    pin = ["taskset", "-c", a.tool_core]
    dur = c.dur_arg(a.duration)
    n = str(a.connections)
    # -u/-d/-w repeat the YAML's load section (64 users, 10s, 1 worker) so that
    # --duration and --connections apply to the scenarios as to the other tools
    load = ["-u", n, "-d", dur, "-w", "1", "-q", "-o", str(run_dir / "driver-out")] + shlex.split(a.driver_args)
    if kind == "scenario":
        env = dict(drv.env)
        env[URL_ENV] = url.rstrip("/")
        return rh.Tool(name, pin + drv.cmd + ["run", "-c", str(SCENARIO_YAML)] + load, env, parse_scenario, drv.cwd)
    if kind == "python":
        cmd = pin + drv.cmd + ["run", "-s", str(SCENARIO_PY), url.rstrip("/")] + load
        return rh.Tool(name, cmd, dict(drv.env), parse_scenario, drv.cwd)
    if kind == "locust":
        cmd = pin + [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE_SCENARIO), "--headless", "-u", n,
                     "-r", n, "--run-time", dur, "-H", url.rstrip("/"), "--only-summary",
                     "--json-file", str(run_dir / "locust")]
        return rh.Tool(name, cmd, dict(os.environ), parse_locust_scenario)
    raise ValueError(name)


def available(name: str, drvs: dict) -> tuple[bool, str]:
    kind = name.removesuffix(BASE)
    drv = drvs.get("base" if name.endswith(BASE) else "head")
    if kind == "locust":
        return rh.available("locust", drv)
    ok, why = rh.available("driver", drv)
    if not ok or kind == "driver":
        return ok, why
    if kind == "scenario":
        what, cmd = "driver validate benchmarks/scenario.yaml", drv.cmd + ["validate", str(SCENARIO_YAML)]
    else:  # the Python scenario must import with the driver that runs it
        what = "import benchmarks/scenario_python.py"
        cmd = [sys.executable, "-c", "import runpy, sys; runpy.run_path(sys.argv[1])", str(SCENARIO_PY)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                       env={**drv.env, URL_ENV: "http://127.0.0.1:1"}, cwd=drv.cwd)
    text = (p.stdout + p.stderr).strip()
    if p.returncode != 0:
        return False, f"`{what}` fails: {text.splitlines()[-1] if text else '?'}"
    return True, ""


# --------------------------------------------------------------------------- one run (with re-runs)


def run_one(a, t: str, rnd: int, ngx, stub, out: Path, drvs: dict, commands, label: str | None = None,
            on_sample=None, retries: int | None = None) -> dict:
    """One run of tool t (as run_http.run_one): re-run when the tool and nginx waited for a
    CPU longer than --max-wait; every attempt stays in the raw files, the least disturbed
    one is returned."""
    attempts = []
    retries = a.retries if retries is None else retries
    for attempt in range(retries + 1):
        run_dir = out / ((label or f"r{rnd}-{t}") + (f"-retry{attempt}" if attempt else ""))
        run_dir.mkdir(parents=True, exist_ok=True)
        tool = build_tool(t, a, ngx.url, run_dir, drvs)
        shown = rh.display_cmd(tool.cmd).replace(str(run_dir), "OUTDIR")
        commands.setdefault(t, shown.replace(os.path.relpath(run_dir, c.REPO_DIR), "OUTDIR"))
        if a.quiet_wait > 0:
            c.wait_for_quiet(max_wait=a.quiet_wait)
        hook = on_sample(run_dir) if on_sample else None
        rec = c.run_monitored(tool.cmd, stub, timeout=a.duration + 60, env=tool.env, cwd=tool.cwd,
                              log_prefix=run_dir / t, nginx_pid=ngx.proc.pid, on_sample=hook)
        if hook is not None:
            hook.finish()
        parsed = tool.parse(rec.stdout, rec.stderr, run_dir)
        parsed.pop("exit_ok", None)
        r = {"round": rnd, "tool": t, "attempt": attempt, "connections": a.connections, **rec.summary(), **parsed}
        r["user_us_per_req"] = rec.user_s / rec.requests * 1e6 if rec.user_s is not None and rec.requests else None
        r["sys_us_per_req"] = rec.sys_s / rec.requests * 1e6 if rec.sys_s is not None and rec.requests else None
        r["nginx_cpu_us_per_req"] = (rec.nginx_cpu_s / rec.requests * 1e6
                                     if rec.nginx_cpu_s is not None and rec.requests else None)
        rc_ok = rec.returncode == 0 or (
            t.removesuffix(BASE) != "locust" and rec.returncode == EXIT_INVALID and parsed.get("valid") is False
            and all("cpu-bound" in x.lower() for x in parsed.get("invalid_reasons") or ["?"]))
        r["ok"] = rc_ok and rec.requests > 0 and not parsed.get("incomplete") and parsed.get("errors") is not None
        if not r["ok"]:
            r["why"] = (f"exit {rec.returncode}" if rec.returncode else
                        "no requests" if not rec.requests else "tool says incomplete")
            c.log(f"{t} failed ({r['why']}); stderr tail: {rec.stderr[-800:]} stdout tail: {rec.stdout[-400:]}")
        (run_dir / "run.json").write_text(json.dumps(
            {**r, "samples": [s.__dict__ for s in rec.samples]}, indent=1, default=str))
        c.log(f"{label or f'round {rnd}'} {t:8s} {rec.rps:>10,.0f} req/s  {rec.cpu_us_per_req:6.2f} CPU µs/req  "
              f"(steady {c.fmt_num(rec.steady_cpu_us_per_req, 2)})  p50 {c.fmt_ns(parsed.get('p50_ns'))}  "
              f"requests {rec.requests:,} (tool says {c.fmt_num(parsed.get('tool_requests'))}, "
              f"errors {c.fmt_num(parsed.get('errors'))})  "
              f"waited {(rec.tool_wait_s or 0) + (rec.nginx_wait_s or 0):.2f}s  other CPU {rec.other_cpu_s:.2f}s")
        time.sleep(a.pause)
        wait = (rec.tool_wait_s or 0.0) + (rec.nginx_wait_s or 0.0)
        r["wait_s"] = wait
        r["disturbed"] = wait > a.max_wait
        attempts.append(r)
        if not r["disturbed"] or not r["ok"]:
            break
        c.log(f"  disturbed: the tool and nginx waited {wait:.2f} s for a CPU (> {a.max_wait:.2f}); "
              + ("running it again" if attempt < retries else "no retries left, keeping the least disturbed"))
    best = min(attempts, key=lambda r: (not r["ok"], r["wait_s"]))
    best["attempts"] = len(attempts)
    return best


# --------------------------------------------------------------------------- profile


def run_profiles(a, ngx, stub, out: Path, drvs: dict, commands, tools) -> dict:
    """One profiled run of each driver tool (not in the medians)."""
    if shutil.which("py-spy") is None:
        c.log("py-spy not on PATH (pip install py-spy): no profile")
        return {"error": "py-spy not on PATH (pip install py-spy)"}
    prof = {}
    for t in profiled(tools):
        hook = lambda run_dir: sp.PySpyAttach(run_dir, start_s=0.2 * a.duration + 1.0,  # noqa: E731
                                              length_s=0.6 * a.duration, rate=a.profile_rate,
                                              native=a.profile_native)
        name = t.replace(BASE, "-base")
        r = run_one(a, t, 0, ngx, stub, out, drvs, commands, label=f"profile-{name}", on_sample=hook, retries=0)
        stacks = sp.read_collapsed(out / f"profile-{name}" / "pyspy.txt")
        if not stacks:
            log = out / f"profile-{name}" / "pyspy.log"
            c.log(f"no profile for {t}: {log.read_text(errors='replace')[-400:] if log.exists() else '?'}")
        prof[t] = {"run": r, "stacks": stacks}
    return prof


# --------------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="a short look: --duration 3s --rounds 1 --profile no --quiet-wait 5 --retries 0 "
                         "--pause 0.5 (options given explicitly still win)")
    ap.add_argument("--duration", default=None, help="per run (default 10s)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    ap.add_argument("--connections", type=int, default=64, help="users / connections (default 64)")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help=f"comma list of {','.join(ALL_TOOLS)}")
    ap.add_argument("--baseline", metavar="REV", default=None,
                    help="also run the YAML and Python scenarios on driver built at this git revision "
                         "(tools scenario@base, python@base), interleaved: before and after in one run")
    c.add_driver_args(ap)
    ap.add_argument("--nginx-core", default=c.NGINX_CORE)
    ap.add_argument("--tool-core", default=c.TOOL_CORE)
    ap.add_argument("--nice", type=int, default=-10,
                    help="scheduling priority of the harness, nginx and the tools (default -10; 0 leaves it alone)")
    ap.add_argument("--pause", type=float, default=None, help="seconds between runs (default 1)")
    ap.add_argument("--max-wait", type=float, default=None,
                    help="seconds the tool and nginx together may wait for a CPU during a run before it is "
                         "re-run (default 0.3 s + 7%% of --duration)")
    ap.add_argument("--quiet-wait", type=float, default=None,
                    help="before each run wait up to this many seconds for the machine to go quiet "
                         "(default 30; 0: do not)")
    ap.add_argument("--retries", type=int, default=None, help="re-runs of a disturbed run (default 3)")
    ap.add_argument("--profile", choices=["auto", "yes", "no"], default=None,
                    help="py-spy the driver worker in one extra run of each driver tool: auto = when a CPU "
                         "goal is missed (default)")
    ap.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second (default 250)")
    ap.add_argument("--profile-native", action=argparse.BooleanOptionalAction, default=True,
                    help="py-spy --native: C frames and system calls too (default on)")
    ap.add_argument("--out", default=None, help="raw per-run files (default benchmarks/out/scenario-<time>)")
    ap.add_argument("--write", metavar="RESULTS_MD", default=None,
                    help="write/replace the <!-- scenario --> section of this markdown file")
    a = ap.parse_args(argv)
    defaults = dict(duration="10s", rounds=3, profile="auto", quiet_wait=30.0, retries=3, pause=1.0)
    if a.quick:
        defaults.update(duration="3s", rounds=1, profile="no", quiet_wait=5.0, retries=0, pause=0.5)
    for key, value in defaults.items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    a.duration = c.parse_duration(a.duration)
    if a.max_wait is None:
        a.max_wait = 0.3 + 0.07 * a.duration
    a.tools_list = [t.strip() for t in a.tools.split(",") if t.strip()]
    bad = [t for t in a.tools_list if t not in ALL_TOOLS]
    if bad:
        ap.error(f"unknown tool(s) {bad}; choose from {ALL_TOOLS}")
    if a.baseline and a.driver_src != "head":
        ap.error("--baseline builds a commit: use it with --driver-src head (the default)")
    return a


def prepare(a) -> tuple[list[str], dict, dict]:
    """(tools that can run, driver setups {"head": ..., "base": ...}, {tool: why it is skipped})."""
    tools, drvs, skipped = list(a.tools_list), {}, {}
    if a.baseline:
        tools += [t + BASE for t in SCENARIOS if t in tools]
    wanted = {"head": [t for t in tools if t != "locust" and not t.endswith(BASE)],
              "base": [t for t in tools if t.endswith(BASE)]}
    for key, ts in wanted.items():
        if not ts:
            continue
        try:
            drvs[key] = c.prepare_driver(a.driver_src, a.driver_cmd, rev=a.baseline if key == "base" else None)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            c.log(f"cannot prepare driver ({key}): {e}")
            for t in ts:
                skipped[t] = f"cannot prepare driver ({str(e).splitlines()[0]})"
                tools.remove(t)
    for t in list(tools):
        ok, why = available(t, drvs)
        if not ok:
            c.log(f"skipping {t}: {why}")
            skipped[t] = why
            tools.remove(t)
    return tools, drvs, skipped


def main(argv=None) -> int:
    a = parse_args(argv)
    tools, drvs, skipped = prepare(a)
    if not tools:
        c.log("no tool can run")
        return 2
    out = Path(a.out) if a.out else c.OUT_DIR / f"scenario-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    a.sched = c.prepare_harness(a.tool_core, a.nice)
    runs: list[dict] = []
    commands: dict[str, str] = {}
    prof: dict = {}
    with c.Nginx(core=a.nginx_core) as ngx:
        c.log(f"nginx on {ngx.url} (core {a.nginx_core}); tools on core {a.tool_core}; "
              f"{a.rounds} rounds × {tools} × {c.dur_arg(a.duration)}; raw files in {out}")
        stub = c.StubClient(ngx.port)
        for rnd in range(1, a.rounds + 1):
            for t in tools:
                runs.append(run_one(a, t, rnd, ngx, stub, out, drvs, commands))
        med = rh.summarize(runs, tools)
        missed = any(s == "not met" for g, s, _ in goals(med) if "CPU" in g)
        if any(t in tools for t in SCENARIOS) and (a.profile == "yes" or (a.profile == "auto" and missed)):
            c.log(f"profiling driver's worker (py-spy): one run each of {profiled(tools)}")
            prof = run_profiles(a, ngx, stub, out, drvs, commands, tools)
        stub.close()

    text = render(a, runs, med, tools, skipped, commands, drvs, prof)
    (out / "summary.json").write_text(json.dumps(
        {"medians": med, "runs": runs,
         "profile": {t: {"run": p["run"], "top": sp.profile_tables(p["stacks"]),
                         "categories": sp.profile_categories(p["stacks"])}
                     for t, p in prof.items() if isinstance(p, dict) and "stacks" in p}}, indent=1, default=str))
    (out / "section.md").write_text(text)
    print(medians_table(med, tools, runs, a))
    print()
    for goal, status, fig in goals(med):
        print(f"- {goal}: {status} — {fig}")
    for line in before_after(med, a):
        print(f"- before/after: {line}")
    print("\n".join(profile_section(a, prof)))
    if a.write:
        c.update_section(Path(a.write), "scenario", text)
        c.log(f"wrote the scenario section of {a.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
