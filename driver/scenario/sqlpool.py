"""One worker's pool of PostgreSQL connections (asyncpg), shared by its virtual users.

At most `size` connections, opened as they are first needed and kept open. A query
takes an idle one (no await: the common case costs a list pop; one whose server went
away leaves the pool then), or opens one while there is room, or waits in line for one
to be given back, at most `pool_timeout` seconds: then the pool was exhausted. A connection given back goes straight to the
first in line. A closed one (its server died, or it was terminated) leaves the pool
and frees its place: the next in line opens a new one.

Not asyncpg's Pool: that one runs a reset query on every release (a round trip per
query) and wraps each connection in a proxy and each acquire in a timeout; a load
generator pays for them on every query.

Prepared statements (`prepare`, the default): each connection prepares a query once
(`Connection.prepare`) and keeps its statement in `statements` (at most
STATEMENTS_PER_CONNECTION per connection; past that a query goes through asyncpg's own
statement cache). driver.scenario.db then binds and runs it on the connection's protocol
directly: asyncpg's Connection.fetch and PreparedStatement.fetch wrap that one call in
three or four coroutine layers and a statement-cache lookup, about a tenth of a query's
client CPU (benchmarks/run_pg.py). Where asyncpg's internals are not as expected
(`direct_protocol()`), the public API is used instead.

A query on the direct path is timed by the pool's sweeper, not by a timer of its own:
`watch` notes the query's task and deadline, and a task of the pool's, waking every
`tick` (a twentieth of the shortest timeout seen, between 5 and 100 ms), cancels the
queries past their deadline (asyncpg then cancels the query on the server, as after
its own timeout) and marks them `expired`: driver.scenario.db counts those as timeouts.
A timer per query (asyncpg's) costs 5-7 % of a query's client CPU.
"""
from __future__ import annotations

import asyncio
from collections import deque

from driver._speedups import now_ns
from driver.scenario.sqlerrors import Failure, classify_connect

__all__ = ["DbPool", "direct_protocol", "STATEMENTS_PER_CONNECTION"]

STATEMENTS_PER_CONNECTION = 100  # asyncpg's own statement_cache_size default

_EXPIRED = object()  # what a waiter's future gets when its pool_timeout passed


def direct_protocol() -> bool:
    """Whether this asyncpg has the internals the direct path uses (a Connection's
    `_protocol.bind_execute(state, args, portal, limit, return_extra, timeout)` and a
    PreparedStatement's `_state`; asyncpg 0.29 to 0.32 do)."""
    try:
        from asyncpg.prepared_stmt import PreparedStatement
        from asyncpg.protocol.protocol import Protocol
    except ImportError:
        return False
    return hasattr(Protocol, "bind_execute") and "_state" in getattr(PreparedStatement, "__slots__", ("_state",))


def _current_task_of(loop):
    """asyncio.current_task for `loop`, without its Python-level wrapper where there is one
    (Python 3.11's asyncio.current_task is Python: get_running_loop and a dict lookup, a
    twentieth of a query's client CPU here)."""
    import _asyncio
    import functools

    tasks = getattr(_asyncio, "_current_tasks", None)
    if isinstance(tasks, dict):
        return functools.partial(tasks.get, loop)
    return asyncio.current_task


def _tick(timeout: float) -> float:
    return min(0.1, max(0.005, timeout / 20))


