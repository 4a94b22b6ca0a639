"""A YAML task that is a database query: `sql:` instead of a request (driver.scenario.db).

    - name: user_by_id
      weight: 5
      sql:
        query: SELECT name, tier FROM users WHERE id = $1
        params: ["{{user.id}}"]
        fetch: row                       # rows (default), row, value, none (execute)
        capture: {tier: tier}            # a column of the first row -> {{captured.tier}}
        db: {dsn: "postgresql://app:${PGPASSWORD}@127.0.0.1:5432/shop", pool: 10}
    - name: transfer
      sql:
        isolation: serializable
        transaction:
          - {name: debit, query: "UPDATE accounts SET balance = balance - 1 WHERE id = $1", params: [1]}
          - {name: credit, query: "UPDATE accounts SET balance = balance + 1 WHERE id = $1", params: [2]}

`db` (DbSettings' fields: dsn, pool, pool_timeout, timeout, connect_timeout,
statement_timeout, prepare) is the task's own, else the scenario's (`ctx["db"]`),
else $DRIVER_DB_DSN (and $DRIVER_DB_POOL). The DSN's password is a secret: masked in
every report and message. Tasks with the same settings share one pool per worker.

The normalised task: {"name": "sql:NAME" (a transaction: "flow:NAME", and "also": the
names of its statements' endpoints), "weight", "capture": {var: column} (every
statement's), "sql": {"name", "db": {DbSettings
fields}, "statements": ({"name", "mode", "query", "params", "capture"}, ...),
"transaction": bool, "isolation", "timeout"}}.
"""
from __future__ import annotations

import importlib.util
import re
from urllib.parse import parse_qs, unquote, urlsplit

from yaml.nodes import MappingNode, Node, ScalarNode

from driver.config.schema import Doc, join
from driver.masking import mask_url
from driver.scenario.db import ENV_DSN, ENV_POOL, ISOLATIONS, DbSettings

__all__ = ["is_sql", "sql_task", "read_db", "dsn_secrets"]

SQL_TASK_KEYS = ("name", "weight", "sql")
SQL_KEYS = ("query", "params", "fetch", "capture", "timeout", "db", "transaction", "isolation")
STATEMENT_KEYS = ("name", "query", "params", "fetch", "capture")
DB_KEYS = ("dsn", "pool", "pool_timeout", "timeout", "connect_timeout", "statement_timeout", "prepare")
FETCH = {"rows": "fetch", "row": "fetchrow", "value": "fetchval", "none": "execute"}
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KV_PASSWORD = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", re.I)


def is_sql(node: Node) -> bool:
    """Whether a task's node declares a query (has a `sql` key)."""
    return isinstance(node, MappingNode) and any(isinstance(k, ScalarNode) and k.value == "sql" for k, _ in node.value)


def dsn_secrets(dsn: str) -> list[str]:
    """The secrets in a DSN: its password (userinfo or ?password=), as given and decoded."""
    out = [m.group(1).strip("'") for m in _KV_PASSWORD.finditer(dsn)] if "://" not in dsn else []
    if "://" in dsn:
        parts = urlsplit(dsn)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo = netloc.rsplit("@", 1)[0]
            if ":" in userinfo:
                raw = userinfo.split(":", 1)[1]
                out += [raw, unquote(raw)]
        out += parse_qs(parts.query).get("password", [])
    return [s for s in out if s]


def _dsn(doc: Doc, node: Node | None, where: str, dsn: str) -> str:
    """A libpq URI (asyncpg takes no other form), its secrets registered."""
    for secret in dsn_secrets(dsn):
        doc.secret(secret)
    parts = urlsplit(dsn) if "://" in dsn else None
    if parts is None or parts.scheme not in ("postgresql", "postgres"):
        raise doc.error(node, f"{where} must be a URI like postgresql://user:password@host:5432/db, "
                              f"got {mask_url(dsn)!r}")
    hosts = parts.netloc.rsplit("@", 1)[-1]
    for host in hosts.split(","):
        port = host.rsplit("]", 1)[-1].rpartition(":")[2] if ":" in host.rsplit("]", 1)[-1] else ""
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise doc.error(node, f"{where}: port {port!r} is not a port number (1-65535)")
    return dsn


def read_db(doc: Doc, node: Node, where: str) -> dict:
    """`db: {dsn, pool, ...}` -> DbSettings' fields (checked; the DSN's password a secret)."""
    got = doc.fields(node, where, DB_KEYS, required=("dsn",))
    out: dict = {"dsn": _dsn(doc, got["dsn"], join(where, "dsn"), doc.string(got["dsn"], join(where, "dsn")))}
    if "pool" in got:
        out["pool"] = doc.integer(got["pool"], join(where, "pool"))
    for key in ("pool_timeout", "timeout", "connect_timeout"):
        if key in got:
            out[key] = doc.duration(got[key], join(where, key))
    if "statement_timeout" in got:
        out["statement_timeout_ms"] = max(1, round(doc.duration(got["statement_timeout"],
                                                                join(where, "statement_timeout")) * 1000))
    if "prepare" in got:
        out["prepare"] = doc.boolean(got["prepare"], join(where, "prepare"))
    DbSettings(**out)  # the same checks as at run time (they passed above)
    return out


