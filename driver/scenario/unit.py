"""Scenario users as a unit kind of the engine.

A unit is one virtual user: its User instance, its session (`self.http`) and one
coroutine that lives as long as the user. A piece of work is one *iteration*: one
task picked by weight (a YAML flow is one task). The scheduler starts iterations
(closed loop: after the user's think time; open loop: on arrivals) and the user
reports each one done; the coroutine waits on a future only when it has nothing
to do, so back-to-back iterations cost no future.

`on_start` runs before a user's first iteration; if it raises, the error is counted
(endpoint `error:<Type>`) and the user runs no task: the attempt is reported as not
sent and retried after a backoff. Exceptions in tasks are counted the same way and
the user goes on with its next iteration.

Open loop: arrivals are iterations, counted on the endpoint "iteration" (started,
finished, late, dropped, and their time from the intended start).
"""
from __future__ import annotations

import asyncio
import itertools
from bisect import bisect
import math
import random

from driver._speedups import now_ns
from driver.engine.http import backoff_s
from driver.engine.unit import Unit, UnitKind
from driver.layout import C_FLOWS, C_SENT, H_LATENCY, ITERATION_ENDPOINT, ST_ITERATIONS
from driver.plan import OPEN, Plan
from driver.scenario.context import ScenarioContext
from driver.scenario.loader import check_tasks, load_user_class
from driver.scenario.session import CheckFailed, HttpSession

__all__ = ["ScenarioKind", "ScenarioUnit", "load_user_class"]

_STOP = -1  # what a waiting user is woken with when it is retired


def make_kind(plan: Plan, index: int, n_workers: int, rec, names_table, address: str,
              ring=None) -> UnitKind:
    """The unit kind of a scenario plan: YAML tasks that are single requests with a status
    check run on callbacks (driver.scenario.steps), everything else as coroutines."""
    from driver.scenario import steps

    cls = load_user_class(plan.scenario)
    prepared = getattr(cls, "driver_steps", None)
    if prepared and ring is None and steps.fits(plan.scenario, [s for s, _ in prepared]):
        return steps.StepKind(plan, index, n_workers, rec, names_table, address, cls, [s for s, _ in prepared],
                              [w for _, w in prepared], user_pool(plan, index, n_workers))
    return ScenarioKind(plan, index, n_workers, rec, names_table, address, ring)


def user_pool(plan: Plan, index: int, n_workers: int):
    """This worker's synthetic users: as many as the peak of units (or the pool's size)."""
    from driver.payloads.users import UserPool

    peak = int(math.ceil(plan.shape.peak)) if plan.mode != OPEN else plan.max_in_flight
    size = plan.user_pool.size or max(1, peak)
    return UserPool(plan.user_pool, index, n_workers, size)


class ScenarioKind(UnitKind):
    def __init__(self, plan: Plan, index: int, n_workers: int, rec, names_table, address: str, ring=None):
        self.plan = plan
        self.index = index
        self.n_workers = n_workers
        self.rec = rec
        self.context = ScenarioContext(plan, index, n_workers, rec, names_table, address, ring)
        self.loop = self.context.loop
        self.user_cls = load_user_class(plan.scenario)
        tasks = check_tasks(self.user_cls)
        self.task_names = [t for t, _ in tasks]
        self.task_cum_weights = list(itertools.accumulate(w for _, w in tasks))
        wait = self.user_cls.wait
        self.pauses = not (wait.kind == "constant" and wait.a <= 0)
        self.open_loop = plan.mode == OPEN
        self.arrival_slot = self.context.slot(ITERATION_ENDPOINT) if self.open_loop else 0
        self.n_users = 0
        self.pool = self._user_pool()
        self.tasks: set[asyncio.Task] = set()

    def _user_pool(self):
        return user_pool(self.plan, self.index, self.n_workers)

    def new_unit(self, sched) -> "ScenarioUnit":
        if self.n_users == 0 and sched.end_ns < 1 << 62:
            self.context.end_s = self.loop.time() + (sched.end_ns - now_ns()) / 1e9
        n = self.n_users
        self.n_users += 1
        identity = self.pool.user(n % len(self.pool))
        session = HttpSession(self.context)
        rng = random.Random(hash((self.plan.user_pool.seed, self.index, n)))
        picks = random.Random(n * 7919 + self.index)
        return ScenarioUnit(self, sched, self.user_cls(session, identity, rng), session, picks)

    def spawn(self, coro) -> asyncio.Task:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def arrival_started(self, intended_ns: int) -> None:
        self.rec.count(self.arrival_slot, C_SENT, 1)

    def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()


