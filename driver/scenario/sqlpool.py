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
"""
from __future__ import annotations

import asyncio
from collections import deque

from driver.scenario.sqlerrors import Failure, classify_connect

__all__ = ["DbPool"]

_EXPIRED = object()  # what a waiter's future gets when its pool_timeout passed


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
