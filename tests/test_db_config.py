"""`sql:` tasks in a config (driver.config.sql): errors at file:line, DSN secrets masked;
and the pure parts of driver.scenario.db / sqlerrors (no server needed)."""
from __future__ import annotations

import asyncio
import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg.exceptions as pgerr
import pytest

from driver.config import load_config
from driver.errors import PlanError
from driver.scenario.db import DbSettings, query_name
from driver.scenario.sqlerrors import classify_connect, classify_query
from driver.config.sql import dsn_secrets

ROOT = Path(__file__).resolve().parent.parent
DSN = "postgresql://app:hunter2-pw@127.0.0.1:5432/shop"
HEAD = "target:\n  base_url: http://127.0.0.1:5432\nscenario:\n  tasks:\n"


def write(tmp_path, tasks: str) -> Path:
    path = tmp_path / "db.yaml"
    path.write_text(HEAD + textwrap.indent(textwrap.dedent(tasks).strip("\n"), "    ") + "\n")
    return path


def error_of(path: Path, env=None) -> str:
    with pytest.raises(PlanError) as info:
        load_config(path, env=env or {})
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == 2
    return message


BAD = {  # (the tasks, the line of the error, a fragment of its message)
    "bad dsn scheme": ("- name: q\n  sql: {query: SELECT 1, db: {dsn: 'mysql://app:hunter2-pw@h/db'}}", 6,
                       "scenario.tasks[0].sql.db.dsn must be a URI like postgresql://user:password@host:5432/db, "
                       "got 'mysql://***@h/db'"),
    "bad dsn port": ("- name: q\n  sql: {query: SELECT 1, db: {dsn: 'postgresql://h:99999/db'}}", 6,
                     "port '99999' is not a port number"),
    "missing query": (f"- name: q\n  sql:\n    db: {{dsn: '{DSN}'}}\n    params: [1]", 7,
                      "scenario.tasks[0].sql has no 'query' (required), nor a 'transaction' list"),
    "nan pool size": (f"- name: q\n  sql:\n    query: SELECT 1\n    db: {{dsn: '{DSN}', pool: .nan}}", 8,
                      "scenario.tasks[0].sql.db.pool must be an integer, got '.nan'"),
    "zero pool size": (f"- name: q\n  sql:\n    query: SELECT 1\n    db: {{dsn: '{DSN}', pool: 0}}", 8,
                       "scenario.tasks[0].sql.db.pool must be > 0, got 0"),
    "no database": ("- name: q\n  sql: {query: SELECT 1}", 6,
                    "scenario.tasks[0].sql needs a database: give scenario.tasks[0].sql.db: "
                    "{dsn: postgresql://...} or set DRIVER_DB_DSN"),
    "unknown key": (f"- name: q\n  sql: {{query: SELECT 1, fetchh: row, db: {{dsn: '{DSN}'}}}}", 6,
                    "unknown key 'fetchh' in scenario.tasks[0].sql — did you mean 'fetch'?"),
    "bad fetch": (f"- name: q\n  sql: {{query: SELECT 1, fetch: all, db: {{dsn: '{DSN}'}}}}", 6,
                  "scenario.tasks[0].sql.fetch must be one of rows, row, value, none, got 'all'"),
    "capture without rows": (f"- name: q\n  sql: {{query: SELECT 1, fetch: none, capture: {{a: b}}, "
                             f"db: {{dsn: '{DSN}'}}}}", 6, "sql.capture reads columns of the first row"),
    "captured before captured": (f"- name: q\n  sql: {{query: SELECT $1, params: ['{{{{captured.x}}}}'], "
                                 f"db: {{dsn: '{DSN}'}}}}", 5, "uses {{captured.x}}, but no task captures 'x'"),
    "query and transaction": (f"- name: q\n  sql:\n    query: SELECT 1\n    transaction: [{{query: SELECT 1}}]\n"
                              f"    db: {{dsn: '{DSN}'}}", 7, "has both 'transaction' and 'query'"),
    "statement named commit": (f"- name: q\n  sql:\n    transaction: [{{name: commit, query: SELECT 1}}]\n"
                               f"    db: {{dsn: '{DSN}'}}", 7, "statement name 'commit' is taken"),
    "isolation outside a transaction": (f"- name: q\n  sql: {{query: SELECT 1, isolation: serializable, "
                                        f"db: {{dsn: '{DSN}'}}}}", 6, "isolation belongs to a transaction"),
    "bad isolation": (f"- name: q\n  sql:\n    transaction: [{{query: SELECT 1}}]\n    isolation: snapshot\n"
                      f"    db: {{dsn: '{DSN}'}}", 8, "must be one of read_committed, repeatable_read, serializable"),
    "bad timeout": (f"- name: q\n  sql: {{query: SELECT 1, timeout: soon, db: {{dsn: '{DSN}'}}}}", 6,
                    "scenario.tasks[0].sql.timeout must be a duration"),
}


