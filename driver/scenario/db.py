"""PostgreSQL load from a scenario: `self.db` of a virtual user (asyncpg).

    class Shop(User):
        db_settings = DbSettings("postgresql://app:pw@127.0.0.1/shop", pool=10)  # or DRIVER_DB_DSN

        @task(5)
        async def lookup(self):
            r = await self.db.fetchrow("SELECT name FROM users WHERE id = $1", self.user.index, name="user_by_id")
            if r.ok:
                self.state["name"] = r.row["name"]

        @task
        async def transfer(self):
            async with self.db.transaction("transfer") as tx:
                await tx.execute("UPDATE accounts SET balance = balance - 1 WHERE id = $1", 1, name="debit")
                await tx.execute("UPDATE accounts SET balance = balance + 1 WHERE id = $1", 2, name="credit")

The users of one worker share one pool per DbSettings (driver.scenario.sqlpool: at most
`pool` connections, opened as they are first needed). `fetch` returns rows, `fetchrow` the
first row, `fetchval` a value, `execute` the command's status ("INSERT 0 1"); every
query with parameters is prepared once per connection and then only bound and run
(asyncpg's statement cache; `prepare=False` turns it off).

What is recorded (through the worker's ScenarioContext), `NAME` being `name=` or, by
default, the verb and first table (`sql:SELECT users`):

- `sql:NAME` — a request endpoint: sent = queries given a connection; each answer a
  response whose latency is from the call (the pool wait included) and whose
  service time (`service` in the result) is from the send: the pool wait is latency -
  service. A query the server refused counts as a 4xx/5xx response with its SQLSTATE
  class as the reason; no answer is a transport error (driver.scenario.sqlerrors).
- `flow:NAME` — a transaction, an aggregate as a YAML flow is: sent = transactions
  begun, count = committed, latency = from the call to the commit's answer, a rollback
  a failed check with its reason, one in flight when the run ends unfinished. Its
  statements are `sql:NAME:STATEMENT`, with `sql:NAME:begin` (whose latency holds the
  pool wait) and `sql:NAME:commit`.

Nothing raises into the task: a result has `.error` (a driver.scenario.sqlerrors
Failure) and `.ok`. A query in flight when the run ends is counted unfinished.
"""
from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass

from driver._speedups import now_ns
from driver.layout import C_FLOWS, C_SENT, C_UNFINISHED, ERROR_COUNTERS, H_LATENCY
from driver.scenario.sqlerrors import Failure, classify_query
from driver.scenario.sqlpool import DbPool

__all__ = ["DbSettings", "Db", "SqlResult", "Transaction", "MODES", "ISOLATIONS", "query_name"]

MODES = ("fetch", "fetchrow", "fetchval", "execute")
ISOLATIONS = ("read_committed", "repeatable_read", "serializable")
ENV_DSN, ENV_POOL = "DRIVER_DB_DSN", "DRIVER_DB_POOL"
_LIMITS = {"fetch": 0, "fetchrow": 1, "fetchval": 1, "execute": 0}  # rows asked of a bound statement


def _stale_errors() -> tuple:
    try:
        from asyncpg.exceptions import InvalidCachedStatementError, OutdatedSchemaCacheError
    except ImportError:
        return ()
    return InvalidCachedStatementError, OutdatedSchemaCacheError


_STALE = _stale_errors()


_TABLE = re.compile(r"\b(?:from|into|update|join|table)\s+([A-Za-z_][\w.]*)", re.I)


@dataclass(frozen=True)
class DbSettings:
    """Where the database is and how one worker's pool behaves (times in seconds; None:
    the plan's request timeout for `timeout` and `pool_timeout`, its connect timeout
    for `connect_timeout`)."""

    dsn: str
    pool: int = 10  # connections per worker, shared by its users
    pool_timeout: float | None = None  # the longest a query waits for a free connection
    timeout: float | None = None  # the longest a query runs (client side; the server's is statement_timeout)
    connect_timeout: float | None = None
    statement_timeout_ms: int | None = None  # the server's statement_timeout for the pool's sessions
    prepare: bool = True  # asyncpg's per-connection statement cache

    def __post_init__(self) -> None:
        if not isinstance(self.dsn, str) or not self.dsn:
            raise ValueError("the database needs a dsn (postgresql://user:password@host:port/db)")
        if isinstance(self.pool, bool) or not isinstance(self.pool, int) or self.pool < 1:
            raise ValueError(f"pool must be a whole number >= 1, got {self.pool!r}")
        for key in ("pool_timeout", "timeout", "connect_timeout"):
            value = getattr(self, key)
            if value is not None and not (isinstance(value, (int, float)) and 0 < value < float("inf")):
                raise ValueError(f"{key} must be a number of seconds > 0, got {value!r}")

    @classmethod
    def from_env(cls, env=None) -> "DbSettings":
        """From DRIVER_DB_DSN (and DRIVER_DB_POOL): the default of `self.db`."""
        env = os.environ if env is None else env
        dsn = env.get(ENV_DSN)
        if not dsn:
            raise ValueError(f"self.db needs a database: set {ENV_DSN}=postgresql://... or give the User "
                             "class db_settings = DbSettings(dsn, pool=N)")
        pool = env.get(ENV_POOL)
        return cls(dsn, pool=int(pool)) if pool else cls(dsn)


