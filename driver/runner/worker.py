"""One worker process: a uvloop event loop running its share of the load.

The worker writes only its own shared-memory block (through the recorder and the
status area) and reads only the control block. It never sends results anywhere:
what it recorded is already in shared memory, so if it is killed nothing recorded
is lost.

Lifecycle: attach -> PHASE_READY -> wait for CTL_START_NS -> PHASE_RUNNING until the
deadline, the quota, or CTL_STOP -> PHASE_STOPPING (no new requests; in-flight ones
get plan.grace_s to finish; what is still in flight then is counted unfinished) ->
PHASE_DONE.

The load itself is the engine's: one Scheduler driving units of the plan's kind
(the fast HTTP path, WebSocket connections, or scenario users).
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import traceback

from driver._speedups import Recorder, now_ns
from driver.layout import (
    CTL_DEADLINE_NS,
    CTL_LEN,
    CTL_START_NS,
    CTL_STOP,
    PHASE_DONE,
    PHASE_FAILED,
    PHASE_READY,
    PHASE_RUNNING,
    PHASE_STOPPING,
    ST_ACTIVE_USERS,
    ST_CONNECTIONS,
    ST_CONNECTIONS_MAX,
    ST_CPU_NS,
    ST_FATAL,
    ST_FINISHED_NS,
    ST_HEARTBEAT_NS,
    ST_IN_FLIGHT,
    ST_LAG_MAX_NS,
    ST_LAG_SAMPLES,
    ST_LAG_SUM_NS,
    ST_PHASE,
    ST_PID,
    ST_STARTED_NS,
    STATUS_LEN,
    STOP_NONE,
    STOP_NOW,
    BlockLayout,
    names_length,
)
from driver.engine.endpoints import EndpointRegistry
from driver.engine.scheduler import Scheduler
from driver.plan import Plan
from driver.replies.ring import ring_length
from driver.runner.watchdog import Watchdog
from driver.shm import Segment

HEARTBEAT_S = 0.1  # status, lag, timeouts and the user count are refreshed this often


def worker_main(plan: Plan, index: int, n_workers: int, block_name: str, control_name: str,
                names_name: str, address: str, ring_names: tuple[str, str] | None = None) -> None:
    """Process entry point (spawn-safe: everything arrives as arguments)."""
    # the parent handles Ctrl-C and SIGTERM (also when sent to the whole process group)
    # and tells us to stop, so that every worker ends in order and writes what it has
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    slots = plan.endpoint_slots
    layout = BlockLayout(slots)
    block = Segment.attach(block_name, layout.length)
    control = Segment.attach(control_name, CTL_LEN)
    names = Segment.attach(names_name, names_length(slots))
    rec = Recorder(block.array, slots)
    # updates to the bot side, and back which of them were answered (driver.replies.ring)
    ring = None if not ring_names else tuple(Segment.attach(n, ring_length()) for n in ring_names)
    watchdog = Watchdog(block.array[:STATUS_LEN], names.array, slots, now_ns)
    watchdog.start()
    try:
        import uvloop

        uvloop.run(_Worker(plan, index, n_workers, rec, control.array, names.array, address,
                           None if ring is None else tuple(r.array for r in ring)).main())
        watchdog.stop()
    except BaseException:
        rec.set_status(ST_FATAL, 1)
        rec.set_status(ST_PHASE, PHASE_FAILED)
        traceback.print_exc(file=sys.stderr)
        sys.exit(1)


class _Worker:
    def __init__(self, plan, index, n_workers, rec, control, names, address, ring=None):
        self.plan = plan
        self.ring = ring
        self.names = names
        self.index = index
        self.n_workers = n_workers
        self.rec = rec
        self.control = control
        self.address = address
        self.parent = os.getppid()

    async def main(self) -> None:
        rec, control = self.rec, self.control
        rec.set_status(ST_PID, os.getpid())
        rec.set_status(ST_HEARTBEAT_NS, now_ns())
        self.inproc = None
        if self.plan.inproc is not None:  # the component is set up before the load is timed
            from driver.engine.inproc import open_kind

            registry = EndpointRegistry(self.names, self.plan.endpoint_slots, self.plan.endpoints)
            self.inproc = await open_kind(self.plan, rec, registry, self.index, self.n_workers)
        rec.set_status(ST_PHASE, PHASE_READY)
        while control[CTL_START_NS] == 0:
            if control[CTL_STOP] != STOP_NONE or self._orphaned():
                rec.set_status(ST_PHASE, PHASE_DONE)
                return
            await asyncio.sleep(0.002)
        start_ns = int(control[CTL_START_NS])
        await asyncio.sleep(max(0.0, (start_ns - now_ns()) / 1e9))
        rec.set_status(ST_STARTED_NS, now_ns())
        rec.set_status(ST_PHASE, PHASE_RUNNING)
        sched = Scheduler(self.plan, self.index, self.n_workers, self._kind(), self.rec, start_ns)
        sched.begin(now_ns())
        await self._run(sched)
        await self._drain(sched)
        if self.inproc is not None:
            await self.inproc.teardown()
        rec.set_status(ST_FINISHED_NS, now_ns())
        self._status(sched)
        rec.set_status(ST_PHASE, PHASE_DONE)

    def _kind(self):
        """The unit kind of the plan: scenario users, WebSocket connections, or the fast
        path's HTTP connections."""
        if self.plan.scenario is not None:
            from driver.scenario.unit import make_kind

            return make_kind(self.plan, self.index, self.n_workers, self.rec, self.names, self.address,
                             self.ring)
        if self.inproc is not None:  # in-process calls (driver.engine.inproc), made before READY
            return self.inproc
        registry = EndpointRegistry(self.names, self.plan.endpoint_slots, self.plan.endpoints)  # names the slots
        if self.plan.ws is not None:
            from driver.engine.ws import WsKind

            return WsKind(self.plan, self.rec, registry, self.address)
        from driver.engine.http import HttpKind

        return HttpKind(self.plan, self.rec, self.address)

    async def _run(self, sched: Scheduler) -> None:
        """Heartbeat until the deadline, the quota, or a stop from the parent."""
        deadline = int(self.control[CTL_DEADLINE_NS])
        expected = time.monotonic() + HEARTBEAT_S
        while True:
            await asyncio.sleep(max(0.0, expected - time.monotonic()))
            lag_ns = max(0, int((time.monotonic() - expected) * 1e9))
            expected += HEARTBEAT_S
            self.rec.max_status(ST_LAG_MAX_NS, lag_ns)
            self.rec.add_status(ST_LAG_SUM_NS, lag_ns)
            self.rec.add_status(ST_LAG_SAMPLES, 1)
            now = now_ns()
            sched.sweep(now)
            if self.control[CTL_STOP] != STOP_NONE or (deadline and now >= deadline) or self._orphaned():
                return
            if sched.finished():
                return
            sched.tick(now)
            self._status(sched)

    async def _drain(self, sched: Scheduler) -> None:
        """Stop starting work; give what is in flight plan.grace_s to finish; then count
        what is left as unfinished and close everything."""
        sched.stop()
        self.rec.set_status(ST_PHASE, PHASE_STOPPING)
        until = now_ns() + int(self.plan.grace_s * 1e9)
        while now_ns() < until and self.control[CTL_STOP] != STOP_NOW:
            sched.sweep(now_ns())
            if sched.in_flight() == 0:
                break
            self._status(sched)
            await asyncio.sleep(0.01)
        sched.abandon(now_ns())
        await asyncio.sleep(0)  # let the transports run their connection_lost callbacks

    def _status(self, sched: Scheduler) -> None:
        rec = self.rec
        rec.set_status(ST_HEARTBEAT_NS, now_ns())
        rec.set_status(ST_CPU_NS, time.process_time_ns())
        rec.set_status(ST_ACTIVE_USERS, sched.active)
        rec.set_status(ST_IN_FLIGHT, sched.in_flight())
        connections = sched.connections()
        rec.set_status(ST_CONNECTIONS, connections)
        rec.max_status(ST_CONNECTIONS_MAX, connections)

    def _orphaned(self) -> bool:
        """The parent is gone (killed): stop rather than load a target nobody watches."""
        return os.getppid() != self.parent
