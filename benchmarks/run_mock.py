"""The mock platform API and reply correlation: is the mock ever the bottleneck?

    python benchmarks/run_mock.py                          # 3 rounds; ~6 minutes
    python benchmarks/run_mock.py --write benchmarks/RESULTS.md
    python benchmarks/run_mock.py --quick                  # seconds: checks the harness only

1. Mock throughput: `driver mock telegram` alone, pinned to core 0, driven by
   `driver run URL/bot123:TEST/sendMessage -m POST -u 64` (closed loop) on core 1,
   with a JSON body and with a multipart body (aiogram's encoding); beside it the floor
   of an aiohttp server, a bare aiohttp app on uvloop (this file, `--serve-bare`)
   answering the same POST with a fixed body after reading the request body. Per call:
   the server's CPU from /proc/PID/stat (utime+stime, every call of the run, start-up
   excluded: the server is idle before and after), calls/s, and calls/s per core =
   10^6 / CPU µs per call (what one fully busy core would serve).
2. Correlation overhead: the demo bot (core 0) in API mode replying to driver's mock
   (`mock:` in the config) and driver (core 1: parent, worker, bot-side process), the
   CatalogBot scenario in open loop at a fixed rate — against the same load with the
   bot in webhook mode (replies in the webhook answer, no mock, no correlation). The
   rate is fixed so that CPU per update compares like with like (closed-loop users in
   API mode wait for each whole answer, so a closed loop would run the two at
   different rates). CPU per update per process in the steady middle of the load
   (20 %-90 % of the window in which the bot was busy), from /proc samples every 100 ms.
3. The reply path piece by piece, per update: a pure-Python micro-benchmark
   (`micro_reply_path`) of the worker's ring put (ReplyTracker.track), the bot side's
   ring take, the correlator's matching (Correlator.sent/reply/tick) and the bot
   side's recording and reply checks (BotSide.tick minus the two), plus the call
   log's listener (BotSide.on_call); the mock's HTTP handling is what is left of the
   bot-side process's /proc CPU per update once those are taken out.

Standard library + the driver package; common.py for /proc and markdown.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
import common as c  # noqa: E402

SECTION = "mock"
JSON_BODY = '{"chat_id":1,"text":"hi"}'
BOUNDARY = "driverbenchboundary"
BARE_PREFIX = "bare aiohttp listening on "
MOCK_PREFIX = "mock telegram listening on "
DEMO_PREFIX = "demo target listening on "


def multipart_body(chat_id: int = 1, text: str = "hi") -> bytes:
    """sendMessage as aiogram sends it: multipart/form-data, every field a text part."""
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             for k, v in (("chat_id", chat_id), ("text", text))]
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


# --------------------------------------------------------------------------- the bare floor


def serve_bare(port: int) -> None:
    """A hello-world aiohttp app on uvloop: reads the body, answers a fixed Bot API reply."""
    import uvloop
    from aiohttp import web

    body = b'{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":1,"type":"private"},"text":"hi"}}'

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_route("POST", "/bot{token}/{method}", handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        print(f"{BARE_PREFIX}http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
        stop = asyncio.Event()
        for s in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(s, stop.set)
        await stop.wait()
        await runner.cleanup()

    import asyncio
    uvloop.run(main())


# --------------------------------------------------------------------------- processes


class Server:
    """A server process pinned with taskset; its URL read from its `prefix` line."""

    def __init__(self, cmd: list[str], prefix: str, core: str, env=None, cwd=None):
        self.proc = subprocess.Popen(["taskset", "-c", core] + cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        buf, deadline = b"", time.monotonic() + 30
        while prefix.encode() not in buf:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{shlex.join(cmd)} did not say {prefix!r}: {buf[-500:]!r}")
            if select.select([self.proc.stdout], [], [], 0.2)[0]:
                buf += os.read(self.proc.stdout.fileno(), 4096)
        line = buf[buf.index(prefix.encode()):].split(b"\n")[0].decode()
        self.url = line[len(prefix):].strip()
        self.pid = self.proc.pid

    def ticks(self) -> int:
        return c.cpu_ticks(self.pid, include_children=False) or 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def run_sampled(cmd: list[str], drv, watch: list[int], timeout: float) -> dict:
    """Run driver to completion; every 100 ms the own CPU ticks of each process of its
    tree and of the `watch` pids. Returns samples, the exact final tree CPU (read from
    the exited process before it is reaped) and the result.json."""
    samples = []
    t_launch = time.monotonic()
    logs = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # files: a full pipe would block driver
    proc = subprocess.Popen(cmd, stdout=logs[0], stderr=logs[1], stdin=subprocess.DEVNULL,
                            env=drv.env, cwd=drv.cwd)
    helpers, stopped = set(), False
    while os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
        if time.monotonic() - t_launch > timeout and not stopped:
            proc.send_signal(signal.SIGINT)  # driver stops its workers and writes its result
            stopped = True
        tree = {}
        for p in c.process_tree(proc.pid):
            t = c.cpu_ticks(p, include_children=False)
            if t is not None:
                tree[p] = t
                if p not in helpers and "resource_tracker" in c.cmdline(p):
                    helpers.add(p)
        samples.append((time.monotonic() - t_launch, tree, [c.cpu_ticks(w, False) or 0 for w in watch]))
        time.sleep(0.1)
    total = c.cpu_ticks(proc.pid) or 0
    proc.wait()
    out, err = (f.seek(0) or f.read() for f in logs)
    for f in logs:
        f.close()
    return {"rc": proc.returncode, "root": proc.pid, "samples": samples, "total_ticks": total, "helpers": helpers,
            "stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace")}


def steady_cores(samples, roles: dict[str, set[int]], busy_watch: int = 0) -> dict[str, float]:
    """CPU (cores) of each role and each watched pid over the middle of the load: the
    window in which watched pid `busy_watch` (the server) was using CPU, 20 %-90 %."""
    busy = [s[0] for a, s in zip(samples, samples[1:]) if s[2][busy_watch] > a[2][busy_watch]]
    if len(busy) < 3:
        return {}
    t0, t1 = busy[0], busy[-1]
    lo, hi = t0 + 0.2 * (t1 - t0), t1 - 0.1 * (t1 - t0)
    mid = [s for s in samples if lo <= s[0] <= hi]
    if len(mid) < 2 or mid[-1][0] <= mid[0][0]:
        return {}
    a, b, dt = mid[0], mid[-1], mid[-1][0] - mid[0][0]
    out = {}
    for role, pids in roles.items():
        out[role] = sum(b[1].get(p, 0) - a[1].get(p, 0) for p in pids if p in b[1]) / c.CLK_TCK / dt
    for i in range(len(a[2])):
        out[f"watch{i}"] = (b[2][i] - a[2][i]) / c.CLK_TCK / dt
    return out


def result_of(outdir: Path) -> dict:
    r = c.newest_result_json(outdir)
    if r is None:
        raise RuntimeError(f"no result.json under {outdir}")
    return r


# --------------------------------------------------------------------------- 1. mock throughput


def throughput_round(server: Server, drv, body: tuple[str, str], users: int, dur: float, out: Path,
                     tool_core: str) -> dict:
    ctype, path = body
    cmd = ["taskset", "-c", tool_core] + drv.cmd + [
        "run", server.url + "/bot123:TEST/sendMessage", "-m", "POST", "--body-file", path,
        "-H", f"Content-Type: {ctype}", "-u", str(users), "-d", c.dur_arg(dur), "-w", "1", "-q", "-o", str(out)]
    t0 = server.ticks()
    run = run_sampled(cmd, drv, [server.pid], dur + 60)
    cpu_s = (server.ticks() - t0) / c.CLK_TCK
    r = result_of(out)
    if not c.driver_exit_ok(run["rc"], r):
        raise RuntimeError(f"driver exited {run['rc']}: {run['stderr'][-500:]}")
    n = r["totals"]["requests"]
    return {"calls": n, "errors": r["totals"]["errors"], "rps": n / r["duration_s"], "cpu_us": cpu_s / n * 1e6 if n else float("nan"),
            "busy": cpu_s / r["duration_s"], "cmd": cmd}


def mock_throughput(a, drv, out: Path) -> list[dict]:
    bodies = {"json": ("application/json", out / "body.json"),
              "multipart": (f"multipart/form-data; boundary={BOUNDARY}", out / "body.multipart")}
    bodies["json"][1].write_text(JSON_BODY)
    bodies["multipart"][1].write_bytes(multipart_body())
    servers = {"mock": (drv.cmd + ["mock", "telegram", "--port", "0"], MOCK_PREFIX),
               "bare aiohttp": ([sys.executable, str(Path(__file__).resolve()), "--serve-bare", "0"], BARE_PREFIX)}
    rows = []
    for name, (cmd, prefix) in servers.items():
        srv = Server(cmd, prefix, a.server_core, env=drv.env, cwd=drv.cwd)
        try:
            for kind, (ctype, path) in bodies.items():
                runs = []
                for i in range(a.rounds):
                    c.log(f"throughput: {name}, {kind} body, round {i + 1}")
                    runs.append(throughput_round(srv, drv, (ctype, str(path)), a.users, a.duration, out /
                                                 f"tp-{name.split()[0]}-{kind}-{i}", a.tool_core))
                med = {k: statistics.median(r[k] for r in runs) for k in ("rps", "cpu_us", "busy")}
                med["errors"] = sum(r["errors"] for r in runs)
                rows.append({"server": name, "body": kind, **med, "rounds": runs})
        finally:
            srv.stop()
    return rows


# --------------------------------------------------------------------------- 2. correlation overhead


def scenario_config(bot_url: str, mock_port: int | None, users: int) -> str:
    text = (f'target: {{base_url: "{bot_url}"}}\nscenario:\n  python: driver.scenario.telegram:CatalogBot\n'
            f"  users: {{size: {users}}}\n")
    if mock_port is None:
        return text + "replies: {channel: webhook}\n"
    return text + f"replies: {{channel: api}}\nmock: {{platform: telegram, port: {mock_port}}}\n"


def correlation_round(a, drv, mode: str, rate: float, out: Path) -> dict:
    mock_port = c.free_port() if mode == "api" else None
    bot_cmd = [sys.executable, "-m", "driver.targets.demo", "--port", "0"]
    if mock_port:
        bot_cmd += ["--api-url", f"http://127.0.0.1:{mock_port}", "--breaker-failures", "100000"]
    bot = Server(bot_cmd, DEMO_PREFIX, a.server_core, env=drv.env, cwd=drv.cwd)
    try:
        cfg = out / "config.yaml"
        out.mkdir(parents=True, exist_ok=True)
        cfg.write_text(scenario_config(bot.url, mock_port, a.chats))
        cmd = ["taskset", "-c", a.tool_core] + drv.cmd + [
            "run", "-c", str(cfg), "-r", f"{rate:g}", "-d", c.dur_arg(a.corr_duration), "-w", "1", "-q",
            "-o", str(out / "driver-out")]
        run = run_sampled(cmd, drv, [bot.pid], a.corr_duration + 90)
    finally:
        bot.stop()
    r = result_of(out / "driver-out")
    if run["rc"] not in (0, c.EXIT_INVALID):  # 4: late arrivals etc. are kept, and reported
        raise RuntimeError(f"driver ({mode}) exited {run['rc']}: {run['stderr'][-800:]}")
    all_pids = set().union(*(s[1].keys() for s in run["samples"])) if run["samples"] else set()
    parent = {run["root"]}
    workers = {w["pid"] for w in r.get("workers", [])}
    bot_side = all_pids - parent - workers - run["helpers"]
    roles = {"parent": parent, "workers": workers, "bot side": bot_side}
    cores = steady_cores(run["samples"], roles)
    updates = r["totals"]["requests"]
    rate = updates / r["duration_s"]
    eps = {e["name"]: e for e in r["endpoints"]}
    replies = sum(e["count"] for n, e in eps.items() if n.startswith("reply:"))
    missing = sum(e["errors_by_kind"].get("reply_missing", 0) for n, e in eps.items() if n.startswith("reply:"))
    calls = sum(e["count"] for n, e in eps.items() if n.startswith("api:"))
    cores["bot"] = cores.pop("watch0", float("nan"))
    cores["driver"] = sum(cores.get(k, 0.0) for k in roles)
    per = {k: v / rate * 1e6 for k, v in cores.items()} if rate else {}
    return {"mode": mode, "updates": updates, "rate": rate, "errors": r["totals"]["errors"], "replies": replies,
            "missing": missing, "api_calls_per_update": calls / updates if updates else 0.0,
            "whole_driver_us": run["total_ticks"] / c.CLK_TCK / updates * 1e6 if updates else float("nan"),
            "us": per, "cores": cores, "cmd": cmd, "rc": run["rc"],
            "invalid": "; ".join((r.get("validity") or {}).get("reasons") or [])}


def correlation(a, drv, out: Path) -> dict:
    """Both modes at each rate, interleaved, `a.rounds` times. Medians per (mode, rate) of
    CPU cores per process; per update = cores / rate; the marginal cost per update (what
    one more update costs, fixed costs such as the bot side's 5 ms tick left out) =
    the slope of cores over rate between the lowest and the highest rate."""
    runs: dict[tuple[str, float], list[dict]] = {}
    for i in range(a.rounds):
        for rate in a.rates:
            for mode in ("webhook", "api"):
                c.log(f"correlation: {mode} mode, round {i + 1}, {rate:g} updates/s")
                runs.setdefault((mode, rate), []).append(
                    correlation_round(a, drv, mode, rate, out / f"corr-{mode}-{rate:g}-{i}"))
    med = {}
    for key, rs in runs.items():
        procs = set().union(*(r["cores"].keys() for r in rs))
        med[key] = {k: statistics.median(r["cores"].get(k, float("nan")) for r in rs) for k in procs}
    lo, hi = min(a.rates), max(a.rates)
    marginal = {}
    for mode in ("webhook", "api"):
        if hi > lo:
            marginal[mode] = {k: (med[(mode, hi)][k] - med[(mode, lo)][k]) / (hi - lo) * 1e6 for k in med[(mode, hi)]}
    return {"runs": runs, "cores": med, "marginal_us": marginal}


# --------------------------------------------------------------------------- 3. the reply path, piece by piece


def micro_reply_path(updates: int = 100_000, batch: int = 5, chats: int = 1000) -> dict[str, float]:
    """ns per update of each step of the reply path, fed synthetic updates and quoted
    replies (one sendMessage each, as the demo bot sends) in ticks of `batch` updates,
    on a synthetic clock (5 ms per tick, replies 1 ms after their update, 250 ms settle)."""
    import numpy as np

    from driver._speedups import Recorder
    from driver.engine.endpoints import EndpointRegistry
    from driver.layout import BlockLayout, names_length
    from driver.plan import ReplySpec
    from driver.replies.correlate import Correlator
    from driver.replies.ring import RingReader, RingWriter, ring_length
    from driver.runner.botside import BotSide
    from driver.scenario.replies import ReplyTracker

    n_ep = 64
    layout = BlockLayout(n_ep)
    wtable = np.zeros(names_length(n_ep), dtype=np.int64)
    wslot = EndpointRegistry(wtable, n_ep, ()).slot("/start")

    def fresh():
        arr = np.zeros(ring_length(), dtype=np.int64)
        return ReplyTracker(RingWriter(arr), ReplySpec()), RingReader(arr)

    def calls_for(first: int, now: int) -> list[dict]:
        return [{"method": "sendMessage", "status": 200, "received_ns": now + 1_000_000, "chat_id": 1 + k % chats,
                 "reply": True, "reply_to_message_id": k + 1, "text": "hi", "buttons": False}
                for k in range(first, first + batch)]

    noop = lambda *x: None  # noqa: E731
    block = np.zeros(layout.length, dtype=np.int64)
    layout.initialise(block)
    plan = SimpleNamespace(endpoint_slots=n_ep, replies=ReplySpec())
    tracker, reader = fresh()
    side = BotSide(plan, Recorder(block, n_ep), EndpointRegistry(np.zeros(names_length(n_ep), dtype=np.int64),
                                                                   n_ep, ()), [reader], [wtable])
    tracker2, reader2 = fresh()
    tracker3, reader3 = fresh()
    corr = Correlator(10 ** 10, 250_000_000, on_first=noop, on_close=noop, on_missing=noop)
    t = dict.fromkeys(("put", "take", "correlate", "tick", "on_call"), 0)
    clock = time.perf_counter_ns
    ticks = max(1, updates // batch)
    for i in range(ticks):
        now = 10 ** 12 + i * 5_000_000
        first = i * batch
        a0 = clock()
        for k in range(first, first + batch):
            tracker.track(1 + k % chats, k + 1, wslot, now)
        a1 = clock()
        calls = calls_for(first, now)
        a2 = clock()
        for call in calls:
            side.on_call(call)
        a3 = clock()
        side.tick(now + 2_000_000)
        a4 = clock()
        for k in range(first, first + batch):  # the ring alone
            tracker2.track(1 + k % chats, k + 1, wslot, now)
        b0 = clock()
        reader2.take()
        b1 = clock()
        for k in range(first, first + batch):  # the correlator alone, no-op callbacks
            tracker3.track(1 + k % chats, k + 1, wslot, now)
        records = reader3.take()
        c0 = clock()
        corr.sent(lambda slot: (0, slot), records)
        for call in calls:
            corr.reply(call)
        corr.tick(now + 2_000_000)
        c1 = clock()
        t["put"] += a1 - a0
        t["on_call"] += a3 - a2
        t["tick"] += a4 - a3
        t["take"] += b1 - b0
        t["correlate"] += c1 - c0
    n = ticks * batch
    out = {k: v / n for k, v in t.items()}
    out["record"] = max(0.0, out["tick"] - out["take"] - out["correlate"])  # BotSide's callbacks: stats, checks
    out["updates"] = n
    # sanity: every reply matched an update, and all but the last settle window were closed
    out["unmatched"] = side.correlator.unmatched + corr.unmatched
    out["open"] = side.correlator.open
    return out


# --------------------------------------------------------------------------- report


def _f(x, d: int = 1) -> str:
    return c.fmt_num(x, d)


def slowest(piece_us: dict[str, float]) -> tuple[str, float]:
    """The costliest piece of the reply path (name, µs per update)."""
    name = max(piece_us, key=lambda k: piece_us[k] if piece_us[k] == piece_us[k] else -1)
    return name, piece_us[name]


def reply_path_pieces(micro: dict, api_us: dict) -> dict[str, float]:
    """µs per update of each part of the reply path: the micro-benchmark's pieces, the
    mock's HTTP handling (bot-side /proc CPU minus the pieces the bot side runs), the bot."""
    side = api_us.get("bot side", float("nan"))
    in_side = (micro["tick"] + micro["on_call"]) / 1e3
    return {"worker ring put": micro["put"] / 1e3, "ring take": micro["take"] / 1e3,
            "correlator match": micro["correlate"] / 1e3,
            "bot-side recording and checks": (micro["record"] + micro["on_call"]) / 1e3,
            "mock HTTP handling": side - in_side, "bot (demo, API mode)": api_us.get("bot", float("nan"))}


def api_cost(a, corr: dict) -> dict[str, float]:
    """µs per update of each process in API mode: marginal when there are two rates."""
    if corr["marginal_us"]:
        return corr["marginal_us"]["api"]
    rate = max(a.rates)
    return {k: v / rate * 1e6 for k, v in corr["cores"][("api", rate)].items()}


def correlation_lines(a, corr: dict) -> list[str]:
    procs = ("workers", "bot side", "parent", "driver", "bot")
    heads, cols = ["process"], []
    for rate in a.rates:
        for mode in ("webhook", "api"):
            heads.append(f"{'webhook, no mock' if mode == 'webhook' else 'API + mock'} @ {rate:g}/s")
            cols.append({k: v / rate * 1e6 for k, v in corr["cores"][(mode, rate)].items()})
    for mode, m in corr["marginal_us"].items():
        heads.append(f"{'webhook, no mock' if mode == 'webhook' else 'API + mock'}, marginal")
        cols.append(m)
    rows = [[k] + [_f(col.get(k), 1) for col in cols] for k in procs]
    lines = [f"### 2. Correlation overhead: CatalogBot ({a.chats:,} chats), open loop at "
             f"{' and '.join(f'{r:g}' for r in a.rates)} updates/s, {c.dur_arg(a.corr_duration)} × {a.rounds} "
             "rounds (medians)", "",
             "CPU µs per update of each process in the steady middle of the load (20 %–90 % of the window in "
             f"which the bot was busy; /proc every 100 ms); the demo bot on core {a.server_core}, driver (parent, "
             f"worker, bot-side process with the mock) on core {a.tool_core}. *driver* = parent + workers + bot "
             "side. *marginal* = the slope between the two rates: the cost of one more update, without fixed "
             "costs (the bot side's 5 ms tick, the parent's sampling).", "",
             c.md_table(["process"] + heads[1:], rows), ""]
    for rate in a.rates:
        w, p = corr["cores"][("webhook", rate)], corr["cores"][("api", rate)]
        lines.append(f"- @ {rate:g}/s: driver's CPU per update with correlation / without: "
                     f"**{p['driver'] / w['driver']:.2f} ×** ({_f(p['driver'] / rate * 1e6)} vs "
                     f"{_f(w['driver'] / rate * 1e6)} µs)." if w.get("driver") else f"- @ {rate:g}/s: –")
    if corr["marginal_us"]:
        w, p = corr["marginal_us"]["webhook"], corr["marginal_us"]["api"]
        lines.append(f"- marginal: {_f(p['driver'])} vs {_f(w['driver'])} µs per update"
                     + (f" = **{p['driver'] / w['driver']:.2f} ×**." if w["driver"] > 0 else "."))
    for (mode, rate), rs in corr["runs"].items():
        r = rs[0]
        lines.append(f"- {mode} @ {rate:g}/s, first round: {r['updates']:,} updates at {r['rate']:,.0f}/s, "
                     f"errors {r['errors']:,}" + (f", {r['replies']:,} replied, {r['missing']:,} missing, "
                                                  f"{r['api_calls_per_update']:.2f} API calls per update"
                                                  if mode == "api" else "")
                     + "; driver's verdicts: " + ", ".join(x["invalid"] or "valid" for x in rs) + ".")
    cmd = corr["runs"][("api", max(a.rates))][0]["cmd"][3:]
    lines += ["- Runs driver calls not valid (late arrivals on a busy box) are kept: CPU per update does not "
              "depend on arrivals being on time.",
              f"- Command (API mode): `{shorten(cmd)}`; the config: CatalogBot, `replies: {{channel: api}}`, "
              "`mock: {platform: telegram, port: P}`; webhook mode: `replies: {channel: webhook}`, no mock.", ""]
    return lines


def shorten(cmd: list[str]) -> str:
    return shlex.join(cmd).replace(sys.executable, "python").replace(str(c.REPO_DIR) + "/", "")


def report(a, drv, tp: list[dict], corr: dict, micro: dict, sched: str) -> str:
    lines = ["## Mock platform API and reply correlation (`run_mock.py`)" + (" — QUICK, not results" if a.quick else ""),
             "", c.environment_block(["driver"], sys.argv, drv, sched), ""]
    if a.quick:
        lines += ["**--quick: harness check only (seconds-long runs, one round); not results.**", ""]
    if tp:
        lines += [f"### 1. Mock throughput: server on core {a.server_core}, `driver run -u {a.users} -w 1` on core "
                  f"{a.tool_core}, closed loop, {c.dur_arg(a.duration)} × {a.rounds} rounds (medians)", "",
                  f"Load: `{shorten(tp[0]['rounds'][0]['cmd'][3:])}` "
                  "(URL, body file and output shortened); server CPU from /proc/PID/stat over the whole run.", ""]
        rows = [[r["server"], r["body"], _f(r["rps"], 0), _f(r["cpu_us"], 1), _f(1e6 / r["cpu_us"], 0),
                 f"{r['busy'] * 100:.0f} %", f"{r['errors']:,}"] for r in tp]
        lines += [c.md_table(["server", "body", "calls/s", "server CPU µs/call", "calls/s per core",
                              "server core busy", "errors (all rounds)"], rows), ""]
        by = {(r["server"], r["body"]): r for r in tp}
        for kind in ("json", "multipart"):
            m, b = by.get(("mock", kind)), by.get(("bare aiohttp", kind))
            if m and b:
                lines.append(f"- {kind}: the mock costs {m['cpu_us'] / b['cpu_us']:.2f} × the bare aiohttp "
                             f"app's CPU per call ({_f(m['cpu_us'])} vs {_f(b['cpu_us'])} µs).")
        lines.append("")
    if corr:
        lines += correlation_lines(a, corr)
    lines += [f"### 3. The reply path per update (micro-benchmark: {micro['updates']:,} synthetic updates, "
              f"{a.micro_batch} per 5 ms tick, one quoted sendMessage each)", ""]
    rows = [["worker: ReplyTracker.track (key_of, ring put)", _f(micro["put"] / 1e3, 2)],
            ["bot side: ring take", _f(micro["take"] / 1e3, 2)],
            ["bot side: Correlator.sent + reply + tick (matching)", _f(micro["correlate"] / 1e3, 2)],
            ["bot side: BotSide.tick, all (take + matching + recording + reply checks)", _f(micro["tick"] / 1e3, 2)],
            ["bot side: BotSide.on_call (the call log listener: api:<method> stats)", _f(micro["on_call"] / 1e3, 2)]]
    lines += [c.md_table(["step", "µs per update"], rows), ""]
    if corr:
        pieces = reply_path_pieces(micro, api_cost(a, corr))
        basis = ("marginal CPU per update between the two rates" if corr["marginal_us"]
                 else f"CPU per update at {max(a.rates):g} updates/s")
        lines += [f"The reply path end to end (µs of CPU per update; the bot-side process and the bot: {basis}; "
                  "*mock HTTP handling* = the bot-side process's CPU per update minus BotSide.tick and on_call):", "",
                  c.md_table(["part", "µs per update"], [[k, _f(v, 2)] for k, v in pieces.items()]), ""]
        name, us = slowest({k: v for k, v in pieces.items() if not k.startswith("bot (")})
        whole, whole_us = slowest(pieces)
        lines += [f"- Slowest part of the reply path, the bot included: **{whole}**, {_f(whole_us, 1)} µs per update; "
                  f"of driver's own parts: **{name}**, {_f(us, 1)} µs per update (the correlation itself: ring put "
                  f"+ take + match + recording = {_f(sum(pieces[k] for k in list(pieces)[:4]), 1)} µs)."]
        mock_json = next((r for r in tp if r["server"] == "mock" and r["body"] == "json"), None)
        if mock_json:
            per_update = statistics.median(r["api_calls_per_update"] for r in corr["runs"][("api", max(a.rates))])
            lines.append(f"- Cross-check: the mock alone (part 1, JSON) × {per_update:.2f} API calls per update = "
                         f"{_f(mock_json['cpu_us'] * per_update, 1)} µs per update at saturation.")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="seconds-long runs, one round: checks the harness")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=c.parse_duration, default=10.0, help="each throughput run (default 10s)")
    ap.add_argument("--users", type=int, default=64, help="connections of the throughput runs (default 64)")
    ap.add_argument("--rates", default="250,1000", help="updates/s of the correlation runs (default 250,1000)")
    ap.add_argument("--corr-duration", type=c.parse_duration, default=20.0, help="each correlation run (default 20s)")
    ap.add_argument("--chats", type=int, default=1000, help="users (chats) of the scenario (default 1000)")
    ap.add_argument("--micro-updates", type=int, default=300_000)
    ap.add_argument("--micro-batch", type=int, default=None, help="updates per 5 ms tick (default rate × 5 ms)")
    ap.add_argument("--skip", default="", help="comma-separated parts to leave out: throughput, correlation")
    c.add_driver_args(ap)
    ap.add_argument("--server-core", default=c.NGINX_CORE)
    ap.add_argument("--tool-core", default=c.TOOL_CORE)
    ap.add_argument("--nice", type=int, default=None,
                    help="scheduling priority of harness, servers and driver (default -10; with --quick 0: leave it)")
    ap.add_argument("--out", default=None, help="raw files (default benchmarks/out/mock-<time>)")
    ap.add_argument("--write", metavar="RESULTS_MD", help="write/replace the <!-- mock --> section of this file")
    a = ap.parse_args(argv)
    if a.serve_bare is not None:
        serve_bare(a.serve_bare)
        return 0
    if a.quick:
        a.rounds, a.duration, a.corr_duration, a.micro_updates = 1, 2.0, 3.0, 5_000
        a.rates = "100,200"
    if a.nice is None:
        a.nice = 0 if a.quick else -10
    a.rates = sorted({float(r) for r in str(a.rates).split(",") if r.strip()})
    if not a.rates or min(a.rates) <= 0:
        ap.error("--rates: one or two positive rates, e.g. 250,1000")
    a.micro_batch = a.micro_batch or max(1, round(max(a.rates) * 0.005))
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    drv = c.prepare_driver(a.driver_src, a.driver_cmd)
    out = Path(a.out) if a.out else c.OUT_DIR / f"mock-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    sched = c.prepare_harness(a.tool_core, a.nice)
    tp = mock_throughput(a, drv, out) if "throughput" not in skip else []
    corr = correlation(a, drv, out) if "correlation" not in skip else {}
    c.log("micro-benchmark of the reply path")
    sys.path.insert(0, str(drv.cwd))  # the same driver code as the runs (imported only from here on)
    micro = micro_reply_path(a.micro_updates, a.micro_batch)
    raw = {"throughput": tp, "micro": micro, "correlation": {
        f"{mode}@{rate:g}": {"runs": corr["runs"][(mode, rate)], "cores": corr["cores"][(mode, rate)]}
        for mode, rate in corr.get("runs", {})}, "marginal_us": corr.get("marginal_us")}
    (out / "mock.json").write_text(json.dumps(raw, indent=1, default=str))
    text = report(a, drv, tp, corr, micro, sched)
    print(text)
    if a.write:
        c.update_section(Path(a.write), SECTION, text)
        c.log(f"wrote the {SECTION} section of {a.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