def query_name(query: str) -> str:
    """The default endpoint of a query: `sql:` + its verb and first table."""
    words = query.split(None, 1)
    verb = words[0].upper() if words else "SQL"
    m = _TABLE.search(query)
    return f"sql:{verb} {m.group(1).lower()}" if m else f"sql:{verb}"


class SqlResult:
    """One query's outcome: `rows` (fetch), `row` (first row), `value` (fetchval),
    `status` (execute's command tag); `error` a Failure or None."""

    __slots__ = ("name", "rows", "value", "status", "error", "wait_ns", "query_ns")

    def __init__(self, name: str, error: Failure | None = None, rows=None, value=None, status: str = "",
                 wait_ns: int = 0, query_ns: int = 0):
        self.name, self.error, self.rows, self.value, self.status = name, error, rows, value, status
        self.wait_ns, self.query_ns = wait_ns, query_ns

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def row(self):
        return self.rows[0] if self.rows else None

    def __repr__(self) -> str:
        return f"SqlResult({self.name}, {'ok' if self.ok else self.error.reason})"


class Db:
    """`self.db`: queries and transactions over the worker's pool, each recorded."""

    def __init__(self, user, settings: DbSettings) -> None:
        import asyncpg  # noqa: F401  (not installed: the task fails with ModuleNotFoundError, a user error)

        self.ctx = user.http.context
        self.settings = settings
        self._pool: DbPool | None = None

    def pool(self) -> DbPool:
        if self._pool is None:
            key = ("db", self.settings)
            pool = self.ctx.shared.get(key)
            if pool is None:
                pool = self.ctx.shared[key] = DbPool(self.settings, self.ctx.plan)
            self._pool = pool
        return self._pool

    def fetch(self, query: str, *args, name: str | None = None, timeout: float | None = None):
        return self.run("fetch", query, args, name, timeout)

    def fetchrow(self, query: str, *args, name: str | None = None, timeout: float | None = None):
        return self.run("fetchrow", query, args, name, timeout)

    def fetchval(self, query: str, *args, name: str | None = None, timeout: float | None = None):
        return self.run("fetchval", query, args, name, timeout)

    def execute(self, query: str, *args, name: str | None = None, timeout: float | None = None):
        return self.run("execute", query, args, name, timeout)

    async def run(self, mode: str, query: str, args, name: str | None, timeout: float | None) -> SqlResult:
        """One query in `mode` (MODES) on a connection of its own from the pool."""
        name = "sql:" + name if name else query_name(query)
        return await self.run_at(self.ctx.slot(name), name, mode, query, args, timeout)

    async def run_at(self, slot: int, name: str, mode: str, query: str, args, timeout: float | None) -> SqlResult:
        """`run` on an endpoint already named and placed (`sql:` tasks look their slot up once)."""
        start = now_ns()
        pool = self._pool or self.pool()
        conn = pool.take_idle()  # the common case, without a coroutine
        if conn is None:
            conn, failure = await pool.acquire()
            if conn is None:
                return self.refused(slot, name, failure)
        return await self.send(conn, slot, name, mode, query, args, timeout or pool.timeout, start, pool)

    def query_now(self, slot: int, name: str, mode: str, query: str, args, timeout: float | None):
        """`run_at`, one coroutine fewer when a connection is idle: the query's own `send`
        (which gives the connection back), whose result is None (no SqlResult is made).
        For driver's own callers, which await it at once and need no result: a coroutine
        never awaited would keep its connection."""
        pool = self._pool or self.pool()
        conn = pool.take_idle()
        if conn is None:
            return self.run_at(slot, name, mode, query, args, timeout)
        return self.send(conn, slot, name, mode, query, args, timeout or pool.timeout, now_ns(), pool, False)

    def refused(self, slot: int, name: str, failure: Failure) -> SqlResult:
        """No connection: an error before anything was sent."""
        self.ctx.count(slot, ERROR_COUNTERS[failure.kind], 1)
        self.ctx.registry.check_failed(slot, failure.reason)
        return SqlResult(name, failure)

    async def send(self, conn, slot: int, name: str, mode: str, query: str, args, timeout: float,
                   start: int, release=None, want: bool = True) -> SqlResult | None:
        """Run the query on `conn` and record it (its latency from `start`); `release`: the
        pool to give `conn` back to at the end (a transaction keeps it); `want`: False, no
        SqlResult of a query that succeeded (None).

        A query with parameters, or any fetch, runs as the connection's prepared
        statement bound straight on its protocol (driver.scenario.sqlpool); a plain
        `execute` without parameters (BEGIN, several statements) as a simple query."""
        ctx = self.ctx
        rec = ctx.rec
        rec.count(slot, C_SENT, 1)
        sent = now_ns()
        pool = self._pool or self.pool()
        task = None
        try:
            stmt = None
            if pool.direct and (args or mode != "execute"):
                task = pool.current_task()
                pool.inflight[task] = sent + int(timeout * 1e9)  # pool.watch, written out
                if timeout < pool.shortest or pool.sweeper is None:
                    pool.timing(timeout)
                mine = pool.statements.get(conn)
                stmt = mine.get(query) if mine is not None else None
                if stmt is None:
                    stmt = await pool.prepare(conn, query, timeout)
            if stmt is not None:
                try:
                    data, status, _ = await conn._protocol.bind_execute(stmt._state, args, "", _LIMITS[mode], True,
                                                                        None)
                except _STALE as exc:
                    data, status = await self._stale(pool, conn, exc, mode, query, args, timeout)
                if mode == "fetchval":
                    out = data[0][0] if data else None
                elif mode == "fetchrow":
                    out = data[0] if data else None
                elif mode == "fetch":
                    out = data
                else:
                    out = status.decode()
            else:
                out = await getattr(conn, mode)(query, *args, timeout=timeout)
        except asyncio.CancelledError:
            if task is not None and task in pool.expired:  # the pool's sweeper: this query timed out
                pool.expired.discard(task)
                if task.uncancel() == 0:
                    return self._failed(slot, name, asyncio.TimeoutError(), timeout, start, sent)
            ctx.count(slot, C_UNFINISHED, 1)  # the run ended with the query in flight
            ctx.record(slot, H_LATENCY, now_ns() - start)
            raise
        except Exception as exc:
            return self._failed(slot, name, exc, timeout, start, sent)
        finally:
            if task is not None:
                del pool.inflight[task]
            if release is not None:
                release.release(conn)
        end = now_ns()
        rec.response(slot, 200, 0, end - start, end - sent)
        if not want:
            return None
        result = SqlResult(name, wait_ns=sent - start, query_ns=end - sent)
        if mode == "fetch":
            result.rows = out
        elif mode == "fetchrow":
            result.rows = [out] if out is not None else []
        elif mode == "fetchval":
            result.value = out
        else:
            result.status = out
        return result

    def _failed(self, slot: int, name: str, exc: BaseException, timeout: float, start: int, sent: int) -> SqlResult:
        ctx = self.ctx
        failure = classify_query(exc, timeout)
        end = now_ns()
        if failure.kind is None:
            ctx.rec.response(slot, failure.status, 0, end - start, end - sent)
        else:
            ctx.count(slot, ERROR_COUNTERS[failure.kind], 1)
        ctx.registry.check_failed(slot, failure.reason)
        return SqlResult(name, failure, wait_ns=sent - start, query_ns=end - sent)

    @staticmethod
    async def _stale(pool, conn, exc, mode: str, query: str, args, timeout: float):
        """A prepared statement the server (or asyncpg's type cache) says is out of date:
        as asyncpg's own Connection does, forget the connection's statements, then run the
        query once more outside a transaction (InvalidCachedStatementError: nothing ran) or
        reload the types and fail (OutdatedSchemaCacheError: it ran)."""
        import asyncpg

        pool.forget(conn)
        if isinstance(exc, asyncpg.exceptions.OutdatedSchemaCacheError):
            await conn.reload_schema_state()
            raise exc
        if conn.is_in_transaction():
            raise exc
        stmt = await pool.prepare(conn, query, timeout)
        data, status, _ = await conn._protocol.bind_execute(stmt._state, args, "", _LIMITS[mode], True, timeout)
        return data, status

    def transaction(self, name: str, isolation: str | None = None, timeout: float | None = None) -> "Transaction":
        """`async with self.db.transaction(name) as tx:` statements through `tx` in one
        transaction, committed at the end of the block (rolled back after a failed one)."""
        if isolation is not None and isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {', '.join(ISOLATIONS)}, got {isolation!r}")
        return Transaction(self, name, isolation, timeout)


