"""driver's YAML scenario path beside its plain path and beside Locust, against the same nginx.

    python benchmarks/run_scenario.py                       # 10 s runs, 3 interleaved rounds
    python benchmarks/run_scenario.py --write benchmarks/RESULTS.md
    python benchmarks/run_scenario.py --duration 3s --rounds 1 --profile no     # quick look

Three tools, interleaved (driver scenario locust, driver scenario ...), each pinned to
core 1 with 64 keep-alive connections busy and no think time, against the nginx of
run_http.py (`return 200` on every path, core 0):

- driver:   `driver run URL` POSTing benchmarks/body.json - exactly run_http.py's driver;
- scenario: `driver run -c benchmarks/scenario.yaml` - five weighted tasks (5:3:2:1:1) on
            five paths, each POSTing a Telegram Update generated per request from a
            template, each answer checked for status 200 (1 worker; the YAML's base_url
            is $DRIVER_BENCH_URL, set to the nginx here);
- locust:   Locust FastHttpUser running benchmarks/locustfile_scenario.py, the same five
            tasks, weights, updates and checks (1 process).

Measured as run_http.py measures (benchmarks/common.py: requests counted by nginx's
stub_status, req/s over the load window, CPU of the tool's process tree from /proc,
start-up included; p50 is each tool's own; medians over the rounds). Goals from the
issue: scenario CPU/request <= 1.5x the plain driver's; scenario req/s >= 8x Locust's.

When the CPU goal is missed (or with --profile yes) one more scenario run and one more
plain run are made with py-spy attached to driver's worker (outside the measured rounds:
the profiler slows what it samples), and the hot functions go into the report.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as c  # noqa: E402
import run_http as rh  # noqa: E402  (its output parsers and tables; nothing there is changed)

SCENARIO_YAML = c.BENCH_DIR / "scenario.yaml"
LOCUSTFILE_SCENARIO = c.BENCH_DIR / "locustfile_scenario.py"
URL_ENV = "DRIVER_BENCH_URL"

ALL_TOOLS = ["driver", "scenario", "locust"]
LABELS = {
    "driver": "driver run URL (plain, 1 worker)",
    "scenario": "driver run -c scenario.yaml (1 worker)",
    "locust": "Locust FastHttpUser, scenario locustfile (1 process)",
}

GOAL_CPU_VS_PLAIN = 1.5  # scenario CPU/request <= 1.5x plain driver's
GOAL_RPS_VS_LOCUST = 8.0  # scenario req/s >= 8x Locust's (same scenario)


# --------------------------------------------------------------------------- tools


# driver exits 4 when it judges its own run not valid; here that is always "the
# generator was CPU-bound", which is what a saturation benchmark does on purpose
EXIT_INVALID = 4


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


def build_tool(name: str, a, url: str, run_dir: Path, drv: c.DriverSetup | None) -> rh.Tool:
    if name == "driver":  # the very command of run_http.py
        tool = rh.build_tool("driver", a, url, run_dir, drv)
        tool.parse = parse_plain
        return tool
    pin = ["taskset", "-c", a.tool_core]
    dur = c.dur_arg(a.duration)
    n = str(a.connections)
    if name == "scenario":
        # -u/-d/-w repeat the YAML's load section (64 users, 10s, 1 worker) so that
        # --duration and --connections apply to it as to the other tools
        cmd = pin + drv.cmd + [
            "run", "-c", str(SCENARIO_YAML), "-u", n, "-d", dur, "-w", "1", "-q",
            "-o", str(run_dir / "driver-out"),
        ] + shlex.split(a.driver_args)
        env = dict(drv.env)
        env[URL_ENV] = url.rstrip("/")
        return rh.Tool(name, cmd, env, parse_scenario, drv.cwd)
    if name == "locust":
        cmd = pin + [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE_SCENARIO), "--headless", "-u", n,
                     "-r", n, "--run-time", dur, "-H", url.rstrip("/"), "--only-summary",
                     "--json-file", str(run_dir / "locust")]
        return rh.Tool(name, cmd, dict(os.environ), parse_locust_scenario)
    raise ValueError(name)


def available(name: str, drv: c.DriverSetup | None) -> tuple[bool, str]:
    if name == "driver":
        return rh.available("driver", drv)
    if name == "locust":
        return rh.available("locust", drv)
    if name == "scenario":
        ok, why = rh.available("driver", drv)
        if not ok:
            return ok, why
        p = subprocess.run(drv.cmd + ["validate", str(SCENARIO_YAML)], capture_output=True, text=True,
                           timeout=60, env={**drv.env, URL_ENV: "http://127.0.0.1:1"}, cwd=drv.cwd)
        text = (p.stdout + p.stderr).strip()
        if p.returncode != 0:
            return False, f"`driver validate benchmarks/scenario.yaml` fails: {text.splitlines()[-1] if text else '?'}"
        return True, ""
    return False, "unknown tool"


# --------------------------------------------------------------------------- one run (with re-runs)


def run_one(a, t: str, rnd: int, ngx, stub, out: Path, drv, commands, label: str | None = None,
            on_sample=None, retries: int | None = None) -> dict:
    """One run of tool t (as run_http.run_one): re-run when the tool and nginx waited for a
    CPU longer than --max-wait; every attempt stays in the raw files, the least disturbed
    one is returned."""
    attempts = []
    retries = a.retries if retries is None else retries
    for attempt in range(retries + 1):
        run_dir = out / ((label or f"r{rnd}-{t}") + (f"-retry{attempt}" if attempt else ""))
        run_dir.mkdir(parents=True, exist_ok=True)
        tool = build_tool(t, a, ngx.url, run_dir, drv)
        commands.setdefault(t, rh.display_cmd(tool.cmd).replace(os.path.relpath(run_dir, c.REPO_DIR), "OUTDIR"))
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
            t in ("driver", "scenario") and rec.returncode == EXIT_INVALID and parsed.get("valid") is False
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


class PySpyAttach:
    """on_sample hook for run_monitored: once the load has run `start_s` seconds, attach
    `py-spy record` to driver's worker for `length_s` seconds (raw collapsed stacks)."""

    def __init__(self, run_dir: Path, start_s: float, length_s: float, rate: int, native: bool):
        self.path = run_dir / "pyspy.txt"
        self.log = run_dir / "pyspy.log"
        self.start_s, self.length_s, self.rate, self.native = start_s, length_s, rate, native
        self.proc: subprocess.Popen | None = None
        self.worker: int | None = None

    def __call__(self, s: c.Sample, root: int) -> None:
        if self.proc is not None or s.t < self.start_s:
            return
        workers = c.classify_tree(root)["workers"]
        if not workers:
            return
        self.worker = workers[0]
        cmd = ["py-spy", "record", "--pid", str(self.worker), "-d", str(max(1, int(self.length_s))),
               "-r", str(self.rate), "-f", "raw", "-o", str(self.path)]
        if self.native:
            cmd.append("--native")
        else:
            cmd.append("--nonblocking")
        with open(self.log, "wb") as lf:
            self.proc = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def finish(self) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_FRAME = re.compile(r"^(.*) \((.*?)(?::(\d+))?\)$")
