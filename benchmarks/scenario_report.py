"""The report of run_scenario.py: goals, medians, request mix, profile, commands, every run.

Tool names: driver, scenario (the YAML scenario), python (the Python scenario), locust,
and with --baseline the scenarios again at the baseline build (`scenario@base`,
`python@base`).
"""
from __future__ import annotations

import sys
from collections import Counter

import common as c
import run_http as rh
import scenario_profile as sp

URL_ENV = "DRIVER_BENCH_URL"
BASE = "@base"  # suffix of the tools that run driver built at --baseline
LABELS = {
    "driver": "driver run URL (plain, 1 worker)",
    "scenario": "driver run -c scenario.yaml (YAML scenario, 1 worker)",
    "python": "driver run -s scenario_python.py (Python scenario, 1 worker)",
    "locust": "Locust FastHttpUser, scenario locustfile (1 process)",
}
SCENARIOS = ("scenario", "python")

GOAL_YAML_CPU = 1.5  # YAML scenario CPU/request <= 1.5x plain driver's
GOAL_YAML_RPS_VS_LOCUST = 10.0  # YAML scenario req/s >= 10x Locust's (same scenario)
GOAL_PYTHON_CPU = 2.5  # Python scenario CPU/request <= 2.5x plain driver's


def label(t: str, a=None) -> str:
    if t.endswith(BASE):
        rev = getattr(a, "baseline", None) or "the baseline"
        return f"{LABELS[t[:-len(BASE)]]} at {rev}"
    return LABELS[t]


# driver exits 4 when it judges its own run not valid; here that is always "the
# generator was CPU-bound", which is what a saturation benchmark does on purpose
EXIT_INVALID = 4


def profiled(tools: list[str]) -> list[str]:
    """The driver tools, scenarios first (the profile's columns)."""
    order = [t + s for s in ("", BASE) for t in ("scenario", "python")] + ["driver"]
    return [t for t in order if t in tools]


def goals(med: dict) -> list[tuple[str, str, str]]:
    d, y, p, l = (med.get(t, {}) for t in ("driver", "scenario", "python", "locust"))

    def line(goal, a, b, limit, cmp, unit, fmt, who):
        if a is None or b is None:
            return goal, "not measured", f"{who} has no successful run"
        r = a / b
        ok = r <= limit if cmp == "<=" else r >= limit
        return goal, "met" if ok else "not met", f"{fmt(a)} vs {fmt(b)} {unit} = {r:.2f}× (limit {cmp} {limit:g}×)"

    us, rps = (lambda x: f"{x:.2f}"), (lambda x: f"{x:,.0f}")
    return [
        line(f"YAML scenario CPU per request ≤ {GOAL_YAML_CPU:g}× plain `driver run URL`'s", y.get("cpu_us"),
             d.get("cpu_us"), GOAL_YAML_CPU, "<=", "µs/request", us, "the YAML scenario or the plain driver"),
        line(f"YAML scenario req/s ≥ {GOAL_YAML_RPS_VS_LOCUST:g}× Locust FastHttpUser's (same scenario)",
             y.get("rps"), l.get("rps"), GOAL_YAML_RPS_VS_LOCUST, ">=", "req/s", rps, "the YAML scenario or Locust"),
        line(f"Python scenario CPU per request ≤ {GOAL_PYTHON_CPU:g}× plain `driver run URL`'s", p.get("cpu_us"),
             d.get("cpu_us"), GOAL_PYTHON_CPU, "<=", "µs/request", us, "the Python scenario or the plain driver"),
    ]


def before_after(med: dict, a) -> list[str]:
    """With --baseline: each scenario's CPU per request and req/s at the baseline and now."""
    out = []
    for t in SCENARIOS:
        now, then = med.get(t, {}), med.get(t + BASE, {})
        if now.get("cpu_us") and then.get("cpu_us"):
            out.append(f"{t}: {then['cpu_us']:.2f} → {now['cpu_us']:.2f} CPU µs/request "
                       f"({now['cpu_us'] / then['cpu_us']:.2f}×), {then['rps']:,.0f} → {now['rps']:,.0f} req/s "
                       f"(baseline {a.baseline} → this tree)")
    return out


