"""driver's WebSocket unit beside bare picows, aiohttp and `websockets` clients, against
one fast echo server: CPU per round trip.

    python benchmarks/run_ws.py                          # 10 s runs, 3 interleaved rounds (~3 min)
    python benchmarks/run_ws.py --write benchmarks/RESULTS.md
    python benchmarks/run_ws.py --quick                  # seconds: checks the harness only

Server: ws_echo_server.py (picows on uvloop: every message echoed from its receive
buffer) pinned to core 0 (--server-core). Every client is pinned to core 1
(--tool-core) and keeps --connections (64) connections in a closed loop: send the
--body text, wait for its echo, send again, no think time:

| client | command |
| --- | --- |
| picows | `ws_bare_picows.py URL -c 64 -d 10 --body hello` (WSListener callbacks; the floor) |
| aiohttp | `ws_bare_aiohttp.py ...` (a task per connection: send_str, receive) |
| websockets | `ws_bare_websockets.py ...` (a task per connection: send, recv; asyncio API) |
| driver | `driver run URL -u 64 -d 10s -w 1 --body hello -q -o OUT` (every message recorded) |

Clients run interleaved (picows aiohttp websockets driver, picows ...) and the tables
quote medians over the rounds. driver is probed first with a 1 s run; when `driver run
ws://` is not available (an older driver) it is skipped and the report says why.

Per run (common.run_monitored, as for nginx in the HTTP benchmarks):
- round trips: the echo server's count of echoed messages (read from its stats file
  every 100 ms, after minus before): the same counter for every client. Each client's
  own count (the bare clients' JSON line; driver's result.json `endpoints[*].count`) is
  kept beside it as a check.
- round trips/s: round trips over the load window (first to last echo the server saw).
- CPU: user+sys of the client's whole process tree (driver: parent + worker) from
  /proc/PID/stat, read from the exited process before it is reaped; start-up included.
  CPU µs per round trip = CPU / round trips; steady-state: the same over the middle of
  the load window only (20 %-90 %), without start-up and shutdown.
- server CPU µs per round trip: the echo server's utime+stime over the run.

Goals (issue 10), on the medians: driver's CPU per round trip ≤ 1.3 × picows's, and
below aiohttp's and websockets' (driver ahead of every Python WebSocket client but
picows). Both the start-up-included and the steady-state ratios are shown; the goal is
judged on the first (as run_http.py's goals are).
"""
from __future__ import annotations

import argparse
import json
import mmap
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import common as c  # noqa: E402

SECTION = "ws"
CLIENTS = ("picows", "aiohttp", "websockets", "driver")
BARE = {name: BENCH / f"ws_bare_{name}.py" for name in CLIENTS[:3]}
ECHO_SERVER = BENCH / "ws_echo_server.py"
ECHO_PREFIX = "ws echo server listening on "
STATS = struct.Struct("<QQ")  # ws_echo_server.py's stats file: messages echoed, connections open
GOAL_RATIO = 1.3
SCALE_US = {"picows": 5.8, "aiohttp": 7.9, "websockets": 14.1}  # the figures, for scale


class EchoStats:
    """The echo server's counters, read from its stats file; `read()` answers what
    common.run_monitored expects of nginx's stub_status (it subtracts one connection,
    its own on nginx, so one is added here)."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb")
        self._mm = mmap.mmap(self._f.fileno(), STATS.size, access=mmap.ACCESS_READ)

    def counts(self) -> tuple[int, int]:
        return STATS.unpack_from(self._mm, 0)

    def read(self) -> c.StubStatus:
        echoed, open_now = self.counts()
        return c.StubStatus(active=open_now + 1, accepts=0, handled=0, requests=echoed,
                            reading=0, writing=0, waiting=0, polls=0)

    def close(self) -> None:
        self._mm.close()
        self._f.close()


def start_server(core: str, stats_path: Path):
    from run_mock import Server  # a taskset-pinned process whose URL is read from its first line

    return Server([sys.executable, str(ECHO_SERVER), "--port", "0", "--stats-file", str(stats_path)],
                  ECHO_PREFIX, core)


# --------------------------------------------------------------------------- clients


def client_command(name: str, url: str, a, run_dir: Path, drv) -> list[str]:
    pin = ["taskset", "-c", a.tool_core]
    if name == "driver":
        return pin + drv.cmd + ["run", url, "-u", str(a.connections), "-d", c.dur_arg(a.duration),
                                "-w", "1", "--body", a.body, "-q", "-o", str(run_dir)] + shlex.split(a.driver_args)
    return pin + [sys.executable, str(BARE[name]), url, "-c", str(a.connections),
                  "-d", f"{a.duration:g}", "--body", a.body]


def parse_bare(stdout: str) -> dict:
    """A bare client's last stdout line: {"round_trips", "errors", "seconds", "rps"}."""
    lines = [ln for ln in stdout.strip().splitlines() if ln.startswith("{")]
    if not lines:
        raise ValueError(f"no JSON line in the client's output: {stdout[-300:]!r}")
    d = json.loads(lines[-1])
    return {"own_count": int(d["round_trips"]), "client_errors": int(d["errors"])}


