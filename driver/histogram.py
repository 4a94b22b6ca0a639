"""HdrHistogram bucket math and derivations: the pure-Python reference.

A histogram is a 1-D int64 numpy array of `layout.COUNTS_LEN` counts; values are
nanoseconds. The index math is HdrHistogram's (lowest 1 ns, highest 1 h, 3
significant digits), so an index here names the same bucket as in the C, Java and
Python HdrHistogram, and the compiled recorder (`ext/_recorder.pyx`) must agree with
this module bucket for bucket.

Every value `v` in [0, HIGHEST_NS] lands in a bucket [lowest_equivalent(v),
highest_equivalent(v)] whose width is at most v / 1024 (1 ns below 2048 ns).

Recording only increments; everything else (percentiles, mean, merge, JSON form)
is derived here, when asked.
"""
from __future__ import annotations

import operator
from typing import Iterable, Sequence

import numpy as np

from driver.layout import (
    COUNTS_LEN,
    HIGHEST_NS,
    LEADING_ZERO_COUNT_BASE,
    SUB_BUCKET_HALF_COUNT,
    SUB_BUCKET_HALF_COUNT_MAGNITUDE,
    SUB_BUCKET_MASK,
    UNIT_MAGNITUDE,
)

__all__ = [
    "counts_index",
    "counts_indexes",
    "value_from_index",
    "lowest_equivalent",
    "highest_equivalent",
    "record",
    "total",
    "mean",
    "percentile",
    "percentiles",
    "merge",
    "to_sparse",
    "from_sparse",
    "new",
]

INT64_MAX = (1 << 63) - 1


def new() -> np.ndarray:
    """An empty histogram: COUNTS_LEN zero int64 counts."""
    return np.zeros(COUNTS_LEN, dtype=np.int64)


# --- index math (HdrHistogram's, read like the paper) ---------------------------


def _bucket_index(value: int) -> int:
    # 64 - clz64(v | mask) is the bit length of (v | mask); mask keeps it >= 11.
    return LEADING_ZERO_COUNT_BASE - (64 - (value | SUB_BUCKET_MASK).bit_length())


