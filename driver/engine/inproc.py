"""In-process load as a unit kind: each unit calls a Python callable in its worker.

A unit is one virtual user of a Python component (a conversation manager, a rate
limiter, a cache); its piece of work is one call. The call is an `async def` function
(awaited in a task of its own), or a plain function: run inline on the worker's event
loop by default — nothing else on that loop moves while it runs, so a call that takes
1 ms caps the worker at 1,000 calls/s and a blocking one stalls every unit (the
worker's watchdog then says where it is blocked) — or in a thread pool when the spec
asks (`thread`: the loop stays free, the call pays a thread hand-off of tens of µs,
and a call past its timeout is counted but cannot be stopped).

A callable that takes a positional parameter gets the unit's `Call`: `user` (an id
unique across workers), `n` (the unit's call number from 0), `worker`, `component`
(what the setup hook returned), `name` (the endpoint) and `state` (a dict the unit
keeps between its calls).

What is counted, per endpoint, as HTTP counts responses: every call `sent`; its outcome
(driver.engine.callables.Classifier) as a response — ok as 2xx; rejected (an expected
refusal: a limit held) as 4xx counted `throttled`, apart from errors; error as 5xx,
with its kind and reason (`ClassName: message`) in the failed-checks table; every call
is one check (`checks`), an error one failed check. Latency is from the intended start
in open loop (H_SERVICE from the actual start), from the call in closed loop. A call
still running after the request timeout is cancelled and counted `request_timeout`; one
running when the run ends is `unfinished`, with its age as its latency.

Workers: each worker process holds its own instance of the component (its own
module globals, its own setup), so a limit of 20 is 20 per worker. The plan defaults
to one worker for in-process targets (driver.planning), so that shared state is honest.
"""
from __future__ import annotations

import asyncio
import inspect
import random
from concurrent.futures import ThreadPoolExecutor

from driver._speedups import now_ns
from driver.engine.callables import ERROR, OK, REJECTED, Callables, Classifier, takes_argument
from driver.engine.unit import Unit, UnitKind
from driver.layout import (
    C_CHECK_FAILED,
    C_CHECKS,
    C_ERR_REQUEST_TIMEOUT,
    C_SENT,
    C_THROTTLED,
    C_UNFINISHED,
    H_LATENCY,
)
from driver.plan import OPEN, Plan

STATUS = {OK: 200, REJECTED: 429, ERROR: 500}  # the response class each outcome counts in
CALL_ERRORS = (Exception, SystemExit)  # a component's sys.exit() is an error of its call, not the worker's end
MAX_THREADS = 256  # thread mode: the pool never grows past this (nor past the units)


class Target:
    """One callable of the load: where it records, how it is called, its share of calls."""

    __slots__ = ("name", "slot", "func", "is_async", "with_ctx", "weight")

    def __init__(self, name: str, slot: int, func, weight: float = 1.0):
        self.name = name
        self.slot = slot
        self.func = func
        self.is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None))
        self.with_ctx = takes_argument(func)
        self.weight = float(weight)


class Call:
    """What a call gets: which user, which of its calls, the worker's component."""

    __slots__ = ("user", "n", "worker", "component", "name", "state")

    def __init__(self, user: int, worker: int, component):
        self.user = user
        self.n = -1
        self.worker = worker
        self.component = component
        self.name = ""
        self.state: dict = {}

    def __repr__(self) -> str:
        return f"Call(user={self.user}, n={self.n}, name={self.name!r})"


async def call_hook(func, *args):
    """A setup/teardown hook, sync or async: given `args` only when it takes them."""
    value = func(*args) if args and takes_argument(func) else func()
    if inspect.isawaitable(value):
        value = await value
    return value


async def open_kind(plan: Plan, rec, registry, index: int = 0, n_workers: int = 1) -> "InprocKind":
    """The worker's kind for `plan.inproc`: its callables imported, its setup run (before
    the load is timed: what setup returns is every call's `component`)."""
    spec = plan.inproc
    fns = Callables(spec)
    component = await call_hook(fns.setup) if fns.setup is not None else None
    return InprocKind(plan, rec, [Target(spec.name, registry.slot(spec.name), fns.call)],
                      Classifier(spec.rejected, fns.rejected_when, fns.classify), registry,
                      component=component, teardown=fns.teardown, index=index, n_workers=n_workers,
                      thread=spec.thread)


class InprocKind(UnitKind):
    """Per worker: the callables (one, or a weighted mix, each its own endpoint), the rule
    that classifies outcomes, the component from setup, and the thread pool when asked."""

    def __init__(self, plan: Plan, rec, targets: list[Target], classifier: Classifier, registry, *,
                 component=None, teardown=None, index: int = 0, n_workers: int = 1, thread: bool = False):
        if not targets:
            raise ValueError("an in-process load needs at least one callable")
        self.plan = plan
        self.rec = rec
        self.registry = registry
        self.targets = targets
        self.classifier = classifier
        self.component = component
        self.teardown_hook = teardown
        self.index = index
        self.n_workers = n_workers
        self.made = 0  # units made by this worker
        self.last_end_ns = 0  # when the last call ended (or was timed out or abandoned)
        self.loop = asyncio.get_running_loop()
        self.open_loop = plan.mode == OPEN
        self.think_s = plan.think_s
        self.pauses = plan.think_s > 0
        self.arrival_slot = targets[0].slot
        total = sum(t.weight for t in targets)
        self.cumulative = []
        acc = 0.0
        for t in targets:
            acc += t.weight / total
            self.cumulative.append(acc)
        self.executor = None
        if thread:
            peak = plan.max_in_flight if self.open_loop else int(plan.shape.peak)
            self.executor = ThreadPoolExecutor(max(1, min(MAX_THREADS, peak)), thread_name_prefix="driver-call")

    def new_unit(self, sched) -> "InprocUnit":
        user = self.index + self.made * self.n_workers
        self.made += 1
        return InprocUnit(self, sched, Call(user, self.index, self.component))

    def pick(self, rng: random.Random) -> Target:
        if len(self.targets) == 1:
            return self.targets[0]
        x = rng.random()
        for target, edge in zip(self.targets, self.cumulative):
            if x < edge:
                return target
        return self.targets[-1]

    def record(self, target: Target, outcome: str, reason, intended: int, started: int, end: int) -> None:
        rec, slot = self.rec, target.slot
        self.last_end_ns = end
        service = end - started if self.open_loop else -1
        rec.response(slot, STATUS[outcome], 0, end - (intended if self.open_loop else started), service)
        rec.count(slot, C_CHECKS, 1)
        if outcome is REJECTED:
            rec.count(slot, C_THROTTLED, 1)
        elif outcome is ERROR:
            rec.count(slot, C_CHECK_FAILED, 1)
            self.registry.check_failed(slot, reason or "error")

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)

    async def teardown(self) -> None:
        """The teardown hook, once, after the load (given the component when it takes one)."""
        hook, self.teardown_hook = self.teardown_hook, None
        if hook is not None:
            await call_hook(hook, self.component)