def driver_round_trips(result: dict) -> int:
    """Round trips driver recorded: the sum of `endpoints[*].count` in its result.json."""
    return sum(int(ep.get("count") or 0) for ep in result.get("endpoints") or [])


def parse_driver(returncode: int, run_dir: Path) -> dict:
    result = c.newest_result_json(run_dir)
    if result is None:
        return {"own_count": None, "client_errors": None, "exit_ok": False}
    errors = sum(int(ep.get("errors") or 0) for ep in result.get("endpoints") or [])
    return {"own_count": driver_round_trips(result), "client_errors": errors,
            "exit_ok": c.driver_exit_ok(returncode, result)}


def probe_driver(a, url: str, drv, out: Path) -> str | None:
    """None when `driver run ws://` works (a 1 s run recording round trips), else why not."""
    run_dir = out / "probe-driver"
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = drv.cmd + ["run", url, "-u", str(a.connections), "-d", "1s", "-w", "1", "--body", a.body,
                     "-q", "-o", str(run_dir)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=drv.env, cwd=drv.cwd)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"`driver run ws://` could not run ({e})"
    parsed = parse_driver(p.returncode, run_dir)
    if parsed["exit_ok"] and parsed["own_count"]:
        return None
    tail = (p.stderr.strip().splitlines() or p.stdout.strip().splitlines() or ["no output"])[-1]
    return f"`driver run ws://` is not available in this driver (exit {p.returncode}: {tail})"


def run_one(a, name: str, rnd: int, server, stats: EchoStats, url: str, out: Path, drv) -> dict:
    """One run of a client; re-run (up to --retries) when it and the server waited for a
    CPU longer than --max-wait; the least disturbed attempt is kept."""
    attempts = []
    for attempt in range(a.retries + 1):
        run_dir = out / (f"r{rnd}-{name}" + (f"-retry{attempt}" if attempt else ""))
        run_dir.mkdir(parents=True, exist_ok=True)
        cmd = client_command(name, url, a, run_dir, drv)
        if a.quiet_wait > 0:
            c.wait_for_quiet(max_wait=a.quiet_wait)
        rec = c.run_monitored(cmd, stats, timeout=a.duration + 60, env=drv.env if drv else None,
                              cwd=drv.cwd if drv else None, log_prefix=run_dir / name, nginx_pid=server.pid)
        if name == "driver":
            parsed = parse_driver(rec.returncode, run_dir)
            ok = parsed.pop("exit_ok")
        else:
            try:
                parsed, ok = parse_bare(rec.stdout), rec.returncode == 0
            except (ValueError, KeyError) as e:
                parsed, ok = {"own_count": None, "client_errors": None, "why": str(e)}, False
        per = (lambda s: s / rec.requests * 1e6 if s is not None and rec.requests else None)  # noqa: E731
        wait = (rec.tool_wait_s or 0.0) + (rec.nginx_wait_s or 0.0)
        r = {"round": rnd, "client": name, "attempt": attempt, "round_trips": rec.requests, "rps": rec.rps,
             "cpu_s": rec.cpu_s, "cpu_us": rec.cpu_us_per_req, "steady_us": rec.steady_cpu_us_per_req,
             "user_us": per(rec.user_s), "sys_us": per(rec.sys_s), "server_us": per(rec.nginx_cpu_s),
             "wall_s": rec.wall_s, "window_s": rec.window_s, "wait_s": wait, "other_cpu_s": rec.other_cpu_s,
             "returncode": rec.returncode, "ok": ok and rec.requests > 0, **parsed}
        if not r["ok"]:
            c.log(f"{name} failed (exit {rec.returncode}, {rec.requests} round trips); "
                  f"stderr tail: {rec.stderr[-600:]}")
        (run_dir / "run.json").write_text(json.dumps({**r, "cmd": cmd}, indent=1, default=str))
        c.log(f"round {rnd} {name:10s} {rec.rps:>9,.0f} rt/s  {c.fmt_num(r['cpu_us'], 2)} CPU µs/rt "
              f"(steady {c.fmt_num(r['steady_us'], 2)})  own count {c.fmt_num(r['own_count'])}  "
              f"waited {wait:.2f}s")
        r["disturbed"] = wait > a.max_wait
        attempts.append(r)
        time.sleep(a.pause)
        if not r["disturbed"] or not r["ok"]:
            break
    best = min(attempts, key=lambda r: (not r["ok"], r["wait_s"]))
    best["attempts"] = len(attempts)
    return best


