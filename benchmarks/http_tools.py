"""The tools of run_http.py: how each is started, and how its output is read.

`build_tool` gives the command line (pinned with taskset) and the parser of each tool;
`available` says whether a tool can run here. See run_http.py's docstring for what
the tools are and why the open loop runs at OPEN_RATE.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import common as c
from http_report import BASE

ALL_TOOLS = ["driver", "driver-open", "wrk", "hey", "locust", "bare", "bare-open"]
DRIVER_TOOLS = ("driver", "driver-open")  # the ones --baseline runs again at REV
BARE_OPEN_CLIENT = c.BENCH_DIR / "bare_open_client.py"
OPEN_RATE = 20_000.0  # arrivals/s of driver-open (run_http.py's docstring says why)
# driver's validity reasons that are about the load generator itself (it exits 4 with them):
# CPU-bound, lagging event loop, late arrivals. An open loop on a busy machine, or the
# baseline's spinning one, gets them; the run is kept and its verdict shown.
GENERATOR_REASONS = ("cpu-bound", "lagged", "intended time")


@dataclass
class Tool:
    name: str
    cmd: list[str]
    env: dict | None
    parse: Callable[[str, str, Path], dict]  # (stdout, stderr, run dir) -> {p50_ns, tool_requests, errors}
    cwd: Path = c.REPO_DIR


# --------------------------------------------------------------------------- output parsers

_UNITS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}


def parse_wrk(out: str, err: str, run_dir: Path) -> dict:
    import re

    d: dict = {}
    m = re.search(r"Latency Distribution\s+50%\s+([\d.]+)(us|ms|s|m|h)", out)
    if m:
        d["p50_ns"] = float(m.group(1)) * _UNITS[m.group(2)]
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s|m|h)\s", out)
    if m:
        d["mean_ns"] = float(m.group(1)) * _UNITS[m.group(2)]
    m = re.search(r"(\d+) requests in", out)
    if m:
        d["tool_requests"] = int(m.group(1))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    d["errors"] = errors
    return d


def parse_hey(out: str, err: str, run_dir: Path) -> dict:
    import re

    d: dict = {}
    m = re.search(r"50% in ([\d.]+) secs", out)
    if m:
        d["p50_ns"] = float(m.group(1)) * 1e9  # hey prints 0.1 ms resolution
    m = re.search(r"Average:\s+([\d.]+) secs", out)
    if m:
        d["mean_ns"] = float(m.group(1)) * 1e9
    codes = re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)
    d["tool_requests"] = sum(int(n) for _, n in codes) if codes else None
    errors = sum(int(n) for code, n in codes if not code.startswith(("2", "3")))
    if "Error distribution:" in out:
        tail = out.split("Error distribution:", 1)[1]
        errors += sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]", tail, re.M))
    d["errors"] = errors
    return d


def parse_locust(out: str, err: str, run_dir: Path) -> dict:
    p = run_dir / "locust.json"
    if not p.exists():
        return {}
    stats = json.loads(p.read_text())
    n = sum(e["num_requests"] for e in stats)
    hist: dict[float, int] = {}
    for e in stats:
        for k, v in e["response_times"].items():
            hist[float(k)] = hist.get(float(k), 0) + v
    p50 = None
    if n:
        acc, half = 0, n * 0.5
        for k in sorted(hist):
            acc += hist[k]
            if acc >= half:
                p50 = k * 1e6  # locust keeps response times in ms, rounded (1 ms under 100 ms)
                break
    mean = sum(e["total_response_time"] for e in stats) / n * 1e6 if n else None  # ms -> ns
    return {"p50_ns": p50, "mean_ns": mean, "tool_requests": n, "errors": sum(e["num_failures"] for e in stats)}


def parse_driver(out: str, err: str, run_dir: Path) -> dict:
    res = c.newest_result_json(run_dir / "driver-out")
    if res is None:
        return {"errors": None}
    tot = res.get("totals", {})
    lat = tot.get("latency", {})
    errors = tot.get("errors")
    if errors is None:
        errors = sum(e.get("errors", 0) for e in res.get("endpoints", []))
    return {
        "p50_ns": lat.get("p50_ns"),
        "mean_ns": lat.get("mean_ns"),
        "p99_ns": lat.get("p99_ns"),
        "tool_requests": tot.get("requests"),
        "tool_rps": tot.get("rps"),
        "errors": errors,
        "incomplete": res.get("complete") is False,
        "exit_ok": lambda rc: c.driver_exit_ok(rc, res),
    }


def open_exit_ok(returncode: int, result: dict | None) -> bool:
    """0, or 4 where every reason is about the load generator (GENERATOR_REASONS)."""
    if returncode == 0:
        return True
    validity = (result or {}).get("validity") or {}
    reasons = validity.get("reasons") or ["?"]
    return (returncode == c.EXIT_INVALID and validity.get("valid") is False
            and all(any(k in r.lower() for k in GENERATOR_REASONS) for r in reasons))


def parse_driver_open(out: str, err: str, run_dir: Path) -> dict:
    """parse_driver, plus the open loop's own figures: late share, connections, verdict."""
    d = parse_driver(out, err, run_dir)
    res = c.newest_result_json(run_dir / "driver-out")
    if res is None:
        return d
    tot = res.get("totals", {})
    counters = tot.get("counters") or {}
    arrivals = tot.get("arrivals") or counters.get("sent") or tot.get("requests")
    late = tot.get("late", counters.get("late"))
    validity = res.get("validity") or {}
    d.update(
        late_share=late / arrivals if late is not None and arrivals else None,
        connects=counters.get("connects"),
        valid=validity.get("valid"),
        invalid_reasons=validity.get("reasons") or [],
        exit_ok=lambda rc: open_exit_ok(rc, res),
    )
    return d


