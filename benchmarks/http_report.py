"""The report of run_http.py: medians, goals, the open-loop table, commands, every run.

Tool names: driver (closed loop), driver-open (open loop at --open-rate), wrk, hey,
locust, bare (closed loop), bare-open (open loop at --open-rate); with --baseline REV,
`driver@base` and `driver-open@base` are the same two driver commands run by driver
built at REV.
"""
from __future__ import annotations

import sys

import common as c

BASE = "@base"  # suffix of the tools that run driver built at --baseline
# each open-loop tool and the closed-loop tool it is compared with
CLOSED_OF = {"driver-open": "driver", "driver-open" + BASE: "driver" + BASE, "bare-open": "bare"}
OPEN = tuple(CLOSED_OF)
LABELS = {
    "driver": "driver (1 worker)",
    "driver-open": "driver open loop (1 worker)",
    "wrk": "wrk (1 thread)",
    "hey": "hey (1 CPU)",
    "locust": "Locust FastHttpUser (1 process)",
    "bare": "bare uvloop client (floor)",
    "bare-open": "bare uvloop open-loop client (floor)",
}

# goals from the issues; every figure is a median over the rounds
GOAL_P50_VS_WRK = 1.2  # driver's p50 within 20% of wrk's
GOAL_CPU_VS_WRK = 1.3
GOAL_RPS_VS_WRK = 0.75
GOAL_RPS_VS_LOCUST = 10.0
GOAL_OPEN_VS_CLOSED = 1.5  # open-loop CPU/request <= 1.5x closed loop's (issue 8)
GOAL_VS_BASELINE = 1.05  # CPU/request at most 5% worse than the baseline's (issue 7)


def label(t: str, a=None) -> str:
    if t.endswith(BASE):
        return f"{LABELS[t.removesuffix(BASE)]} at {getattr(a, 'baseline', None) or 'the baseline'}"
    return LABELS[t]


def ratio(a, b):
    return a / b if a is not None and b else None


def summarize(runs: list[dict], tools: list[str]) -> dict:
    """Per tool: the median of each figure over its successful runs."""
    med = {}
    for t in tools:
        rs = [r for r in runs if r["tool"] == t and r["ok"]]
        m = lambda key: c.median([r.get(key) for r in rs])  # noqa: E731
        med[t] = {
            "n": len(rs),
            "rps": m("rps"),
            "cpu_us": m("cpu_us_per_req"),
            "steady_cpu_us": m("steady_cpu_us_per_req"),
            "user_us": m("user_us_per_req"),
            "busy": c.median([r["cpu_s"] / r["wall_s"] for r in rs if r["wall_s"]]),
            "sys_us": m("sys_us_per_req"),
            "p50_ns": m("p50_ns"),
            "p99_ns": m("p99_ns"),
            "mean_ns": m("mean_ns"),
            "little_ns": c.median([r["connections"] / r["rps"] * 1e9 for r in rs
                                   if r.get("connections") and r["rps"]]),
            "late_share": m("late_share"),
            "connects": m("connects"),
            "not_valid": sum(1 for r in rs if r.get("valid") is False),
        }
    return med


def _line(goal, a, b, limit, cmp, unit, fmt, who="driver or the reference tool"):
    """(goal, 'met'/'not met'/'not measured', figures) for a / b against limit."""
    if a is None or b is None:
        return goal, "not measured", f"{who} has no successful run"
    r = a / b
    ok = r <= limit if cmp == "<=" else r >= limit
    return goal, "met" if ok else "not met", f"{fmt(a)} vs {fmt(b)} {unit} = {r:.2f}× (limit {cmp} {limit:g}×)"


_US = lambda x: f"{x:.2f}"  # noqa: E731
_RPS = lambda x: f"{x:,.0f}"  # noqa: E731


