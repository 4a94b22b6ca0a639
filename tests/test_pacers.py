"""Pacers are pure: a shape, a worker's share, a time -> a count or a due time."""
import math

import pytest

from driver.engine.pacers import LEAD_S, TICK_S, ClosedPacer, OpenPacer
from driver.shapes import constant, from_stages, ramp_then_hold


@pytest.mark.parametrize(
    "shape, workers, index, t, want",
    [
        (constant(10, 5), 1, 0, 0.0, 10),  # one worker takes everything
        (constant(10, 5), 3, 0, 1.0, 4),  # 10 over 3 workers: 4, 3, 3
        (constant(10, 5), 3, 1, 1.0, 3),
        (constant(10, 5), 3, 2, 1.0, 3),
        (ramp_then_hold(100, 10, 20), 1, 0, 5.0, 50),  # half-way up the ramp
        (ramp_then_hold(100, 10, 20), 1, 0, 0.0, 0),  # a ramp starts at 0
        (ramp_then_hold(100, 10, 20), 2, 1, 15.0, 50),  # holding, second of two workers
        (from_stages([(10, 20), (10, 0)]), 1, 0, 15.0, 10),  # ramping down
        (constant(10, 5), 1, 0, -1.0, 10),  # before the start: as at the start
        (constant(1, 5), 4, 3, 1.0, 0),  # fewer users than workers: the last gets none
    ],
)
def test_closed_pacer_active_at(shape, workers, index, t, want):
    assert ClosedPacer(shape, workers, index).active_at(t) == want


@pytest.mark.parametrize(
    "shape, workers, index, j, want",
    [
        (constant(100, 10), 1, 0, 0, 0.0),  # the first arrival is due at once
        (constant(100, 10), 1, 0, 50, 0.5),  # 100/s: arrival 50 at 0.5 s
        (constant(100, 10), 2, 0, 25, 0.5),  # two workers take turns: worker 0 owns 0, 2, 4, ...
        (constant(100, 10), 2, 1, 25, 0.51),  # worker 1 owns 1, 3, 5, ...: its 25th is arrival 51
        (ramp_then_hold(100, 10, 20), 1, 0, 50, 10 ** 0.5),  # ramp 0->100/s over 10 s: 5 t^2 arrivals by t
    ],
)
def test_open_pacer_due(shape, workers, index, j, want):
    assert OpenPacer(shape, workers, index).due(j) == pytest.approx(want)


def test_open_pacer_workers_share_the_schedule_exactly():
    # together the workers send exactly the plan's arrivals, none twice, none skipped
    shape = ramp_then_hold(300, 2, 4)
    per_worker = [OpenPacer(shape, 3, i) for i in range(3)]
    times = sorted(p.due(j) for p in per_worker for j in range(200))
    assert times == pytest.approx(sorted(shape.time_of(k) for k in range(600)))


@pytest.mark.parametrize(
    "j, now, want",
    [
        (50, 0.0, 0.5 - LEAD_S),  # due in 0.5 s: wake half a tick before; what is due by then goes out
        (50, 0.4999, TICK_S),  # due in 0.1 ms: never sooner than one timer tick (no spinning)
        (50, 0.6, TICK_S),  # overdue: at the next tick
    ],
)
def test_open_pacer_wakes_no_sooner_than_a_tick(j, now, want):
    assert OpenPacer(constant(100, 10), 1, 0).next_wake(j, now) == pytest.approx(want)


def test_open_pacer_never_wakes_when_the_rate_ends():
    # a shape that falls to 0 for good: arrivals past its integral are never due
    shape = from_stages([(1, 10), (1, 0)])
    pacer = OpenPacer(shape, 1, 0)
    assert math.isinf(pacer.due(10_000))
    assert math.isinf(pacer.next_wake(10_000, 3.0))
