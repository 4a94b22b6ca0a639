"""Result arithmetic: merging counters and histograms, summaries, and the JSON form."""
import numpy as np
import pytest

from driver import histogram
from driver.errors import DriverError
from driver.layout import (
    C_LAT_MAX_NS, C_LAT_MIN_NS, C_LAT_SUM_NS, C_REQUESTS, COUNTS_LEN, H_LATENCY, LAT_MIN_UNSET, N_COUNTERS, N_HISTS,
)
from driver.stats.result import INT64_MAX, EndpointResult, Result, merge_counters


def _endpoint(name, latencies):
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    counters[C_LAT_MIN_NS] = LAT_MIN_UNSET
    hists = np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64)
    for v in latencies:
        histogram.record(hists[H_LATENCY], v)
        counters[C_REQUESTS] += 1
        counters[C_LAT_SUM_NS] += v
        counters[C_LAT_MIN_NS] = min(counters[C_LAT_MIN_NS], v)
        counters[C_LAT_MAX_NS] = max(counters[C_LAT_MAX_NS], v)
    return EndpointResult(name, counters, hists)


def test_merge_counters_adds_but_takes_min_and_max():
    a, b = _endpoint("x", [5, 100]), _endpoint("x", [7, 3000])
    m = merge_counters(np.stack([a.counters, b.counters]))
    assert m[C_REQUESTS] == 4 and m[C_LAT_SUM_NS] == 3112
    assert m[C_LAT_MIN_NS] == 5 and m[C_LAT_MAX_NS] == 3000


def test_merge_with_an_empty_worker_keeps_the_real_minimum():
    a, empty = _endpoint("x", [42]), _endpoint("x", [])
    m = merge_counters(np.stack([a.counters, empty.counters]))
    assert m[C_LAT_MIN_NS] == 42


def test_latency_sum_saturates_instead_of_wrapping():
    a, b = _endpoint("x", [10]), _endpoint("x", [10])
    a.counters[C_LAT_SUM_NS] = b.counters[C_LAT_SUM_NS] = INT64_MAX - 1
    m = merge_counters(np.stack([a.counters, b.counters]))
    assert m[C_LAT_SUM_NS] == INT64_MAX
    ep = EndpointResult("x", m, a.hists + b.hists)
    assert ep.latency()["mean_ns"] == pytest.approx(10, rel=1e-3)  # from the histogram instead


def test_summary_of_exact_values():
    ep = _endpoint("GET /", [1000, 2000, 3000, 4000])
    lat = ep.latency()
    assert lat["min_ns"] == 1000 and lat["max_ns"] == 4000 and lat["mean_ns"] == 2500
    assert lat["p50_ns"] == histogram.highest_equivalent(2000)


def test_result_merge_matches_endpoints_by_name():
    r1 = Result(plan={}, endpoints=[_endpoint("a", [10, 20]), _endpoint("b", [5])], duration_s=1.0, started_at="1")
    r2 = Result(plan={}, endpoints=[_endpoint("a", [30])], duration_s=2.0, started_at="0", complete=False,
                reasons=["worker 1 died"])
    m = r1.merge(r2)
    assert [e.name for e in m.endpoints] == ["a", "b"]
    assert m.endpoint("a").requests == 3 and m.endpoint("a").latency()["max_ns"] == 30
    assert m.duration_s == 2.0 and not m.complete and m.reasons == ["worker 1 died"]


def test_json_round_trip(tmp_path):
    r = Result(plan={"mode": "closed"}, endpoints=[_endpoint("a", [10, 2_000_000, 7_000_000_000_000])],
               duration_s=1.5, started_at="2026-01-01T00:00:00+00:00", series=[{"t": 1.0}])
    loaded = Result.load(r.save(tmp_path / "r.json"))
    assert (loaded.endpoints[0].hists == r.endpoints[0].hists).all()
    assert (loaded.endpoints[0].counters == r.endpoints[0].counters).all()
    assert loaded.series == [{"t": 1.0}] and loaded.duration_s == 1.5


@pytest.mark.parametrize("content", [b"not json", b'{"a": 1}', b"[]", b'{"schema": "driver.result/1"}'])
def test_load_rejects_what_is_not_a_result(tmp_path, content):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(DriverError):
        Result.load(path)


def test_totals_keep_aggregate_errors_and_round_trip(tmp_path):
    from driver.layout import C_DROPPED, C_FLOWS, C_SENT, C_UNFINISHED

    a = _endpoint("/a", [10, 20, 30])
    a.counters[C_SENT], a.counters[C_UNFINISHED] = 4, 1
    it = _endpoint("iteration", [])
    it.counters[C_SENT], it.counters[C_FLOWS], it.counters[C_DROPPED] = 5, 5, 2
    r = Result(plan={}, endpoints=[a, it], duration_s=1.0, started_at="")
    tot = r.totals()
    assert tot.requests == 3 and tot.errors == 1 + 2 and tot.arrivals == 5 + 2 and a.unaccounted == 0
    data = r.to_dict()
    assert data["totals"]["error_rate"] == pytest.approx(3 / 6)
    assert data["endpoints"][1]["count"] == 5 and data["endpoints"][1]["errors_by_kind"]["dropped"] == 2
    loaded = Result.load(r.save(tmp_path / "r.json"))
    assert loaded.totals().error_rate == tot.error_rate and loaded.endpoint("/a").unfinished == 1


def test_totals_of_a_result_without_endpoints():
    tot = Result(plan={}, endpoints=[], duration_s=0.0, started_at="").totals()
    assert tot.requests == 0 and tot.error_rate is None and tot.latency()["count"] == 0
