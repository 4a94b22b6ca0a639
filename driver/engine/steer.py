"""Steering a run while it goes on: the parent's side of the control block's steer fields.

A `Steering` is handed to `driver.runner.supervisor.run(plan, steering=...)`, which
attaches it to the run's control block when the load starts and detaches it before
the block is released. `steer(users=..., rate=..., paused=...)` then asks, from a
moment STEER_DELAY_S ahead on, for a number of users (closed loop) or an arrival
rate (open loop) instead of the plan's shape, or pauses and resumes the load. Each
worker's scheduler reads the steer at its next heartbeat (driver.engine.scheduler)
and hands it to its pacer (driver.engine.pacers), which keeps open-loop arrivals
numbered exactly across workers. So that every worker sees every steer (the open-loop
schedule depends on all of them, in order), a steer is not written before the one
before it took effect: `steer` waits up to STEER_DELAY_S for that.

`asked_at(t)` is what the load asked for at t seconds (the shape, or the steer in
force): the run's series carries it as `asked`, beside the users and the rate achieved.
"""
from __future__ import annotations

import threading
import time

from driver._speedups import now_ns
from driver.errors import PlanError
from driver.layout import CTL_STEER_AT_NS, CTL_STEER_LOAD, CTL_STEER_PAUSED, CTL_STEER_SEQ, STEER_RATE_SCALE
from driver.plan import OPEN, Plan

__all__ = ["Steering", "STEER_DELAY_S"]

# a steer holds from this long after it is written: over two worker heartbeats (0.1 s),
# so that every worker has read it before it takes effect
STEER_DELAY_S = 0.25
MAX_USERS = 1_000_000
MAX_RATE = 10_000_000.0


class Steering:
    """The steer fields of one run's control block, written by the parent only."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.open = plan.mode == OPEN
        self.control = None
        self.start_ns = 0
        self.lock = threading.Lock()
        self.load: float | None = None  # users or arrivals/s asked now (None: the shape's)
        self.paused = False
        self.history: list[tuple[float, float | None, bool]] = []  # (t_s, load, paused) from then on
        self.last_at_ns = 0

    # -- the supervisor's side
    def attach(self, control, start_ns: int) -> None:
        with self.lock:
            self.control = control
            self.start_ns = start_ns

    def detach(self) -> None:
        """The control block is about to be released: steers from now on are refused."""
        with self.lock:
            self.control = None

    @property
    def attached(self) -> bool:
        return self.control is not None

    # -- the caller's side
    def steer(self, users: int | None = None, rate: float | None = None, paused: bool | None = None) -> dict:
        """Ask for `users` (closed loop) or `rate` arrivals/s (open loop) from now on, and/or
        pause or resume. Returns the steer as written ({"t", "load", "paused"}). PlanError
        for a value the run's mode does not take; RuntimeError when the run is not going."""
        load = self._checked(users, rate)
        with self.lock:
            if self.control is None:
                raise RuntimeError("the run is not going: nothing to steer")
            wait_ns = self.last_at_ns - now_ns()
            if wait_ns > 0:  # the last steer has not taken effect yet: every worker must see it
                time.sleep(wait_ns / 1e9)
            if load is not None:
                self.load = load
            if paused is not None:
                self.paused = bool(paused)
            at_ns = max(now_ns(), self.start_ns) + int(STEER_DELAY_S * 1e9)
            ctl = self.control
            ctl[CTL_STEER_AT_NS] = at_ns
            ctl[CTL_STEER_LOAD] = -1 if self.load is None else (
                round(self.load * STEER_RATE_SCALE) if self.open else int(self.load))
            ctl[CTL_STEER_PAUSED] = 1 if self.paused else 0
            ctl[CTL_STEER_SEQ] = int(ctl[CTL_STEER_SEQ]) + 1  # last: the workers read the fields after it
            self.last_at_ns = at_ns
            t = (at_ns - self.start_ns) / 1e9
            self.history.append((t, self.load, self.paused))
            return {"t": t, "load": self.load, "paused": self.paused}

    def _checked(self, users, rate) -> float | None:
        if getattr(self.plan, "groups", ()):  # each group has its own shape: one number cannot steer them
            raise PlanError("a run of scenario groups cannot be steered: each group follows its own load",
                            flag="groups")
        if self.open:
            if users is not None:
                raise PlanError("this run is open loop (an arrival rate): steer its rate, not its users",
                                flag="users")
            if rate is None:
                return None
            rate = float(rate)
            if not 0 <= rate <= MAX_RATE:
                raise PlanError(f"rate {rate:g}: give 0 to {MAX_RATE:g} arrivals per second", flag="rate")
            return rate
        if rate is not None:
            raise PlanError("this run is closed loop (virtual users): steer its users, not a rate", flag="rate")
        if users is None:
            return None
        if isinstance(users, bool) or int(users) != users or not 0 <= int(users) <= MAX_USERS:
            raise PlanError(f"users {users!r}: give a whole number from 0 to {MAX_USERS}", flag="users")
        return float(int(users))

    # -- what the result says
    def asked_at(self, t: float) -> float:
        """Users or arrivals/s asked for at t seconds: the steer in force, else the shape."""
        load, paused = None, False
        for at, value, was_paused in self.history:
            if at > t:
                break
            load, paused = value, was_paused
        if paused:
            return 0.0
        return float(self.plan.shape.value_at(max(0.0, t))) if load is None else float(load)

    def point(self, t: float) -> dict:
        """The series entry's steering fields at t: {"asked", "paused"}."""
        return {"asked": round(self.asked_at(t), 3), "paused": self._paused_at(t)}

    def _paused_at(self, t: float) -> bool:
        paused = False
        for at, _, was_paused in self.history:
            if at > t:
                break
            paused = was_paused
        return paused

    def notes(self) -> list[str]:
        """One line per steer, for the result's notes."""
        unit = "arrivals/s" if self.open else "users"
        out = []
        for at, load, paused in self.history:
            what = "paused" if paused else ("the plan's shape" if load is None else f"{load:g} {unit}")
            out.append(f"steered at {at:.1f}s: {what}")
        return out
