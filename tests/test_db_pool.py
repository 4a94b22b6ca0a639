"""driver.scenario.sqlpool against the tests' PostgreSQL: a line of waiters, hand-over,
pool_timeout, a caller cancelled in line, a connection that dies."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from driver.scenario.db import DbSettings
from driver.scenario.sqlpool import DbPool

PLAN = SimpleNamespace(request_timeout_s=5.0, connect_timeout_s=5.0)


def test_a_connection_given_back_goes_to_the_first_in_line(pg):
    async def go():
        pool = DbPool(DbSettings(pg.dsn, pool=1, pool_timeout=5), PLAN)
        first, failure = await pool.acquire()
        assert failure is None and pool.size == 1 and pool.busy == 1
        order = []

        async def wait(tag):
            conn, _ = await pool.acquire()
            order.append((tag, conn is first))
            pool.release(conn)

        waiters = [asyncio.create_task(wait(i)) for i in range(3)]
        await asyncio.sleep(0.05)
        assert order == [] and len(pool.waiters) == 3
        pool.release(first)
        await asyncio.gather(*waiters)
        assert order == [(0, True), (1, True), (2, True)] and pool.size == 1 and pool.idle == [first]
        await first.close()

    asyncio.run(go())


def test_pool_timeout_is_exhausted_and_a_cancelled_waiter_loses_nothing(pg):
    async def go():
        pool = DbPool(DbSettings(pg.dsn, pool=1, pool_timeout=0.05), PLAN)
        held, _ = await pool.acquire()
        conn, failure = await pool.acquire()
        assert conn is None and (failure.kind, failure.reason) == (
            "connect_timeout", "pool exhausted: no free connection within 0.05s")
        pool.pool_timeout = 5
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.01)
        pool.release(held)  # handed to the waiter...
        waiter.cancel()  # ...which is cancelled before it runs again: the connection comes back
        await asyncio.gather(waiter, return_exceptions=True)
        assert pool.idle == [held] and pool.size == 1
        await held.close()

    asyncio.run(go())


def test_a_dead_connection_frees_its_place(pg):
    async def go():
        pool = DbPool(DbSettings(pg.dsn, pool=1, pool_timeout=5), PLAN)
        conn, _ = await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.01)
        conn.terminate()
        pool.release(conn)  # closed: it leaves, and the waiter opens a new one in its place
        fresh, failure = await waiter
        assert failure is None and fresh is not conn and not fresh.is_closed() and pool.size == 1
        await fresh.execute("BEGIN")
        pool.release(fresh)  # left in a transaction: rolled back before anyone gets it
        for _ in range(100):
            if pool.idle:
                break
            await asyncio.sleep(0.01)
        assert pool.idle == [fresh] and not fresh.is_in_transaction()
        fresh.terminate()  # dies while idle: not given to the next query
        assert pool.take_idle() is None and pool.size == 0 and pool.idle == []

    asyncio.run(go())


def test_connect_failures_are_counted_and_free_the_place(pg_own):
    pg_own.stop()

    async def go():
        pool = DbPool(DbSettings(pg_own.dsn, pool=2), PLAN)
        conn, failure = await pool.acquire()
        assert conn is None and (failure.kind, failure.reason) == ("connect_refused", "connection refused")
        assert pool.size == 0

    asyncio.run(go())
