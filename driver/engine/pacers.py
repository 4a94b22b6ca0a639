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

Steering (driver.engine.steer: the web UI changes the load while it runs): from a
time `at` on, the shape is replaced — closed loop by a number of units, open loop by
a constant rate — or paused (no units, no arrivals). Open loop keeps the arrival
numbering exact: the arrivals of the schedule due before `at` keep their numbers and
times, and the new schedule numbers its arrivals on from there, so every worker, told
the same steers in the same order, computes the same global schedule and no arrival
is sent twice or skipped. Steers are plain data and the answers stay pure functions
of (steers, elapsed time).
"""
from __future__ import annotations

import math

from driver.shapes import Shape, split

TICK_S = 0.001  # the event loop's timer resolution: never wake sooner than this
LEAD_S = TICK_S / 2  # arrivals due this soon are sent now


class ClosedPacer:
    __slots__ = ("shape", "n_workers", "index", "steers")

    def __init__(self, shape: Shape, n_workers: int, index: int):
        self.shape = shape
        self.n_workers = n_workers
        self.index = index
        self.steers: list[tuple[float, float | None, bool]] = []  # (at_s, users or None: the shape, paused)

    def steer(self, at: float, users: float | None, paused: bool) -> None:
        """From `at` seconds on: `users` units in all (None: the shape's), none while paused."""
        self.steers.append((at, users, paused))

    def active_at(self, t: float) -> int:
        """This worker's share of the units the shape (or the steer in force) asks for at t."""
        users = None
        for at, value, paused in self.steers:
            if at > t:
                break
            users = 0.0 if paused else value
        total = int(self.shape.value_at(max(0.0, t)) if users is None else users)
        return split(total, self.n_workers, self.index)


class OpenPacer:
    __slots__ = ("shape", "n_workers", "index", "segments")

    def __init__(self, shape: Shape, n_workers: int, index: int):
        self.shape = shape
        self.n_workers = n_workers
        self.index = index
        # the schedule after steers: (from_s, first global arrival k, rate or None: the shape's
        # from from_s on, paused); without steers, the shape alone
        self.segments: list[tuple[float, int, float | None, bool]] = []

    def steer(self, at: float, rate: float | None, paused: bool) -> None:
        """From `at` seconds on: `rate` arrivals/s in all (None: the shape's, resumed where
        it is at `at`), none while paused. Arrivals due before `at` keep their times."""
        if self.segments:
            at = max(at, self.segments[-1][0])
        k = self._count_before(at)
        self.segments.append((at, k, rate, paused or (rate is not None and rate <= 0)))

    def _count_before(self, s: float) -> int:
        """Global arrivals of the current schedule due before s seconds."""
        if not self.segments:
            return math.ceil(self.shape.integral(s))
        start, k0, rate, paused = self.segments[-1]
        if paused or s <= start:
            return k0
        if rate is None:
            return k0 + max(0, math.ceil(self.shape.integral(s)) - math.ceil(self.shape.integral(start)))
        return k0 + math.ceil((s - start) * rate)

    def due_global(self, k: int) -> float:
        """Seconds from the start at which the plan's k-th arrival is due (math.inf: never)."""
        for start, k0, rate, paused in reversed(self.segments):
            if k0 <= k:
                if paused:
                    return math.inf
                if rate is None:
                    return self.shape.time_of(k - k0 + math.ceil(self.shape.integral(start)))
                return start + (k - k0) / rate
        return self.shape.time_of(k)

    def due(self, j: int) -> float:
        """Seconds from the start at which this worker's j-th arrival (j >= 0) is due;
        math.inf when the schedule never gets there (the rate fell to 0 for good, or paused)."""
        k = self.index + j * self.n_workers
        if not self.segments:
            return self.shape.time_of(k)
        return self.due_global(k)

    def asked_at(self, t: float) -> float:
        """Arrivals per second the schedule asks for at t (the shape, or the steer in force)."""
        for start, _, rate, paused in reversed(self.segments):
            if start <= t:
                return 0.0 if paused else self.shape.value_at(t) if rate is None else rate
        return self.shape.value_at(t)

    def next_wake(self, j: int, now: float) -> float:
        """Seconds from now until the scheduler should wake for arrival j: LEAD_S before
        it is due, and never sooner than one tick (math.inf: never)."""
        due = self.due(j)
        if math.isinf(due):
            return math.inf
        return max(TICK_S, due - now - LEAD_S)