# scaffolding every sample passes through (process start, event loop, task stepping)
_SCAFFOLD = re.compile(r"^(<module>|_main|spawn_main|BaseProcess\.|worker_main|Runner\.run|run |"
                       r"run_until_complete|run_forever|Loop__|Handle__run|task_step|uv_run|uv__run_idle|"
                       r"loop_cb_idle_callback|Py_X?DECREF|uv__queue_empty|0x[0-9a-f]+ )")
_LOOP_INTERNAL = re.compile(r"\((loop|stream|linux|core|queue|loop-watcher)\.c\)$")  # uvloop/libuv C frames
# Where a worker sample goes, first matching rule wins: (label, test on (leaf, frames)).
CATEGORIES = [
    ("kernel: write() sending the request (with the loopback receive work it triggers)",
     lambda leaf, fs: leaf.startswith("write (libc")),
    ("kernel: read() and epoll_wait()",
     lambda leaf, fs: leaf.startswith(("read (libc", "epoll_pwait (libc", "epoll_wait (libc"))),
    ("generating the body (`_Step._body`: TelegramUpdates, templates, orjson)",
     lambda leaf, fs: any(f.startswith("_Step._body ") for f in fs)),
    ("checking the answer (`Response.expect`, `record_checks`)",
     lambda leaf, fs: any(f.startswith(("Response.expect ", "HttpSession.record_checks ")) for f in fs)),
    ("building the `Response` (header dict)", lambda leaf, fs: any(f.startswith("Response.__init__") for f in fs)),
    ("encoding the request head (`ScenarioEngine.encode`)",
     lambda leaf, fs: any(f.startswith("ScenarioEngine.encode ") for f in fs)),
    ("rest of `HttpSession.request` (slot lookup, header merge, future, send)",
     lambda leaf, fs: any(f.startswith("HttpSession.request ") for f in fs)),
    ("picking the task (`random.choices`)", lambda leaf, fs: any(f.startswith("Random.choices ") for f in fs)),
    ("receiving (`Connection.data_received`: parser, recorder, waking the user)",
     lambda leaf, fs: any(f.startswith("Connection.data_received ") for f in fs)),
    ("everything else (event loop, task steps, the coroutine chain of a request)", lambda leaf, fs: True),
]


