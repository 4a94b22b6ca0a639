"""The PostgreSQL benchmark's parts (benchmarks/run_pg.py) on the tests' cluster: the bare
asyncpg client, the server-side counter every client is measured by, driver's config,
and the summary. Counts only, no times."""
from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

from benchmarks import run_pg as rp
from tests.dbrun import run

SCHEMA = """CREATE TABLE IF NOT EXISTS pgbench_accounts (aid int PRIMARY KEY, abalance int NOT NULL);
INSERT INTO pgbench_accounts SELECT i, 0 FROM generate_series(1, 1000) i ON CONFLICT DO NOTHING"""


def test_bare_client_and_driver_are_counted_by_the_server(tmp_path, pg):
    pg.sql(SCHEMA)
    counter = rp.PgCounter(pg.socket_dsn)
    try:
        before = counter.read().requests
        p = subprocess.run([sys.executable, str(rp.BENCH / "pg_bare_asyncpg.py"), pg.dsn, "-c", "2", "-d", "0.5",
                            "--query", rp.QUERY, "--max-id", "1000"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        got = json.loads(p.stdout)
        after = counter.read()
        assert got["client_errors"] == 0 and got["own_count"] == after.requests - before > 0
        assert after.active >= 1  # its own connection is not counted: run_monitored takes 1 off

        cfg = rp.driver_config(tmp_path / "pg.yaml", pg.dsn, SimpleNamespace(clients=2, scale=1))
        proc, data = run(tmp_path, "-c", str(cfg), "-u", "2", "-w", "1", "-n", "300")
        ep = next(e for e in data["endpoints"] if e["name"] == "sql:select")
        assert ep["count"] == 300 == counter.read().requests - after.requests and ep["failures"] == 0
        rec = SimpleNamespace(returncode=proc.returncode, stdout="")
        assert rp.own_count("driver", rec, tmp_path / "out") == (300, True)
    finally:
        counter.close()


def test_summary_ratios_are_over_pgbench():
    rows = [{"client": client, "round": 0, "queries": 1000, "own_count": 1000, "ok": True, "qps": 100.0,
             "cpu_us": cpu, "steady_cpu_us": cpu / 2, "server_cpu_us": 5.0}
            for client, cpu in (("pgbench", 10.0), ("asyncpg", 12.0), ("driver", 13.0))]
    s = rp.summarise(rows)
    assert s["pgbench"]["cpu_us_ratio"] == 1.0 and s["driver"]["steady_cpu_us_ratio"] == 1.3
    assert "**met**" in rp.report(s, SimpleNamespace(clients=8, duration=10.0, rounds=1, scale=1, server_core="0",
                                                     tool_core="1"), "")
    rows[-1]["own_count"] = 10  # driver recorded fewer queries than the server ran: not counted
    assert "**not met**" in rp.report(rp.summarise(rows), SimpleNamespace(
        clients=8, duration=10.0, rounds=1, scale=1, server_core="0", tool_core="1"), "")