# --------------------------------------------------------------------------- report

KEYS = ("rps", "cpu_us", "steady_us", "user_us", "sys_us", "server_us")


def summarize(runs: list[dict], clients: list[str]) -> dict[str, dict]:
    """Medians over the successful runs of each client."""
    med = {}
    for name in clients:
        ok = [r for r in runs if r["client"] == name and r["ok"]]
        med[name] = {k: c.median([r[k] for r in ok]) for k in KEYS}
        med[name]["runs"] = len(ok)
    return med


def ratio(med: dict, name: str, key: str = "cpu_us", ref: str = "picows") -> float | None:
    a, b = (med.get(name) or {}).get(key), (med.get(ref) or {}).get(key)
    return a / b if a and b else None


def goals(med: dict) -> list[tuple[str, str, str]]:
    """(goal, met / missed / not measured, the figures) on the medians."""
    out = []
    drv = (med.get("driver") or {}).get("cpu_us")
    for ref, limit, text in (("picows", GOAL_RATIO, f"driver CPU per round trip ≤ {GOAL_RATIO} × picows's"),
                             ("aiohttp", 1.0, "driver CPU per round trip below aiohttp's"),
                             ("websockets", 1.0, "driver CPU per round trip below websockets'")):
        if ref not in med:
            continue
        ref_us = med[ref].get("cpu_us")
        if drv is None or ref_us is None:
            out.append((text, "not measured", "–"))
            continue
        r = drv / ref_us
        met = r <= limit if limit != 1.0 else r < 1.0
        steady = ratio(med, "driver", "steady_us", ref)
        out.append((text, "met" if met else "missed",
                    f"{drv:.2f} vs {ref_us:.2f} µs = {r:.2f}× (steady state {c.fmt_num(steady, 2)}×)"))
    return out


def medians_table(med: dict, clients: list[str]) -> str:
    rows = [[name, c.fmt_num(m["rps"]), c.fmt_num(m["cpu_us"], 2), c.fmt_num(m["user_us"], 2),
             c.fmt_num(m["sys_us"], 2), c.fmt_num(m["steady_us"], 2),
             c.fmt_num(ratio(med, name), 2), c.fmt_num(m["server_us"], 2), m["runs"],
             f"{SCALE_US[name]}" if name in SCALE_US else "–"]
            for name, m in ((n, med[n]) for n in clients)]
    return c.md_table(["client", "round trips/s", "CPU µs/rt", "user µs/rt", "sys µs/rt", "steady CPU µs/rt",
                       "× picows", "server CPU µs/rt", "runs", "issue's µs/rt (for scale)"], rows)


def raw_table(runs: list[dict]) -> str:
    rows = [[r["round"], r["client"], "ok" if r["ok"] else f"FAILED (exit {r['returncode']})",
             c.fmt_num(r["round_trips"]), c.fmt_num(r["own_count"]), c.fmt_num(r["rps"]),
             c.fmt_num(r["cpu_s"], 2), c.fmt_num(r["cpu_us"], 2), c.fmt_num(r["steady_us"], 2),
             c.fmt_num(r["wall_s"], 1), c.fmt_num(r["wait_s"], 2), c.fmt_num(r["other_cpu_s"], 2),
             r.get("attempts", 1)] for r in runs]
    return c.md_table(["round", "client", "status", "round trips (server)", "client's own count", "rt/s",
                       "CPU s", "CPU µs/rt", "steady µs/rt", "wall s", "waited s", "other CPU s", "attempts"], rows)


def versions(drv) -> str:
    v = {"python": sys.version.split()[0]}
    for mod in ("picows", "aiohttp", "websockets", "uvloop"):
        v[mod] = c._py_version(mod)
    if drv is not None:
        v["driver"] = f"{c._py_version('driver', drv)} ({drv.source}; {c.driver_extension_state(drv)})"
    return "; ".join(f"{k} {val}" for k, val in v.items())