def parse_bare(out: str, err: str, run_dir: Path) -> dict:
    try:
        d = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}
    return {"p50_ns": None, "tool_requests": d.get("requests"), "errors": d.get("errors")}


# --------------------------------------------------------------------------- tool commands


def build_tool(name: str, a, url: str, run_dir: Path, drv: c.DriverSetup | None) -> Tool:
    """The command of tool `name` (…@base: the caller passes the baseline's DriverSetup)."""
    name = name.removesuffix(BASE)
    pin = ["taskset", "-c", a.tool_core]
    dur = c.dur_arg(a.duration)
    body = str(c.BODY_FILE)
    n = str(a.connections)
    env = dict(os.environ)
    if name in DRIVER_TOOLS:
        load = ["-u", n] if name == "driver" else ["-r", f"{getattr(a, 'open_rate', OPEN_RATE):g}"]
        cmd = pin + drv.cmd + ["run", url] + load + [
            "-d", dur, "-w", "1", "-m", "POST", "--body-file", body,
            "-H", "Content-Type: application/json", "-q", "-o", str(run_dir / "driver-out"),
        ] + shlex.split(a.driver_args)
        return Tool(name, cmd, drv.env, parse_driver if name == "driver" else parse_driver_open, drv.cwd)
    if name == "wrk":
        env["WRK_BODY_FILE"] = body
        cmd = pin + ["wrk", "-t1", f"-c{n}", f"-d{dur}", "--latency", "-s", str(c.WRK_SCRIPT), url]
        return Tool(name, cmd, env, parse_wrk)
    if name == "hey":
        cmd = pin + ["hey", "-c", n, "-z", dur, "-m", "POST", "-D", body, "-T", "application/json",
                     "-cpus", "1", url]
        return Tool(name, cmd, env, parse_hey)
    if name == "locust":
        env["LOCUST_BODY_FILE"] = body
        cmd = pin + [sys.executable, "-m", "locust", "-f", str(c.LOCUSTFILE), "--headless", "-u", n,
                     "-r", n, "--run-time", dur, "-H", url.rstrip("/"), "--only-summary",
                     "--json-file", str(run_dir / "locust")]
        return Tool(name, cmd, env, parse_locust)
    if name == "bare":
        cmd = pin + [sys.executable, str(c.BARE_CLIENT), url, "-c", n, "-d", str(a.duration),
                     "--body-file", body]
        return Tool(name, cmd, env, parse_bare)
    if name == "bare-open":
        cmd = pin + [sys.executable, str(BARE_OPEN_CLIENT), url, "-r", f"{a.open_rate:g}", "-d", str(a.duration),
                     "--body-file", body]
        return Tool(name, cmd, env, parse_bare)
    raise ValueError(name)


def available(name: str, drv: c.DriverSetup | None) -> tuple[bool, str]:
    name = name.removesuffix(BASE)
    if name in DRIVER_TOOLS:
        ok, text = c.driver_run_help(drv)
        if ok and (name == "driver" or c.find_flag(text, "--rate")):
            return True, ""
        last = text.strip().splitlines()[-1] if text.strip() else "?"
        return False, f"`{shlex.join(drv.cmd)} run --help` does not work yet or has no --rate ({last})"
    if name in ("wrk", "hey"):
        return (shutil.which(name) is not None, f"{name} not on PATH")
    if name == "locust":
        import importlib.util
        return (importlib.util.find_spec("locust") is not None, "locust not importable")
    if name in ("bare", "bare-open"):
        import importlib.util
        return (importlib.util.find_spec("uvloop") is not None, "uvloop not importable")
    return False, "unknown tool"


def display_cmd(cmd: list[str]) -> str:
    """The command as a reader would type it: repository-relative paths, no interpreter path."""
    out = []
    for x in cmd:
        if x == sys.executable:
            x = "python"
        elif x.startswith(str(c.REPO_DIR) + os.sep):
            x = os.path.relpath(x, c.REPO_DIR)
        elif x.startswith(str(c.REPO_DIR)):
            x = "."
        out.append(x)
    return shlex.join(out)