def read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    if not path.exists():
        return stacks
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rstrip().rpartition(" ")
        if stack and n.isdigit():
            stacks.append((stack.split(";"), int(n)))
    return stacks


def func_of(frame: str, with_line: bool = False) -> str:
    """'name (file:line)' -> 'name (file)' (or with the line); native 'write (libc.so.6)' as it is."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    name, where, line = m.groups()
    if line and with_line:
        return f"{name} ({where}:{line})"
    return f"{name} ({where})"


def profile_tables(stacks, top: int = 15) -> tuple[int, list, list, list]:
    """(samples, self by function, self by line, inclusive by function) as [(name, share)]."""
    total = sum(n for _, n in stacks)
    if not total:
        return 0, [], [], []
    self_f, self_l, incl = Counter(), Counter(), Counter()
    for frames, n in stacks:
        self_f[func_of(frames[-1])] += n
        self_l[func_of(frames[-1], True)] += n
        for f in {func_of(x) for x in frames}:
            incl[f] += n
    share = lambda cnt: [(k, v / total) for k, v in cnt.most_common()]  # noqa: E731
    inclusive = [(k, s) for k, s in share(incl) if not _SCAFFOLD.match(k) and not _LOOP_INTERNAL.search(k)]
    return total, share(self_f)[:top], share(self_l)[:top], inclusive[:top + 10]


def profile_categories(stacks) -> list[tuple[str, float]]:
    """[(category, share of the samples)] in CATEGORIES order, empty ones left out."""
    total = sum(n for _, n in stacks)
    cnt = Counter()
    for frames, n in stacks:
        fs = [func_of(f) for f in frames]
        for label, test in CATEGORIES:
            if test(fs[-1], fs):
                cnt[label] += n
                break
    return [(label, cnt[label] / total) for label, _ in CATEGORIES if cnt[label]] if total else []


def categories_table(prof: dict) -> str:
    """Shares and µs/request (share x the profiled run's CPU µs/request) per category, per tool."""
    tools = [t for t in ("scenario", "driver") if prof.get(t, {}).get("stacks")]
    cats = {t: dict(profile_categories(prof[t]["stacks"])) for t in tools}
    cpu = {t: prof[t]["run"].get("cpu_us_per_req") for t in tools}
    rows = []
    for label, _ in CATEGORIES:
        if not any(label in cats[t] for t in tools):
            continue
        row = [label]
        for t in tools:
            sh = cats[t].get(label)
            row += ["–" if sh is None else f"{sh:.1%}",
                    "–" if sh is None or not cpu[t] else f"{sh * cpu[t]:.2f}"]
        rows.append(row)
    row = ["total"]
    for t in tools:
        row += ["100%", c.fmt_num(cpu[t], 2)]
    rows.append(row)
    heads = ["where the worker's samples go"]
    for t in tools:
        heads += [f"{t}: share", f"{t}: ≈ µs/request"]
    return c.md_table(heads, rows)


def profile_markdown(name: str, stacks, run: dict | None, top: int = 15) -> str:
    total, self_f, self_l, incl = profile_tables(stacks, top)
    if not total:
        return f"*{name}: no profile samples (is py-spy installed, and allowed to attach?)*"
    head = f"**{name}** — {total:,} samples of driver's worker"
    if run:
        head += (f" (this run, under the profiler: {run['rps']:,.0f} req/s, "
                 f"{run['cpu_us_per_req']:.2f} CPU µs/request)")
    width = max(len(self_f), len(incl))
    rows = []
    for i in range(width):
        a = self_f[i] if i < len(self_f) else ("", None)
        b = incl[i] if i < len(incl) else ("", None)
        rows.append([f"`{a[0]}`" if a[0] else "", f"{a[1]:.1%}" if a[1] is not None else "",
                     f"`{b[0]}`" if b[0] else "", f"{b[1]:.1%}" if b[1] is not None else ""])
    lines = [head, "", c.md_table(["self (function)", "share", "inclusive (function, event-loop scaffolding left out)",
                                   "share"], rows, ["l", "r", "l", "r"]), "",
             "Hottest lines (self): " + "; ".join(f"`{k}` {s:.1%}" for k, s in self_l[:8]) + "."]
    return "\n".join(lines)


def run_profiles(a, ngx, stub, out: Path, drv, commands, tools) -> dict:
    """One profiled run each of the scenario and the plain driver (not in the medians)."""
    if shutil.which("py-spy") is None:
        c.log("py-spy not on PATH (pip install py-spy): no profile")
        return {"error": "py-spy not on PATH (pip install py-spy)"}
    prof = {}
    for t in [x for x in ("scenario", "driver") if x in tools]:
        hook = lambda run_dir: PySpyAttach(run_dir, start_s=0.2 * a.duration + 1.0,  # noqa: E731
                                           length_s=0.6 * a.duration, rate=a.profile_rate,
                                           native=a.profile_native)
        r = run_one(a, t, 0, ngx, stub, out, drv, commands, label=f"profile-{t}", on_sample=hook, retries=0)
        stacks = read_collapsed(out / f"profile-{t}" / "pyspy.txt")
        if not stacks:
            log = out / f"profile-{t}" / "pyspy.log"
            c.log(f"no profile for {t}: {log.read_text(errors='replace')[-400:] if log.exists() else '?'}")
        prof[t] = {"run": r, "stacks": stacks}
    return prof


# --------------------------------------------------------------------------- report


def goals(med: dict) -> list[tuple[str, str, str]]:
    d, s, l = med.get("driver", {}), med.get("scenario", {}), med.get("locust", {})

    def line(goal, a, b, limit, cmp, unit, fmt, who):
        if a is None or b is None:
            return goal, "not measured", f"{who} has no successful run"
        r = a / b
        ok = r <= limit if cmp == "<=" else r >= limit
        return goal, "met" if ok else "not met", f"{fmt(a)} vs {fmt(b)} {unit} = {r:.2f}× (limit {cmp} {limit:g}×)"

    return [
        line(f"scenario CPU per request ≤ {GOAL_CPU_VS_PLAIN:g}× plain `driver run URL`'s", s.get("cpu_us"),
             d.get("cpu_us"), GOAL_CPU_VS_PLAIN, "<=", "µs/request", lambda x: f"{x:.2f}",
             "the scenario or the plain driver"),
        line(f"scenario req/s ≥ {GOAL_RPS_VS_LOCUST:g}× Locust FastHttpUser's (same scenario)", s.get("rps"),
             l.get("rps"), GOAL_RPS_VS_LOCUST, ">=", "req/s", lambda x: f"{x:,.0f}",
             "the scenario or Locust"),
    ]


def medians_table(med: dict, tools: list[str], runs: list[dict]) -> str:
    base = med.get("driver", {})
    rows = []
    for t in tools:
        m = med[t]
        cr = rh.ratio(m["cpu_us"], base.get("cpu_us"))
        errs = sum((r.get("errors") or 0) for r in runs if r["tool"] == t and r["ok"])
        rows.append([
            LABELS[t], c.fmt_num(m["rps"]), c.fmt_num(m["cpu_us"], 2), f"{cr:.2f}×" if cr else "–",
            f"{c.fmt_num(m['user_us'], 2)} / {c.fmt_num(m['sys_us'], 2)}", c.fmt_num(m["steady_cpu_us"], 2),
            f"{m['busy']:.0%}" if m["busy"] is not None else "–", c.fmt_ns(m["p50_ns"]),
            c.fmt_ns(m["little_ns"]), c.fmt_num(errs), m["n"],
        ])
    return c.md_table(
        ["tool", "req/s (median)", "CPU µs/request (median)", "CPU vs plain driver", "user / sys µs/request",
         "steady-state CPU µs/request", "tool's core busy", "p50 latency (tool's own)", "mean by Little's law",
         "errors + failed checks (all runs)", "runs"], rows)


def mix_line(runs: list[dict], t: str) -> str | None:
    """The request mix of the tool's runs together: requests per task, in % of all."""
    total = Counter()
    for r in runs:
        if r["tool"] == t and r["ok"] and r.get("mix"):
            total.update(r["mix"])
    n = sum(total.values())
    if not n:
        return None
    return ", ".join(f"{k} {v / n:.1%}" for k, v in total.most_common())


def render(a, runs, med, tools, skipped, commands, drv, prof) -> str:
    lines = [
        "## Scenario: YAML scenario vs plain driver vs Locust (`run_scenario.py`)",
        "",
        c.environment_block(tools + (["driver"] if "scenario" in tools and "driver" not in tools else []),
                            sys.argv, drv, a.sched),
        f"- Target: the nginx of `run_http.py` (`return 200` on every path, 1 worker, access_log off), pinned to "
        f"core {a.nginx_core}; every tool pinned to core {a.tool_core}; {a.connections} keep-alive connections, "
        f"closed loop, no think time; {c.dur_arg(a.duration)} per run; {a.rounds} interleaved rounds "
        f"({' '.join(tools)}, …); medians. Measured as in `run_http.py`: requests counted by nginx "
        "(stub_status), req/s over the load window, CPU = user+sys of the tool's whole process tree "
        "(/proc, start-up included), p50 the tool's own.",
        "- *plain*: `driver run URL`, the same command as `run_http.py`'s driver (one pre-built 291-byte "
        "body POSTed to /). *scenario*: `benchmarks/scenario.yaml`, five tasks weighted 5:3:2:1:1 on five paths "
        "(/bot/start, /bot/text, /bot/callback, /bot/help, /bot/photo), each POSTing a Telegram Update generated "
        "per request (kinds command /start, text, callback_query, command /help, photo; ~340–890 bytes; "
        "fresh update_id and message_id, the user's from/chat, the date, and `{{user.…}}` / `{{seq}}` "
        "placeholders in text, callback data and caption), every answer checked for status 200. *Locust*: "
        "`benchmarks/locustfile_scenario.py`, a FastHttpUser with the same five @task methods and weights, "
        "building the same updates per request (compact JSON) and failing any answer that is not 200 "
        "(catch_response), `wait_time = constant(0)`.",
    ]
    if skipped:
        lines.append("- Not run: " + "; ".join(f"{t} ({why})" for t, why in skipped.items()))
    lines += ["", "### Medians", "", medians_table(med, tools, runs), ""]
    mixes = [(t, mix_line(runs, t)) for t in ("scenario", "locust") if t in tools]
    mixes = [(t, m) for t, m in mixes if m]
    if mixes:
        lines.append("Request mix over all runs (weights 5:3:2:1:1 = 41.7 %, 25 %, 16.7 %, 8.3 %, 8.3 %): "
                     + "; ".join(f"{t}: {m}" for t, m in mixes) + ".")
        lines.append("")
    verdicts = []
    for t in ("driver", "scenario"):
        rs = [r for r in runs if r["tool"] == t and r["ok"]]
        bad = [r for r in rs if r.get("valid") is False]
        if rs:
            verdicts.append(f"{t} {len(bad)} of {len(rs)}")
    if verdicts:
        lines.append("driver's own validity verdict — runs it called NOT VALID because its worker was CPU-bound "
                     f"(exit code {EXIT_INVALID}): " + ", ".join(verdicts) + ". That is the point of a saturation "
                     "benchmark (one worker on one core, no think time), so these runs count; any other verdict "
                     "or exit code fails the run.")
        lines.append("")
    lines += ["### Goals", ""]
    for goal, status, fig in goals(med):
        lines.append(f"- {goal}: **{status}** — {fig}")
    ngx = {t: c.median([r.get("nginx_cpu_us_per_req") for r in runs if r["tool"] == t and r["ok"]]) for t in tools}
    if ngx.get("driver") and ngx.get("scenario"):
        lines += ["", f"nginx's own CPU per request (median): {', '.join(f'{t} {c.fmt_num(v, 2)} µs' for t, v in ngx.items())}. "
                  "The same `return 200` costs nginx more per request when the client is slower: at a lower rate "
                  "nginx sleeps between requests and each request has to wake it (and the client) again, with "
                  "less work per wakeup on both sides. That is also why the slower tools' *sys* µs/request is "
                  "higher: a cheaper scenario path would lower its sys part as well."]
    if prof:
        lines += ["", "### Profile of driver's worker (py-spy)", ""]
        if prof.get("error"):
            lines.append(f"No profile: {prof['error']}.")
        else:
            lines.append(
                f"One extra run of each, not in the medians: `py-spy record --pid WORKER -r {a.profile_rate} -f raw"
                + (" --native" if a.profile_native else " --nonblocking")
                + f"` attached to driver's worker from {0.2 * a.duration + 1.0:.0f} s for {0.6 * a.duration:.0f} s "
                "(steady load). Shares are of the samples in which the worker was running (py-spy leaves idle "
                "samples out); *self* = the frame on top of the stack (with --native, C functions and system "
                "calls are their own frames: `write (libc.so.6)` is the time in the kernel sending a request), "
                "*inclusive* = samples with the function anywhere on the stack. The profiler pauses the worker "
                "for each sample, so the profiled runs' own req/s and CPU figures are lower. Raw stacks: "
                "`OUTDIR/profile-*/pyspy.txt` (flamegraph.pl input).")
            if any(prof.get(t, {}).get("stacks") for t in ("scenario", "driver")):
                lines += ["", "Summary: each sample goes to the first matching row (top to bottom); "
                          "*≈ µs/request* = share × the profiled run's CPU µs/request (whole process tree, so it "
                          "slightly overstates the worker's part).", "", categories_table(prof)]
            for t in ("scenario", "driver"):
                if t in prof:
                    lines += ["", profile_markdown(LABELS[t], prof[t]["stacks"], prof[t]["run"])]
    lines += ["", "### Tool commands", ""]
    for t in tools:
        cmd = commands[t]
        if t == "scenario":
            cmd = f"{URL_ENV}=http://127.0.0.1:PORT {cmd}"
        lines.append(f"- {t}: `{cmd}`")
    lines += ["", "### Every run", "",
              "Columns as in the HTTP section (*waited s*: the tool's and nginx's threads runnable but waiting for "
              "a CPU; *other CPU s*: the machine's busy time that was neither the tool, nginx nor the harness). "
              f"Each run waited (up to {a.quiet_wait:.0f} s) for a quiet machine; a run that still waited more than "
              f"{a.max_wait:.2f} s was re-run (up to {a.retries} times) and the least disturbed attempt kept. "
              "*errors* includes failed checks (driver) and failures (Locust).", "",
              rh.runs_table(runs), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", default="10s", help="per run (default 10s)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--connections", type=int, default=64, help="users / connections (default 64)")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help=f"comma list of {','.join(ALL_TOOLS)}")
    c.add_driver_args(ap)
    ap.add_argument("--nginx-core", default=c.NGINX_CORE)
    ap.add_argument("--tool-core", default=c.TOOL_CORE)
    ap.add_argument("--nice", type=int, default=-10,
                    help="scheduling priority of the harness, nginx and the tools (default -10; 0 leaves it alone)")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between runs")
    ap.add_argument("--max-wait", type=float, default=None,
                    help="seconds the tool and nginx together may wait for a CPU during a run before it is "
                         "re-run (default 0.3 s + 7%% of --duration)")
    ap.add_argument("--quiet-wait", type=float, default=30.0,
                    help="before each run wait up to this many seconds for the machine to go quiet (0: do not)")
    ap.add_argument("--retries", type=int, default=3, help="re-runs of a disturbed run (default 3)")
    ap.add_argument("--profile", choices=["auto", "yes", "no"], default="auto",
                    help="py-spy the driver worker in one extra scenario and plain run: auto = when the CPU "
                         "goal is missed (default)")
    ap.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second (default 250)")
    ap.add_argument("--profile-native", action=argparse.BooleanOptionalAction, default=True,
                    help="py-spy --native: C frames and system calls too (default on)")
    ap.add_argument("--out", default=None, help="raw per-run files (default benchmarks/out/scenario-<time>)")
    ap.add_argument("--write", metavar="RESULTS_MD", default=None,
                    help="write/replace the <!-- scenario --> section of this markdown file")
    a = ap.parse_args(argv)
    a.duration = c.parse_duration(a.duration)
    if a.max_wait is None:
        a.max_wait = 0.3 + 0.07 * a.duration
    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    bad = [t for t in tools if t not in ALL_TOOLS]
    if bad:
        ap.error(f"unknown tool(s) {bad}; choose from {ALL_TOOLS}")

    drv = None
    skipped = {}
    if {"driver", "scenario"} & set(tools):
        try:
            drv = c.prepare_driver(a.driver_src, a.driver_cmd)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            c.log(f"cannot prepare driver: {e}")
            for t in ("driver", "scenario"):
                if t in tools:
                    skipped[t] = f"cannot prepare driver ({str(e).splitlines()[0]})"
                    tools.remove(t)
    for t in list(tools):
        ok, why = available(t, drv)
        if not ok:
            c.log(f"skipping {t}: {why}")
            skipped[t] = why
            tools.remove(t)
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
                runs.append(run_one(a, t, rnd, ngx, stub, out, drv, commands))
        med = rh.summarize(runs, tools)
        missed = any(s == "not met" for g, s, _ in goals(med)[:1])
        if "scenario" in tools and (a.profile == "yes" or (a.profile == "auto" and missed)):
            c.log("profiling driver's worker (py-spy): one scenario run and one plain run")
            prof = run_profiles(a, ngx, stub, out, drv, commands, tools)
        stub.close()

    text = render(a, runs, med, tools, skipped, commands, drv, prof)
    (out / "summary.json").write_text(json.dumps(
        {"medians": med, "runs": runs,
         "profile": {t: {"run": p["run"], "top": profile_tables(p["stacks"])} for t, p in prof.items()
                     if isinstance(p, dict) and "stacks" in p}}, indent=1, default=str))
    (out / "section.md").write_text(text)
    print(medians_table(med, tools, runs))
    print()
    for goal, status, fig in goals(med):
        print(f"- {goal}: {status} — {fig}")
    if any(isinstance(prof.get(t), dict) and prof[t].get("stacks") for t in ("scenario", "driver")):
        print()
        print(categories_table(prof))
    for t in ("scenario", "driver"):
        if isinstance(prof.get(t), dict) and prof[t].get("stacks"):
            print()
            print(profile_markdown(LABELS[t], prof[t]["stacks"], prof[t]["run"]))
    if a.write:
        c.update_section(Path(a.write), "scenario", text)
        c.log(f"wrote the scenario section of {a.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
