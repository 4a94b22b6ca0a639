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
(the fast HTTP path, WebSocket connections, or scenario users). A grouped plan
(`plan.groups`) runs one Scheduler per group on the same loop (a `_Lane` each), each
recording into its own block with its own endpoint slots; the worker's own status
(phase, heartbeat, CPU, lag) stays in the first group's block, and each block holds
its group's active users, in-flight work and connections.
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
                names_name: str, address: str, ring_names: tuple[str, str] | None = None,
                lanes: tuple = ()) -> None:
    """Process entry point (spawn-safe: everything arrives as arguments). `lanes`: a grouped
    plan's groups after the first, (block name, name table name, address) each, sized for
    that group's endpoint slots; the first group uses `block_name`, `names_name` and `address`."""
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

        worker = _Worker(plan, index, n_workers, rec, control.array, names.array, address,
                         None if ring is None else tuple(r.array for r in ring))
        held = []  # the groups' segments stay mapped while the worker runs
        for group, (lane_block, lane_names, lane_address) in zip(plan.groups[1:], lanes):
            group_slots = group.plan.endpoint_slots
            seg = Segment.attach(lane_block, BlockLayout(group_slots).length)
            table = Segment.attach(lane_names, names_length(group_slots))
            held += [seg, table]
            worker.extra.append((Recorder(seg.array, group_slots), table.array, lane_address))
        uvloop.run(worker.main())
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
        self.extra: list = []  # the other groups' (recorder, name table, address)
        self.closing = False  # the load is over: no group starts any more

    def _lanes(self, start_ns: int) -> list["_Lane"]:
        """One lane per group (a plan without groups is one lane of itself)."""
        if not self.plan.groups:
            return [_Lane(self.plan, self.rec, self.names, self.address, start_ns, None)]
        wiring = [(self.rec, self.names, self.address), *self.extra]
        return [_Lane(g.plan, rec, names, address, start_ns + int(g.start_s * 1e9), g.end_s)
                for g, (rec, names, address) in zip(self.plan.groups, wiring)]

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
        while now_ns() < start_ns:  # an agreed start (--start-at) may be minutes ahead: stay stoppable
            if control[CTL_STOP] != STOP_NONE or self._orphaned():
                rec.set_status(ST_PHASE, PHASE_DONE)
                return
            await asyncio.sleep(min(0.1, max(0.0, (start_ns - now_ns()) / 1e9)))
        rec.set_status(ST_STARTED_NS, now_ns())
        rec.set_status(ST_PHASE, PHASE_RUNNING)
        lanes = self._lanes(start_ns)
        loop = asyncio.get_running_loop()
        for lane in lanes:
            delay = (lane.start_ns - now_ns()) / 1e9
            if delay > 0:  # a group with a start offset begins on its own timer, not a heartbeat
                loop.call_later(delay, lane.begin, self)
            else:
                lane.begin(self)
        await self._run(lanes)
        await self._drain(lanes)
        if self.inproc is not None:
            await self.inproc.teardown()
        rec.set_status(ST_FINISHED_NS, now_ns())
        self._status(lanes)
        rec.set_status(ST_PHASE, PHASE_DONE)

    def kind(self, plan: Plan, rec, names, address):
        """The unit kind of a plan: scenario users, WebSocket connections, or the fast
        path's HTTP connections."""
        if plan.scenario is not None:
            from driver.scenario.unit import make_kind

            return make_kind(plan, self.index, self.n_workers, rec, names, address, self.ring)
        if plan.inproc is not None and self.inproc is not None:  # in-process calls (driver.engine.inproc), made before READY
            return self.inproc
        registry = EndpointRegistry(names, plan.endpoint_slots, plan.endpoints)  # names the slots
        if plan.ws is not None:
            from driver.engine.ws import WsKind

            return WsKind(plan, rec, registry, address)
        from driver.engine.http import HttpKind

        return HttpKind(plan, rec, address)

    async def _run(self, lanes: list["_Lane"]) -> None:
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
            for lane in lanes:
                lane.sweep(now)
            if self.control[CTL_STOP] != STOP_NONE or (deadline and now >= deadline) or self._orphaned():
                return
            if all(lane.finished() for lane in lanes):
                return
            for lane in lanes:
                lane.tick(now)
            self._status(lanes)

    async def _drain(self, lanes: list["_Lane"]) -> None:
        """Stop starting work; give what is in flight plan.grace_s to finish; then count
        what is left as unfinished and close everything."""
        self.closing = True
        lanes = [lane for lane in lanes if lane.sched is not None and not lane.over]
        for lane in lanes:
            lane.sched.stop()
        self.rec.set_status(ST_PHASE, PHASE_STOPPING)
        until = now_ns() + int(self.plan.grace_s * 1e9)
        while now_ns() < until and self.control[CTL_STOP] != STOP_NOW:
            now = now_ns()
            for lane in lanes:
                lane.sched.sweep(now)
            if all(lane.sched.in_flight() == 0 for lane in lanes):
                break
            self._status(lanes)
            await asyncio.sleep(0.01)
        for lane in lanes:
            lane.end(now_ns())
        await asyncio.sleep(0)  # let the transports run their connection_lost callbacks

    def _status(self, lanes: list["_Lane"]) -> None:
        rec = self.rec
        rec.set_status(ST_HEARTBEAT_NS, now_ns())
        rec.set_status(ST_CPU_NS, time.process_time_ns())
        for lane in lanes:
            lane.status()

    def _orphaned(self) -> bool:
        """The parent is gone (killed): stop rather than load a target nobody watches."""
        return os.getppid() != self.parent


