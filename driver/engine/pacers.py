"""Pacers: *when* units work. Pure functions of elapsed time — no clock, no loop.

A pacer answers for one worker of `n_workers` (its share of the plan's load):

- `ClosedPacer.active_at(t)`: how many units (virtual users, connections) should be
  active t seconds into the run (closed loop: a unit starts its next piece of work
  when the last one ended, after its think time).
- `OpenPacer.due(j)`: when this worker's j-th arrival is due, in seconds from the
  start (open loop, wrk2's constant throughput: arrivals do not wait for answers).
  Arrival k of the whole plan is due at shape.time_of(k); worker `index` owns
  k = index, index + n, index + 2n, ... so the workers together send exactly the
  plan's schedule and no arrival is sent twice.
  `OpenPacer.next_wake(j, now)`: when the scheduler should next wake to send
  arrival j: LEAD_S (half a timer tick) before it is due, and never sooner than one
  tick after `now` — the event loop's timer has millisecond resolution, and waking
  for a due time it rounds to "now" would spin a core. A wake-up sends every arrival
  due up to LEAD_S ahead (`OpenPacer.LEAD_S`), so arrivals go out within about half
  a tick of their due time, early or late, instead of up to a tick and a half late
  (at 20,000/s that put ~0.8 ms of the generator's own timer into the median).
  An arrival sent early has its latency counted from its send, never from a later
  intended time (driver.engine.client), so leading never flatters the numbers.
"""
from __future__ import annotations

import math

from driver.shapes import Shape, split

TICK_S = 0.001  # the event loop's timer resolution: never wake sooner than this
LEAD_S = TICK_S / 2  # arrivals due this soon are sent now


class ClosedPacer:
    __slots__ = ("shape", "n_workers", "index")

    def __init__(self, shape: Shape, n_workers: int, index: int):
        self.shape = shape
        self.n_workers = n_workers
        self.index = index

    def active_at(self, t: float) -> int:
        """This worker's share of the units the shape asks for at t seconds."""
        total = int(self.shape.value_at(max(0.0, t)))
        return split(total, self.n_workers, self.index)


class OpenPacer:
    __slots__ = ("shape", "n_workers", "index")

    def __init__(self, shape: Shape, n_workers: int, index: int):
        self.shape = shape
        self.n_workers = n_workers
        self.index = index

    def due(self, j: int) -> float:
        """Seconds from the start at which this worker's j-th arrival (j >= 0) is due;
        math.inf when the shape never gets there (the rate fell to 0 for good)."""
        return self.shape.time_of(self.index + j * self.n_workers)

    def next_wake(self, j: int, now: float) -> float:
        """Seconds from now until the scheduler should wake for arrival j: LEAD_S before
        it is due, and never sooner than one tick (math.inf: never)."""
        due = self.due(j)
        if math.isinf(due):
            return math.inf
        return max(TICK_S, due - now - LEAD_S)
