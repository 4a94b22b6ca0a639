"""One scheduler per worker: drives units of one kind through the plan's load.

Closed loop: the pacer says how many units should be active; each unit starts its
next piece of work when its last one ended (after its think time), while the
quota and the run last. Ramp-down retires units after their piece in flight.

Open loop: arrivals come on the pacer's schedule whatever the target does. Each
goes to an idle unit, or a new one while under the in-flight cap, or waits in a
queue (FIFO, bounded by QUEUE_MAX per worker) for the next unit that gets free —
wrk2's behaviour: a stalled target makes arrivals wait, and their wait is in their
latency, because latency counts from the intended time. Only when the queue is
full is an arrival dropped: counted C_DROPPED (an error: asked of the target, never
sent). At the end, arrivals still queued count as dropped with their age recorded
as latency, and pieces still in flight are abandoned by their units (C_UNFINISHED,
with their age): nothing asked of the target vanishes from the numbers.

Steering (driver.engine.steer): when the parent writes a steer into the control block,
the scheduler hands it to its pacer at the next heartbeat (`tick`): closed loop then
starts or retires units to the users asked, open loop re-arms its timer on the new
schedule (a paused open loop is not finished: it waits for the resume or the end).

Late and dropped arrivals are counted here and only here, on the kind's
`arrival_slot` endpoint. Timer wake-ups are at millisecond granularity (see
pacers.TICK_S): CPU follows the rate, not the timer.
"""
from __future__ import annotations

import asyncio
import math
from collections import deque

from driver._speedups import now_ns
from driver.engine.pacers import LEAD_S, ClosedPacer, OpenPacer
from driver.layout import (C_DROPPED, C_LATE, CTL_STEER_AT_NS, CTL_STEER_LOAD, CTL_STEER_PAUSED, CTL_STEER_SEQ,
                           H_LATENCY, LATE_NS, STEER_RATE_SCALE)
from driver.plan import OPEN, Plan
from driver.shapes import split

QUEUE_MAX = 100_000  # open loop: arrivals waiting for a free unit, per worker (~40 bytes each)
LEAD_NS = int(LEAD_S * 1e9)
# open loop: new units not ready yet (connecting, or in their on_start). While this
# many are warming up, arrivals queue for a unit instead of each opening one more
# connection: a start at 20,000/s otherwise opened the whole cap (1,000 connections) in
# its first milliseconds, every arrival finding the others busy connecting.
WARMING_MAX = 16