class _Lane:
    """One group's load in this worker: its scheduler (made when the group starts), its
    recorder, and its end. A group that ends before the run stops starting work at its
    end, gives what is in flight its grace, then counts the rest unfinished (`end`)."""

    def __init__(self, plan: Plan, rec, names, address: str, start_ns: int, end_s: float | None):
        self.plan = plan
        self.rec = rec
        self.names = names
        self.address = address
        self.start_ns = start_ns
        # only a group has an end of its own; a single plan ends with the run
        self.end_ns = None if end_s is None else start_ns + int(plan.duration_s * 1e9)
        self.sched: Scheduler | None = None
        self.stopping_ns = 0
        self.over = False

    def begin(self, worker: _Worker) -> None:
        if self.sched is not None or worker.closing:  # the run ended before the group's start
            return
        kind = worker.kind(self.plan, self.rec, self.names, self.address)
        self.sched = Scheduler(self.plan, worker.index, worker.n_workers, kind, self.rec, self.start_ns,
                               worker.control)
        self.sched.begin(now_ns())

    def sweep(self, now: int) -> None:
        if self.sched is not None and not self.over:
            self.sched.sweep(now)

    def finished(self) -> bool:
        return self.over or (self.sched is not None and self.sched.finished())

    def tick(self, now: int) -> None:
        sched = self.sched
        if sched is None or self.over:
            return
        if self.end_ns is not None and now >= self.end_ns:  # the group's own end, before the run's
            if not self.stopping_ns:
                self.stopping_ns = now
                sched.stop()
            if sched.in_flight() == 0 or now >= self.stopping_ns + int(self.plan.grace_s * 1e9):
                self.end(now)
            return
        sched.tick(now)

    def end(self, now: int) -> None:
        """What is still in flight is unfinished; the group's units let go."""
        if self.sched is not None and not self.over:
            self.sched.abandon(now)
        self.over = True

    def status(self) -> None:
        sched, rec = self.sched, self.rec
        if sched is None:
            return
        active = 0 if self.over else sched.active
        in_flight = 0 if self.over else sched.in_flight()
        connections = 0 if self.over else sched.connections()
        rec.set_status(ST_ACTIVE_USERS, active)
        rec.set_status(ST_IN_FLIGHT, in_flight)
        rec.set_status(ST_CONNECTIONS, connections)
        rec.max_status(ST_CONNECTIONS_MAX, connections)
