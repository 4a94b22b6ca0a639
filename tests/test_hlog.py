"""latency.hlog: HdrHistogram interval logs that HdrHistogram's own Python reader reads,
bucket for bucket and percentile for percentile the same as the run's own figures."""
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

from driver import histogram
from driver.layout import HIGHEST_NS
from driver.reports.hlog import encode, tag_of
from tests.servers import aiohttp_server, ok_app

hdrh_histogram = pytest.importorskip("hdrh.histogram")
hdrh_log = pytest.importorskip("hdrh.log")

ROOT = Path(__file__).resolve().parents[1]
PCTS = (50, 90, 95, 99)


def _reference():
    return hdrh_histogram.HdrHistogram(1, HIGHEST_NS, 3)


def _decoded_counts(h) -> dict:
    return {i: h.get_count_at_index(i) for i in range(h.counts_len) if h.get_count_at_index(i)}


def _histogram(values) -> np.ndarray:
    counts = histogram.new()
    for v in values:
        histogram.record(counts, v)
    return counts


rng = random.Random(7)
CASES = [
    ("one value", [1_234_567]),
    ("the lowest and the highest trackable", [0, 1, HIGHEST_NS]),
    ("neighbours: a zero run of one between counts", [1000, 1002]),
    ("many counts in one bucket (a multi-byte varint)", [5_000_000] * 70_000),
    ("lognormal latencies", [int(rng.lognormvariate(15, 1.2)) for _ in range(5000)]),
    ("every bucket of the first half-bucket", list(range(1024))),
]


@pytest.mark.parametrize("values", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_the_reference_decoder_reads_the_same_buckets_and_percentiles(values):
    counts = _histogram(values)
    decoded = hdrh_histogram.HdrHistogram.decode(encode(counts))
    assert _decoded_counts(decoded) == {int(i): int(counts[i]) for i in np.flatnonzero(counts)}
    assert decoded.get_total_count() == len(values)
    for p in (0, *PCTS, 99.9, 100):
        assert decoded.get_value_at_percentile(p) == histogram.percentile(counts, p)


def test_an_empty_histogram_encodes_to_an_empty_one():
    assert hdrh_histogram.HdrHistogram.decode(encode(histogram.new())).get_total_count() == 0


@pytest.mark.parametrize("name, tag", [
    ("GET /", "GET_/"),  # a space would end the tag
    ("a,b", "a_b"),  # a comma too
    ("flow:checkout", "flow:checkout"),
    ("GET /ünï ✓", "GET_/_n___"),  # the log is ASCII
    ("a\tb\nc", "a_b_c"),
])
def test_tags_hold_no_separator(name, tag):
    assert tag_of(name) == tag


def _intervals(path: Path) -> list:
    reader = hdrh_log.HistogramLogReader(str(path), _reference())
    out = []
    while (h := reader.get_next_interval_histogram()) is not None:
        out.append(h)
    return out


def test_a_run_writes_one_interval_per_second_that_matches_its_series(tmp_path):
    with aiohttp_server(ok_app) as srv:
        proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", srv.url, "-r", "300", "-d", "3s",
                               "-w", "2", "--hlog", "-o", str(tmp_path), "-q", "--report", "json"],
                              cwd=ROOT, capture_output=True, timeout=120)
    assert proc.returncode in (0, 4), proc.stderr.decode()  # 4: a busy machine made arrivals late
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    log = run_dir / "latency.hlog"
    text = log.read_text()
    assert text.startswith("#[Histogram log format version 1.3]")
    assert "#[Tag GET_/: endpoint 'GET /']" in text
    result = orjson.loads((run_dir / "result.json").read_bytes())
    intervals = _intervals(log)
    points = [p for p in result["series"] if p["requests"]]
    assert len(intervals) == len(points) >= 3
    total = 0
    for h, point in zip(intervals, points):
        assert h.get_tag() == "GET_/"
        assert h.get_total_count() == point["requests"]  # an ok server: one latency per response
        for p in PCTS:
            assert h.get_value_at_percentile(p) == point[f"p{p}_ns"], p
        total += h.get_total_count()
    assert total == result["totals"]["requests"]
    # the intervals follow each other, a second apart (relative to the log's start)
    starts = [h.get_start_time_stamp() for h in intervals]
    assert starts == sorted(starts)


def test_the_config_asks_for_it_with_output_hlog(tmp_path):
    from driver.config import load_config
    from driver.errors import PlanError

    path = tmp_path / "load.yaml"
    path.write_text("target:\n  base_url: http://127.0.0.1:8080\noutput:\n  hlog: true\n")
    assert load_config(str(path), env={}).output.hlog is True
    path.write_text("target:\n  base_url: http://127.0.0.1:8080\noutput:\n  dir: out\n")
    assert load_config(str(path), env={}).output.hlog is False
    path.write_text("target:\n  base_url: http://127.0.0.1:8080\noutput:\n  hlog: sometimes\n")
    with pytest.raises(PlanError, match="output.hlog must be true or false") as err:
        load_config(str(path), env={})
    assert err.value.where == f"{path}:4"


def test_hostile_names_make_distinct_ascii_tags_the_reader_reads(tmp_path):
    from driver.reports.hlog import HlogWriter
    from driver.stats.endpoint import EndpointResult, total_of
    from driver.stats.window import Window
    from driver.layout import N_COUNTERS, N_HISTS, COUNTS_LEN, H_LATENCY

    def row(name, value, n):
        hists = np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64)
        hists[H_LATENCY] = _histogram([value] * n)
        return EndpointResult(name, np.zeros(N_COUNTERS, dtype=np.int64), hists)

    rows = [row("a b", 1_000_000, 3), row("a,b", 2_000_000, 5), row("GET /ünï\n✓", 3_000_000, 7)]
    writer = HlogWriter(tmp_path / "latency.hlog", clock=lambda: 1_800_000_000.0)
    writer.write(Window(t=1.0, dt=1.0, rows=tuple(rows), total=total_of(rows)))
    writer.close()
    text = (tmp_path / "latency.hlog").read_text(encoding="ascii")  # ASCII, whatever the names
    assert "endpoint 'GET /\\xfcn\\xef\\n\\u2713'" in text
    got = {h.get_tag(): h.get_total_count() for h in _intervals(tmp_path / "latency.hlog")}
    assert got == {"a_b": 3, "a_b~2": 5, "GET_/_n___": 7}