def counts_index(value: int) -> int:
    """Index of the count that records `value` (ns, 0 <= value < 2**63).

    Pure math, no clamping: values above HIGHEST_NS give indexes that may reach
    or pass COUNTS_LEN; `record` clamps before it indexes.
    """
    value = operator.index(value)
    if not 0 <= value <= INT64_MAX:
        raise ValueError(f"value {value} outside 0..2**63-1")
    bucket = _bucket_index(value)
    sub_bucket = value >> (bucket + UNIT_MAGNITUDE)
    return ((bucket + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + (sub_bucket - SUB_BUCKET_HALF_COUNT)


def counts_indexes(values: np.ndarray) -> np.ndarray:
    """Vectorised `counts_index` for an int64 array of values in [0, 2**53).

    The bit length comes from `np.frexp`, which is exact for integers below
    2**53 (float64 holds them exactly); HIGHEST_NS is about 2**41.7.
    """
    v = np.asarray(values, dtype=np.int64)
    if v.size and (v.min() < 0 or v.max() >= 1 << 53):
        raise ValueError("counts_indexes takes values in 0..2**53-1")
    _, bit_length = np.frexp((v | SUB_BUCKET_MASK).astype(np.float64))
    bucket = LEADING_ZERO_COUNT_BASE - (64 - bit_length.astype(np.int64))
    sub_bucket = v >> (bucket + UNIT_MAGNITUDE)
    return ((bucket + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + (sub_bucket - SUB_BUCKET_HALF_COUNT)


def value_from_index(index: int) -> int:
    """Lowest value (ns) recorded at `index` (HdrHistogram's valueFromIndex)."""
    index = operator.index(index)
    if not 0 <= index < COUNTS_LEN:
        raise IndexError(f"index {index} outside 0..{COUNTS_LEN - 1}")
    bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1
    sub_bucket = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT
    if bucket < 0:  # the first half-bucket: values 0..1023 at unit resolution
        sub_bucket -= SUB_BUCKET_HALF_COUNT
        bucket = 0
    return sub_bucket << (bucket + UNIT_MAGNITUDE)


def _range_size(value: int) -> int:
    # Width of the bucket holding `value`: 2**bucket units (1 ns in buckets 0).
    return 1 << (UNIT_MAGNITUDE + _bucket_index(value))


def lowest_equivalent(value: int) -> int:
    """Smallest value (ns) that shares `value`'s bucket."""
    value = operator.index(value)
    bucket = _bucket_index(value)
    return (value >> (bucket + UNIT_MAGNITUDE)) << (bucket + UNIT_MAGNITUDE)


def highest_equivalent(value: int) -> int:
    """Largest value (ns) that shares `value`'s bucket."""
    return lowest_equivalent(value) + _range_size(operator.index(value)) - 1


def _median_equivalent(value: int) -> int:
    return lowest_equivalent(value) + (_range_size(value) >> 1)


# --- recording ------------------------------------------------------------------


def record(counts: np.ndarray, value: int) -> bool:
    """Record one value (ns) into `counts`; the reference of the compiled record.

    Negative values record as 0; values above HIGHEST_NS record as HIGHEST_NS.
    Returns True when the value was clamped above (the caller counts C_CLAMPED).
    """
    value = operator.index(value)
    clamped = value > HIGHEST_NS
    if clamped:
        value = HIGHEST_NS
    elif value < 0:
        value = 0
    counts[counts_index(value)] += 1
    return clamped


# --- derivations ----------------------------------------------------------------


def _check_len(counts) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.shape != (COUNTS_LEN,):
        raise ValueError(f"a histogram has shape ({COUNTS_LEN},), not {counts.shape}")
    return counts


def total(counts: np.ndarray) -> int:
    """Number of recorded values."""
    return int(_check_len(counts).sum(dtype=np.int64))


def mean(counts: np.ndarray) -> float:
    """Mean (ns) from bucket mid-points, as HdrHistogram's getMean.

    Only a fallback: the counters' C_LAT_SUM_NS / C_REQUESTS is exact. 0.0 when empty.
    """
    counts = _check_len(counts)
    nonzero = np.flatnonzero(counts)
    n = int(counts[nonzero].sum(dtype=np.int64))
    if n == 0:
        return 0.0
    # Python ints: count * mid-point overflows int64 past ~2.5e6 one-hour samples.
    weighted = sum(int(counts[i]) * _median_equivalent(value_from_index(int(i))) for i in nonzero)
    return weighted / n


def _target_count(p: float, n: int) -> int:
    # hdrhistogram's getTargetCountAtPercentile, same float order of operations.
    return max(int((p * n / 100) + 0.5), 1)


def percentiles(counts: np.ndarray, ps: Sequence[float]) -> list[int]:
    """Values (ns) at percentiles `ps` (each 0..100), as HdrHistogram computes them.

    Target count = max(1, int(p*total/100 + 0.5)); the answer is the highest
    equivalent value of the first bucket whose cumulative count reaches it, or,
    for p == 0, the lowest equivalent value of the first non-empty bucket. An
    empty histogram gives 0 for every p.
    """
    counts = _check_len(counts)
    ps = [float(p) for p in ps]
    for p in ps:
        if not 0.0 <= p <= 100.0:  # also rejects NaN
            raise ValueError(f"percentile {p} outside 0..100")
    cumulative = np.cumsum(counts, dtype=np.int64)
    n = int(cumulative[-1])
    if n == 0:
        return [0 for _ in ps]
    targets = np.array([_target_count(p, n) for p in ps], dtype=np.int64)
    indexes = np.searchsorted(cumulative, targets, side="left")
    out = []
    for p, i in zip(ps, indexes):
        value = value_from_index(int(i))
        out.append(highest_equivalent(value) if p else lowest_equivalent(value))
    return out


def percentile(counts: np.ndarray, p: float) -> int:
    """Value (ns) at percentile `p` (0..100); see `percentiles`."""
    return percentiles(counts, [p])[0]


# --- merging and the JSON form --------------------------------------------------


def merge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A new array a + b, after checking layout and overflow; inputs never change.

    Both must have the same shape whose last axis is COUNTS_LEN (one histogram,
    or a stack such as a block's hists[E, H, L]), hold non-negative counts, and
    sum without passing INT64_MAX in any slot; otherwise ValueError (layout,
    negative) or OverflowError, and nothing is produced.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape or a.ndim == 0 or a.shape[-1] != COUNTS_LEN:
        raise ValueError(f"cannot merge shapes {a.shape} and {b.shape}: last axis must be {COUNTS_LEN}")
    if a.dtype != np.int64 or b.dtype != np.int64:
        raise ValueError(f"histograms are int64, not {a.dtype} and {b.dtype}")
    if (a < 0).any() or (b < 0).any():
        raise ValueError("a histogram holds a negative count")
    if (b > INT64_MAX - a).any():  # INT64_MAX - a cannot overflow: a >= 0
        raise OverflowError("merged count would exceed 2**63-1")
    return a + b


def to_sparse(counts: np.ndarray) -> list[list[int]]:
    """Non-zero counts as [[index, count], ...] in index order (plain ints, for JSON)."""
    counts = _check_len(counts)
    nonzero = np.flatnonzero(counts)
    return [[int(i), int(counts[i])] for i in nonzero]


def from_sparse(pairs: Iterable[Sequence[int]]) -> np.ndarray:
    """Inverse of `to_sparse`. Rejects out-of-range indexes, negative or too large
    counts and repeated indexes (ValueError): a repeat means a corrupted result."""
    counts = new()
    seen = set()
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"expected [index, count], got {pair!r}")
        index, count = operator.index(pair[0]), operator.index(pair[1])
        if not 0 <= index < COUNTS_LEN:
            raise ValueError(f"index {index} outside 0..{COUNTS_LEN - 1}")
        if not 0 <= count <= INT64_MAX:
            raise ValueError(f"count {count} at index {index} outside 0..2**63-1")
        if index in seen:
            raise ValueError(f"index {index} appears twice")
        seen.add(index)
        counts[index] = count
    return counts
