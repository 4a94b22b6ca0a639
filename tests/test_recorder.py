"""One test body, two recorders: the compiled driver._recorder.Recorder and the
pure-Python reference driver.recorder.Recorder. The compiled one is skipped where
it is not built, and fails in CI (env CI set), where it must be."""
from __future__ import annotations

import copy
import math
import os
import pickle
import time

import numpy as np
import pytest

from driver import histogram as h
from driver import recorder as reference
from driver.layout import (
    C_BYTES_IN,
    C_CLAMPED,
    C_ERR_CONN_RESET,
    C_ERR_PROTOCOL,
    C_LAT_MAX_NS,
    C_LAT_MIN_NS,
    C_LAT_SUM_NS,
    C_REQUESTS,
    C_STATUS_1XX,
    C_STATUS_2XX,
    C_STATUS_3XX,
    C_STATUS_4XX,
    C_STATUS_5XX,
    COUNTS_LEN,
    H_LATENCY,
    H_SERVICE,
    HIGHEST_NS,
    LAT_MIN_UNSET,
    N_COUNTERS,
    N_HISTS,
    ST_ACTIVE_USERS,
    ST_LAG_MAX_NS,
    ST_PHASE,
    STATUS_LEN,
    BlockLayout,
)

INT64_MAX = (1 << 63) - 1
N_ENDPOINTS = 3


def compiled_core():
    """driver._recorder, or skip (fail in CI) when it was not built."""
    try:
        from driver import _recorder
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"driver._recorder did not load in CI: {exc}")
        pytest.skip(f"driver._recorder not built ({exc}); build it with `python setup.py build_ext --inplace`")
    return _recorder


@pytest.fixture(params=["reference", "compiled"])
def impl(request):
    """The module under test: it has `Recorder` and `now_ns`."""
    return reference if request.param == "reference" else compiled_core()


def new_block(n_endpoints: int = N_ENDPOINTS) -> np.ndarray:
    block = np.empty(BlockLayout(n_endpoints).length, dtype=np.int64)
    BlockLayout(n_endpoints).initialise(block)
    return block


def views(block, n_endpoints: int = N_ENDPOINTS):
    return BlockLayout(n_endpoints).views(block)


def log_uniform(n: int, seed: int) -> np.ndarray:
    """n values log-uniform over 1 ns .. 2 h (past HIGHEST_NS, so some clamp)."""
    rng = np.random.default_rng(seed)
    return np.exp(rng.uniform(0.0, math.log(7.2e12), n)).astype(np.int64)


EDGES = sorted(
    {0, 1, 2, 2047, 2048, 2049, HIGHEST_NS - 1, HIGHEST_NS, HIGHEST_NS + 1, 1 << 50, 1 << 62, INT64_MAX, -1, -(1 << 63)}
    | {(1 << k) + d for k in range(1, 63) for d in (-1, 0, 1)}
)


def expected_hist(values) -> tuple[np.ndarray, int]:
    """The histogram and clamped count driver.histogram gives for `values`."""
    counts, clamped = h.new(), 0
    for v in values:
        clamped += h.record(counts, int(v))
    return counts, clamped


# --- histograms


def test_record_matches_the_bucket_math_on_edges_and_random_values(impl):
    values = EDGES + [int(v) for v in log_uniform(20_000, seed=1)]
    block = new_block()
    rec = impl.Recorder(block, N_ENDPOINTS)
    for v in values:
        rec.record(1, H_SERVICE, v)
    _, counters, hists = views(block)
    counts, clamped = expected_hist(values)
    assert np.array_equal(hists[1, H_SERVICE], counts)
    assert counters[1, C_CLAMPED] == clamped > 0
    # nothing else moved
    assert not hists[0].any() and not hists[2].any() and not hists[1, H_LATENCY].any()


def test_record_array_equals_one_record_per_value(impl):
    values = np.concatenate([np.array(EDGES, dtype=np.int64), log_uniform(50_000, seed=2)])
    one, bulk = new_block(), new_block()
    rec_one, rec_bulk = impl.Recorder(one, N_ENDPOINTS), impl.Recorder(bulk, N_ENDPOINTS)
    for v in values:
        rec_one.record(2, H_LATENCY, int(v))
    rec_bulk.record_array(2, H_LATENCY, values)
    assert np.array_equal(one, bulk)
    rec_bulk.record_array(2, H_LATENCY, np.array([], dtype=np.int64))  # empty is fine
    assert np.array_equal(one, bulk)


