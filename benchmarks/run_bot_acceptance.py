"""The bot users' acceptance run, and its soak: end to end, through the mock API.

    python benchmarks/run_bot_acceptance.py                         # 1,000 users, 120 s
    python benchmarks/run_bot_acceptance.py --soak --duration 1h    # steady rate, leak verdicts
    python benchmarks/run_bot_acceptance.py --write benchmarks/RESULTS.md

The demo bot runs in API mode (it answers 200 at once and sends its replies to a mock
Telegram Bot API, through its circuit breaker); `driver run` starts the mock with the
run (`mock:`) and follows every update to its reply. Acceptance: 1,000 concurrent
synthetic users (closed loop: each waits for the bot's whole answer, then sends its next
command at once: the built-in scenario has no think time) over all 22 commands of the
catalog, with their tier rules judged from the replies;
reported per command: updates, replies, missing replies, failed checks, reply p50 and
p99 (from the update's intended send to the reply's arrival at the mock). The user
criterion: reply p99 < 5 s, no missing replies.

--soak: the same users at a steady rate for the whole duration, with the demo bot's
process watched (--watch-pid) and the leak verdict (Theil-Sen slope of RSS after
warm-up, MB/h with its 95% interval) for the bot and for driver's own processes.

Everything runs on this machine: bot, mock (driver's bot-side process), driver's
workers. Figures are what this machine did; the file says which machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from driver.targets.process import DemoTargetProcess  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as c  # noqa: E402

BEGIN, END = "<!-- bot-acceptance:begin -->", "<!-- bot-acceptance:end -->"


def config(bot_port: int, mock_port: int, users: int, duration: str, workers: int, soak: bool) -> str:
    leak = ('  - "target_rss_slope<10MB/h"\n  - "driver_rss_slope<10MB/h"\n' if soak else "")
    return f"""\
target: {{base_url: "http://127.0.0.1:{bot_port}"}}
scenario:
  python: driver.scenario.telegram:CatalogBot
  users: {{size: {users}}}
mock:
  platform: telegram
  port: {mock_port}
