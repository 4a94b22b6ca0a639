"""An in-process load in this process, on an event loop of its own: the test's way.

    result = run_load(manager.start, users=50, requests=50, rejected=["LimitReached"])
    assert result.success == 20 and result.rejected == 30

The same Scheduler and unit kind (driver.engine.inproc) as a `driver run`, recording
into a block of the same layout — a plain array here, no shared memory and no worker
processes — so the component the test made is the one loaded, and the test inspects
it afterwards. The figures come back as a LoadResult (driver.runner.loadresult) around
a driver Result (thresholds' verdicts and validity as in a run), with this process's
memory (driver.runner.memory) around the load.

`target`: a callable, a "module:function" / "file.py:function" text, or a mix
{name: callable or (callable, weight)}, each name its own endpoint. Sync calls run
inline on the loop unless `thread=True` (see driver.engine.inproc). `run_load` makes
and closes its own loop (call it from a test that is not itself async); `arun_load`
runs on the loop it is awaited on.
"""
from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timezone

import numpy as np

from driver._speedups import Recorder, now_ns
from driver.engine.callables import Callables, Classifier, default_name, inproc_target
from driver.engine.endpoints import EndpointRegistry
from driver.engine.inproc import InprocKind, Target, call_hook
from driver.engine.scheduler import Scheduler
from driver.errors import PlanError
from driver.layout import (
    PHASE_RUNNING, ST_HEARTBEAT_NS, ST_PHASE, STATUS_LEN, BlockLayout, names_length, read_note,
)
from driver.plan import InprocSpec, Plan
from driver.planning.layers import flag_layer, layer
from driver.planning.load import load_fields
from driver.planning.make import parse_thresholds
from driver.runner.loadresult import LoadResult
from driver.runner.memory import MemoryTracker
from driver.runner.watchdog import STUCK_S, Watchdog
from driver.stats.result import Result
from driver.stats.thresholds import evaluate
from driver.stats.validity import assess
from driver.stats.window import merge_blocks

HEARTBEAT_S = 0.01  # sweep, the end and the RSS peak are looked at this often


