"""Database load against a real PostgreSQL (tests/pg.py): `sql:` tasks in YAML and
`self.db` in Python, counted against what the server saw (pg_stat_statements)."""
from __future__ import annotations

from tests.dbrun import CLEAN, ROOT, accounted, config, endpoint, names, reasons, run

MIX = """    - name: user_by_id
      weight: 5
      sql:
        db: DB
        query: SELECT name, tier FROM users WHERE id = $1
        params: ["{{user.index}}"]
        fetch: row
        capture: {tier: tier}
    - name: orders_of_user
      weight: 2
      sql:
        db: DB
        query: SELECT o.id, o.amount FROM orders o JOIN users u ON u.id = o.user_id WHERE u.id = $1 AND u.tier = $2
        params: ["{{user.index}}", "{{captured.tier}}"]
    - name: revenue_by_tier
      sql:
        db: DB
        query: SELECT u.tier, count(*), sum(o.amount) FROM orders o JOIN users u ON u.id = o.user_id GROUP BY u.tier
        fetch: rows
    - name: log_event
      sql:
        db: DB
        query: INSERT INTO events (user_id, kind) VALUES ($1, 'visit')
        params: ["{{user.index}}"]
        fetch: none
"""


def test_yaml_selects_joins_aggregations_and_writes_count_what_the_server_ran(tmp_path, pg):
    pg.reset_stats()
    before = pg.sql("SELECT count(*) FROM events", fetch="value")
    proc, data = run(tmp_path, "-c", str(config(tmp_path, pg, MIX, users="  users: {size: 1000}\n")),
                     "-u", "6", "-w", "2", "-d", "2s")
    assert proc.returncode in CLEAN, proc.stderr.decode()
    by_name = {n: endpoint(data, "sql:" + n) for n in ("user_by_id", "orders_of_user", "revenue_by_tier", "log_event")}
    for name, ep in by_name.items():
        assert ep["count"] > 0 and ep["errors"] == 0 and ep["http_errors"] == 0, name
        assert ep["sent"] == ep["count"] == ep["status"]["2xx"] and accounted(ep), name
    # every query the driver counted is one the server ran, and no other
    assert by_name["user_by_id"]["count"] == pg.calls("SELECT name, tier FROM users WHERE id")
    assert by_name["orders_of_user"]["count"] == pg.calls("WHERE u.id = $1 AND u.tier = $2")
    assert by_name["revenue_by_tier"]["count"] == pg.calls("GROUP BY u.tier")
    assert by_name["log_event"]["count"] == pg.sql("SELECT count(*) FROM events", fetch="value") - before
    # the join takes the tier its user's select captured; a user that drew the join first
    # has none yet: a user error (as an HTTP task's template is), nothing sent
    assert endpoint(data, "sql:user_by_id")["checks"] == by_name["user_by_id"]["count"]
    assert {c["reason"] for c in data["checks"]} <= {"captured value 'tier' not set"}
    assert data["totals"]["count"] == sum(ep["count"] for ep in by_name.values())


def test_requests_flag_is_exact_over_the_workers(tmp_path, pg):
    pg.reset_stats()
    tasks = """    - name: one_user
      sql: {db: DB, query: "SELECT id AS one_user FROM users WHERE id = $1", params: ["{{randint:0,999}}"], fetch: value}
"""
    proc, data = run(tmp_path, "-c", str(config(tmp_path, pg, tasks)), "-u", "8", "-w", "2", "-n", "500")
    assert proc.returncode in CLEAN, proc.stderr.decode()
    ep = endpoint(data, "sql:one_user")
    seen = pg.calls("AS one_user FROM users")
    assert ep["sent"] == ep["count"] == 500 == seen, (ep["sent"], ep["count"], seen, ep["errors_by_kind"])


TRANSFER = """    - name: transfer
      sql:
        db: DB
        isolation: repeatable_read
        transaction:
          - name: debit
            query: UPDATE accounts SET balance = balance - 1 WHERE id = $1 RETURNING id
            params: ["{{randint:1,50}}"]
            fetch: row
            capture: {debited: id}
          - name: credit
            query: UPDATE accounts SET balance = balance + 1 WHERE id = 50 + $1
            params: ["{{captured.debited}}"]
            fetch: none
"""


