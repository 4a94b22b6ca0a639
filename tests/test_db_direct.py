"""The direct path of driver.scenario.db against the tests' PostgreSQL: each connection's
prepared statements bound on asyncpg's protocol, timed out by the pool's sweeper (not a
timer per query), re-prepared when the server says their plan changed, and capped per
connection."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from driver.scenario.db import DbSettings
from driver.scenario.sqlpool import STATEMENTS_PER_CONNECTION, DbPool, direct_protocol
from tests.dbrun import CLEAN, accounted, config, endpoint, reasons, run

DONE = (*CLEAN, 1)  # 1: the run had errors, as it should here
PLAN = SimpleNamespace(request_timeout_s=5.0, connect_timeout_s=5.0)


def test_the_installed_asyncpg_takes_the_direct_path(pg):
    # if asyncpg's internals moved, every query would quietly go the slower public way
    assert direct_protocol()

    async def go():
        pool = DbPool(DbSettings(pg.dsn, pool=1), PLAN)
        assert pool.direct
        assert pool.current_task() is asyncio.current_task() is not None  # the sweeper cancels the right task
        assert not DbPool(DbSettings(pg.dsn, pool=1, prepare=False), PLAN).direct

    asyncio.run(go())


def test_a_timed_out_query_is_cancelled_counted_and_its_connection_serves_on(tmp_path, pg):
    tasks = """    - name: nap
      sql:
        db: DB
        query: "SELECT pg_sleep($1::int)"
        params: [2]
        fetch: value
        timeout: 100ms
    - name: quick
      sql: {db: DB, query: "SELECT $1::int + 1", params: [41], fetch: value}
"""
    cfg = config(tmp_path, pg, tasks, db="pool: 2")
    proc, data = run(tmp_path, "-c", str(cfg), "-u", "4", "-w", "1", "-d", "2s")
    assert proc.returncode in DONE, proc.stderr.decode()
    nap, quick = endpoint(data, "sql:nap"), endpoint(data, "sql:quick")
    timeouts = nap["errors_by_kind"]["request_timeout"]
    assert timeouts > 0 and nap["count"] == 0 and accounted(nap)
    assert reasons(data, "sql:nap") == {"query timeout after 0.1s": timeouts}
    # 4 users in 2 s: none timed out before its 100 ms (at most 80 could), and each well
    # before the 2 s the server would have slept (then there could be at most 4)
    assert 8 < timeouts <= 4 * 2.0 / 0.1
    # the connections the cancelled queries held went on to serve the quick ones
    assert quick["count"] > 0 and quick["errors"] == 0 and quick["http_errors"] == 0 and accounted(quick)


def test_a_query_in_flight_at_the_end_is_unfinished_not_a_timeout(tmp_path, pg):
    tasks = """    - name: forever
      sql: {db: DB, query: "SELECT pg_sleep($1::int)", params: [30], fetch: value}
"""
    proc, data = run(tmp_path, "-c", str(config(tmp_path, pg, tasks)), "-u", "2", "-w", "1", "-d", "1s")
    assert proc.returncode in DONE, proc.stderr.decode()
    ep = endpoint(data, "sql:forever")
    assert ep["sent"] == ep["errors_by_kind"]["unfinished"] == 2
    assert ep["count"] == 0 and ep["errors_by_kind"]["request_timeout"] == 0


STALE = '''
import itertools

from driver.scenario import User, task
from driver.scenario.db import DbSettings

COLUMNS = itertools.count()


class Stale(User):
    db_settings = DbSettings(DSN, pool=1)

    @task
    async def grow(self):
        before = await self.db.fetchrow("SELECT * FROM stale WHERE id = $1", 1, name="before")
        await self.db.execute(f"ALTER TABLE stale ADD COLUMN c{next(COLUMNS)} int", name="alter")
        after = await self.db.fetchrow("SELECT * FROM stale WHERE id = $1", 1, name="after")
        if not (before.ok and after.ok and len(after.row) == len(before.row) + 1):
            raise AssertionError(f"{before} {after}")
'''


def test_a_statement_whose_result_type_changed_is_prepared_again(tmp_path, pg):
    # PostgreSQL refuses a prepared statement whose columns changed ("cached plan must not
    # change result type"); asyncpg's Connection prepares it again once, and so does driver
    pg.sql("DROP TABLE IF EXISTS stale")
    pg.sql("CREATE TABLE stale (id int primary key)")
    pg.sql("INSERT INTO stale VALUES (1)")
    scenario = tmp_path / "stale.py"
    scenario.write_text(STALE.replace("DSN", repr(pg.dsn)))
    try:
        proc, data = run(tmp_path, "-s", str(scenario), "-u", "1", "-w", "1", "-d", "1s",
                         f"http://127.0.0.1:{pg.port}")
    finally:
        columns = pg.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'stale'",
                         fetch="value")
        pg.sql("DROP TABLE stale")
    assert proc.returncode in CLEAN, proc.stderr.decode()
    assert data["checks"] == []  # no failed query, and the task never raised
    after = endpoint(data, "sql:after")
    assert after["count"] == endpoint(data, "sql:alter")["count"] == columns - 1 > 1
    assert endpoint(data, "sql:before")["count"] >= after["count"]


def test_statements_per_connection_are_capped(pg):
    async def go():
        pool = DbPool(DbSettings(pg.dsn, pool=1), PLAN)
        conn, _ = await pool.acquire()
        try:
            for i in range(STATEMENTS_PER_CONNECTION):
                assert await pool.prepare(conn, f"SELECT $1::int + {i}", 5) is not None
            again = await pool.prepare(conn, "SELECT $1::int + 0", 5)  # one it holds: still given
            assert again is pool.statements[conn]["SELECT $1::int + 0"]
            assert await pool.prepare(conn, "SELECT $1::int - 1", 5) is None  # a new one past the cap
            assert len(pool.statements[conn]) == STATEMENTS_PER_CONNECTION
            await conn.close()
            pool.release(conn)  # a closed connection leaves the pool with its statements
            assert pool.statements == {} and pool.size == 0
        finally:
            if not conn.is_closed():
                await conn.close()

    asyncio.run(go())


def test_the_sweeper_cancels_only_queries_past_their_deadline(pg):
    async def go():
        pool = DbPool(DbSettings(pg.dsn, pool=1), PLAN)

        async def query(seconds: float, timeout: float) -> str:
            task = asyncio.current_task()
            pool.watch(task, timeout)
            try:
                await asyncio.sleep(seconds)
                return "answered"
            except asyncio.CancelledError:
                assert task in pool.expired
                pool.expired.discard(task)
                assert task.uncancel() == 0
                return "timed out"
            finally:
                del pool.inflight[task]

        got = await asyncio.gather(query(0.01, 5), query(5, 0.05), query(0.02, 5))
        assert got == ["answered", "timed out", "answered"]
        assert pool.tick == 0.005  # a twentieth of the shortest timeout seen, at least 5 ms
        assert pool.inflight == {} and pool.expired == set()
        pool.sweeper.cancel()

    asyncio.run(go())