def goals(med: dict) -> list[tuple[str, str, str]]:
    """driver (closed loop) against wrk and Locust: [(goal, status, figures)]."""
    d, w, l = med.get("driver", {}), med.get("wrk", {}), med.get("locust", {})
    out = [
        _line(f"driver CPU per request ≤ {GOAL_CPU_VS_WRK:g}× wrk's", d.get("cpu_us"), w.get("cpu_us"),
              GOAL_CPU_VS_WRK, "<=", "µs/request", _US),
        _line(f"driver req/s ≥ {GOAL_RPS_VS_WRK:.0%} of wrk's", d.get("rps"), w.get("rps"),
              GOAL_RPS_VS_WRK, ">=", "req/s", _RPS),
        _line(f"driver req/s ≥ {GOAL_RPS_VS_LOCUST:g}× Locust FastHttpUser's", d.get("rps"), l.get("rps"),
              GOAL_RPS_VS_LOCUST, ">=", "req/s", _RPS),
    ]
    p50 = _line(f"driver p50 within {GOAL_P50_VS_WRK - 1:.0%} of wrk's p50", d.get("p50_ns"), w.get("p50_ns"),
                GOAL_P50_VS_WRK, "<=", "", lambda x: f"{x / 1e3:,.0f} µs")
    if p50[1] == "not met" and d.get("mean_ns") and d.get("little_ns") and w.get("mean_ns"):
        # say why: each tool's own mean against the Little's-law mean of its run
        p50 = (p50[0], p50[1], p50[2] + (
            f"; driver's own mean is {d['mean_ns'] / d['little_ns']:.0%} of the Little's-law mean "
            f"(connections / req/s), wrk's is {w['mean_ns'] / w['little_ns']:.0%}: wrk writes the next "
            f"request on a later event-loop turn and its timer leaves that wait out, driver's does not"))
    out.append(p50)
    # a reference tool that was not asked for is no goal of this run ("not measured" is for failed runs)
    return [g for g in out if ("wrk" in med or "wrk" not in g[0]) and ("locust" in med or "Locust" not in g[0])
            and "driver" in med]


def paired_ratios(runs: list[dict], now: str, then: str, key: str) -> list[float]:
    """now / then of one figure, round by round (the two ran next to each other)."""
    by = {(r["round"], r["tool"]): r for r in runs if r["ok"]}
    out = []
    for (rnd, t), r in sorted(by.items()):
        b = by.get((rnd, then))
        if t == now and b and r.get(key) and b.get(key):
            out.append(r[key] / b[key])
    return out


def loop_goals(med: dict, runs: list[dict], a) -> list[tuple[str, str, str]]:
    """Open loop against closed loop (same build), and both against --baseline."""
    d, o = med.get("driver", {}), med.get("driver-open", {})
    out = []
    if "driver-open" in med and "driver" in med:
        g = _line(f"open loop CPU per request within {GOAL_OPEN_VS_CLOSED:g}× of closed loop's (steady state, "
                  f"driver-open at {a.open_rate:,.0f}/s vs driver)", o.get("steady_cpu_us"),
                  d.get("steady_cpu_us"), GOAL_OPEN_VS_CLOSED, "<=", "µs/request", _US, "driver-open or driver")
        if o.get("cpu_us") and d.get("cpu_us"):
            g = (g[0], g[1], g[2] + f"; start-up included: {o['cpu_us']:.2f} vs {d['cpu_us']:.2f} µs/request = "
                 f"{o['cpu_us'] / d['cpu_us']:.2f}×; achieved rate {c.fmt_num(o.get('rps'))}/s")
        out.append(g)
    if not getattr(a, "baseline", None):
        return out
    for kind, key, what in (("driver", "cpu_us", "closed loop CPU per request"),
                            ("driver-open", "steady_cpu_us", "open loop CPU per request (steady state)")):
        now, then = med.get(kind), med.get(kind + BASE)
        if now is None and then is None:
            continue
        now, then = now or {}, then or {}
        g = _line(f"{what} not worse than the baseline's ({a.baseline}) by more than "
                  f"{GOAL_VS_BASELINE - 1:.0%}", now.get(key), then.get(key), GOAL_VS_BASELINE, "<=",
                  "µs/request (this tree vs baseline)", _US, f"{kind} or {kind}{BASE}")
        per_round = paired_ratios(runs, kind, kind + BASE, key.replace("cpu_us", "cpu_us_per_req"))
        if g[1] != "not measured":
            g = (g[0], g[1], g[2] + (f"; per round {', '.join(f'{x:.2f}×' for x in per_round)}" if per_round else "")
                 + f"; req/s {c.fmt_num(then.get('rps'))} → {c.fmt_num(now.get('rps'))}"
                 + f"; tool's core busy {_pct(then.get('busy'))} → {_pct(now.get('busy'))}")
        out.append(g)
    return out