class InprocUnit(Unit):
    """One virtual user: one call in flight at most; `gen` tells a call that ended after
    its timeout (or the run) from the one in flight, so it is never counted twice."""

    __slots__ = ("kind", "ctx", "rng", "gen", "task", "target", "intended_ns", "started_ns")

    def __init__(self, kind: InprocKind, sched, ctx: Call):
        super().__init__(sched)
        self.kind = kind
        self.ctx = ctx
        self.rng = random.Random(ctx.user) if len(kind.targets) > 1 else None
        self.gen = 0  # the call in flight; bumped when it is timed out or abandoned
        self.task = None
        self.target = kind.targets[0]
        self.intended_ns = 0
        self.started_ns = 0

    def start(self, intended_ns: int) -> None:
        kind = self.kind
        self.busy = True
        self.gen += 1
        target = self.target = kind.pick(self.rng) if self.rng is not None else kind.targets[0]
        ctx = self.ctx
        ctx.n += 1
        ctx.name = target.name
        self.intended_ns = intended_ns
        self.started_ns = now_ns()  # the call is due now (its task or turn may come a little later)
        kind.rec.count(target.slot, C_SENT, 1)
        if kind.executor is not None and not target.is_async:
            self.task = kind.loop.create_task(self._in_thread(self.gen, target))
        elif target.is_async:
            self.task = kind.loop.create_task(self._run(self.gen, target))
        else:  # inline, on the next turn of the loop (never inside the scheduler's call)
            self.task = None
            kind.loop.call_soon(self._run_inline, self.gen, target)

    async def _run(self, gen: int, target: Target, awaitable=None) -> None:
        """Await the call (the callable's coroutine, or `awaitable`: a thread's future, or
        what a plain function returned) and count its outcome."""
        try:
            if awaitable is None:
                awaitable = target.func(self.ctx) if target.with_ctx else target.func()
            value = await awaitable
        except asyncio.CancelledError:
            if gen != self.gen:
                return  # timed out or abandoned: counted there
            outcome, reason = ERROR, "CancelledError"
        except CALL_ERRORS as exc:
            outcome, reason = self.kind.classifier.exception(exc)
        else:
            outcome, reason = self.kind.classifier.result(value)
        self._end(gen, target, outcome, reason)

    def _run_inline(self, gen: int, target: Target) -> None:
        if gen != self.gen:
            return
        try:
            value = target.func(self.ctx) if target.with_ctx else target.func()
        except CALL_ERRORS as exc:
            self._end(gen, target, *self.kind.classifier.exception(exc))
            return
        if inspect.isawaitable(value):  # a plain function that returned a coroutine
            self.task = self.kind.loop.create_task(self._run(gen, target, value))
            return
        self._end(gen, target, *self.kind.classifier.result(value))

    async def _in_thread(self, gen: int, target: Target) -> None:
        args = (self.ctx,) if target.with_ctx else ()
        try:
            future = self.kind.loop.run_in_executor(self.kind.executor, target.func, *args)
        except CALL_ERRORS as exc:  # the pool refused it (shut down)
            self._end(gen, target, *self.kind.classifier.exception(exc))
            return
        await self._run(gen, target, future)

    def _end(self, gen: int, target: Target, outcome: str, reason) -> None:
        if gen != self.gen or not self.busy:
            return  # it ended after its timeout, or after the run (counted there)
        now = now_ns()
        self.kind.record(target, outcome, reason, self.intended_ns, self.started_ns, now)
        self.busy = False
        self.task = None
        self.sched.done(self, now)

    # -- the scheduler's calls
    def pause_s(self) -> float:
        return self.kind.think_s

    def sweep(self, now: int, limit_ns: int) -> None:
        if self.busy and now - self.started_ns > limit_ns:
            self._drop()
            self.kind.rec.count(self.target.slot, C_ERR_REQUEST_TIMEOUT, 1)
            self.sched.done(self, now)

    def abandon(self, now: int) -> None:
        self.retired = True
        if self.busy:
            self._drop()
            slot = self.target.slot
            self.kind.rec.count(slot, C_UNFINISHED, 1)
            self.kind.rec.record(slot, H_LATENCY, now - self.intended_ns)

    def _drop(self) -> None:
        """End the call in flight without an outcome: cancel its task (a thread runs on)."""
        self.gen += 1
        self.busy = False
        self.kind.last_end_ns = now_ns()
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
