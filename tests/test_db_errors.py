"""Database failures against a real PostgreSQL: each counted as its kind with its reason,
none raised into the user's task (driver.scenario.sqlerrors has the table)."""
from __future__ import annotations

import threading
import time

import pytest

from tests.dbrun import CLEAN, accounted, config, endpoint, reasons, run

DONE = (*CLEAN, 1)  # 1: the run had failed checks or errors, as it should here

REFUSED_BY_SERVER = """    - name: bad_sql
      sql: {db: DB, query: "SELEC 1"}
    - name: no_table
      sql: {db: DB, query: "SELECT * FROM no_such_table"}
    - name: duplicate
      sql: {db: DB, query: "INSERT INTO users VALUES (0, 'again', 'free', 'u0@example.com')", fetch: none}
    - name: bad_param
      sql: {db: DB, query: "SELECT name FROM users WHERE id = $1", params: ["not a number"]}
    - name: pay
      sql:
        db: DB
        transaction:
          - {name: debit, query: "UPDATE accounts SET balance = balance - 1 WHERE id = 7", fetch: none}
          - {name: log, query: "INSERT INTO events (user_id, kind) VALUES (NULL, 'pay')", fetch: none}
          - {name: never, query: "UPDATE accounts SET balance = 0 WHERE id = 7", fetch: none}
"""


def test_statements_the_server_refuses_count_by_sqlstate_class_and_roll_back(tmp_path, pg):
    balance = pg.sql("SELECT balance FROM accounts WHERE id = 7", fetch="value")
    proc, data = run(tmp_path, "-c", str(config(tmp_path, pg, REFUSED_BY_SERVER)), "-u", "4", "-w", "1", "-d", "1s")
    assert proc.returncode in DONE, proc.stderr.decode()
    want = {
        "sql:bad_sql": "sql_42 syntax/undefined: 42601 postgres_syntax",
        "sql:no_table": "sql_42 syntax/undefined: 42P01 undefined_table",
        "sql:duplicate": "sql_23 integrity: 23505 unique_violation",
        "sql:bad_param": "sql_22 data: 22000 data",  # asyncpg refuses the text for an int: nothing sent
    }
    for name, reason in want.items():
        ep = endpoint(data, name)
        # answered, and every answer a failure of the run with its reason
        assert ep["sent"] == ep["count"] == ep["http_errors_by_class"]["4xx"] > 0, name
        assert ep["error_rate"] == 1.0 and ep["errors"] == 0 and accounted(ep), name
        assert reasons(data, name) == {reason: ep["count"]}, name
    # the transaction: debited, then refused (a NOT NULL violation), rolled back: nothing moved
    tx = endpoint(data, "flow:pay")
    assert tx["sent"] > 0 and tx["count"] == 0
    rolled = reasons(data, "flow:pay")
    assert rolled == {"rolled back: sql_23 integrity: 23502 not_null_violation": tx["checks"]}
    assert tx["sent"] == tx["checks"] + tx["errors_by_kind"]["unfinished"]
    assert pg.sql("SELECT balance FROM accounts WHERE id = 7", fetch="value") == balance
    assert pg.sql("SELECT count(*) FROM events WHERE kind = 'pay'", fetch="value") == 0
    assert pg.calls("SET balance = $1 WHERE id = $2") == 0  # nothing after the failed statement was sent


PY_SCENARIO = '''
from driver.scenario import User, task


class Refused(User):
    @task
    async def pay(self):
        r = await self.db.execute("INSERT INTO users VALUES (0, 'x', 'free', 'u0@example.com')", name="dup")
        if r.ok or r.error.status != 400 or not r.error.reason.startswith("sql_23 integrity: 23505"):
            raise AssertionError(repr(r))
        async with self.db.transaction("pay") as tx:
            first = await tx.execute("UPDATE accounts SET balance = balance - 1 WHERE id = 9", name="debit")
            bad = await tx.fetch("SELECT * FROM nowhere", name="bad")
            skipped = await tx.execute("UPDATE accounts SET balance = 0 WHERE id = 9", name="skipped")
        if not first.ok or bad.ok or skipped.ok or skipped.error is not bad.error or tx.ok:
            raise AssertionError(f"{first} {bad} {skipped} {tx.ok}")
'''


def test_python_scenario_gets_failures_as_results_not_exceptions(tmp_path, pg):
    balance = pg.sql("SELECT balance FROM accounts WHERE id = 9", fetch="value")
    scenario = tmp_path / "refused.py"
    scenario.write_text(PY_SCENARIO)
    proc, data = run(tmp_path, "-s", str(scenario), "-u", "2", "-w", "1", "-d", "1s", f"http://127.0.0.1:{pg.port}",
                     env={"DRIVER_DB_DSN": pg.dsn})
    assert proc.returncode in DONE, proc.stderr.decode()
    assert not [c for c in data["checks"] if c["endpoint"].startswith("error:")]  # the task never raised
    assert endpoint(data, "sql:dup")["http_errors"] == endpoint(data, "sql:dup")["count"] > 0
    assert reasons(data, "sql:pay:bad") == {"sql_42 syntax/undefined: 42P01 undefined_table":
                                            endpoint(data, "sql:pay:bad")["count"]}
    assert "sql:pay:skipped" not in {e["name"] for e in data["endpoints"]}
    assert pg.sql("SELECT balance FROM accounts WHERE id = 9", fetch="value") == balance