def render(a, runs, med, clients, skipped: dict, drv, argv) -> str:
    m = c.machine_info()
    title = "## WebSocket: CPU per round trip" + (" — QUICK, not results" if a.quick else "")
    lines = [title, "",
             f"- Date: {c.now_stamp()}",
             f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM; {m['os']}, Linux {m['kernel']}",
             f"- Versions: {versions(drv)}",
             f"- Command: `{shlex.join(['python', 'benchmarks/run_ws.py'] + list(argv))}` (from the repository root)",
             f"- Scheduling: {a.sched}",
             f"- Setup: picows echo server (ws_echo_server.py) on core {a.server_core}, each client on core "
             f"{a.tool_core}; {a.connections} connections, closed-loop ping-pong of `{a.body}`, "
             f"{c.dur_arg(a.duration)} per run, {a.rounds} interleaved round(s); medians. Round trips are the "
             f"server's count; CPU is the client's process tree (start-up included; steady = middle of the load)."]
    for name, why in skipped.items():
        lines.append(f"- {name} skipped: {why}")
    lines += ["", medians_table(med, clients), "", "Goals (issue 10):", ""]
    lines += [f"- {g}: **{s}** — {fig}" for g, s, fig in goals(med)] or ["- driver not measured"]
    lines += ["", "<details><summary>every run</summary>", "", raw_table(runs), "", "</details>"]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="a check of the harness: --duration 3s --rounds 1 --nice 0 --quiet-wait 0 --retries 0")
    ap.add_argument("--duration", default=None, help="per run (default 10s)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--body", default="hello", help="the text message of every round trip")
    ap.add_argument("--clients", default=",".join(CLIENTS), help=f"comma list of {','.join(CLIENTS)}")
    c.add_driver_args(ap)
    ap.add_argument("--server-core", default=c.NGINX_CORE)
    ap.add_argument("--tool-core", default=c.TOOL_CORE)
    ap.add_argument("--nice", type=int, default=None, help="priority of harness, server and clients (default -10)")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between runs")
    ap.add_argument("--max-wait", type=float, default=None,
                    help="seconds client and server may wait for a CPU before a run is re-run (0.3 + 7%% of a run)")
    ap.add_argument("--quiet-wait", type=float, default=None, help="wait up to this for a quiet machine (default 30)")
    ap.add_argument("--retries", type=int, default=None, help="re-runs of a disturbed run (default 3)")
    ap.add_argument("--out", default=None, help="raw files (default benchmarks/out/ws-<time>)")
    ap.add_argument("--write", metavar="RESULTS_MD", default=None,
                    help=f"write/replace the <!-- {SECTION} --> section of this markdown file")
    a = ap.parse_args(argv)
    defaults = dict(duration="10s", rounds=3, nice=-10, quiet_wait=30.0, retries=3)
    if a.quick:
        defaults.update(duration="3s", rounds=1, nice=0, quiet_wait=0.0, retries=0)
    for key, value in defaults.items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    try:
        a.duration = c.parse_duration(a.duration)
    except ValueError as e:
        ap.error(f"--duration: {e}")
    if a.max_wait is None:
        a.max_wait = 0.3 + 0.07 * a.duration
    a.client_list = [x.strip() for x in a.clients.split(",") if x.strip()]
    bad = [x for x in a.client_list if x not in CLIENTS]
    if bad or not a.client_list:
        ap.error(f"--clients: unknown {bad}; choose from {','.join(CLIENTS)}")
    if a.rounds < 1 or a.connections < 1:
        ap.error("--rounds and --connections must be >= 1")
    return a


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parse_args(argv)
    out = Path(a.out) if a.out else c.OUT_DIR / f"ws-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    a.sched = c.prepare_harness(a.tool_core, a.nice)
    clients, skipped, drv = list(a.client_list), {}, None
    if "driver" in clients:
        drv = c.prepare_driver(a.driver_src, a.driver_cmd)
    tmp = Path(tempfile.mkdtemp(prefix="driver-ws-bench-"))
    server = start_server(a.server_core, tmp / "echo.stats")
    stats = None
    url = server.url + "/"
    runs: list[dict] = []
    try:
        stats = EchoStats(tmp / "echo.stats")
        if drv is not None:
            why = probe_driver(a, url, drv, out)
            if why:
                c.log(f"skipping driver: {why}")
                skipped["driver"] = why
                clients.remove("driver")
        c.log(f"echo server {url} (core {a.server_core}); clients on core {a.tool_core}; "
              f"{a.rounds} rounds × {clients} × {c.dur_arg(a.duration)}; raw files in {out}")
        for rnd in range(1, a.rounds + 1):
            for name in clients:
                runs.append(run_one(a, name, rnd, server, stats, url, out, drv if name == "driver" else None))
    finally:
        if stats is not None:
            stats.close()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    med = summarize(runs, clients)
    text = render(a, runs, med, clients, skipped, drv, argv)
    (out / "summary.json").write_text(json.dumps({"medians": med, "runs": runs}, indent=1, default=str))
    (out / "section.md").write_text(text)
    print(medians_table(med, clients))
    for g, s, fig in goals(med):
        print(f"- {g}: {s} — {fig}")
    for name, why in skipped.items():
        print(f"- {name} skipped: {why}")
    if a.write:
        c.update_section(Path(a.write), SECTION, text)
        c.log(f"wrote the {SECTION} section of {a.write}")
    return 0 if runs and all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
