"""A YAML `sql:` task at run time (driver.config.sql writes it, driver.scenario.db runs it).

Its parameters are templates compiled once ("{{user.id}}" renders as the user's int
id, "{{captured.order_id}}" as what an earlier query captured) and rendered per
query; a capture takes a column of the first row into `user.captured`. A transaction
runs its statements in order on one connection and stops at the first that fails
(the transaction rolls back); a capture that finds nothing is a failed check of its
statement's endpoint and ends the task as well.
"""
from __future__ import annotations

from functools import partial

from driver.scenario.db import Db, DbSettings


def _compile(obj):
    from driver.payloads.templates import compile_template

    return compile_template(list(obj))


class _Statement:
    def __init__(self, st: dict):
        self.name = st["name"]
        self.mode = st["mode"]
        self.query = st["query"]
        params = _compile(st["params"])
        self.const = tuple(params.render()) if params.is_static else None
        self.params = params
        self.capture = dict(st["capture"])

    def args(self, user) -> tuple:
        if self.const is not None:
            return self.const
        return tuple(self.params.render(user.user, user.captured, user.rng))

    def take(self, user, result, ctx) -> bool:
        """Capture columns of the first row; False (a failed check) when one is missing."""
        if not self.capture or not result.ok:
            return result.ok
        row = result.row
        missing = []
        for var, column in self.capture.items():
            try:
                user.captured[var] = row[column]
            except (KeyError, IndexError, TypeError):
                missing.append(f"capture {var}: " + ("no rows" if row is None else f"no column {column}"))
        ctx.checks(ctx.slot(result.name), len(self.capture), missing)
        return not missing


class SqlTask:
    """One `sql:` task, compiled (see the module docstring)."""

    def __init__(self, task: dict):
        spec = task["sql"]
        self.name = spec["name"]
        self.settings = DbSettings(**spec["db"])
        self.statements = [_Statement(st) for st in spec["statements"]]
        self.transaction = spec["transaction"]
        self.isolation = spec["isolation"]
        self.timeout = spec["timeout"]
        self.endpoint = "sql:" + self.name
        self.slot = None
        self.single = not self.transaction and not self.statements[0].capture  # run() without a coroutine of its own

    def db(self, user) -> Db:
        """The user's Db for this task (keyed by the task itself: no hash of the settings
        per query; the pool under it is shared per settings by the worker, driver.scenario.sqlpool)."""
        dbs = user.__dict__.get("_sql_dbs")
        if dbs is None:
            dbs = user._sql_dbs = {}
        db = dbs.get(self)
        if db is None:
            db = dbs[self] = Db(user, self.settings)
        return db

    def run(self, user):
        """The task's awaitable: a single statement without captures is the query's own
        coroutine (driver.scenario.db.Db.query_now), the rest `_run`."""
        if not self.single:
            return self._run(user)
        dbs = user.__dict__.get("_sql_dbs")
        db = dbs.get(self) if dbs is not None else None
        if db is None:
            db = self.db(user)
        st = self.statements[0]
        if self.slot is None:  # the endpoint's slot in this worker, looked up once
            self.slot = db.ctx.slot(self.endpoint)
        args = st.args(user)  # before a connection is taken: a template that raises keeps none
        return db.query_now(self.slot, self.endpoint, st.mode, st.query, args, self.timeout)

    async def _run(self, user) -> bool:
        db = self.db(user)
        if not self.transaction:
            st = self.statements[0]
            if self.slot is None:
                self.slot = db.ctx.slot(self.endpoint)
            result = await db.run_at(self.slot, self.endpoint, st.mode, st.query, st.args(user), self.timeout)
            return st.take(user, result, db.ctx)
        async with db.transaction(self.name, self.isolation, self.timeout) as tx:
            for st in self.statements:
                result = await tx.run(st.mode, st.query, st.args(user), st.name)
                if not st.take(user, result, db.ctx):
                    if tx.failure is None:
                        tx.abort(f"capture in {st.name} found nothing")
                    break
        return tx.ok


class _SqlMethod:
    """A `sql:` task as a User method: on a user, `SqlTask.run` bound to it (a C partial,
    no Python frame of its own per query); on the class, itself (its weight, and that it
    returns a coroutine, for driver.scenario.api and driver.scenario.loader)."""

    driver_coroutine = True

    def __init__(self, compiled: SqlTask, weight: float) -> None:
        self.compiled = compiled
        self.driver_task_weight = weight

    def __get__(self, user, owner=None):
        return self if user is None else partial(self.compiled.run, user)

    def __call__(self, user):
        return self.compiled.run(user)


def sql_method(task: dict, weight: float):
    """The User method of a `sql:` task (driver.scenario.yamltasks)."""
    return _SqlMethod(SqlTask(task), float(weight))
