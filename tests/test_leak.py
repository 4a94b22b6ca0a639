"""driver.stats.leak (the Theil–Sen memory slope after warm-up) and the slope thresholds."""
from __future__ import annotations

import numpy as np
import pytest

from driver.errors import PlanError
from driver.stats.leak import leak_verdicts, slope, theil_sen, warmup_s
from driver.stats.result import Result
from driver.stats.thresholds import evaluate, is_live, parse_threshold

MB = 1e6


def _series(seconds: int, mb_per_h: float, noise_mb: float, seed: int, base_mb: float = 200.0):
    rng = np.random.default_rng(seed)
    t = np.arange(1, seconds + 1, dtype=float)
    y = base_mb * MB + t * mb_per_h * MB / 3600 + rng.normal(0, noise_mb * MB, len(t))
    return t, y


@pytest.mark.parametrize("mb_per_h, noise_mb, seed", [
    (0.0, 0.5, 1),     # flat with noise: the interval covers 0
    (0.0, 2.0, 2),     # flat, noisier
    (36.0, 0.2, 3),    # a 36 MB/h leak over 10 minutes: inside the interval
    (36.0, 0.5, 4),
    (-20.0, 0.2, 5),   # memory given back: a negative slope
])
def test_slope_interval_covers_the_true_slope(mb_per_h, noise_mb, seed):
    t, y = _series(600, mb_per_h, noise_mb, seed)
    v = slope(t, y, start=0.0)
    assert v["low_mb_h"] <= mb_per_h <= v["high_mb_h"]
    assert v["low_mb_h"] <= v["slope_mb_h"] <= v["high_mb_h"]


def test_a_leak_is_told_from_flat():
    flat = slope(*_series(600, 0.0, 0.5, 7), start=0.0)
    leaking = slope(*_series(600, 36.0, 0.5, 7), start=0.0)
    assert leaking["low_mb_h"] > 0 > flat["low_mb_h"]
    assert flat["low_mb_h"] <= 0 <= flat["high_mb_h"]


@pytest.mark.parametrize("spikes, size_mb", [
    (10, 300.0),   # ten GC-pause-like spikes of +300 MB in 600 points
    (30, -150.0),  # thirty drops
])
def test_outliers_move_the_slope_little(spikes, size_mb):
    t, y = _series(600, 36.0, 0.2, 11)
    clean = slope(t, y, start=0.0)["slope_mb_h"]
    rng = np.random.default_rng(12)
    y = y.copy()
    y[rng.choice(len(y), spikes, replace=False)] += size_mb * MB
    spiked = slope(t, y, start=0.0)["slope_mb_h"]
    ols = np.polyfit(t, y, 1)[0] * 3600 / MB  # least squares, for contrast
    assert abs(spiked - clean) < 0.2 * 36.0
    assert abs(spiked - clean) < abs(ols - clean)


@pytest.mark.parametrize("span_s, expected", [
    (10.0, 2.0),      # 20% of a short run
    (300.0, 60.0),    # 60 s caps it
    (3600.0, 60.0),
    (0.0, 0.0),
])
def test_warmup(span_s, expected):
    assert warmup_s(span_s) == pytest.approx(expected)


def test_warmup_is_dropped():
    # a steep warm-up in the first minute, then flat: the flat part is judged
    t = np.arange(1, 601, dtype=float)
    y = np.where(t < 60, t * 2 * MB, 120 * MB)
    v = slope(t, y, start=0.0)
    assert v["warmup_s"] == 60.0
    assert v["slope_mb_h"] == 0.0


def test_too_few_points_give_no_verdict():
    assert slope([1.0, 2.0], [1.0, 2.0]) is None
    with pytest.raises(ValueError):
        theil_sen([1.0, 2.0], [1.0, 2.0])


def test_long_series_are_thinned_and_still_fit():
    t, y = _series(7200, 36.0, 0.5, 21)
    v = slope(t, y, start=0.0)
    assert v["points"] <= 1500
    assert v["low_mb_h"] <= 36.0 <= v["high_mb_h"]