@pytest.mark.parametrize("tasks, line, fragment", BAD.values(), ids=BAD.keys())
def test_bad_sql_task_is_one_line_at_its_place(tmp_path, tasks, line, fragment):
    path = write(tmp_path, tasks)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message and "hunter2-pw" not in message


def test_sql_task_normalised_with_its_settings_and_the_password_a_secret(tmp_path):
    path = write(tmp_path, f"""
        - name: lookup
          weight: 3
          sql:
            db: {{dsn: '{DSN}', pool: 5, pool_timeout: 250ms, statement_timeout: 2s, prepare: false}}
            query: SELECT name FROM users WHERE id = $1
            params: ["{{{{user.index}}}}", 7]
            fetch: row
            capture: {{who: name}}
        - name: move
          sql:
            isolation: serializable
            timeout: 1s
            transaction:
              - {{query: "UPDATE a SET b = b - 1 WHERE id = $1", params: ["{{{{captured.who}}}}"], fetch: none}}
              - {{name: credit, query: "UPDATE a SET b = b + 1"}}
    """)
    plan = load_config(path, env={"DRIVER_DB_DSN": DSN})  # the second task's database: the environment's
    lookup, move = plan.scenario.tasks
    assert lookup["name"] == "sql:lookup" and lookup["weight"] == 3.0 and lookup["capture"] == {"who": "name"}
    assert lookup["sql"]["db"] == {"dsn": DSN, "pool": 5, "pool_timeout": 0.25, "statement_timeout_ms": 2000,
                                   "prepare": False}
    st = lookup["sql"]["statements"][0]
    assert (st["mode"], st["params"]) == ("fetchrow", ("{{user.index}}", 7))
    assert move["name"] == "flow:move" and move["sql"]["isolation"] == "serializable"
    assert move["sql"]["db"] == {"dsn": DSN} and move["sql"]["timeout"] == 1.0
    assert [s["name"] for s in move["sql"]["statements"]] == ["1", "credit"]
    assert move["also"] == ("sql:move:begin", "sql:move:1", "sql:move:credit", "sql:move:commit")
    assert "hunter2-pw" in plan.secrets
    assert "hunter2-pw" not in json.dumps(plan.describe())
    pickle.loads(pickle.dumps(plan))  # it travels to spawned workers


def test_sql_tasks_without_asyncpg_are_a_config_error(tmp_path, monkeypatch):
    import driver.config.sql as sql

    monkeypatch.setattr(sql, "asyncpg_missing", lambda: True)
    path = write(tmp_path, f"- name: q\n  sql: {{query: SELECT 1, db: {{dsn: '{DSN}'}}}}")
    assert error_of(path) == (f"{path}:6: scenario.tasks[0].sql: queries go through asyncpg, which is not installed "
                              "(pip install asyncpg)")


def test_pool_size_from_the_environment(tmp_path):
    path = write(tmp_path, "- name: q\n  sql: {query: SELECT 1}")
    plan = load_config(path, env={"DRIVER_DB_DSN": DSN, "DRIVER_DB_POOL": "3"})
    assert plan.scenario.tasks[0]["sql"]["db"] == {"dsn": DSN, "pool": 3}
    assert "DRIVER_DB_POOL must be a whole number" in error_of(path, {"DRIVER_DB_DSN": DSN, "DRIVER_DB_POOL": "x"})
    assert "'mysql://***@h/db'" in error_of(path, {"DRIVER_DB_DSN": "mysql://u:hunter2-pw@h/db"})


def test_cli_config_error_is_one_line_exit_2(tmp_path):
    path = write(tmp_path, "- name: q\n  sql: {query: SELECT 1, db: {dsn: 'postgresql://u:hunter2-pw@h/db', pool: x}}")
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", "-c", str(path), "-q"], cwd=ROOT,
                          capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1, err
    assert err.startswith(f"driver: error: {path}:6: scenario.tasks[0].sql.db.pool must be an integer")
    assert "hunter2-pw" not in err + proc.stdout.decode()


# --- the pure parts ---------------------------------------------------------------------------

