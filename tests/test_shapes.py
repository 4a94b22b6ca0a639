"""Load shapes are pure functions of elapsed time: tested with no network and no clock."""
import math

import pytest

from driver.shapes import Shape, constant, from_stages, ramp_then_hold, split


@pytest.mark.parametrize(
    "shape, t, want",
    [
        (constant(10, 60), 0, 10),  # constant from the start
        (constant(10, 60), 120, 10),  # holds after its end
        (ramp_then_hold(100, 10, 60), 0, 0),  # ramp starts at zero
        (ramp_then_hold(100, 10, 60), 5, 50),  # halfway up the ramp
        (ramp_then_hold(100, 10, 60), 30, 100),  # holding
        (from_stages([(10, 100), (10, 100), (10, 0)]), 25, 50),  # halfway down the last stage
        (from_stages([(0, 50), (10, 50)]), 0, 50),  # a zero-length stage jumps
        (from_stages([(10, 20)], start=10), 5, 15),  # stages ramp from a start value
    ],
)
def test_value_at(shape, t, want):
    assert shape.value_at(t) == pytest.approx(want)


@pytest.mark.parametrize(
    "shape, t, want",
    [
        (constant(100, 10), 1, 100),  # 100/s for 1 s
        (constant(100, 10), 20, 2000),  # after the end the last rate holds
        (ramp_then_hold(100, 10, 60), 10, 500),  # a triangle: 100 * 10 / 2
        (ramp_then_hold(100, 10, 60), 20, 1500),  # triangle then 10 s at 100/s
        (from_stages([(10, 0)], start=0), 5, 0),  # rate zero: nothing is due
    ],
)
def test_integral(shape, t, want):
    assert shape.integral(t) == pytest.approx(want)


@pytest.mark.parametrize(
    "shape",
    [constant(250, 10), ramp_then_hold(1000, 5, 20), from_stages([(3, 50), (2, 50), (4, 400), (3, 0)], start=5)],
)
def test_time_of_inverts_integral(shape):
    for k in [0.5, 1, 7, 33, 100, 250, 999]:
        t = shape.time_of(k)
        if math.isinf(t):
            assert shape.integral(1e6) < k + 1e-6
        else:
            assert shape.integral(t) == pytest.approx(k, rel=1e-9, abs=1e-9)


def test_arrivals_never_due_when_rate_is_zero_forever():
    assert math.isinf(from_stages([(5, 0)]).time_of(1))


def test_time_of_is_monotonic():
    shape = from_stages([(2, 100), (2, 10), (2, 300)])
    times = [shape.time_of(k) for k in range(0, 700)]
    assert times == sorted(times)


def test_workers_split_the_schedule_exactly():
    # arrival k goes to worker k % n: together the workers send exactly the shape's arrivals
    shape = ramp_then_hold(300, 2, 5)
    due = [shape.time_of(k) for k in range(1000)]
    per_worker = [[shape.time_of(k) for k in range(w, 1000, 3)] for w in range(3)]
    assert sorted(t for ts in per_worker for t in ts) == due


@pytest.mark.parametrize("total, parts", [(10, 3), (1, 4), (0, 2), (1000, 16), (7, 7)])
def test_split(total, parts):
    shares = [split(total, parts, i) for i in range(parts)]
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1


@pytest.mark.parametrize(
    "points",
    [(), ((1.0, 5.0), (0.5, 5.0)), ((0.0, -1.0),), ((-1.0, 5.0),)],
)
def test_invalid_shapes_are_rejected(points):
    with pytest.raises(ValueError):
        Shape(points)
