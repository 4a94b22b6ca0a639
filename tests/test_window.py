"""Worker blocks -> a per-second Window and a Result's endpoints, on hand-made arrays."""
import numpy as np
import pytest

from driver import histogram
from driver.layout import (
    C_CHECK_FAILED, C_CHECKS, C_DROPPED, C_ERR_CONN_RESET, C_FLOWS, C_LAT_MAX_NS, C_LAT_MIN_NS, C_LAT_SUM_NS, C_LATE,
    C_REQUESTS, C_SENT, C_STATUS_2XX, C_STATUS_4XX, CHECK_WORDS, H_LATENCY, LAT_MIN_UNSET, MAX_CHECKS, NAME_WORDS,
    ST_ACTIVE_USERS, ST_CONNECTIONS, ST_CPU_NS, ST_IN_FLIGHT, ST_LAG_SAMPLES, ST_LAG_SUM_NS, BlockLayout, encode_name,
    names_length,
)
from driver.stats.window import merge_blocks, point_attempts, point_error_rate, point_failures, window

MS = 1_000_000
SLOTS = 4
LAYOUT = BlockLayout(SLOTS)


def _table(names, checks=()):
    """A worker's name table: endpoint names by slot, failed checks as (slot, reason, failures)."""
    table = np.zeros(names_length(SLOTS), dtype=np.int64)
    table[0] = len(names)
    for i, name in enumerate(names):
        table[1 + i * NAME_WORDS: 1 + (i + 1) * NAME_WORDS] = np.frombuffer(encode_name(name), dtype=np.int64)
    base = 1 + SLOTS * NAME_WORDS
    table[base] = len(checks)
    assert len(checks) <= MAX_CHECKS
    for k, (slot, reason, n) in enumerate(checks):
        row = base + 1 + k * CHECK_WORDS
        table[row], table[row + 1] = slot, n
        table[row + 2: row + CHECK_WORDS] = np.frombuffer(encode_name(reason), dtype=np.int64)
    return table


class _Blocks:
    """Blocks of `n` workers, written as a recorder would: only ever incremented."""

    def __init__(self, n):
        self.array = np.zeros((n, LAYOUT.length), dtype=np.int64)
        for block in self.array:
            LAYOUT.initialise(block)

    def responses(self, worker, slot, latencies, status=C_STATUS_2XX):
        block = self.array[worker]
        hist = LAYOUT.views(block)[2][slot, H_LATENCY]
        for v in latencies:
            histogram.record(hist, v)
            for col, n in ((C_REQUESTS, 1), (C_SENT, 1), (status, 1), (C_LAT_SUM_NS, v)):
                block[LAYOUT.counter(slot, col)] += n
            block[LAYOUT.counter(slot, C_LAT_MIN_NS)] = min(block[LAYOUT.counter(slot, C_LAT_MIN_NS)], v)
            block[LAYOUT.counter(slot, C_LAT_MAX_NS)] = max(block[LAYOUT.counter(slot, C_LAT_MAX_NS)], v)

    def count(self, worker, slot, column, n):
        self.array[worker, LAYOUT.counter(slot, column)] += n

    def status(self, worker, slot, value):
        self.array[worker, slot] = value

    def snapshot(self):
        return self.array.copy()


def test_a_window_is_the_difference_merged_by_name():
    tables = [_table(["/a", "iteration"]), _table(["/b", "/a"])]  # /a in different slots
    blocks = _Blocks(2)
    blocks.responses(0, 0, [5 * MS] * 10)
    prev = blocks.snapshot()
    blocks.responses(0, 0, [2 * MS] * 30)  # worker 0, /a
    blocks.responses(1, 1, [4 * MS] * 20, status=C_STATUS_4XX)  # worker 1, /a: 401s
    blocks.count(1, 1, C_ERR_CONN_RESET, 5)
    blocks.count(0, 1, C_SENT, 12)  # iterations started, finished, dropped, late
    blocks.count(0, 1, C_FLOWS, 10)
    blocks.count(0, 1, C_DROPPED, 3)
    blocks.count(0, 1, C_LATE, 2)
    w = window(prev, blocks.snapshot(), tables, LAYOUT, t=2.0, prev_t=1.0)
    assert [r.name for r in w.rows] == ["/a", "iteration"]  # most first; /b did nothing
    a = w.row("/a")
    assert a.requests == 50 and a.errors == 5 and a.http_errors_by_class["4xx"] == 20
    assert a.error_rate == pytest.approx((5 + 20) / 55)
    assert a.counters[C_LAT_MIN_NS] == LAT_MIN_UNSET and a.counters[C_LAT_MAX_NS] == 0  # unknown in a window
    assert a.percentile(50) == histogram.highest_equivalent(2 * MS)  # 30 of the 50 at 2 ms: the earlier 5 ms gone
    tot = w.total
    assert tot.requests == 50 and tot.dropped == 3 and tot.late == 2 and tot.arrivals == 12 + 3
    assert tot.error_rate == pytest.approx((5 + 3 + 20) / (50 + 8))  # dropped iterations weigh on the total
    assert w.rps == 50.0 and w.row("/b") is None