replies: {{channel: api, timeout: 10s}}
load: {{users: {users}, ramp_up: 20s, duration: {duration}, workers: {workers}}}
thresholds:
  - "reply_missing<0.1%"
{leak}"""


def machine() -> str:
    info = c.machine_info()
    return (f"{info['cpu']}, {info['cores']} CPUs, {info['memory']}, "
            f"{info['os']}, kernel {info['kernel']}")


def run(args) -> dict:
    mock_port = c.free_port()
    with tempfile.TemporaryDirectory() as tmp, DemoTargetProcess(
            api_url=f"http://127.0.0.1:{mock_port}", breaker_failures=20, breaker_reset_s=2) as bot:
        cfg = Path(tmp) / "acceptance.yaml"
        cfg.write_text(config(bot.port, mock_port, args.users, args.duration, args.workers, args.soak))
        cmd = [sys.executable, "-m", "driver.cli", "run", "-c", str(cfg), "-o", str(Path(tmp) / "out"), "-q",
               "--watch-pid", str(bot.pid)]
        started = time.time()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.time() - started
        found = list((Path(tmp) / "out").glob("*/result.json"))
        if not found:
            raise SystemExit(f"no result: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        result = json.loads(found[0].read_text())
    return {"result": result, "exit": proc.returncode, "wall_s": wall, "summary": proc.stdout}


def _ms(ns) -> str:
    return "–" if ns is None else f"{ns / 1e6:,.1f}"


def section(out: dict, args, command: str) -> str:
    r = out["result"]
    eps = {e["name"]: e for e in r["endpoints"]}
    commands = sorted((n for n in eps if n.startswith("/")), key=lambda n: -eps[n]["count"])
    lines = [BEGIN, f"## Bot acceptance{' soak' if args.soak else ''}: 1,000 users, 22 commands, replies through the mock (`run_bot_acceptance.py`)", ""]
    lines += [f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; bot, mock and driver on this one machine.",
              "", f"    {command}", "",
              f"Exit code {out['exit']}; {r['duration_s']:.0f} s of load; complete: {r['complete']}; "
              f"valid: {(r.get('validity') or {}).get('valid')} "
              f"{'; '.join((r.get('validity') or {}).get('reasons') or [])}.", ""]
    tot_sent = sum(eps["reply:" + c]["sent"] for c in commands if "reply:" + c in eps)
    tot_missing = sum(eps["reply:" + c]["errors_by_kind"]["reply_missing"] for c in commands if "reply:" + c in eps)
    tot_unfinished = sum(eps["reply:" + c]["errors_by_kind"]["unfinished"] for c in commands if "reply:" + c in eps)
    tot_fail = sum(eps["reply:" + c]["check_failures"] for c in commands if "reply:" + c in eps)
    lines += [f"Updates followed: {tot_sent:,}; missing replies: {tot_missing:,}; unanswered at the end: "
              f"{tot_unfinished:,}; failed reply checks: {tot_fail:,}.", ""]
    lines += ["| command | updates | replies | missing | failed checks | webhook p99 ms | reply p50 ms | reply p99 ms |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for c in commands:
        rep = eps.get("reply:" + c)
        if rep is None:
            continue
        lines.append(f"| {c} | {rep['sent']:,} | {rep['count']:,} | {rep['errors_by_kind']['reply_missing']:,} | "
                     f"{rep['check_failures']:,} | {_ms(eps[c]['latency']['p99_ns'])} | "
                     f"{_ms(rep['latency']['p50_ns'])} | {_ms(rep['latency']['p99_ns'])} |")
    lines.append("")
    leak = r.get("leak") or {}
    if leak:
        lines += ["Memory slope after warm-up (Theil-Sen, MB/h, 95% interval):", ""]
        for group, procs in leak.items():
            for name, v in procs.items():
                lo, hi = v.get("low_mb_h"), v.get("high_mb_h")
                interval = f" ({lo:+.2f} .. {hi:+.2f})" if lo is not None and hi is not None else ""
                lines.append(f"- {group} {name}: {v['slope_mb_h']:+.2f} MB/h{interval}, {v['start_mb']:.1f} -> "
                             f"{v['end_mb']:.1f} MB, {v['points']} points after {v['warmup_s']:.0f} s warm-up")
        lines.append("")
    rates = [p["rps"] for p in r["series"] if 30 < p["t"] <= r["duration_s"] - 1]  # not the drain
    if rates:
        rates.sort()
        lines += [f"Webhook updates per second after 30 s: median {rates[len(rates) // 2]:,.0f} "
                  f"(min {rates[0]:,.0f}, max {rates[-1]:,.0f}).", ""]
    lines += ["Thresholds:", ""] + [f"- `{v['threshold']}`: {'passed' if v['passed'] else 'FAILED'} "
                                    f"(value {v['value']})" for v in r.get("verdicts", [])]
    lines += ["", END]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else ""
    begin, end = old.find(BEGIN), old.find(END)
    if begin >= 0 and end > begin:
        old = old[:begin] + text + old[end + len(END):]
    else:
        old = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(old)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--duration", default="120s")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--soak", action="store_true", help="label the section a soak (use with --duration 1h)")
    ap.add_argument("--write", metavar="RESULTS_MD")
    ap.add_argument("--json", metavar="FILE", help="also keep the whole result.json here")
    args = ap.parse_args(argv)
    global BEGIN, END
    if args.soak:
        BEGIN, END = "<!-- bot-soak:begin -->", "<!-- bot-soak:end -->"
    command = "python benchmarks/run_bot_acceptance.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out = run(args)
    text = section(out, args, command)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(out["result"]))
    if args.write:
        write_section(Path(args.write), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
