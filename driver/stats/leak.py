"""The leak verdict: how fast a process's memory grows after warm-up, by a robust fit.

A soak run samples each watched process's RSS once a second (driver.runner.watch).
Memory rises while caches, pools and JIT-ish structures fill, so the first part of
the run is dropped: the first 20% of the samples' span or 60 s, whichever is less.
On the rest the slope is the Theil–Sen estimate (the median of the slopes of all
pairs of points), which a few spikes (a GC pause, a burst of buffers) do not move,
with Sen's (1968) confidence interval from Kendall's S variance (95%). The slope is
in MB per hour (1 MB = 10**6 bytes).

Pure: plain lists and numpy in, plain dicts out.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["theil_sen", "warmup_s", "slope", "leak_verdicts", "MB", "MAX_POINTS", "MIN_POINTS"]

MB = 1e6  # bytes
WARMUP_SHARE = 0.2
WARMUP_MAX_S = 60.0
MAX_POINTS = 1500  # longer series are thinned evenly (pairs grow as n**2: 1500 -> 1.1M slopes)
MIN_POINTS = 3
MIN_GAP_S = 0.5  # a sample this close after the one kept before is skipped (the run's last, partial second)
Z95 = 1.959964  # two-sided 95% normal quantile


def theil_sen(t, y) -> tuple[float, float, float]:
    """(slope, low, high) of y over t: the median of the pairwise slopes and Sen's 95%
    interval. `t` strictly increasing is not required; pairs with equal t are skipped.
    ValueError with fewer than MIN_POINTS points."""
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = len(t)
    if n < MIN_POINTS or len(y) != n:
        raise ValueError(f"need at least {MIN_POINTS} points of equal length, got {n}")
    i, j = np.triu_indices(n, k=1)
    dt = t[j] - t[i]
    keep = dt != 0
    slopes = np.sort((y[j] - y[i])[keep] / dt[keep])
    m = len(slopes)
    if m == 0:
        raise ValueError("all points have the same time")
    est = float(np.median(slopes))
    # Sen's interval: the ranks (m -/+ C)/2 of the sorted slopes, C = z * sqrt(Var S)
    c = Z95 * math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    lo_rank = int(math.floor((m - c) / 2.0))
    hi_rank = int(math.ceil((m + c) / 2.0))
    low = float(slopes[max(lo_rank, 0)])
    high = float(slopes[min(hi_rank, m - 1)])
    return est, low, high


def warmup_s(span_s: float) -> float:
    """Seconds dropped at the start: 20% of the span or 60 s, whichever is less."""
    return min(WARMUP_SHARE * max(span_s, 0.0), WARMUP_MAX_S)


def _spaced(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples at least MIN_GAP_S apart: over a short gap the RSS noise of one moment
    (an allocation in progress) becomes a wild slope that widens the interval."""
    keep, last = [], None
    for i, a in enumerate(t):
        if last is None or a - last >= MIN_GAP_S:
            keep.append(i)
            last = a
    return t[keep], y[keep]


def _thin(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(t) <= MAX_POINTS:
        return t, y
    idx = np.unique(np.linspace(0, len(t) - 1, MAX_POINTS).round().astype(int))
    return t[idx], y[idx]


def slope(t, rss_bytes, start: float | None = None) -> dict | None:
    """The leak verdict of one process from its samples (seconds, bytes): {"slope_mb_h",
    "low_mb_h", "high_mb_h", "points", "warmup_s", "start_mb", "end_mb"}; None when fewer
    than MIN_POINTS samples are left after the warm-up. The warm-up counts from `start`
    (the start of the load; by default the first sample) to the last sample."""
    pairs = [(float(a), float(b)) for a, b in zip(t, rss_bytes) if a is not None and b is not None]
    if len(pairs) < MIN_POINTS:
        return None
    ts = np.array([p[0] for p in pairs])
    ys = np.array([p[1] for p in pairs])
    origin = float(ts[0]) if start is None else float(start)
    cut = warmup_s(float(ts[-1]) - origin)
    keep = ts >= origin + cut
    ts, ys = _thin(*_spaced(ts[keep], ys[keep]))
    if len(ts) < MIN_POINTS:
        return None
    try:
        est, low, high = theil_sen(ts, ys)
    except ValueError:
        return None
    per_h = 3600.0 / MB
    return {"slope_mb_h": round(est * per_h, 4), "low_mb_h": round(low * per_h, 4),
            "high_mb_h": round(high * per_h, 4), "points": int(len(ts)), "warmup_s": round(cut, 3),
            "start_mb": round(float(ys[0]) / MB, 3), "end_mb": round(float(ys[-1]) / MB, 3)}


def leak_verdicts(series: list[dict]) -> dict:
    """The leak verdicts of a run from its per-second points (Result.series, `t` in seconds
    since the start of the load, which the warm-up counts from):
    {"targets": {pid: verdict}, "driver": {"parent": verdict, "worker N": verdict}}
    (driver.stats.window.Window.point's "watch" and "driver_rss"); a process without
    enough samples is left out."""
    targets: dict[str, list] = {}
    own: dict[str, list] = {}
    for p in series:
        t = p.get("t")
        for pid, sample in (p.get("watch") or {}).items():
            targets.setdefault(str(pid), []).append((t, sample.get("rss_bytes")))
        for name, rss in (p.get("driver_rss") or {}).items():
            own.setdefault(name, []).append((t, rss))
    out: dict = {"targets": {}, "driver": {}}
    for key, found in (("targets", targets), ("driver", own)):
        for name, samples in found.items():
            v = slope([s[0] for s in samples], [s[1] for s in samples], start=0.0)  # t: since the load began
            if v is not None:
                out[key][name] = v
    return out