STATUS = [
    # per worker: (cpu ns, lag sum ns, lag samples, users, in flight, connections) -> cpu_max, lag_mean_ns, sums
    ([(500_000_000, 0, 0, 3, 1, 3)], 0.5, 0, (3, 1, 3)),  # half a core over the second, no lag samples
    ([(200_000_000, 4_000, 4, 5, 2, 5), (900_000_000, 30_000, 3, 7, 0, 6)], 0.9, 10_000, (12, 2, 11)),  # worst
]


@pytest.mark.parametrize("workers,cpu_max,lag,sums", STATUS)
def test_status_figures(workers, cpu_max, lag, sums):
    blocks = _Blocks(len(workers))
    prev = blocks.snapshot()
    for i, (cpu, lag_sum, samples, users, in_flight, conns) in enumerate(workers):
        for slot, value in ((ST_CPU_NS, cpu), (ST_LAG_SUM_NS, lag_sum), (ST_LAG_SAMPLES, samples),
                            (ST_ACTIVE_USERS, users), (ST_IN_FLIGHT, in_flight), (ST_CONNECTIONS, conns)):
            blocks.status(i, slot, value)
    w = window(prev, blocks.snapshot(), [_table([])] * len(workers), LAYOUT, t=3.0, prev_t=2.0)
    assert w.cpu_max == pytest.approx(cpu_max) and w.lag_mean_ns == lag
    assert (w.active_users, w.in_flight, w.connections) == sums
    assert w.rows == () and w.total.requests == 0 and w.total.error_rate is None


def test_the_point_is_the_windows_figures():
    blocks = _Blocks(1)
    prev = blocks.snapshot()
    blocks.responses(0, 0, [MS] * 8, status=C_STATUS_4XX)
    blocks.responses(0, 0, [3 * MS] * 2)
    blocks.count(0, 0, C_ERR_CONN_RESET, 2)
    p = window(prev, blocks.snapshot(), [_table(["/a"])], LAYOUT, t=0.5004, prev_t=0.0).point()
    assert p["t"] == 0.5 and p["requests"] == 10 and p["rps"] == pytest.approx(10 / 0.5004)
    assert (p["errors"], p["http_errors"], p["dropped"], p["unfinished"]) == (2, 8, 0, 0)
    assert p["p99_ns"] == histogram.highest_equivalent(3 * MS) and p["p50_ns"] == histogram.highest_equivalent(MS)
    assert point_attempts(p) == 12 and point_failures(p) == 10 and point_error_rate(p) == pytest.approx(10 / 12)


def test_merged_windows_are_the_window_over_both():
    tables = [_table(["/a", "/b"])]
    blocks = _Blocks(1)
    s0 = blocks.snapshot()
    blocks.responses(0, 0, [MS] * 10)
    blocks.count(0, 1, C_DROPPED, 4)
    s1 = blocks.snapshot()
    blocks.responses(0, 0, [9 * MS] * 10)
    blocks.responses(0, 1, [2 * MS] * 5)
    s2 = blocks.snapshot()
    both = window(s0, s1, tables, LAYOUT, 1.0, 0.0).merged(window(s1, s2, tables, LAYOUT, 2.5, 1.0))
    whole = window(s0, s2, tables, LAYOUT, 2.5, 0.0)
    assert (both.t, both.dt) == (whole.t, whole.dt) == (2.5, 2.5)
    assert [r.name for r in both.rows] == [r.name for r in whole.rows] == ["/a", "/b"]
    for a, b in zip([*both.rows, both.total], [*whole.rows, whole.total]):
        assert (a.counters == b.counters).all() and (a.hists == b.hists).all() and a.arrivals == b.arrivals


def test_merge_blocks_keeps_plan_order_exact_extremes_and_merges_checks():
    tables = [_table(["/b", "/a", "other"], checks=[(1, "status is 200", 3), (0, "json.ok", 1)]),
              _table(["/a", "/late"], checks=[(0, "status is 200", 2)])]
    blocks = _Blocks(2)
    blocks.responses(0, 1, [7 * MS, 3 * MS])  # /a on worker 0
    blocks.responses(1, 0, [5 * MS, 11 * MS])  # /a on worker 1
    blocks.count(1, 1, C_ERR_CONN_RESET, 1)  # /late: met at run time, errors only
    for worker, slot, n in ((0, 1, 3), (1, 0, 2), (0, 0, 1)):
        blocks.count(worker, slot, C_CHECKS, 5)
        blocks.count(worker, slot, C_CHECK_FAILED, n)
    endpoints, checks = merge_blocks(blocks.snapshot(), tables, LAYOUT, known=("/a", "/b", "/never"))
    assert [e.name for e in endpoints] == ["/a", "/b", "/late"]  # plan order, then met; unused "other" left out
    a = endpoints[0]
    assert a.requests == 4 and a.latency()["min_ns"] == 3 * MS and a.latency()["max_ns"] == 11 * MS
    assert a.check_failures == 5 and endpoints[1].requests == 0  # a known endpoint stays, even unused
    assert checks == [{"endpoint": "/a", "reason": "status is 200", "failures": 5},
                      {"endpoint": "/b", "reason": "json.ok", "failures": 1}]