class Transaction:
    """Statements on one connection between BEGIN and COMMIT (see the module docstring).

    After a failed statement the rest are skipped (their results say so; nothing is
    sent) and the block ends in a ROLLBACK; an exception in the block rolls back too
    (and goes on up). `ok`: committed."""

    def __init__(self, db: Db, name: str, isolation: str | None, timeout: float | None) -> None:
        self.db, self.name, self.isolation, self.timeout = db, name, isolation, timeout
        self.conn = None
        self.failure: Failure | None = None
        self.ok = False
        self.start = 0

    def fetch(self, query: str, *args, name: str | None = None):
        return self.run("fetch", query, args, name)

    def fetchrow(self, query: str, *args, name: str | None = None):
        return self.run("fetchrow", query, args, name)

    def fetchval(self, query: str, *args, name: str | None = None):
        return self.run("fetchval", query, args, name)

    def execute(self, query: str, *args, name: str | None = None):
        return self.run("execute", query, args, name)

    async def run(self, mode: str, query: str, args, name: str | None) -> SqlResult:
        full = f"sql:{self.name}:{name}" if name else f"{query_name(query)}"
        if self.conn is None or self.failure is not None:  # nothing sent after a failure
            return SqlResult(full, self.failure or Failure("other", "no transaction"))
        db = self.db
        result = await db.send(self.conn, db.ctx.slot(full), full, mode, query, args, self._timeout(), now_ns())
        if result.error is not None:
            self.failure = result.error
        return result

    def abort(self, reason: str) -> None:
        """End the transaction in a rollback with `reason` (nothing more is sent)."""
        self.failure = Failure(None, reason)

    def _timeout(self) -> float:
        return self.timeout or self.db.pool().timeout

    async def _control(self, what: str, command: str, start: int) -> bool:
        db = self.db
        name = f"sql:{self.name}:{what}"
        result = await db.send(self.conn, db.ctx.slot(name), name, "execute", command, (), self._timeout(), start)
        if result.error is not None:
            self.failure = result.error
        return result.ok

    async def __aenter__(self) -> "Transaction":
        db = self.db
        self.start = now_ns()
        db.ctx.count(db.ctx.slot("flow:" + self.name), C_SENT, 1)  # a transaction's sent: those begun
        pool = db.pool()
        self.conn, failure = await pool.acquire()
        if self.conn is None:
            name = f"sql:{self.name}:begin"
            self.failure = db.refused(db.ctx.slot(name), name, failure).error
            return self
        begin = "BEGIN"
        if self.isolation is not None:
            begin += " ISOLATION LEVEL " + self.isolation.replace("_", " ").upper()
        await self._control("begin", begin, self.start)
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        db = self.db
        ctx = db.ctx
        slot = ctx.slot("flow:" + self.name)

        conn, self.conn = self.conn, None
        try:
            if conn is not None and exc_type is None and self.failure is None:
                self.conn = conn
                self.ok = await self._control("commit", "COMMIT", now_ns())
                self.conn = None
            elif conn is not None and not conn.is_closed():
                try:
                    await asyncio.wait_for(conn.execute("ROLLBACK"), self._timeout())
                except asyncio.CancelledError:
                    raise
                except Exception:
                    conn.terminate()  # a connection in an unknown state is not given back as it is
        finally:
            if conn is not None:
                db.pool().release(conn)
        if self.ok:
            ctx.checks(slot, 1, ())
            ctx.count(slot, C_FLOWS, 1)
            ctx.record(slot, H_LATENCY, now_ns() - self.start)
        elif exc_type is not None and issubclass(exc_type, asyncio.CancelledError):  # the run ended
            ctx.count(slot, C_UNFINISHED, 1)
            ctx.record(slot, H_LATENCY, now_ns() - self.start)
        else:
            why = self.failure.reason if self.failure is not None else f"raised {exc_type.__name__}"
            ctx.checks(slot, 1, [f"rolled back: {why}"])