def _env_db(doc: Doc, node: Node, where: str) -> dict:
    dsn = doc.env.get(ENV_DSN)
    if not dsn:
        raise doc.error(node, f"{where} needs a database: give {join(where, 'db')}: {{dsn: postgresql://...}} "
                              f"or set {ENV_DSN}")
    out: dict = {"dsn": _dsn(doc, node, f"${ENV_DSN}", dsn)}
    pool = doc.env.get(ENV_POOL)
    if pool:
        if not pool.isdigit() or int(pool) < 1:
            raise doc.error(node, f"${ENV_POOL} must be a whole number >= 1, got {pool!r}")
        out["pool"] = int(pool)
    return out


def _statement(doc: Doc, got: dict, where: str, name: str) -> dict:
    query = doc.string(got["query"], join(where, "query"))
    mode = FETCH[doc.choice(got["fetch"], join(where, "fetch"), tuple(FETCH))] if "fetch" in got else "fetch"
    params = ()
    if "params" in got:
        at = join(where, "params")
        params = tuple(doc.data(item, join(at, i), template=True) for i, item in enumerate(doc.seq(got["params"], at)))
    capture = {}
    if "capture" in got:
        at = join(where, "capture")
        if mode not in ("fetch", "fetchrow"):
            raise doc.error(got["capture"], f"{at} reads columns of the first row: it needs fetch: rows or row")
        for var, key, value in doc.items(got["capture"], at):
            if not _VAR.match(var):
                raise doc.error(key, f"{at}: capture name {var!r} must be a name like order_id "
                                     "(it is used as {{captured." + var + "}})")
            capture[var] = doc.string(value, join(at, var))
    return {"name": name, "mode": mode, "query": query, "params": params, "capture": capture}


def asyncpg_missing() -> bool:
    return importlib.util.find_spec("asyncpg") is None


def sql_task(doc: Doc, node: Node, where: str, ctx: dict) -> dict:
    """A task with `sql:`: one query, or a `transaction:` of them."""
    got = doc.fields(node, where, SQL_TASK_KEYS, required=("name", "sql"))
    if asyncpg_missing():
        raise doc.error(got["sql"], f"{join(where, 'sql')}: queries go through asyncpg, which is not installed "
                                    "(pip install asyncpg)")
    name = doc.string(got["name"], join(where, "name"))
    at = join(where, "sql")
    fields = doc.fields(got["sql"], at, SQL_KEYS)
    if "db" in fields:
        db = read_db(doc, fields["db"], join(at, "db"))
    elif ctx.get("db"):
        db = dict(ctx["db"])
    else:
        db = _env_db(doc, got["sql"], at)
    out = {"name": name, "weight": doc.number(got["weight"], join(where, "weight")) if "weight" in got else 1.0}
    spec: dict = {"name": name, "db": db, "transaction": "transaction" in fields, "isolation": None, "timeout": None}
    if "timeout" in fields:
        spec["timeout"] = doc.duration(fields["timeout"], join(at, "timeout"))
    if "transaction" in fields:
        given = [k for k in ("query", "params", "fetch", "capture") if k in fields]
        if given:
            raise doc.error(fields[given[0]], f"{at} has both 'transaction' and '{given[0]}': a transaction's "
                                              "statements each take their own query, params, fetch, capture")
        tx_at = join(at, "transaction")
        statements, seen = [], set()
        for i, item in enumerate(doc.seq(fields["transaction"], tx_at)):
            st_at = join(tx_at, i)
            st = doc.fields(item, st_at, STATEMENT_KEYS, required=("query",))
            st_name = doc.string(st["name"], join(st_at, "name")) if "name" in st else str(i + 1)
            if st_name in seen or st_name in ("begin", "commit"):
                raise doc.error(st.get("name", item), f"{st_at}: statement name {st_name!r} is taken "
                                                      "(begin, commit and earlier statements)")
            seen.add(st_name)
            statements.append(_statement(doc, st, st_at, st_name))
        spec["statements"] = tuple(statements)
        if "isolation" in fields:
            spec["isolation"] = doc.choice(fields["isolation"], join(at, "isolation"), ISOLATIONS)
        out["name"] = "flow:" + name
        # its statements' endpoints, for the plan's endpoint table as a flow step's `also`
        out["also"] = tuple(f"sql:{name}:{st}" for st in ("begin", *(s["name"] for s in statements), "commit"))
    else:
        if "isolation" in fields:
            raise doc.error(fields["isolation"], f"{join(at, 'isolation')} belongs to a transaction: list its "
                                                 "statements under transaction:")
        if "query" not in fields:
            raise doc.error(got["sql"], f"{at} has no 'query' (required), nor a 'transaction' list")
        spec["statements"] = (_statement(doc, fields, at, name),)
        out["name"] = "sql:" + name
    out["capture"] = {var: col for st in spec["statements"] for var, col in st["capture"].items()}
    out["sql"] = spec
    return out