def _pct(x) -> str:
    return f"{x:.0%}" if x is not None else "–"


def medians_table(med: dict, tools: list[str], a=None) -> str:
    """The closed-loop tools."""
    w = med.get("wrk", {})
    rows = []
    for t in tools:
        if t in OPEN:
            continue
        m = med[t]
        rr, cr = ratio(m["rps"], w.get("rps")), ratio(m["cpu_us"], w.get("cpu_us"))
        rows.append([
            label(t, a), c.fmt_num(m["rps"]), f"{rr:.2f}×" if rr else "–",
            c.fmt_num(m["cpu_us"], 2), f"{cr:.2f}×" if cr else "–",
            f"{c.fmt_num(m['user_us'], 2)} / {c.fmt_num(m['sys_us'], 2)}",
            c.fmt_num(m["steady_cpu_us"], 2), _pct(m["busy"]),
            c.fmt_ns(m["p50_ns"]), c.fmt_ns(m["mean_ns"]), c.fmt_ns(m["little_ns"]), m["n"],
        ])
    return c.md_table(
        ["tool", "req/s (median)", "req/s vs wrk", "CPU µs/request (median)", "CPU vs wrk",
         "user / sys µs/request", "steady-state CPU µs/request", "tool's core busy", "p50 latency (tool's own)",
         "mean latency (tool's own)", "mean by Little's law", "runs"], rows)


def open_table(med: dict, tools: list[str], a) -> str:
    """The open-loop tools, each after the closed-loop tool it is compared with."""
    order = []
    for t in tools:
        if t in OPEN:
            order += [x for x in (CLOSED_OF[t], t) if x in med and x not in order]
    rows = []
    for t in order:
        m = med[t]
        is_open = t in OPEN
        vs = ratio(m["steady_cpu_us"], med.get(CLOSED_OF[t], {}).get("steady_cpu_us")) if is_open else None
        rows.append([
            label(t, a), f"{a.open_rate:,.0f}/s" if is_open else "closed loop", c.fmt_num(m["rps"]),
            f"{m['rps'] / a.open_rate:.1%}" if is_open and m["rps"] else "–",
            c.fmt_num(m["cpu_us"], 2), c.fmt_num(m["steady_cpu_us"], 2), f"{vs:.2f}×" if vs else "–",
            f"{c.fmt_num(m['user_us'], 2)} / {c.fmt_num(m['sys_us'], 2)}", _pct(m["busy"]),
            c.fmt_ns(m["p50_ns"]), c.fmt_ns(m["p99_ns"]),
            f"{m['late_share']:.2%}" if is_open and m["late_share"] is not None else "–",
            c.fmt_num(m["connects"]), m["n"],
        ])
    return c.md_table(
        ["tool", "rate asked", "req/s (nginx, median)", "achieved / asked", "CPU µs/request",
         "steady-state CPU µs/request", "steady CPU vs its closed loop", "user / sys µs/request",
         "tool's core busy", "p50 (tool's own)", "p99 (tool's own)", "late arrivals (> 2 ms, driver's count)",
         "connections opened (driver's count)", "runs"], rows)


