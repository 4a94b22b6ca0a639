"""Shards: slice i of N of one plan per box, started together, merged exactly; `driver merge`
refuses shards that are not one plan, each once."""
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from driver.errors import PlanError
from driver.layout import COUNTS_LEN, N_COUNTERS, N_HISTS
from driver.planning import make_plan
from driver.planning.shard import (MAX_AHEAD_S, check_shards, merge_results, parse_shard, parse_start_at,
                                   with_shard, worker_span)
from driver.stats.result import EndpointResult, Result
from tests.servers import aiohttp_server

ROOT = Path(__file__).resolve().parents[1]
NOW = 1_800_000_000.0


@pytest.mark.parametrize("text, shard", [("1/2", (1, 2)), ("2/2", (2, 2)), (" 3 / 8 ", (3, 8)), ("1/1", (1, 1))])
def test_shards(text, shard):
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "1", "a/b", "-1/2"])
def test_bad_shards(text):
    with pytest.raises(PlanError, match="--shard"):
        parse_shard(text)


@pytest.mark.parametrize("text, at", [
    (str(NOW + 60), NOW + 60),  # unix seconds
    ("2027-01-15T08:00:30Z", 1_800_000_030.0),  # ISO, UTC
    ("2027-01-15T08:00:30", 1_800_000_030.0),  # no offset: UTC
    ("2027-01-15T09:00:30+01:00", 1_800_000_030.0),
])
def test_start_times(text, at):
    assert parse_start_at(text, now=NOW) == at


@pytest.mark.parametrize("text, needle", [
    (str(NOW - 1), "in the past"),
    (str(NOW + MAX_AHEAD_S + 60), "more than 24 h"),
    ("tomorrow", "not unix seconds nor an ISO 8601 time"),
])
def test_bad_start_times(text, needle):
    with pytest.raises(PlanError, match=needle):
        parse_start_at(text, now=NOW)


def test_the_cluster_is_shards_times_workers_workers():
    plan = make_plan("http://127.0.0.1:1/", rate=10, duration="1s", workers=3)
    assert worker_span(plan) == (0, 3)
    spans = [worker_span(with_shard(plan, f"{i}/4", str(time.time() + 60))) for i in (1, 2, 3, 4)]
    assert spans == [(0, 12), (3, 12), (6, 12), (9, 12)]  # every global worker exactly once


def test_the_fingerprint_is_the_plan_less_its_shard():
    plan = make_plan("http://127.0.0.1:1/", rate=10, duration="1s", workers=2)
    at = str(time.time() + 60)
    a, b = (with_shard(plan, s, at).describe()["shard"] for s in ("1/2", "2/2"))
    assert a["fingerprint"] == b["fingerprint"] and (a["index"], b["index"]) == (1, 2)
    other = with_shard(make_plan("http://127.0.0.1:1/", rate=11, duration="1s", workers=2), "2/2", at)
    assert other.describe()["shard"]["fingerprint"] != a["fingerprint"]  # another rate: another plan


def _result(shard: dict | None, count: int = 5) -> Result:
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    counters[1] = count
    ep = EndpointResult("GET /", counters, np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64))
    return Result(plan={"mode": "open", **({"shard": shard} if shard else {})}, endpoints=[ep], duration_s=1.0,
                  started_at="2026-11-30T12:00:00+00:00")


def shard(i, n=2, fp="abc"):
    return {"index": i, "count": n, "start_at": NOW, "fingerprint": fp}


@pytest.mark.parametrize("shards, needle", [
    ([shard(1), shard(2, fp="xyz")], "different plans"),
    ([shard(1), shard(1)], "shard 1 given more than once"),
    ([shard(1, 3), shard(2, 3)], "shard 3 of 3 missing"),
    ([shard(1), None], "1 of 2 results are not shards"),
    ([shard(1, 2), shard(2, 3)], "split the plan differently"),
])
def test_merge_refuses_what_is_not_one_plan(shards, needle):
    results = [_result(s) for s in shards]
    assert any(needle in p for p in check_shards(results))
    with pytest.raises(PlanError, match=needle):
        merge_results(results)
    merged, problems = merge_results(results, force=True)  # --force: merged, marked incomplete
    assert problems and not merged.complete and any(needle in r for r in merged.reasons)