@pytest.mark.parametrize("exc, kind, status, reason", [
    (pgerr.UniqueViolationError("dup"), None, 400, "sql_23 integrity: 23505 unique_violation"),
    (pgerr.UndefinedTableError("x"), None, 400, "sql_42 syntax/undefined: 42P01 undefined_table"),
    (pgerr.SerializationError("x"), None, 500, "sql_40 serialization: 40001 serialization"),
    (pgerr.DeadlockDetectedError("x"), None, 500, "sql_40 serialization: 40P01 deadlock_detected"),
    (pgerr.TooManyConnectionsError("x"), None, 500, "sql_53 resources: 53300 too_many_connections"),
    (pgerr.QueryCanceledError("x"), "request_timeout", 0, "sql_57 statement timeout: 57014 query_canceled"),
    (pgerr.AdminShutdownError("x"), "connection_reset", 0, "connection lost: 57P01 admin_shutdown"),
    (pgerr.ConnectionDoesNotExistError("x"), "connection_reset", 0, "connection lost: 08003 connection_does_not_exist"),
    (ConnectionResetError(104, "reset"), "connection_reset", 0, "connection lost: connection_reset"),
    (asyncio.TimeoutError(), "request_timeout", 0, "query timeout after 0.5s"),
    (pgerr.InterfaceError("cannot perform operation: another operation is in progress"), None, 400, "client: interface"),
])
def test_query_failures_by_kind(exc, kind, status, reason):
    f = classify_query(exc, 0.5)
    assert (f.kind, f.status, f.reason) == (kind, status, reason)


@pytest.mark.parametrize("exc, exhausted, kind, reason", [
    (asyncio.TimeoutError(), True, "connect_timeout", "pool exhausted: no free connection within 2s"),
    (asyncio.TimeoutError(), False, "connect_timeout", "connect timeout after 2s"),
    (ConnectionRefusedError(111, "refused"), False, "connect_refused", "connection refused"),
    (OSError("Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 1)"), False, "connect_refused",
     "connection refused"),
    (FileNotFoundError(2, "no socket"), False, "connect_refused", "connection refused"),
    (pgerr.InvalidPasswordError("password authentication failed"), False, "other",
     "connect: sql_28 authorization: 28P01 invalid_password"),
    (pgerr.InvalidCatalogNameError("no db"), False, "other", "connect: sql_3D catalog name: 3D000 invalid_catalog_name"),
])
def test_connect_failures_by_kind(exc, exhausted, kind, reason):
    f = classify_connect(exc, 2.0, exhausted)
    assert (f.kind, f.reason) == (kind, reason)


def test_default_names_and_dsn_secrets_and_settings():
    assert query_name("SELECT a FROM Users u JOIN orders o ON ...") == "sql:SELECT users"
    assert query_name("insert into public.orders (a) values ($1)") == "sql:INSERT public.orders"
    assert query_name("  VACUUM") == "sql:VACUUM"
    assert set(dsn_secrets("postgresql://u:p%40ss@h/db?password=other")) == {"p%40ss", "p@ss", "other"}
    assert dsn_secrets("postgresql://u@h/db") == []
    assert dsn_secrets("host=h password='s3 cret' user=u") == ["s3 cret"]
    with pytest.raises(ValueError, match="pool must be a whole number"):
        DbSettings(DSN, pool=0)
    with pytest.raises(ValueError, match="timeout must be a number of seconds"):
        DbSettings(DSN, timeout=float("nan"))
    with pytest.raises(ValueError, match="set DRIVER_DB_DSN"):
        DbSettings.from_env({})
    assert DbSettings.from_env({"DRIVER_DB_DSN": DSN, "DRIVER_DB_POOL": "4"}) == DbSettings(DSN, pool=4)


def test_scenario_db_is_the_database_of_tasks_that_name_none(tmp_path):
    path = tmp_path / "db.yaml"
    path.write_text(textwrap.dedent(f"""\
        target:
          base_url: http://127.0.0.1:5432
        scenario:
          db: {{dsn: '{DSN}', pool: 3}}
          tasks:
            - {{name: a, sql: {{query: SELECT 1}}}}
            - {{name: b, sql: {{query: SELECT 2, db: {{dsn: 'postgresql://other@127.0.0.1:5433/x'}}}}}}
        """))
    plan = load_config(path, env={})
    dbs = {t["sql"]["name"]: t["sql"]["db"] for t in plan.scenario.tasks}
    assert dbs["a"]["dsn"] == DSN and dbs["a"]["pool"] == 3
    assert dbs["b"]["dsn"].endswith(":5433/x")  # a task's own db wins
    assert "hunter2-pw" in plan.secrets and "hunter2-pw" not in json.dumps(plan.describe())


def test_scenario_db_without_tasks_is_an_error_at_its_line(tmp_path):
    path = tmp_path / "db.yaml"
    path.write_text(f"target:\n  base_url: http://127.0.0.1:5432\nscenario:\n  db: {{dsn: '{DSN}'}}\n  flows: []\n")
    assert error_of(path).startswith(f"{path}:4:") and "give scenario.tasks too" in error_of(path)
