"""The unit protocol: what the scheduler asks of every kind of virtual user.

A *unit* is one virtual user of some kind — a keep-alive HTTP connection (the fast
path), a scenario user, and next a WebSocket connection, a tracked job, an
in-process call, a database session. Pacers decide *when* (engine.pacers), the
scheduler decides *which unit* (engine.scheduler), the unit decides *what*: send,
receive, check, record. A new protocol is a new `UnitKind` and gets closed loop,
open loop, stages, quotas, ramp-up, timeouts, end-of-run accounting and
coordinated-omission correction from the scheduler, untouched.

The conversation, all on the worker's event loop:

    scheduler -> unit.start(intended_ns)   begin one piece of work (a request, an
                                           iteration) that the schedule says began
                                           at intended_ns; latency counts from there
    unit -> scheduler.warmed(unit)         optional: a new unit is ready (connected); until
                                           then (or its first done) the scheduler counts it
                                           as warming up, and makes at most a few at once
    unit -> scheduler.done(unit, now, sent) the piece ended (answered, failed, checked);
                                           sent=False: nothing reached the target (a
                                           failed connect): a closed-loop quota claim
                                           is given back
    scheduler -> unit.pause_s()            closed loop: how long to think before the
                                           next piece (think time, pacing, backoff)
    scheduler -> unit.retire()             ramp-down or the end: finish the piece in
                                           flight, then release what you hold
    scheduler -> unit.sweep(now, limit_ns) heartbeat: time out a piece in flight longer
                                           than the request timeout (count it)
    scheduler -> unit.abandon(now)         the run is over: count the piece still in
                                           flight as unfinished (with its age) and
                                           release everything at once
    unit.busy                              a piece of work is in flight
    unit.connections                       connections the unit holds open (status)

Units record through the worker's recorder (`kind.rec`) into their own endpoint
slots; they never reach into the scheduler or each other.
"""
from __future__ import annotations

from abc import ABC, abstractmethod


class Unit(ABC):
    """Base of units: the protocol with its neutral answers."""

    __slots__ = ("sched", "retired", "busy")

    def __init__(self, sched):
        self.sched = sched
        self.retired = False
        self.busy = False

    @property
    def connections(self) -> int:
        return 0

    @abstractmethod
    def start(self, intended_ns: int) -> None:
        """Begin one piece of work now; it counts from `intended_ns`."""

    def pause_s(self) -> float:
        return 0.0

    def retire(self) -> None:
        self.retired = True

    def sweep(self, now: int, limit_ns: int) -> None:
        pass

    def abandon(self, now: int) -> None:
        pass


class UnitKind(ABC):
    """Makes the units of one kind for one worker, and says where arrivals count.

    `arrival_slot`: the endpoint slot where the scheduler counts open-loop arrivals
    that were late or dropped (and, for kinds whose piece of work is not one request,
    arrivals started and their time from the intended start).
    """

    arrival_slot = 0
    pauses = False  # units may think between pieces of work (else pause_s is asked only after a failure)

    @abstractmethod
    def new_unit(self, sched) -> Unit:
        """A fresh unit driven by `sched`."""

    def arrival_started(self, intended_ns: int) -> None:
        """An open-loop arrival was handed to a unit (kinds may count it)."""

    def close(self) -> None:
        """The run is over and every unit abandoned: release shared resources."""