class ScenarioUnit(Unit):
    __slots__ = ("kind", "user", "session", "picks", "task", "pending", "wake", "started_ns", "ready", "fails", "raised",
                 "methods")

    def __init__(self, kind: ScenarioKind, sched, user, session: HttpSession, picks: random.Random):
        super().__init__(sched)
        self.kind = kind
        self.user = user
        self.session = session
        self.picks = picks
        self.task = None
        self.pending = None  # the intended start of the next iteration, when it came while busy
        self.wake = None  # a future the user waits on when it has nothing to do
        self.started_ns = 0
        self.ready = False  # on_start ran without raising
        self.fails = 0  # on_start failures in a row
        self.raised = 0  # iterations in a row whose task raised (user code failing)
        self.methods = None  # the user's task methods, bound on the first iteration

    @property
    def connections(self) -> int:
        conn = self.session.conn
        n = 1 if conn is not None and conn.alive else 0
        ws = self.session.ws
        return n + (sum(c.open for c in ws.connections) if ws is not None else 0)

    # -- the scheduler's calls
    def start(self, intended_ns: int) -> None:
        self.busy = True
        wake = self.wake
        if wake is not None:
            self.wake = None
            wake.set_result(intended_ns)
        else:
            self.pending = intended_ns
            if self.task is None:
                self.task = self.kind.spawn(self._live())

    def pause_s(self) -> float:
        if not self.ready:
            return backoff_s(self.fails)
        return self.user.wait.pause((now_ns() - self.started_ns) / 1e9, self.user.rng.random)

    def retire(self) -> None:
        self.retired = True
        wake = self.wake
        if wake is not None and not wake.done():
            self.wake = None
            wake.set_result(_STOP)

    def sweep(self, now: int, limit_ns: int) -> None:
        self.session.sweep(now, limit_ns)

    def abandon(self, now: int) -> None:
        self.retired = True
        self.busy = False
        self.session.abandon(now)
        if self.task is not None:
            self.task.cancel()

    # -- the user's coroutine
    async def _live(self) -> None:
        kind, sched, user, rec = self.kind, self.sched, self.user, self.kind.rec
        try:
            while not self.retired:
                intended = self.pending
                if intended is None:
                    self.wake = kind.loop.create_future()
                    intended = await self.wake
                    if intended == _STOP:
                        break
                self.pending = None
                if not self.ready:
                    self.ready = await self._hook("on_start")
                    if not self.ready:
                        self.fails += 1
                        self.busy = False
                        sched.done(self, now_ns(), sent=False)
                        continue
                    self.fails = 0
                    sched.warmed(self)
                # one iteration, written out here (a coroutine of its own per iteration cost
                # about 2 % of a PostgreSQL query's client CPU: benchmarks/run_pg.py)
                self.started_ns = started = now_ns()
                user.iteration_start_ns = intended or started
                methods = self.methods
                if methods is None:  # bound once per user
                    methods = self.methods = [getattr(user, name) for name in kind.task_names]
                # random.choices' own algorithm (the same draws for a seeded generator), written out
                if len(methods) == 1:
                    task = methods[0]
                else:
                    cum = kind.task_cum_weights
                    task = methods[bisect(cum, self.picks.random() * cum[-1], 0, len(cum) - 1)]
                try:
                    await task()
                    self.raised = 0
                except CheckFailed:
                    self.raised = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # user code failed: count it and go on (after a backoff)
                    self.raised += 1
                    kind.context.user_error(exc)
                rec.add_status(ST_ITERATIONS, 1)
                if kind.open_loop:
                    rec.count(kind.arrival_slot, C_FLOWS, 1)
                    rec.record(kind.arrival_slot, H_LATENCY, now_ns() - intended)
                if self.raised and not kind.open_loop:
                    # a task that raises backs off as a failed connect does: one that fails
                    # before its first await would otherwise spin, and its worker's loop with it
                    await asyncio.sleep(backoff_s(self.raised))
                self.busy = False
                sched.done(self, now_ns())
            if self.ready:
                await self._hook("on_stop")
        finally:
            self.session.close()

    async def _hook(self, name: str) -> bool:
        try:
            await getattr(self.user, name)()
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.kind.context.user_error(exc)
            return False