class Scheduler:
    def __init__(self, plan: Plan, index: int, n_workers: int, kind, rec, start_ns: int, control=None):
        self.plan = plan
        self.control = control  # the run's control block (steers), or None
        self.steer_seq = 0  # the last steer applied
        self.paused = False
        self.kind = kind
        self.rec = rec
        self.loop = asyncio.get_running_loop()
        self.start_ns = start_ns
        # nothing starts at or after the end of the run (the worker's heartbeat ends the rest)
        self.end_ns = start_ns + int(plan.duration_s * 1e9) if plan.duration_s else 1 << 62
        # pieces of work (requests, iterations) this worker may still start; -1: no limit
        self.remaining = split(plan.max_requests, n_workers, index) if plan.max_requests else -1
        self.stopping = False
        self.units: list = []
        # closed loop: units retired by a ramp-down with work still in flight; counted in
        # flight, swept and abandoned until that work ends
        self.retiring: set = set()
        self.open = plan.mode == OPEN
        self.slot = kind.arrival_slot
        if self.open:
            self.pacer = OpenPacer(plan.shape, n_workers, index)
            self.j = 0  # this worker's next arrival
            self.arrivals_over = False  # the schedule, the quota or the run has no more
            self.idle: list = []
            self.queue: deque[int] = deque()
            self.cap = split(plan.max_in_flight, n_workers, index) or 1
            self.timer = None
            self.warming: set = set()  # units whose first piece has not ended
        else:
            self.pacer = ClosedPacer(plan.shape, n_workers, index)

    # -- the quota
    def take(self) -> bool:
        """Claim one piece of work from the quota; False when it is spent."""
        if self.remaining < 0:
            return True
        if self.remaining == 0:
            return False
        self.remaining -= 1
        return True

    # -- driving
    def begin(self, now: int) -> None:
        """The load starts: closed loop sizes its units, open loop arms its timer."""
        if self.open:
            self._fire()
        else:
            self.tick(now)

    def tick(self, now: int) -> None:
        """Heartbeat: apply a new steer; closed loop: start or retire units to follow the shape."""
        if self.control is not None and self.control[CTL_STEER_SEQ] != self.steer_seq:
            self._steer()
        if self.open or self.stopping:
            return
        want = self.pacer.active_at((now - self.start_ns) / 1e9)
        units = self.units
        while len(units) < want:
            unit = self.kind.new_unit(self)
            units.append(unit)
            self._next(unit, now)
        while len(units) > want:
            unit = units.pop()
            unit.retire()
            if unit.busy:
                self.retiring.add(unit)

    def _steer(self) -> None:
        """The control block's last steer, to the pacer (once per sequence number)."""
        ctl = self.control
        seq = int(ctl[CTL_STEER_SEQ])
        at_ns, load, paused = int(ctl[CTL_STEER_AT_NS]), int(ctl[CTL_STEER_LOAD]), bool(ctl[CTL_STEER_PAUSED])
        if int(ctl[CTL_STEER_SEQ]) != seq:  # the parent is writing the next one: read it next heartbeat
            return
        self.steer_seq = seq
        at = (at_ns - self.start_ns) / 1e9
        if not self.open:
            self.pacer.steer(at, None if load < 0 else float(load), paused)
            return
        rate = None if load < 0 else load / STEER_RATE_SCALE
        self.pacer.steer(at, rate, paused)
        self.paused = paused or rate == 0
        if self.stopping:
            return
        if self.arrivals_over and self.remaining != 0:  # a pause had ended the schedule
            self.arrivals_over = False
        if self.timer is not None:
            self.timer.cancel()
        self._fire()

    def _next(self, unit, now: int) -> None:
        """Closed loop: the unit's next piece of work, if the run and the quota go on."""
        if unit.retired or self.stopping or now >= self.end_ns or not self.take():
            return
        unit.start(now)

    def _resume(self, unit) -> None:
        self._next(unit, now_ns())

    def done(self, unit, now: int, sent: bool = True) -> None:
        """A unit's piece of work ended. sent=False: nothing reached the target (a failed
        connect): the closed-loop claim is given back, and the unit's pause is its backoff.
        (The hot path of both loops: `_next` and `take` are written out here.)"""
        if self.open:
            if self.warming:
                self.warming.discard(unit)
            if unit.retired or self.stopping:
                return
            if self.queue:
                intended = self.queue.popleft()
                if now - intended > LATE_NS:
                    self.rec.count(self.slot, C_LATE, 1)
                self.kind.arrival_started(intended)
                unit.start(intended)
            else:
                self.idle.append(unit)
            # Arrivals that fall due meanwhile wait for the timer, not for this callback:
            # sent one by one from response callbacks (measured at 20,000/s) the median
            # latency from the intended start fell from 374 to 71 µs, but CPU per request
            # went from 10.3 to 22 µs — client and nginx woke per request instead of per
            # millisecond tick. The tick's batching is kept; the half tick of timing it
            # costs is in the open-loop latency (README: How it works).
            return
        if not sent and self.remaining >= 0:
            self.remaining += 1
        if unit.retired or self.stopping:
            if self.retiring:
                self.retiring.discard(unit)
            return
        if not sent or self.kind.pauses:
            pause = unit.pause_s()
            if pause > 0:
                self.loop.call_later(pause, self._resume, unit)
                return
        if now >= self.end_ns:
            return
        remaining = self.remaining
        if remaining >= 0:
            if remaining == 0:
                return
            self.remaining = remaining - 1
        unit.start(now)

    def warmed(self, unit) -> None:
        """A new unit is ready (connected): the next arrival may make another."""
        if self.open and self.warming:
            self.warming.discard(unit)

    # -- open loop
    def _fire(self) -> None:
        """Hand every arrival due by now to a unit (or the queue), then sleep until the
        next is due — at least one timer tick, so the loop never spins."""
        self.timer = None
        now = now_ns()
        self._send_due(now)
        if not self.stopping and not self.arrivals_over:
            wake = self.pacer.next_wake(self.j, (now - self.start_ns) / 1e9)
            if not math.isinf(wake):
                self.timer = self.loop.call_later(wake, self._fire)

    def _send_due(self, now: int) -> None:
        """Every arrival due by now (LEAD_NS ahead included) to a unit or the queue."""
        start, pacer = self.start_ns, self.pacer
        while not self.stopping:
            due_s = pacer.due(self.j)
            if math.isinf(due_s):
                self.arrivals_over = True
                return
            due = start + int(due_s * 1e9)
            if due > now + LEAD_NS:
                break
            if due >= self.end_ns or not self.take():
                self.arrivals_over = True
                return
            self.j += 1
            self._arrive(due, now)

    def _arrive(self, intended: int, now: int) -> None:
        if self.idle:
            unit = self.idle.pop()
        elif len(self.units) < self.cap and len(self.warming) < WARMING_MAX:
            unit = self.kind.new_unit(self)
            self.units.append(unit)
            self.warming.add(unit)
        elif len(self.queue) < QUEUE_MAX:
            self.queue.append(intended)
            return
        else:
            self.rec.count(self.slot, C_DROPPED, 1)
            return
        if now - intended > LATE_NS:
            self.rec.count(self.slot, C_LATE, 1)
        self.kind.arrival_started(intended)
        unit.start(intended)

    # -- what the worker reads and does
    @property
    def active(self) -> int:
        """Units working or ready to (closed loop), or working (open loop)."""
        if self.open:
            return len(self.units) - len(self.idle)
        return len(self.units)

    def in_flight(self) -> int:
        return sum(1 for u in self.units if u.busy) + sum(1 for u in self.retiring if u.busy)

    def connections(self) -> int:
        return sum(u.connections for u in self.units)

    def finished(self) -> bool:
        """Nothing more will start and nothing is in flight."""
        if self.open:
            over = (self.arrivals_over and not self.paused) or self.remaining == 0
            return over and not self.queue and self.in_flight() == 0
        return self.remaining == 0 and self.in_flight() == 0

    def sweep(self, now: int) -> None:
        """Time out pieces of work in flight for longer than the plan's request timeout."""
        limit = int(self.plan.request_timeout_s * 1e9)
        for unit in [*self.units, *self.retiring]:
            if unit.busy:
                unit.sweep(now, limit)

    def stop(self) -> None:
        """No new work: pieces in flight may still finish (the worker's grace)."""
        self.stopping = True
        if self.open:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.idle.clear()
        for unit in self.units:  # each finishes its piece in flight, then lets go
            unit.retire()

    def abandon(self, now: int) -> None:
        """The run is over: what is still in flight is unfinished, what is still queued
        was dropped; both with their age as latency. Then every unit lets go."""
        self.stopping = True
        if self.open:
            queue, slot = self.queue, self.slot
            if queue:
                self.rec.count(slot, C_DROPPED, len(queue))
                for intended in queue:
                    self.rec.record(slot, H_LATENCY, now - intended)
                queue.clear()
        for unit in [*self.units, *self.retiring]:
            unit.abandon(now)
        self.retiring.clear()
        self.kind.close()
