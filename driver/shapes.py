"""Load shapes: pure functions of elapsed time. No clock reads, no I/O.

A shape is piecewise linear through breakpoints `(t_seconds, value)`: the value is
virtual users (closed loop) or arrivals per second (open loop). Before the first
breakpoint the value is the first one; after the last it stays at the last one.
Stages follow k6: each `(duration, target)` ramps linearly from the value before it
to `target` over `duration`.

Open-loop arrivals are numbered k = 0, 1, 2, ... and arrival k is due at the time
when the integral of the rate reaches k (so the first is due at t = 0). Worker i of
n takes the arrivals with k % n == i: the merged schedule is exactly the shape,
whatever the number of workers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """Piecewise-linear value over time; `points` sorted by time, at least one."""

    points: tuple[tuple[float, float], ...]

    def __post_init__(self):
        if not self.points:
            raise ValueError("a shape needs at least one point")
        times = [t for t, _ in self.points]
        if times != sorted(times) or times[0] < 0:
            raise ValueError("shape points must start at t >= 0 and be in time order")
        if any(v < 0 for _, v in self.points):
            raise ValueError("shape values must be >= 0")

    @property
    def end(self) -> float:
        return self.points[-1][0]

    @property
    def peak(self) -> float:
        return max(v for _, v in self.points)

    def value_at(self, t: float) -> float:
        """The value at elapsed time t (seconds)."""
        pts = self.points
        if t < pts[0][0]:
            return pts[0][1]
        for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
            if t1 == t0:  # a jump: the later value holds from t0 on
                continue
            if t <= t1:
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        return pts[-1][1]

    def integral(self, t: float) -> float:
        """The integral of the value from 0 to t: arrivals due by t in open loop."""
        if t <= 0:
            return 0.0
        total, prev_t, prev_v = 0.0, 0.0, self.points[0][1]
        for pt, pv in self.points:
            if pt <= prev_t:
                prev_v = pv
                continue
            seg_end = min(pt, t)
            v_end = prev_v + (pv - prev_v) * (seg_end - prev_t) / (pt - prev_t)
            total += (prev_v + v_end) / 2 * (seg_end - prev_t)
            if t <= pt:
                return total
            prev_t, prev_v = pt, pv
        return total + prev_v * (t - prev_t)

    def time_of(self, k: float) -> float:
        """The time (seconds) at which the integral reaches k; math.inf if it never does."""
        if k <= 0:
            return 0.0
        done, prev_t, prev_v = 0.0, 0.0, self.points[0][1]
        for pt, pv in self.points:
            if pt <= prev_t:
                prev_v = pv
                continue
            area = (prev_v + pv) / 2 * (pt - prev_t)
            if done + area >= k:
                slope = (pv - prev_v) / (pt - prev_t)
                return prev_t + _solve(prev_v, slope, k - done)
            done += area
            prev_t, prev_v = pt, pv
        if prev_v <= 0:
            return math.inf
        return prev_t + (k - done) / prev_v


def _solve(v0: float, slope: float, area: float) -> float:
    """dt >= 0 with v0*dt + slope*dt^2/2 == area (stable form, also for slope == 0)."""
    disc = max(v0 * v0 + 2 * slope * area, 0.0)
    denom = v0 + math.sqrt(disc)
    return 2 * area / denom if denom > 0 else 0.0


def constant(value: float, duration: float) -> Shape:
    return Shape(((0.0, float(value)), (float(duration), float(value))))


def ramp_then_hold(value: float, ramp_up: float, duration: float) -> Shape:
    """From 0 to `value` over `ramp_up` seconds, then hold until `duration`."""
    if ramp_up <= 0:
        return constant(value, duration)
    ramp_up = min(ramp_up, duration)
    return Shape(((0.0, 0.0), (ramp_up, float(value)), (max(duration, ramp_up), float(value))))


def from_stages(stages, start: float = 0.0) -> Shape:
    """k6-style stages: [(duration_s, target), ...], each a linear ramp from the value before."""
    points, t = [(0.0, float(start))], 0.0
    for duration, target in stages:
        if duration < 0 or target < 0:
            raise ValueError("stage durations and targets must be >= 0")
        t += float(duration)
        points.append((t, float(target)))
    return Shape(tuple(points))


def split(total: int, parts: int, index: int) -> int:
    """Worker `index`'s share of `total` items split over `parts` workers (shares differ by <= 1)."""
    return total // parts + (1 if index < total % parts else 0)