def floor_lines(med: dict) -> list[str]:
    """How much of the open loop's extra CPU per request any client pays at that rate."""
    d, o, b, bo = (med.get(t, {}) for t in ("driver", "driver-open", "bare", "bare-open"))
    out = []
    r_floor = ratio(bo.get("steady_cpu_us"), b.get("steady_cpu_us"))
    if r_floor:
        out.append(f"the bare client's open loop costs {r_floor:.2f}× its closed loop per request (steady state, "
                   f"{bo['steady_cpu_us']:.2f} vs {b['steady_cpu_us']:.2f} µs): what sending at this rate costs "
                   "a client that does nothing else")
    r_drv = ratio(o.get("steady_cpu_us"), bo.get("steady_cpu_us"))
    if r_drv:
        out.append(f"driver's open loop costs {r_drv:.2f}× the bare open-loop client's per request "
                   f"({o['steady_cpu_us']:.2f} vs {bo['steady_cpu_us']:.2f} µs); in closed loop the same "
                   f"ratio is {c.fmt_num(ratio(d.get('steady_cpu_us'), b.get('steady_cpu_us')), 2)}×")
    return out


def runs_table(runs: list[dict]) -> str:
    rows = []
    for r in runs:
        rows.append([
            r["round"], r["tool"], c.fmt_num(r["requests"]), f"{r['window_s']:.2f}", f"{r['wall_s']:.2f}",
            c.fmt_num(r["rps"]), f"{r['cpu_s']:.2f}", c.fmt_num(r["cpu_us_per_req"], 2),
            c.fmt_num(r["user_us_per_req"], 2), c.fmt_num(r["sys_us_per_req"], 2),
            c.fmt_num(r["steady_cpu_us_per_req"], 2),
            c.fmt_num(r["nginx_cpu_us_per_req"], 2), c.fmt_ns(r.get("p50_ns")),
            c.fmt_num(r.get("tool_requests")), c.fmt_num(r.get("errors")),
            f"{r['wait_s']:.2f}", f"{r['other_cpu_s']:.2f}" if r.get("other_cpu_s") is not None else "–",
            ("ok" if r["ok"] else r.get("why", "failed"))
            + (f"; attempt {r['attempt'] + 1} of {r['attempts']}" if r.get("attempts", 1) > 1 else "")
            + ("; disturbed" if r.get("disturbed") else "")
            + (f"; driver: NOT VALID ({'; '.join(r.get('invalid_reasons') or [])})"
               if r["tool"] in OPEN and r.get("valid") is False else ""),
        ])
    return c.md_table(
        ["round", "tool", "requests (nginx)", "load window s", "wall s", "req/s", "CPU s", "CPU µs/req",
         "user µs/req", "sys µs/req",
         "steady CPU µs/req", "nginx CPU µs/req", "p50", "tool's own count", "errors", "waited s", "other CPU s", "status"],
        rows)