def test_results_without_shards_merge_as_before():
    merged, problems = merge_results([_result(None, 3), _result(None, 4)])
    assert problems == [] and merged.complete and "shard" not in merged.plan


def test_the_merged_result_says_which_shards_it_holds():
    merged, _ = merge_results([_result(shard(2)), _result(shard(1))])
    assert merged.plan["shard"]["merged"] == [1, 2] and merged.plan["shard"]["fingerprint"] == "abc"


def driver(*args):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True, timeout=120)


def first_seen_app(first: list):
    """200 to everything; `first` gets the wall-clock time of the first request."""
    from aiohttp import web

    async def ok(request):
        if not first:
            first.append(time.time())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    return app


def test_two_shards_at_once_send_exactly_the_plan(tmp_path):
    rate, seconds = 150, 3
    start = f"{time.time() + 12:.3f}"  # both boxes ready by then (spawning workers takes a few seconds)
    first = []
    with aiohttp_server(lambda: first_seen_app(first)) as srv:
        procs = [subprocess.Popen([sys.executable, "-m", "driver.cli", "run", srv.url, "-r", str(rate), "-d",
                                   f"{seconds}s", "-w", "2", "--shard", f"{i}/2", "--start-at", start,
                                   "-o", str(tmp_path / f"box{i}"), "-q", "--report", "json"],
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in (1, 2)]
        outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs):
        # 4: not valid, when the shared test box started some arrivals late; the counts still hold
        assert p.returncode in (0, 4), err.decode()
    files = [str(next((tmp_path / f"box{i}").glob("*/result.json"))) for i in (1, 2)]
    parts = [Result.load(f) for f in files]
    assert all(r.complete for r in parts), [r.reasons for r in parts]
    arrivals = [r.totals().arrivals for r in parts]
    assert all(a > 0 for a in arrivals)
    assert abs(arrivals[0] - arrivals[1]) <= 2  # each box half of the schedule
    merged_file = tmp_path / "merged.json"
    out = driver("merge", *files, "-o", str(merged_file))
    assert out.returncode == 0, out.stderr.decode()
    merged = orjson.loads(merged_file.read_bytes())
    assert merged["totals"]["arrivals"] == sum(arrivals) == rate * seconds  # exactly the plan, once
    assert merged["plan"]["shard"]["merged"] == [1, 2]
    # the boxes waited for the agreed time
    starts = [r.plan["shard"]["start_at"] for r in parts]
    assert starts[0] == starts[1] == float(start)
    assert first[0] >= float(start) - 0.01  # no request before it (arrivals may lead by half a tick)

    again = driver("merge", files[0], files[0], "-o", str(tmp_path / "bad.json"))
    err = again.stderr.decode().strip()
    assert again.returncode == 2 and err.count("\n") == 0
    assert "shard 1 given more than once" in err and "shard 2 of 2 missing" in err
    forced = driver("merge", files[0], "--force", "-o", str(tmp_path / "forced.json"))
    assert forced.returncode == 0 and "driver: warning:" in forced.stderr.decode()
    assert not orjson.loads((tmp_path / "forced.json").read_bytes())["complete"]


@pytest.mark.parametrize("start, needle", [("1", "in the past"), ("9999999999", "more than 24 h")])
def test_a_start_time_out_of_range_is_one_line(start, needle):
    out = driver("run", "http://127.0.0.1:1/", "-d", "1", "--shard", "1/2", "--start-at", start)
    err = out.stderr.decode().strip()
    assert out.returncode == 2 and err.count("\n") == 0
    assert err.startswith("driver: error: --start-at") and needle in err


def test_a_shard_without_a_start_time_warns():
    from driver.errors import PlanWarning

    plan = make_plan("http://127.0.0.1:1/", rate=10, duration="1s", workers=1)
    with pytest.warns(PlanWarning, match="without --start-at"):
        sharded = with_shard(plan, "1/2", None)
    assert sharded.shard == (1, 2) and sharded.start_at is None
    assert with_shard(plan, None, None) is plan  # neither flag: the plan as it is
