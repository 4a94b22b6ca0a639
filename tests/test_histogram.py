"""driver.histogram against the hdrhistogram package (the Python port of the C/Java
HdrHistogram): same geometry, same index for every value, same percentiles."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from driver import histogram as h
from driver.layout import COUNTS_LEN, HIGHEST_NS

INT64_MAX = (1 << 63) - 1


def reference_hdr() -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_NS, 3)


def log_uniform(n: int, seed: int, high: float = 7.2e12) -> np.ndarray:
    """n values log-uniform over 1 ns .. `high` ns (default 2 h, past HIGHEST_NS)."""
    rng = np.random.default_rng(seed)
    return np.exp(rng.uniform(0.0, math.log(high), n)).astype(np.int64)


EDGES = sorted(
    {0, 1, 2, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097, HIGHEST_NS - 1, HIGHEST_NS}
    | {(1 << k) + d for k in range(1, 42) for d in (-1, 0, 1)}
)


def test_geometry_matches_hdrhistogram():
    ref = reference_hdr()
    assert ref.counts_len == COUNTS_LEN
    assert ref.bucket_count == 32
    assert ref.sub_bucket_count == 2048


@pytest.mark.parametrize("value", EDGES)
def test_counts_index_at_edges_matches_hdrhistogram(value):
    assert h.counts_index(value) == reference_hdr()._counts_index_for(value)


def test_counts_index_matches_hdrhistogram_on_random_values():
    ref = reference_hdr()
    values = log_uniform(50_000, seed=1, high=float(HIGHEST_NS))
    assert [h.counts_index(int(v)) for v in values] == [ref._counts_index_for(int(v)) for v in values]


def test_counts_indexes_is_the_vectorised_counts_index():
    values = np.concatenate([np.array(EDGES, dtype=np.int64), log_uniform(50_000, seed=2)])
    assert h.counts_indexes(values).tolist() == [h.counts_index(int(v)) for v in values]
    with pytest.raises(ValueError):
        h.counts_indexes(np.array([-1]))


def test_counts_index_rejects_negative_and_beyond_int64():
    for bad in (-1, 1 << 63):
        with pytest.raises(ValueError):
            h.counts_index(bad)


def test_value_from_index_matches_hdrhistogram_for_every_index():
    ref = reference_hdr()
    assert [h.value_from_index(i) for i in range(COUNTS_LEN)] == [
        ref.get_value_from_index(i) for i in range(COUNTS_LEN)
    ]
    with pytest.raises(IndexError):
        h.value_from_index(COUNTS_LEN)


def test_equivalent_values_match_hdrhistogram_and_bound_the_bucket():
    ref = reference_hdr()
    values = EDGES + [int(v) for v in log_uniform(20_000, seed=3, high=float(HIGHEST_NS))]
    for v in values:
        low, high = h.lowest_equivalent(v), h.highest_equivalent(v)
        assert low == ref.get_lowest_equivalent_value(v)
        assert high == ref.get_highest_equivalent_value(v)
        assert low <= v <= high
        assert h.value_from_index(h.counts_index(v)) == low
        assert h.counts_index(low) == h.counts_index(high) == h.counts_index(v)
        assert high - low + 1 <= max(1, v // 1024)  # 3 significant digits


@pytest.mark.parametrize(
    "value, index_of, clamped",
    [
        (-5, 0, False),  # negative records as 0
        (0, 0, False),
        (HIGHEST_NS, HIGHEST_NS, False),  # the top of the range is not clamped
        (HIGHEST_NS + 1, HIGHEST_NS, True),  # just past it is
        (INT64_MAX, HIGHEST_NS, True),
    ],
)
def test_record_clamps_into_the_range(value, index_of, clamped):
    counts = h.new()
    assert h.record(counts, value) is clamped
    assert counts[h.counts_index(index_of)] == 1
    assert h.total(counts) == 1


def record_both(values) -> tuple[np.ndarray, HdrHistogram]:
    counts, ref = h.new(), reference_hdr()
    for v in values:
        h.record(counts, int(v))
        assert ref.record_value(int(v))
    return counts, ref


PS = [0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0]


@pytest.mark.parametrize(
    "values",
    [
        [7],  # one sample
        [1, 1, 1],  # one bucket
        [0, 5, 2048, 2049, 10**9],  # unit buckets, a boundary, a second
        list(range(1000, 2000)),  # a count where p*n/100 lands on .5
        [int(v) for v in log_uniform(20_000, seed=4, high=float(HIGHEST_NS))],
    ],
    ids=["one", "same", "edges", "dense", "log-uniform"],
)
def test_percentiles_match_hdrhistogram_exactly(values):
    counts, ref = record_both(values)
    assert h.percentiles(counts, PS) == [ref.get_value_at_percentile(p) for p in PS]
    assert h.percentile(counts, 100) == ref.get_max_value()
    assert h.total(counts) == ref.get_total_count()
    assert h.mean(counts) == pytest.approx(ref.get_mean_value(), rel=1e-12)


def test_percentiles_of_an_empty_histogram_are_zero():
    assert h.percentiles(h.new(), [0, 50, 100]) == [0, 0, 0]
    assert h.mean(h.new()) == 0.0
    assert h.total(h.new()) == 0


@pytest.mark.parametrize("p", [-0.1, 100.1, float("nan")])
def test_percentile_outside_0_100_is_refused(p):
    with pytest.raises(ValueError):
        h.percentile(h.new(), p)


def test_merge_equals_recording_both_sample_sets():
    a_values, b_values = log_uniform(5_000, seed=5), log_uniform(7_000, seed=6)
    a, b, both = h.new(), h.new(), h.new()
    for v in a_values:
        h.record(a, int(v))
        h.record(both, int(v))
    for v in b_values:
        h.record(b, int(v))
        h.record(both, int(v))
    merged = h.merge(a, b)
    assert np.array_equal(merged, both)
    assert merged is not a and merged is not b


def test_merge_adds_stacks_of_histograms():
    a = np.ones((2, 2, COUNTS_LEN), dtype=np.int64)
    assert (h.merge(a, a) == 2).all()


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((COUNTS_LEN,), (COUNTS_LEN - 1,)),  # wrong length
        ((COUNTS_LEN + 1,), (COUNTS_LEN + 1,)),  # another layout
        ((2, COUNTS_LEN), (COUNTS_LEN,)),  # different stacks
    ],
)
def test_merge_refuses_a_wrong_layout(a_shape, b_shape):
    a, b = np.ones(a_shape, dtype=np.int64), np.ones(b_shape, dtype=np.int64)
    with pytest.raises(ValueError):
        h.merge(a, b)
    assert (a == 1).all() and (b == 1).all()


def test_merge_refuses_an_overflow_before_producing_anything():
    a, b = h.new(), h.new()
    a[5], b[5] = INT64_MAX, 1
    a[6], b[6] = 3, 4
    a_before, b_before = a.copy(), b.copy()
    with pytest.raises(OverflowError):
        h.merge(a, b)
    assert np.array_equal(a, a_before) and np.array_equal(b, b_before)
    b[5] = 0
    assert h.merge(a, b)[5] == INT64_MAX  # exactly the maximum is fine


def test_merge_refuses_negative_counts_and_other_dtypes():
    a = h.new()
    a[3] = -1
    with pytest.raises(ValueError):
        h.merge(a, h.new())
    with pytest.raises(ValueError):
        h.merge(h.new().astype(np.float64), h.new())


def test_sparse_round_trip_through_json():
    counts = h.new()
    for v in log_uniform(3_000, seed=7):
        h.record(counts, int(v))
    counts[COUNTS_LEN - 1] = INT64_MAX  # the largest count survives too
    pairs = json.loads(json.dumps(h.to_sparse(counts)))
    assert pairs == sorted(pairs)
    assert np.array_equal(h.from_sparse(pairs), counts)
    assert h.to_sparse(h.new()) == []


@pytest.mark.parametrize(
    "pairs",
    [
        [[COUNTS_LEN, 1]],  # index past the end
        [[-1, 1]],  # negative index
        [[3, -1]],  # negative count
        [[3, 1 << 63]],  # count past int64
        [[3, 1], [3, 2]],  # an index twice
        [[3]],  # not a pair
        [[3.5, 1]],  # not an integer
    ],
)
def test_from_sparse_refuses_corrupted_pairs(pairs):
    with pytest.raises((ValueError, TypeError)):
        h.from_sparse(pairs)