def medians_table(med: dict, tools: list[str], runs: list[dict], a) -> str:
    base = med.get("driver", {})
    rows = []
    for t in tools:
        m = med[t]
        cr = rh.ratio(m["cpu_us"], base.get("cpu_us"))
        errs = sum((r.get("errors") or 0) for r in runs if r["tool"] == t and r["ok"])
        rows.append([
            label(t, a), c.fmt_num(m["rps"]), c.fmt_num(m["cpu_us"], 2), f"{cr:.2f}×" if cr else "–",
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



def render(a, runs, med, tools, skipped, commands, drvs, prof) -> str:
    drv = drvs.get("head") or drvs.get("base")
    lines = [
        "## Scenario: YAML and Python scenarios vs plain driver vs Locust (`run_scenario.py`)",
        "",
        c.environment_block(sorted({t.removesuffix(BASE) for t in tools} | {"driver"}), sys.argv, drv, a.sched),
        f"- Target: the nginx of `run_http.py` (`return 200` on every path, 1 worker, access_log off), pinned to "
        f"core {a.nginx_core}; every tool pinned to core {a.tool_core}; {a.connections} keep-alive connections, "
        f"closed loop, no think time; {c.dur_arg(a.duration)} per run; {a.rounds} interleaved rounds "
        f"({' '.join(tools)}, …); medians. Measured as in `run_http.py`: requests counted by nginx "
        "(stub_status), req/s over the load window, CPU = user+sys of the tool's whole process tree "
        "(/proc, start-up included), p50 the tool's own.",
        "- *plain*: `driver run URL`, the same command as `run_http.py`'s driver (one pre-built 291-byte "
        "body POSTed to /). *scenario* (YAML): `benchmarks/scenario.yaml`, five tasks weighted 5:3:2:1:1 on five "
        "paths (/bot/start, /bot/text, /bot/callback, /bot/help, /bot/photo), each POSTing a Telegram Update "
        "generated per request (kinds command /start, text, callback_query, command /help, photo; ~340–890 bytes; "
        "fresh update_id and message_id, the user's from/chat, the date, and `{{user.…}}` / `{{seq}}` "
        "placeholders in text, callback data and caption), every answer checked for status 200. *python*: "
        "`benchmarks/scenario_python.py`, the same five tasks as `async def` methods calling `self.http.post(...)` "
        "with the same updates (driver.payloads.telegram, f-strings for the texts) and `resp.expect(status=200)`. "
        "Both scenarios record every request. *Locust*: `benchmarks/locustfile_scenario.py`, a FastHttpUser with "
        "the same five @task methods and weights, building the same updates per request (compact JSON) and "
        "failing any answer that is not 200 (catch_response), `wait_time = constant(0)`.",
    ]
    if a.baseline and "base" in drvs:
        lines.append(f"- *…@base*: the same scenario files run by driver built at `{a.baseline}` "
                     f"({drvs['base'].source}), interleaved with the rest.")
    if skipped:
        lines.append("- Not run: " + "; ".join(f"{t} ({why})" for t, why in skipped.items()))
    lines += ["", "### Medians", "", medians_table(med, tools, runs, a), ""]
    mixes = [(t, mix_line(runs, t)) for t in tools if t != "driver"]
    mixes = [(t, m) for t, m in mixes if m]
    if mixes:
        lines.append("Request mix over all runs (weights 5:3:2:1:1 = 41.7 %, 25 %, 16.7 %, 8.3 %, 8.3 %): "
                     + "; ".join(f"{t}: {m}" for t, m in mixes) + ".")
        lines.append("")
    verdicts = []
    for t in tools:
        rs = [r for r in runs if r["tool"] == t and r["ok"] and t != "locust"]
        if rs:
            verdicts.append(f"{t} {len([r for r in rs if r.get('valid') is False])} of {len(rs)}")
    if verdicts:
        lines.append("driver's own validity verdict — runs it called NOT VALID because its worker was CPU-bound "
                     f"(exit code {EXIT_INVALID}): " + ", ".join(verdicts) + ". That is the point of a saturation "
                     "benchmark (one worker on one core, no think time), so these runs count; any other verdict "
                     "or exit code fails the run.")
        lines.append("")
    lines += ["### Goals", ""]
    for goal, status, fig in goals(med):
        lines.append(f"- {goal}: **{status}** — {fig}")
    changes = before_after(med, a)
    if changes:
        lines += ["", "Before and after (medians of the same run): " + "; ".join(changes) + "."]
    ngx = {t: c.median([r.get("nginx_cpu_us_per_req") for r in runs if r["tool"] == t and r["ok"]]) for t in tools}
    ngx = {t: v for t, v in ngx.items() if v}
    if len(ngx) > 1:
        lines += ["", f"nginx's own CPU per request (median): {', '.join(f'{t} {c.fmt_num(v, 2)} µs' for t, v in ngx.items())}. "
                  "The same `return 200` costs nginx more per request when the client is slower: at a lower rate "
                  "nginx sleeps between requests and each request has to wake it (and the client) again, with "
                  "less work per wakeup on both sides. That is also why the slower tools' *sys* µs/request is "
                  "higher: a cheaper scenario path would lower its sys part as well."]
    lines += profile_section(a, prof)
    lines += ["", "### Tool commands", ""]
    for t in tools:
        cmd = commands[t]
        if t.removesuffix(BASE) == "scenario":
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


def profile_section(a, prof: dict) -> list[str]:
    if not prof:
        return []
    lines = ["", "### Profile of driver's worker (py-spy)", ""]
    if prof.get("error"):
        return lines + [f"No profile: {prof['error']}."]
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
    tools = [t for t in profiled(list(prof)) if prof[t].get("stacks")]
    if tools:
        lines += ["", "Summary: each sample goes to the first matching row (top to bottom); "
                  "*≈ µs/request* = share × the profiled run's CPU µs/request (whole process tree, so it "
                  "slightly overstates the worker's part).", "", sp.categories_table(prof, tools)]
    for t in tools:
        lines += ["", sp.profile_markdown(label(t, a), prof[t]["stacks"], prof[t]["run"])]
    return lines