def _expire(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(_EXPIRED)


class DbPool:
    def __init__(self, settings, plan) -> None:
        self.settings = settings
        self.max = settings.pool
        self.pool_timeout = settings.pool_timeout or plan.request_timeout_s
        self.timeout = settings.timeout or plan.request_timeout_s  # a query's (driver.scenario.db)
        self.connect_timeout = settings.connect_timeout or plan.connect_timeout_s
        self.server = {"statement_timeout": str(settings.statement_timeout_ms)} if settings.statement_timeout_ms \
            else None
        self.idle: list = []
        self.size = 0  # connections open or being opened
        self.waiters: deque = deque()
        self.loop = asyncio.get_running_loop()
        self.direct = settings.prepare and direct_protocol()
        self.statements: dict = {}  # connection -> {query: PreparedStatement} (the direct path's)
        self.inflight: dict = {}  # task -> deadline (now_ns) of the query it awaits (the direct path's)
        self.expired: set = set()  # tasks the sweeper cancelled: their query timed out
        self.tick = _tick(self.timeout)
        self.shortest = self.timeout
        self.sweeper: asyncio.Task | None = None
        self.current_task = _current_task_of(self.loop)

    @property
    def busy(self) -> int:
        """Connections given out (or being opened)."""
        return self.size - len(self.idle)

    async def acquire(self):
        """(connection, None), or (None, Failure) when there is none: nothing was sent."""
        deadline = None
        while True:
            conn = self.take_idle()
            if conn is not None:
                return conn, None
            if self.size < self.max:
                return await self._open()
            if deadline is None:
                deadline = self.loop.time() + self.pool_timeout
            left = deadline - self.loop.time()
            if left <= 0:
                return None, self._exhausted()
            fut = self.loop.create_future()
            self.waiters.append(fut)
            timer = self.loop.call_later(left, _expire, fut)
            try:
                conn = await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled() and fut.result() not in (None, _EXPIRED):
                    self.release(fut.result())  # handed over just as the caller was cancelled
                elif fut.done() and fut.result() is None:
                    self._hand_over(None)  # pass the free place on
                raise
            finally:
                timer.cancel()
            if conn is _EXPIRED:
                return None, self._exhausted()
            if conn is not None:
                return conn, None
            # None: a connection left the pool; its place is this caller's (loop: open one)

    def take_idle(self):
        """An idle connection that is still open (one whose server went away leaves the
        pool here: the query that would have used it is not sent on a dead connection)."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.is_closed():
                return conn
            self.statements.pop(conn, None)
            self.size -= 1
        return None

    def _exhausted(self) -> Failure:
        return classify_connect(asyncio.TimeoutError(), self.pool_timeout, True)

    async def _open(self):
        import asyncpg

        self.size += 1
        try:
            conn = await asyncpg.connect(self.settings.dsn, timeout=self.connect_timeout, server_settings=self.server,
                                         statement_cache_size=100 if self.settings.prepare else 0)
        except asyncio.CancelledError:
            self._closed()
            raise
        except Exception as exc:
            self._closed()
            return None, classify_connect(exc, self.connect_timeout, False)
        return conn, None

    def release(self, conn) -> None:
        """Give a connection back (a closed one leaves the pool; one left in a
        transaction is rolled back first)."""
        if conn.is_closed():
            self.statements.pop(conn, None)
            self._closed()
        elif conn.is_in_transaction():
            self.loop.create_task(self._rollback(conn))
        else:
            self._hand_over(conn)

    async def _rollback(self, conn) -> None:
        try:
            await asyncio.wait_for(conn.execute("ROLLBACK"), self.timeout)
        except Exception:
            conn.terminate()
        self.release(conn)

    async def prepare(self, conn, query: str, timeout: float):
        """`query`'s statement on `conn` (prepared now if it is new to it), or None: this
        connection holds STATEMENTS_PER_CONNECTION already (the caller takes the public path)."""
        mine = self.statements.get(conn)
        if mine is None:
            mine = self.statements[conn] = {}
        stmt = mine.get(query)
        if stmt is None:
            if len(mine) >= STATEMENTS_PER_CONNECTION:
                return None
            stmt = mine[query] = await conn.prepare(query, timeout=timeout)
        return stmt

    def watch(self, task, timeout: float) -> None:
        """Time `task`'s query out after `timeout` seconds (the sweeper's, started here on first use)."""
        self.inflight[task] = now_ns() + int(timeout * 1e9)
        self.timing(timeout)

    def timing(self, timeout: float) -> None:
        """A query with `timeout` is watched: the tick follows the shortest timeout, and the
        sweeper starts with the first query (what `watch` does besides noting the deadline)."""
        if timeout < self.shortest:
            self.shortest, self.tick = timeout, _tick(timeout)
        if self.sweeper is None:
            self.sweeper = self.loop.create_task(self._sweep())

    async def _sweep(self) -> None:
        expired, inflight = self.expired, self.inflight
        while True:
            await asyncio.sleep(self.tick)
            now = now_ns()
            for task, deadline in inflight.items():
                if deadline <= now and task not in expired:
                    expired.add(task)
                    task.cancel()  # inflight changes when the task next runs, not now

    def forget(self, conn) -> None:
        """Drop `conn`'s statements (the server says their plans changed)."""
        self.statements.pop(conn, None)

    def _closed(self) -> None:
        self.size -= 1
        self._hand_over(None)

    def _hand_over(self, conn) -> None:
        """To the first still waiting, else idle (None: a free place, for a waiter to fill)."""
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        if conn is not None:
            self.idle.append(conn)