def test_yaml_transaction_commits_both_statements_or_neither(tmp_path, pg):
    pg.reset_stats()
    total = pg.sql("SELECT sum(balance) FROM accounts", fetch="value")
    credited = pg.sql("SELECT sum(balance) FROM accounts WHERE id > 50", fetch="value")
    proc, data = run(tmp_path, "-c", str(config(tmp_path, pg, TRANSFER)), "-u", "4", "-w", "1", "-d", "2s")
    assert proc.returncode in (*CLEAN, 1), proc.stderr.decode()  # 1: rollbacks are failed checks
    tx = endpoint(data, "flow:transfer")
    committed = tx["count"]
    assert committed > 0 and tx["checks"] >= committed
    # the money moved once per committed transaction; a rolled-back one (a serialization
    # failure under repeatable read) moved nothing
    assert pg.sql("SELECT sum(balance) FROM accounts", fetch="value") == total
    assert pg.sql("SELECT sum(balance) FROM accounts WHERE id > 50", fetch="value") - credited == committed
    assert pg.calls("UPDATE accounts SET balance = balance +") >= committed
    rolled_back = 0
    for why, n in reasons(data, "flow:transfer").items():
        assert why.startswith("rolled back: sql_40 serialization: 40001"), why
        rolled_back += n
    assert committed + rolled_back == tx["checks"]
    # begun = committed + rolled back + still running when the run ended
    assert tx["sent"] == committed + rolled_back + tx["errors_by_kind"]["unfinished"]


def test_python_scenario_records_each_statement_and_the_transaction(tmp_path, pg):
    pg.reset_stats()
    events = pg.sql("SELECT count(*) FROM orders", fetch="value")
    proc, data = run(tmp_path, "-s", str(ROOT / "examples" / "db_scenario.py"), "-u", "6", "-w", "1", "-d", "2s",
                     f"http://127.0.0.1:{pg.port}", env={"DRIVER_DB_DSN": pg.dsn, "DRIVER_DB_POOL": "3"})
    assert proc.returncode in CLEAN, proc.stderr.decode()
    want = {"sql:user_by_id", "sql:orders_of_user", "sql:revenue_by_tier", "sql:place_order", "flow:transfer",
            "sql:transfer:begin", "sql:transfer:debit", "sql:transfer:credit", "sql:transfer:commit"}
    assert want <= names(data), names(data)
    for name in want - {"flow:transfer"}:
        ep = endpoint(data, name)
        assert ep["count"] > 0 and ep["errors"] == 0 and ep["http_errors"] == 0 and accounted(ep), name
    assert endpoint(data, "sql:user_by_id")["count"] == pg.calls("SELECT name, tier FROM users WHERE id")
    assert endpoint(data, "sql:place_order")["count"] == pg.sql("SELECT count(*) FROM orders", fetch="value") - events
    tx = endpoint(data, "flow:transfer")
    for part in ("begin", "debit", "credit", "commit"):
        assert endpoint(data, f"sql:transfer:{part}")["count"] == tx["count"], part
    assert data["checks"] == [] and tx["count"] == tx["checks"]
    assert sum(r["balance"] for r in pg.sql("SELECT balance FROM accounts", fetch="rows")) == 100 * 1000


SLOW = """    - name: slow
      sql: {db: DB, query: "SELECT pg_sleep(0.01)", fetch: none}
"""


def test_pool_wait_is_recorded_apart_from_the_query(tmp_path, pg):
    """Eight users on one connection: each query waits for the other seven. Latency is
    from the call (the wait included), service from the send: their ratio shows the wait."""
    proc, data = run(tmp_path, "-c", str(config(tmp_path, pg, SLOW, db="pool: 1")), "-u", "8", "-w", "1", "-d", "2s")
    assert proc.returncode in CLEAN, proc.stderr.decode()
    ep = endpoint(data, "sql:slow")
    assert ep["count"] > 10 and ep["errors"] == 0
    assert ep["service"]["count"] == ep["latency"]["count"] == ep["count"]
    assert ep["latency"]["p50_ns"] > 3 * ep["service"]["p50_ns"]
    # with a connection per user nobody waits long: latency and service are nearly one
    (tmp_path / "b").mkdir()
    proc, data = run(tmp_path / "b", "-c", str(config(tmp_path / "b", pg, SLOW, db="pool: 8")),
                     "-u", "8", "-w", "1", "-d", "2s")
    ep = endpoint(data, "sql:slow")
    assert ep["count"] > 10 and ep["latency"]["p50_ns"] < 2 * ep["service"]["p50_ns"]


def test_example_config_runs_clean(tmp_path, pg):
    proc, data = run(tmp_path, "-c", str(ROOT / "examples" / "db.yaml"), "-u", "4", "-w", "1", "-d", "1s",
                     env={"PGPORT": str(pg.port)})
    assert proc.returncode in CLEAN, proc.stderr.decode()
    for name in ("sql:user_by_id", "sql:orders_of_user", "sql:revenue_by_tier", "sql:place_order", "flow:transfer"):
        ep = endpoint(data, name)
        assert ep["count"] > 0 and ep["failures"] == 0, name
    assert data["checks"] == [] and data["totals"]["errors"] == 0