def test_pool_exhausted_is_a_connect_timeout_with_its_reason(tmp_path, pg):
    tasks = """    - name: hold
      sql: {db: DB, query: "SELECT pg_sleep(0.3)", fetch: none}
"""
    cfg = config(tmp_path, pg, tasks, db="pool: 1, pool_timeout: 50ms")
    proc, data = run(tmp_path, "-c", str(cfg), "-u", "8", "-w", "1", "-d", "2s")
    assert proc.returncode in DONE, proc.stderr.decode()
    ep = endpoint(data, "sql:hold")
    waited = ep["errors_by_kind"]["connect_timeout"]
    assert ep["count"] >= 2 and waited > ep["count"]  # one ran at a time; the others gave up waiting
    assert reasons(data, "sql:hold") == {"pool exhausted: no free connection within 0.05s": waited}
    assert accounted(ep)  # a query that got no connection was never sent


def test_connection_refused_when_the_server_is_down(tmp_path, pg, pg_own):
    pg_own.stop()
    tasks = """    - name: lookup
      sql: {db: DB, query: "SELECT 1", fetch: value}
"""
    cfg = config(tmp_path, pg_own, tasks, target_port=pg.port)  # the target's check: a live port
    proc, data = run(tmp_path, "-c", str(cfg), "-u", "2", "-w", "1", "-d", "1s")
    assert proc.returncode in DONE, proc.stderr.decode()
    ep = endpoint(data, "sql:lookup")
    refused = ep["errors_by_kind"]["connect_refused"]
    assert refused > 0 and ep["sent"] == ep["count"] == 0 and ep["error_rate"] == 1.0
    assert reasons(data, "sql:lookup") == {"connection refused": refused}


NAPS = {  # a simple query, and a prepared statement bound on asyncpg's protocol (driver.scenario.db)
    "simple": """    - name: nap
      sql: {db: DB, query: "SELECT pg_sleep(0.05)", fetch: none}
""",
    "prepared": """    - name: nap
      sql: {db: DB, query: "SELECT pg_sleep($1::float8)", params: [0.05], fetch: value}
"""}


@pytest.mark.parametrize("path", sorted(NAPS))
def test_server_killed_mid_run(tmp_path, pg, pg_own, path):
    tasks = NAPS[path]
    cfg = config(tmp_path, pg_own, tasks, db="pool: 4", target_port=pg.port)
    killed = threading.Event()

    def kill_when_loaded():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and pg_own.calls("pg_sleep") < 40:
            time.sleep(0.05)
        pg_own.kill()
        killed.set()

    killer = threading.Thread(target=kill_when_loaded, daemon=True)
    killer.start()
    proc, data = run(tmp_path, "-c", str(cfg), "-u", "4", "-w", "1", "-d", "4s")
    killer.join(10)
    assert killed.is_set() and proc.returncode in DONE, proc.stderr.decode()
    ep = endpoint(data, "sql:nap")
    kinds = ep["errors_by_kind"]
    seen = (ep["sent"], ep["count"], kinds, reasons(data, "sql:nap"))  # shown when an assertion fails
    assert ep["count"] >= 40, seen  # before the kill
    assert kinds["connection_reset"] >= 1, seen  # the queries in flight when it died
    assert kinds["connect_refused"] >= 1, seen  # and every one after: nothing listens
    assert accounted(ep) and data["complete"], seen
    assert any(r.startswith("connection lost:") for r in reasons(data, "sql:nap")), seen


def test_statement_timeout_and_query_timeout_are_request_timeouts(tmp_path, pg):
    tasks = """    - name: server_side
      sql: {db: DB, query: "SELECT pg_sleep(0.5)", fetch: none}
    - name: client_side
      sql:
        db: {dsn: "postgresql://driver:${PGPASSWORD}@127.0.0.1:PORT/postgres", pool: 2}
        query: SELECT pg_sleep(1)
        fetch: none
        timeout: 100ms
""".replace("PORT", str(pg.port))
    cfg = config(tmp_path, pg, tasks, db="pool: 2, statement_timeout: 50ms")
    proc, data = run(tmp_path, "-c", str(cfg), "-u", "4", "-w", "1", "-d", "2s")
    assert proc.returncode in DONE, proc.stderr.decode()
    server, client = endpoint(data, "sql:server_side"), endpoint(data, "sql:client_side")
    for ep in (server, client):
        n = ep["errors_by_kind"]["request_timeout"]
        assert n > 0 and ep["sent"] == n + ep["errors_by_kind"]["unfinished"] and ep["count"] == 0
    assert set(reasons(data, "sql:server_side")) == {"sql_57 statement timeout: 57014 query_canceled"}
    assert set(reasons(data, "sql:client_side")) == {"query timeout after 0.1s"}


def test_a_query_in_flight_when_the_run_ends_is_unfinished(tmp_path, pg):
    tasks = """    - name: forever
      sql: {db: DB, query: "SELECT pg_sleep(30)", fetch: none}
"""
    proc, data = run(tmp_path, "-c", str(config(tmp_path, pg, tasks)), "-u", "2", "-w", "1", "-d", "1s")
    assert proc.returncode in DONE, proc.stderr.decode()
    ep = endpoint(data, "sql:forever")
    assert ep["sent"] == ep["errors_by_kind"]["unfinished"] == 2 and ep["count"] == 0
    assert ep["latency"]["count"] == 2  # their ages
