"""driver's `sql:` tasks beside pgbench and a bare asyncpg loop, on the same query and
client count against one PostgreSQL: queries per second and client CPU per query.

    python benchmarks/run_pg.py                          # 10 s runs, 3 interleaved rounds (~2 min)
    python benchmarks/run_pg.py --write benchmarks/RESULTS.md
    python benchmarks/run_pg.py --quick                  # seconds: checks the harness only

Server: a cluster of its own (tests/pg.py's Cluster: initdb in a temp dir, fsync off),
`pgbench -i -s SCALE` data, pinned to core 0 (--server-core) with taskset, postmaster
and backends. Every client is pinned to core 1 (--tool-core) and runs --clients (8)
connections in a closed loop of pgbench's select-only query,
`SELECT abalance FROM pgbench_accounts WHERE aid = $1`, aid random in [1, 100000 × SCALE]:

| client | command |
| --- | --- |
| pgbench | `pgbench -S -M prepared -c 8 -j 1 -T 10 -n` (C, libpq; the floor) |
| asyncpg | `pg_bare_asyncpg.py DSN -c 8 -d 10` (a prepared statement per connection, uvloop) |
| driver | `driver run -c pg.yaml -u 8 -w 1 -d 10s -q -o OUT` (a `sql:` task, pool 8: every query recorded) |

Per run (common.run_monitored, as for nginx in the HTTP benchmarks):
- queries: the server's count of that statement (pg_stat_statements `calls`, after minus
  before, read every 100 ms on a connection of the harness's own): the same counter for
  every client; each client's own count (pgbench's "transactions actually processed",
  the bare loop's JSON line, driver's `sql:select` count) is kept beside it as a check.
- queries/s: queries over the load window (first to last the server counted).
- CPU: user+sys of the client's whole process tree from /proc (driver: parent +
  worker), start-up included; CPU µs per query = CPU / queries; steady-state: the same
  over the middle of the load window only (20 %-90 %), without start-up.
- server CPU µs per query: postmaster + backends over the run.

Goal (issue 11): driver's CPU per query ≤ 1.3 × pgbench's, with every query recorded
(issue 11 quotes, for this machine, pgbench ≈ 10.4 µs and bare asyncpg 12.8 µs: 1.23×).
Both the start-up-included and the steady-state ratios are shown; the goal is judged on
the steady state (pgbench starts in milliseconds, driver spawns a worker).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
import common as c  # noqa: E402

SECTION = "pg"
CLIENTS = ("pgbench", "asyncpg", "driver")
QUERY = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
GOAL = 1.3


class PgCounter:
    """stub_status for PostgreSQL: `read()` -> .requests (the query's calls so far), .active
    (client backends + 1, as run_monitored takes its own connection off), over one asyncpg
    connection in a thread of its own (the harness's reads are other statements: not counted)."""

    def __init__(self, dsn: str):
        import asyncpg

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.conn = self._call(asyncpg.connect(dsn))

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def read(self) -> SimpleNamespace:
        row = self._call(self.conn.fetchrow(
            "SELECT (SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE $1 || '%') AS calls, "
            "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()) AS active", QUERY))
        n = int(row["calls"])
        return SimpleNamespace(requests=n, requests_excluding_polls=n, active=int(row["active"]) + 1, polls=0)

    def close(self) -> None:
        self._call(self.conn.close())
        self.loop.call_soon_threadsafe(self.loop.stop)


def start_server(a):
    """A started cluster pinned to --server-core, with pgbench's tables (scale --scale)."""
    from tests.pg import PASSWORD, USER, Cluster, need_binaries, server_user

    root = Path(tempfile.mkdtemp(prefix="driver-bench-pg-"))
    root.chmod(0o755)
    cluster = Cluster(need_binaries(), root, server_user(), core=a.server_core)
    cluster.init()
    cluster.start()
    cluster.sql("CREATE EXTENSION pg_stat_statements")
    pgbench = shutil.which("pgbench") or str(cluster.bindir / "pgbench")
    p = c.subprocess.run([pgbench, "-i", "-q", "-s", str(a.scale), "-h", "127.0.0.1", "-p", str(cluster.port),
                          "-U", USER, "postgres"], capture_output=True, text=True, timeout=600,
                         env={**c.os.environ, "PGPASSWORD": PASSWORD})
    if p.returncode != 0:
        cluster.stop()
        raise RuntimeError(f"pgbench -i failed: {p.stderr[-2000:]}")
    return cluster, pgbench, PASSWORD


def driver_config(path: Path, dsn: str, a) -> Path:
    path.write_text(f"""target:
  base_url: http://{dsn.rsplit('@', 1)[1].split('/')[0]}
scenario:
  tasks:
    - name: select
      sql:
        db: {{dsn: "{dsn}", pool: {a.clients}}}
        query: "{QUERY}"
        params: ["{{{{randint:1,{100_000 * a.scale}}}}}"]
        fetch: value
""")
    return path


def command(client: str, a, ctx: SimpleNamespace, run_dir: Path) -> tuple[list[str], dict, Path | None]:
    pin = ["taskset", "-c", a.tool_core]
    secs = c.dur_arg(a.duration)
    if client == "pgbench":
        return pin + [ctx.pgbench, "-S", "-M", "prepared", "-c", str(a.clients), "-j", "1", "-T",
                      str(max(1, int(a.duration))), "-n", "-h", "127.0.0.1", "-p", str(ctx.port), "-U", "driver",
                      "postgres"], {**c.os.environ, "PGPASSWORD": ctx.password}, None
    if client == "asyncpg":
        return pin + [sys.executable, str(BENCH / "pg_bare_asyncpg.py"), ctx.dsn, "-c", str(a.clients), "-d",
                      str(a.duration), "--query", QUERY, "--max-id", str(100_000 * a.scale)], None, None
    cfg = driver_config(run_dir / "pg.yaml", ctx.dsn, a)
    return (pin + ctx.drv.cmd + ["run", "-c", str(cfg), "-u", str(a.clients), "-w", "1", "-d", secs, "-q",
                                 "-o", str(run_dir / "out")], ctx.drv.env, run_dir / "out")


def own_count(client: str, rec, out: Path | None) -> tuple[int | None, bool]:
    """(the client's own count of queries, whether it ran cleanly)."""
    if client == "pgbench":
        m = re.search(r"number of transactions actually processed: (\d+)", rec.stdout)
        return (int(m.group(1)) if m else None), rec.returncode == 0
    if client == "asyncpg":
        try:
            got = json.loads(rec.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None, False
        return got["own_count"], rec.returncode == 0 and got["client_errors"] == 0
    result = c.newest_result_json(out)
    ep = next((e for e in (result or {}).get("endpoints", []) if e["name"] == "sql:select"), None)
    clean = ep is not None and ep["errors"] == 0 and ep["http_errors"] == 0
    return (ep["count"] if ep else None), c.driver_exit_ok(rec.returncode, result) and clean


def run_one(client: str, a, ctx: SimpleNamespace, round_no: int) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix=f"driver-bench-pg-{client}-"))
    cmd, env, out = command(client, a, ctx, run_dir)
    c.wait_for_quiet(max_wait=a.quiet_wait)
    rec = c.run_monitored(cmd, ctx.counter, timeout=a.duration + 120, env=env, nginx_pid=ctx.cluster.pid())
    own, ok = own_count(client, rec, out)
    shutil.rmtree(run_dir, ignore_errors=True)
    row = {"client": client, "round": round_no, "queries": rec.requests, "own_count": own, "ok": ok,
           "qps": rec.rps, "cpu_us": rec.cpu_us_per_req, "steady_cpu_us": rec.steady_cpu_us_per_req,
           "server_cpu_us": rec.nginx_cpu_s / rec.requests * 1e6 if rec.requests and rec.nginx_cpu_s else None,
           "wall_s": rec.wall_s, "returncode": rec.returncode}
    c.log(f"{client}: {rec.requests} queries, {rec.rps:,.0f}/s, {rec.cpu_us_per_req:.1f} µs CPU/query "
          f"(own count {own}, {'ok' if ok else 'NOT OK: ' + rec.stderr[-300:]})")
    return row


def summarise(rows: list[dict]) -> dict:
    """Medians per client, and each client's CPU per query over pgbench's."""
    out = {}
    for client in CLIENTS:
        mine = [r for r in rows if r["client"] == client]
        out[client] = {k: c.median([r[k] for r in mine if r[k] is not None])
                       for k in ("queries", "qps", "cpu_us", "steady_cpu_us", "server_cpu_us")}
        out[client]["ok"] = all(r["ok"] for r in mine)
        out[client]["counted"] = all(r["own_count"] is not None and r["own_count"] >= r["queries"] * 0.99
                                     for r in mine)
    base = out["pgbench"]
    for client in CLIENTS:
        for k in ("cpu_us", "steady_cpu_us"):
            b, v = base.get(k), out[client].get(k)
            out[client][k + "_ratio"] = v / b if b and v else None
    return out


def report(summary: dict, a, env_block: str) -> str:
    fmt = lambda x, d=1: "–" if x is None else f"{x:,.{d}f}"  # noqa: E731
    rows = [[client, fmt(s["qps"], 0), fmt(s["cpu_us"]), fmt(s["cpu_us_ratio"], 2) + "×",
             fmt(s["steady_cpu_us"]), fmt(s["steady_cpu_us_ratio"], 2) + "×", fmt(s["server_cpu_us"]),
             "yes" if s["ok"] and s["counted"] else "NO"]
            for client, s in summary.items()]
    table = c.md_table(["client", "queries/s", "CPU µs/query", "vs pgbench", "steady CPU µs/query", "vs pgbench",
                        "server CPU µs/query", "clean, counted"], rows)
    d = summary["driver"]
    met = d["steady_cpu_us_ratio"] is not None and d["steady_cpu_us_ratio"] <= GOAL and d["ok"] and d["counted"]
    goal = (f"Goal: driver's CPU per query ≤ {GOAL}× pgbench's with every query recorded: "
            f"**{'met' if met else 'not met'}** (steady state {fmt(d['steady_cpu_us_ratio'], 2)}×, "
            f"start-up included {fmt(d['cpu_us_ratio'], 2)}×).")
    return "\n\n".join(["## PostgreSQL: driver vs pgbench vs asyncpg (`run_pg.py`)",
                        f"{a.clients} clients, {c.dur_arg(a.duration)} runs, {a.rounds} interleaved rounds, "
                        f"medians; select-only on pgbench scale {a.scale}; server on core {a.server_core}, "
                        f"clients on core {a.tool_core}.", table, goal, env_block])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=c.parse_duration, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--server-core", default=c.NGINX_CORE)
    ap.add_argument("--tool-core", default=c.TOOL_CORE)
    ap.add_argument("--nice", type=int, default=-10)
    ap.add_argument("--quiet-wait", type=float, default=60.0, help="most seconds to wait for a quiet machine")
    ap.add_argument("--quick", action="store_true", help="1 round of 2 s runs: checks the harness only")
    ap.add_argument("--write", type=Path, default=None, help="update the pg section of this RESULTS.md")
    ap.add_argument("--json", type=Path, default=None, help="write every run's figures here")
    c.add_driver_args(ap)
    a = ap.parse_args(argv)
    if a.quick:
        a.duration, a.rounds, a.quiet_wait = 2.0, 1, 0.0
    sched = c.prepare_harness(a.tool_core, a.nice)
    drv = c.prepare_driver(a.driver_src, a.driver_cmd)
    cluster, pgbench, password = start_server(a)
    try:
        dsn = f"postgresql://driver:{password}@127.0.0.1:{cluster.port}/postgres"
        ctx = SimpleNamespace(cluster=cluster, pgbench=pgbench, password=password, port=cluster.port, dsn=dsn,
                              drv=drv, counter=PgCounter(cluster.socket_dsn))
        rows = [run_one(client, a, ctx, r) for r in range(a.rounds) for client in CLIENTS]
        ctx.counter.close()
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
    summary = summarise(rows)
    text = report(summary, a, c.environment_block(["pgbench", "driver"], [__file__, *argv], drv, sched))
    print(text)
    if a.json:
        a.json.write_text(json.dumps({"runs": rows, "summary": summary}, indent=2))
    if a.write:
        c.update_section(a.write, SECTION, text)
    return 0 if all(s["ok"] and s["counted"] for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