def test_record_array_takes_read_only_int64_buffers_only(impl):
    block = new_block()
    rec = impl.Recorder(block, N_ENDPOINTS)
    values = np.arange(10, dtype=np.int64)
    values.flags.writeable = False
    rec.record_array(0, H_LATENCY, values)
    assert h.total(views(block)[2][0, H_LATENCY]) == 10
    for bad in (np.arange(3, dtype=np.int32), np.arange(6, dtype=np.int64)[::2], np.zeros((1, 3), np.int64)):
        with pytest.raises(ValueError):
            rec.record_array(0, H_LATENCY, bad)
    for bad in ([1, 2], None):
        with pytest.raises(TypeError):
            rec.record_array(0, H_LATENCY, bad)


def test_compiled_and_reference_agree_bucket_for_bucket():
    core = compiled_core()
    values = EDGES + [int(v) for v in log_uniform(20_000, seed=3)]
    blocks = []
    for cls in (reference.Recorder, core.Recorder):
        block = new_block()
        rec = cls(block, N_ENDPOINTS)
        for i, v in enumerate(values):
            rec.record(i % N_ENDPOINTS, i % N_HISTS, v)
            rec.response(i % N_ENDPOINTS, 100 + i % 600, i, v, v // 2 if i % 3 else -1)
        rec.record_array(0, H_SERVICE, np.array(values, dtype=np.int64))
        blocks.append(block)
    assert np.array_equal(blocks[0], blocks[1])


# --- counters


@pytest.mark.parametrize(
    "status, counter",
    [
        (100, C_STATUS_1XX),
        (199, C_STATUS_1XX),
        (200, C_STATUS_2XX),
        (304, C_STATUS_3XX),
        (404, C_STATUS_4XX),
        (503, C_STATUS_5XX),
        (599, C_STATUS_5XX),
        (600, C_ERR_PROTOCOL),  # no such class
        (99, C_ERR_PROTOCOL),
        (0, C_ERR_PROTOCOL),
        (-200, C_ERR_PROTOCOL),  # -200 // 100 is not a class either
    ],
)
def test_response_counts_the_status_class_or_a_protocol_error(impl, status, counter):
    block = new_block()
    impl.Recorder(block, N_ENDPOINTS).response(1, status, 10, 1000, -1)
    _, counters, _ = views(block)
    classes = [C_STATUS_1XX, C_STATUS_2XX, C_STATUS_3XX, C_STATUS_4XX, C_STATUS_5XX, C_ERR_PROTOCOL]
    assert [int(counters[1, c]) for c in classes] == [int(c == counter) for c in classes]
    assert counters[1, C_REQUESTS] == 1


def test_response_sums_bytes_and_latency_with_exact_min_max(impl):
    block = new_block()
    rec = impl.Recorder(block, N_ENDPOINTS)
    latencies = [5_000, 1_000_000, 300, HIGHEST_NS + 7, 42]
    for i, lat in enumerate(latencies):
        rec.response(0, 200, 100 + i, lat, -1)
    _, counters, hists = views(block)
    assert counters[0, C_REQUESTS] == 5
    assert counters[0, C_BYTES_IN] == 510
    assert counters[0, C_LAT_SUM_NS] == sum(latencies)
    assert counters[0, C_LAT_MIN_NS] == 42
    assert counters[0, C_LAT_MAX_NS] == HIGHEST_NS + 7  # exact, not clamped
    assert counters[0, C_CLAMPED] == 1
    assert np.array_equal(hists[0, H_LATENCY], expected_hist(latencies)[0])
    assert not hists[0, H_SERVICE].any()  # service_ns < 0: not recorded
    assert counters[1, C_LAT_MIN_NS] == LAT_MIN_UNSET  # other endpoints untouched


def test_response_records_service_time_when_given(impl):
    block = new_block()
    rec = impl.Recorder(block, N_ENDPOINTS)
    rec.response(2, 200, 0, 9_000, 4_000)
    rec.response(2, 200, 0, 9_000, 0)  # 0 is a service time
    rec.response(2, 200, 0, 9_000)  # default: none
    _, _, hists = views(block)
    assert np.array_equal(hists[2, H_SERVICE], expected_hist([4_000, 0])[0])
    assert h.total(hists[2, H_LATENCY]) == 3


def test_response_counts_a_negative_latency_as_zero(impl):
    block = new_block()
    impl.Recorder(block, N_ENDPOINTS).response(0, 200, 0, -50, -1)
    _, counters, hists = views(block)
    assert counters[0, C_LAT_MIN_NS] == counters[0, C_LAT_MAX_NS] == counters[0, C_LAT_SUM_NS] == 0
    assert hists[0, H_LATENCY, 0] == 1


def test_response_refuses_negative_bytes(impl):
    block = new_block()
    before = block.copy()
    with pytest.raises(ValueError):
        impl.Recorder(block, N_ENDPOINTS).response(0, 200, -1, 5, -1)
    assert np.array_equal(block, before)


def test_count_adds_and_refuses_to_shrink(impl):
    block = new_block()
    rec = impl.Recorder(block, N_ENDPOINTS)
    rec.count(2, C_ERR_CONN_RESET)
    rec.count(2, C_ERR_CONN_RESET, 4)
    rec.count(0, N_COUNTERS - 1, 0)
    with pytest.raises(ValueError):
        rec.count(2, C_ERR_CONN_RESET, -1)
    _, counters, _ = views(block)
    assert counters[2, C_ERR_CONN_RESET] == 5
    counters[:, C_LAT_MIN_NS] = 0
    assert counters.sum() == 5  # nothing else moved


# --- status


def test_status_set_add_and_max(impl):
    block = new_block()
    rec = impl.Recorder(block, N_ENDPOINTS)
    rec.set_status(ST_PHASE, 2)
    rec.add_status(ST_ACTIVE_USERS, 10)
    rec.add_status(ST_ACTIVE_USERS)
    rec.add_status(ST_ACTIVE_USERS, -3)
    for lag in (5, 50, 7):
        rec.max_status(ST_LAG_MAX_NS, lag)
    rec.set_status(STATUS_LEN - 1, -9)
    status, _, _ = views(block)
    assert status[ST_PHASE] == 2
    assert status[ST_ACTIVE_USERS] == 8
    assert status[ST_LAG_MAX_NS] == 50
    assert status[STATUS_LEN - 1] == -9


# --- never outside the block


def out_of_range_calls(rec):
    """(call, args) rows that must raise IndexError and write nothing."""
    n = N_ENDPOINTS
    return [
        (rec.record, (-1, 0, 5)),  # endpoint below
        (rec.record, (n, 0, 5)),  # endpoint past the end
        (rec.record, (0, -1, 5)),  # hist below
        (rec.record, (0, N_HISTS, 5)),  # hist past the end
        (rec.record_array, (n, 0, np.ones(3, np.int64))),
        (rec.record_array, (0, N_HISTS, np.ones(3, np.int64))),
        (rec.response, (n, 200, 1, 5, 5)),
        (rec.response, (-1, 200, 1, 5, 5)),
        (rec.count, (n, 0, 1)),
        (rec.count, (0, N_COUNTERS, 1)),
        (rec.count, (0, -1, 1)),
        (rec.set_status, (STATUS_LEN, 1)),
        (rec.set_status, (-1, 1)),
        (rec.add_status, (STATUS_LEN, 1)),
        (rec.max_status, (-1, 1)),
    ]


def test_out_of_range_indexes_raise_and_write_nothing(impl):
    # The block sits between two guard regions of one larger array.
    length = BlockLayout(N_ENDPOINTS).length
    outer = np.full(length + 2 * COUNTS_LEN, 7, dtype=np.int64)
    block = outer[COUNTS_LEN:COUNTS_LEN + length]
    BlockLayout(N_ENDPOINTS).initialise(block)
    before = outer.copy()
    rec = impl.Recorder(block, N_ENDPOINTS)
    for call, args in out_of_range_calls(rec):
        with pytest.raises(IndexError):
            call(*args)
    assert np.array_equal(outer, before)


@pytest.mark.parametrize(
    "args, error",
    [
        ((0, 0, 1 << 63), OverflowError),  # value past int64
        ((1 << 31, 0, 1), OverflowError),  # endpoint past C int
        (("0", 0, 1), TypeError),
        ((0, 0, None), TypeError),
    ],
)
def test_arguments_convert_like_c_integers(impl, args, error):
    rec = impl.Recorder(new_block(), N_ENDPOINTS)
    with pytest.raises(error):
        rec.record(*args)


def test_float_arguments_truncate_like_c_integers(impl):
    block = new_block()
    impl.Recorder(block, N_ENDPOINTS).record(1.0, 0, 2047.9)
    assert views(block)[2][1, 0, h.counts_index(2047)] == 1


@pytest.mark.parametrize(
    "make, n_endpoints, error",
    [
        (lambda L: np.zeros(L - 1, np.int64), N_ENDPOINTS, ValueError),  # too short
        (lambda L: np.zeros(L + 1, np.int64), N_ENDPOINTS, ValueError),  # too long: another layout
        (lambda L: np.zeros(L, np.int32), N_ENDPOINTS, ValueError),  # wrong dtype
        (lambda L: np.zeros(2 * L, np.int64)[::2], N_ENDPOINTS, ValueError),  # not contiguous
        (lambda L: np.zeros((1, L), np.int64), N_ENDPOINTS, ValueError),  # not 1-D
        (lambda L: np.zeros(L, np.int64), 0, ValueError),  # no endpoints
        (lambda L: bytearray(8 * L), N_ENDPOINTS, TypeError),  # not an array
    ],
)
def test_recorder_refuses_a_block_that_is_not_the_layout(impl, make, n_endpoints, error):
    with pytest.raises(error):
        impl.Recorder(make(BlockLayout(N_ENDPOINTS).length), n_endpoints)


def test_recorder_refuses_a_read_only_block(impl):
    block = new_block()
    block.flags.writeable = False
    with pytest.raises(ValueError):
        impl.Recorder(block, N_ENDPOINTS)


def test_close_releases_the_block_and_stops_every_write(impl):
    block = new_block()
    rec = impl.Recorder(block, N_ENDPOINTS)
    assert rec.block is block and rec.n_endpoints == N_ENDPOINTS
    rec.close()
    assert rec.block is None
    before = block.copy()
    for call, args in [
        (rec.record, (0, 0, 5)),
        (rec.response, (0, 200, 1, 5, 5)),
        (rec.count, (0, 0, 1)),
        (rec.set_status, (0, 1)),
        (rec.max_status, (0, 1)),
    ]:
        with pytest.raises(IndexError):
            call(*args)
    assert np.array_equal(block, before)


def test_now_ns_is_the_monotonic_clock(impl):
    before = time.monotonic_ns()
    now = impl.now_ns()
    after = time.monotonic_ns()
    assert isinstance(now, int)
    assert before <= now <= after


def test_sums_wrap_at_64_bits_in_both(impl):
    # Unreachable in practice (292 years of ns); pinned so both stay equal and defined.
    block = new_block()
    rec = impl.Recorder(block, N_ENDPOINTS)
    rec.add_status(ST_PHASE, INT64_MAX)
    rec.add_status(ST_PHASE, 1)
    assert block[ST_PHASE] == -(1 << 63)


def test_a_recorder_cannot_be_pickled_or_copied(impl):
    # A copy would write to a copy of the block: make recorders in the worker.
    rec = impl.Recorder(new_block(), N_ENDPOINTS)
    with pytest.raises(TypeError):
        pickle.dumps(rec)
    with pytest.raises(TypeError):
        copy.copy(rec)


def test_close_lets_shared_memory_close(impl):
    from multiprocessing import shared_memory

    layout = BlockLayout(1)
    shm = shared_memory.SharedMemory(create=True, size=layout.nbytes)
    try:
        block = np.ndarray((layout.length,), dtype=np.int64, buffer=shm.buf)
        layout.initialise(block)
        rec = impl.Recorder(block, 1)
        rec.response(0, 200, 10, 1_000, -1)
        assert BlockLayout(1).views(block)[1][0, C_REQUESTS] == 1
        del block
        rec.close()  # without it, shm.close() raises BufferError: the recorder holds the buffer
        shm.close()
    finally:
        shm.unlink()