def test_leak_verdicts_from_series_points():
    pts = [{"t": float(s), "watch": {"42": {"rss_bytes": int(100 * MB + s * MB)}},
            "driver_rss": {"parent": int(50 * MB), "worker 0": int(60 * MB)}} for s in range(1, 11)]
    out = leak_verdicts(pts)
    assert out["targets"]["42"]["slope_mb_h"] == pytest.approx(3600.0)
    assert out["driver"]["parent"]["slope_mb_h"] == 0.0
    assert set(out["driver"]) == {"parent", "worker 0"}
    assert leak_verdicts([]) == {"targets": {}, "driver": {}}


# -- thresholds -------------------------------------------------------------------

@pytest.mark.parametrize("text, metric, limit_mb_h", [
    ("target_rss_slope<10MB/h", "target_rss_slope", 10.0),
    ("target_rss_slope < 10 MB/h", "target_rss_slope", 10.0),
    ("target_rss_slope<1KB/s", "target_rss_slope", 3.6),        # 1000 B/s * 3600
    ("target_rss_slope<1GB/h", "target_rss_slope", 1000.0),
    ("target_rss_slope<1MiB/min", "target_rss_slope", 1.048576 * 60),
    ("driver_rss_slope<=50mb/h", "driver_rss_slope", 50.0),    # units are case-insensitive
    ("driver_rss_slope<100B/s", "driver_rss_slope", 0.36),
])
def test_slope_thresholds_parse(text, metric, limit_mb_h):
    th = parse_threshold(text)
    assert (th.metric, th.unit) == (metric, "MB/h")
    assert th.limit == pytest.approx(limit_mb_h)
    assert not is_live(th)  # judged at the end only


@pytest.mark.parametrize("text, words", [
    ("target_rss_slope<10", "size per time"),            # no unit
    ("target_rss_slope<10MB", "size per time"),          # no time
    ("target_rss_slope<10ms", "size per time"),          # a time unit
    ("target_rss_slope<10MB/week", "size per time"),     # unknown time
    ("/start:target_rss_slope<10MB/h", "not an endpoint"),
    ("target_rss_slop<10MB/h", "did you mean"),
])
def test_slope_threshold_errors(text, words):
    with pytest.raises(PlanError) as exc:
        parse_threshold(text)
    assert words in str(exc.value)


def _result(leak: dict) -> Result:
    return Result(plan={}, endpoints=[], duration_s=10.0, started_at="", leak=leak)


@pytest.mark.parametrize("text, leak, value, passed", [
    # the largest slope of the watched processes is judged
    ("target_rss_slope<10MB/h", {"targets": {"1": {"slope_mb_h": 2.0}, "2": {"slope_mb_h": 12.0}}}, 12.0, False),
    ("target_rss_slope<10MB/h", {"targets": {"1": {"slope_mb_h": 2.0}}}, 2.0, True),
    ("target_rss_slope<10MB/h", {"targets": {}}, None, False),  # nothing watched: no data fails
    ("driver_rss_slope<10MB/h", {"driver": {"worker 0": {"slope_mb_h": 3.0}}}, 3.0, True),
])
def test_slope_thresholds_judged(text, leak, value, passed):
    (v,) = evaluate([parse_threshold(text)], _result(leak))
    assert (v["value"], v["passed"], v["unit"]) == (value, passed, "MB/h")


def test_results_keep_notes_and_leak_through_json_and_merge():
    a = Result(plan={}, endpoints=[], duration_s=1.0, started_at="a", notes=["watched process 5 exited at 2s"],
               leak={"targets": {"5": {"slope_mb_h": 1.0}}, "driver": {}})
    b = Result(plan={}, endpoints=[], duration_s=1.0, started_at="b",
               leak={"targets": {"6": {"slope_mb_h": 2.0}}, "driver": {}})
    back = Result.from_dict(a.to_dict())
    assert (back.notes, back.leak) == (a.notes, a.leak)
    merged = a.merge(b)
    assert merged.notes == a.notes and set(merged.leak["targets"]) == {"5", "6"}


def test_a_last_partial_second_does_not_widen_the_interval():
    # a steady leak sampled each second, then one more sample 0.1 s later with some noise
    t = [1.0, 2.0, 3.0, 4.0, 4.1]
    y = [40 * MB, 50 * MB, 60 * MB, 70 * MB, 69 * MB]
    v = slope(t, y, start=0.0)
    assert v["points"] == 4 and v["low_mb_h"] == v["high_mb_h"] == pytest.approx(36000.0)