def render(a, runs, med, tools, skipped, commands, drvs) -> str:
    drv = drvs.get("head") or drvs.get("base")
    kinds = sorted({t.removesuffix(BASE).removesuffix("-open") for t in tools})
    lines = [
        "## HTTP: throughput and CPU per request (`run_http.py`)",
        "",
        c.environment_block(kinds, sys.argv, drv, a.sched),
        f"- Target: nginx `return 200` to POST /, 1 worker, access_log off, pinned to core {a.nginx_core}; "
        f"every load tool pinned to core {a.tool_core}; the same {c.BODY_FILE.stat().st_size}-byte JSON body "
        "(`benchmarks/body.json`, a Telegram update) with `Content-Type: application/json`; "
        f"{c.dur_arg(a.duration)} per run; {a.rounds} interleaved rounds ({' '.join(tools)}, …); medians. "
        f"Closed loop: {a.connections} keep-alive connections, no think time. Open loop (*driver-open*, "
        f"*bare-open*): {a.open_rate:,.0f} arrivals/s whatever the target does, driver's latency counted from "
        "each arrival's intended start.",
        "- req/s = requests nginx counted (stub_status delta) / load window (first to last request nginx saw, "
        "100 ms samples). CPU = user+sys of the tool's whole process tree (/proc/PID/stat), start-up "
        "included; *steady-state* CPU is the same over the middle of the load window only (no start-up or "
        "shutdown). p50 is the tool's own figure (hey: 0.1 ms resolution; Locust: 1 ms).",
    ]
    if a.baseline and "base" in drvs:
        lines.append(f"- *…@base*: the same driver commands run by driver built at `{a.baseline}` "
                     f"({drvs['base'].source}), interleaved with the rest (before and after in one run).")
    if skipped:
        lines.append("- Not run: " + "; ".join(f"{t} ({why})" for t, why in skipped.items()))
    closed = [t for t in tools if t not in OPEN]
    if closed:
        lines += ["", "### Medians (closed loop)", "", medians_table(med, tools, a), "",
                  "*user / sys*: the two parts of CPU per request (medians of each, so they need not add up "
                  "exactly). On loopback the kernel's TCP work is most of a fast client's cost — the sender's "
                  "system call also runs the receiving side's softirq — so *sys* is similar for every fast tool "
                  "and *user* is where they differ. *tool's core busy*: CPU s / wall s; at 100 % the tool, not "
                  "nginx, is the limit (on 2 cores both sides saturate at about the same rate). *mean by Little's "
                  "law* = connections / req/s: in a closed loop with no think time this is the true mean time per "
                  "request as a user of a connection sees it; a tool whose own mean is lower leaves part of each "
                  "cycle out of its latency (e.g. time a response waits in the client before it is read, or "
                  "before the next write)."]
    if any(t in OPEN for t in tools):
        lines += ["", "### Open loop", "", open_table(med, tools, a), "",
                  f"A closed loop runs as fast as the target answers, an open loop at the rate asked "
                  f"({a.open_rate:,.0f}/s, well below what one worker reaches closed-loop); holding a closed loop to "
                  "that rate would take think time, another mode, so the two are compared by CPU per request, "
                  "which to first order does not depend on the rate. It is taken in the steady state because "
                  "start-up (imports, ~0.3 s of CPU) is spread over far fewer requests in the open loop. To second "
                  "order a lower rate costs more per request — each wake-up of the event loop and each read serve "
                  "fewer requests than under saturation, and every request wakes an idle nginx — so *bare-open*, "
                  "a minimal uvloop client with driver's open-loop discipline (a wake-up per millisecond tick, "
                  "due arrivals sent on idle connections), shows what the rate alone costs. *late arrivals*: "
                  "share of arrivals driver sent more than 2 ms after their intended time (above 5 % driver calls "
                  "the run not valid; such runs are kept, with driver's verdict in the raw table). *connections "
                  "opened*: a new connection for each arrival that finds none idle, up to --max-in-flight."]
        not_valid = [f"{t} {med[t]['not_valid']} of {med[t]['n']}" for t in tools
                     if t in OPEN and t.startswith("driver") and med[t]["n"]]
        if not_valid:
            lines += ["", "Runs driver itself called NOT VALID (exit 4; kept when every reason is about the load "
                      "generator: CPU-bound, a lagging loop, late arrivals): " + ", ".join(not_valid) + "."]
    lines += ["", "### Goals", ""]
    for goal, status, fig in goals(med) + loop_goals(med, runs, a):
        lines.append(f"- {goal}: **{status}** — {fig}")
    floor = floor_lines(med)
    if floor:
        lines += ["", "For scale (not goals): " + "; ".join(floor) + "."]
    lines += ["", "### Tool commands", ""]
    for t in tools:
        lines.append(f"- {t}: `{commands[t]}`")
    lines += ["", "### Every run", "",
              "*waited s*: time the tool's and nginx's threads were runnable but waiting for a CPU "
              "(/proc/PID/task/*/schedstat), i.e. how much other processes delayed the run; *other CPU s*: busy "
              "CPU time of the machine that was neither the tool, nginx nor the harness (approximate: /proc/stat counts "
              "ticks while process times are exact, so it can come out slightly negative). Each run waited (up to "
              f"{a.quiet_wait:.0f} s) for the machine to be quiet first; a run that still waited more than "
              f"{a.max_wait:.2f} s was re-run (up to {a.retries} times) and the least disturbed attempt "
              "kept; every attempt is in the raw files.", "",
              runs_table(runs), ""]
    return "\n".join(lines)