def run_load(target, **options) -> LoadResult:
    """Run the load on a new event loop in this thread; see `arun_load` for the options."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(arun_load(target, **options))
    raise RuntimeError("run_load() was called inside a running event loop: use `await arun_load(...)` "
                       "(the fixture's `await driver_load.arun(...)`)")


async def arun_load(target, *, users=None, rate=None, requests=None, duration=None, ramp_up=None, stages=(),
                    think=None, timeout=None, max_in_flight=None, rejected=(), rejected_when=None, classify=None,
                    setup=None, teardown=None, thread: bool = False, memory: bool = True, trace: bool = True,
                    thresholds=(), name: str | None = None, grace=None) -> LoadResult:
    """Load `target` on the running loop and return its LoadResult.

    The load: `users` (closed loop) or `rate` (open loop), `requests` (calls in all),
    `duration`, `ramp_up`, `stages`, `think`, `timeout` (per call, default 30 s),
    `max_in_flight`, as `driver run` takes them. Outcomes: `rejected` (exception
    classes or their names), `rejected_when(value)`, or `classify(value_or_exc)`.
    `setup()` runs before the load (what it returns is every call's ctx.component),
    `teardown(component)` after it. `memory`: track RSS (and tracemalloc when `trace`).
    `thresholds`: SLO texts ("p95<5s", "error_rate<1%") judged on the result.
    """
    targets = _targets(target, name)
    settings = layer(flag_layer({"users": users, "rate": rate, "duration": duration, "requests": requests,
                                 "ramp_up": ramp_up, "stages": stages, "think": think, "timeout": timeout,
                                 "max_in_flight": max_in_flight}))
    load = {**load_fields(settings, None), "workers": 1}
    if grace is not None:
        load["grace_s"] = float(grace)
    names = [n for n, _, _ in targets]
    spec = InprocSpec(call=_text(targets[0][1]), name=names[0], mix=tuple(names[1:]), thread=bool(thread))
    plan = Plan(target=inproc_target(spec), requests=(), inproc=spec,
                thresholds=parse_thresholds(thresholds, "thresholds"), **load)
    classifier = Classifier(_exception_names(rejected), _func(rejected_when), _func(classify))
    run = _InlineRun(plan, MemoryTracker(trace) if memory else None)
    return await run.execute(targets, classifier, _func(setup), _func(teardown), thread)


class _InlineRun:
    def __init__(self, plan: Plan, tracker: MemoryTracker | None):
        self.plan = plan
        self.tracker = tracker
        slots = plan.endpoint_slots
        self.layout = BlockLayout(slots)
        self.block = np.zeros(self.layout.length, dtype=np.int64)
        self.layout.initialise(self.block)
        self.names = np.zeros(names_length(slots), dtype=np.int64)
        self.rec = Recorder(self.block, slots)
        self.registry = EndpointRegistry(self.names, slots, plan.endpoints)
        self.lag_max_s = 0.0

    async def execute(self, targets, classifier, setup, teardown, thread) -> LoadResult:
        plan, rec = self.plan, self.rec
        component = await call_hook(setup) if setup is not None else None
        kind = InprocKind(plan, rec, [Target(n, self.registry.slot(n), f, w) for n, f, w in targets], classifier,
                          self.registry, component=component, teardown=teardown, thread=thread)
        watchdog = None
        if threading.current_thread() is threading.main_thread():  # it reports the main thread's frame
            watchdog = Watchdog(self.block[:STATUS_LEN], self.names, plan.endpoint_slots, now_ns)
            watchdog.start()
        if self.tracker is not None:
            self.tracker.start()
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        cpu0 = time.process_time()
        start = now_ns()
        rec.set_status(ST_HEARTBEAT_NS, start)
        rec.set_status(ST_PHASE, PHASE_RUNNING)
        sched = Scheduler(plan, 0, 1, kind, rec, start)
        try:
            sched.begin(start)
            await self._run(sched, start)
            await self._drain(sched)
        finally:
            # the load ends with its last call (a short load is not rounded up to a heartbeat)
            end = kind.last_end_ns or now_ns()
            if watchdog is not None:
                watchdog.stop()
            cpu_s = time.process_time() - cpu0
            memory = self.tracker.stop() if self.tracker is not None else None
            await kind.teardown()
        label = plan.inproc.name if not plan.inproc.mix else "mix of " + ", ".join(plan.endpoints)
        return LoadResult(self._result(start, end, started_at, cpu_s), memory, label=label)

    async def _run(self, sched: Scheduler, start: int) -> None:
        end = start + int(self.plan.duration_s * 1e9) if self.plan.duration_s else None
        expected = time.monotonic() + HEARTBEAT_S
        while True:
            await asyncio.sleep(max(0.0, expected - time.monotonic()))
            self.lag_max_s = max(self.lag_max_s, time.monotonic() - expected)
            expected = time.monotonic() + HEARTBEAT_S
            now = now_ns()
            self.rec.set_status(ST_HEARTBEAT_NS, now)
            if self.tracker is not None:
                self.tracker.sample()
            sched.sweep(now)
            if sched.finished() or (end is not None and now >= end):
                return
            sched.tick(now)

    async def _drain(self, sched: Scheduler) -> None:
        sched.stop()
        until = now_ns() + int(self.plan.grace_s * 1e9)
        while now_ns() < until and sched.in_flight():
            self.rec.set_status(ST_HEARTBEAT_NS, now_ns())
            sched.sweep(now_ns())
            await asyncio.sleep(HEARTBEAT_S)
        sched.abandon(now_ns())
        await asyncio.sleep(0)  # let cancelled calls unwind

    def _result(self, start: int, end: int, started_at: str, cpu_s: float) -> Result:
        snap = self.block[np.newaxis, :]
        endpoints, checks = merge_blocks(snap, [self.names], self.layout, known=self.plan.endpoints)
        notes = []
        note = read_note(self.names, self.plan.endpoint_slots)
        if note or self.lag_max_s > STUCK_S:
            notes.append(f"the event loop was blocked for up to {self.lag_max_s:.2f}s"
                         + (f" ({note})" if note else "") + ": a sync call runs inline on the loop "
                         "(thread=True runs it in a thread; `async def` awaits)")
        result = Result(plan=self.plan.describe(), endpoints=endpoints, duration_s=(end - start) / 1e9,
                        started_at=started_at, checks=checks, notes=notes,
                        workers=[{"index": 0, "cpu_s": cpu_s, "lag_max_ms": self.lag_max_s * 1e3}])
        result.validity = assess(result)
        result.verdicts = evaluate(self.plan.thresholds, result)
        return result


def _targets(target, name: str | None) -> list[tuple[str, object, float]]:
    """[(endpoint name, callable, weight)] from a callable, a text, or a {name: fn | (fn, weight)} mix."""
    if isinstance(target, dict):
        if not target:
            raise PlanError("the mix of callables is empty")
        out = []
        for key, value in target.items():
            func, weight = value if isinstance(value, tuple) else (value, 1.0)
            if not callable(func) or float(weight) <= 0:
                raise PlanError(f"mix {key!r}: give a callable, or (callable, weight > 0)")
            out.append((str(key), func, float(weight)))
        return out
    if isinstance(target, str):
        spec = InprocSpec(call=target, name=name or default_name(target))
        return [(spec.name, Callables(spec).call, 1.0)]
    if not callable(target):
        raise PlanError(f"the target must be a callable or a 'module:function' text, not {type(target).__name__}")
    return [(name or getattr(target, "__name__", None) or type(target).__name__, target, 1.0)]


def _func(value):
    """A hook given as a callable, a 'module:function' text, or None."""
    if value is None or callable(value):
        return value
    spec = InprocSpec(call=str(value), name="hook")
    return Callables(spec).call


def _exception_names(rejected) -> tuple[str, ...]:
    if isinstance(rejected, (str, type)):
        rejected = (rejected,)
    return tuple(r.__name__ if isinstance(r, type) else str(r) for r in rejected)


def _text(func) -> str:
    if isinstance(func, str):
        return func
    module = getattr(func, "__module__", None) or "?"
    return f"{module}:{getattr(func, '__qualname__', type(func).__name__)}"
