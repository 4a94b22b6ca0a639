"""Many boxes on Ray (driver.runner.cluster), on Ray's own local multi-node cluster utility:
several raylets on this machine, one driver supervisor per node, the result merged on the
head; a node killed mid-run. Skipped only when the `ray` extra is not installed (CI has it)."""
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from driver.errors import PlanError
from driver.planning import make_plan
from driver.runner.cluster import check_ray_plan, merge_windows, parse_ray_address
from tests.servers import aiohttp_server, ok_app

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text, want", [("auto", ("auto", 0)), ("local", ("local", 2)), ("local:3", ("local", 3)),
                                        ("10.0.0.5:6379", ("10.0.0.5:6379", 0))])
def test_ray_addresses(text, want):
    assert parse_ray_address(text) == want


@pytest.mark.parametrize("text", ["", "local:0", "local:99", "a b"])
def test_bad_ray_addresses(text):
    with pytest.raises(PlanError, match="--ray"):
        parse_ray_address(text)


@pytest.mark.parametrize("extra, flag", [({"watch_pids": (1,)}, "--watch-pid"),
                                         ({"shard": "1/2", "start_at": None}, "--shard")])
def test_what_a_cluster_run_refuses(extra, flag):
    from driver.planning.shard import with_shard

    plan = make_plan("http://127.0.0.1:9/", rate=10, duration="1s", workers=1)
    if "watch_pids" in extra:
        import dataclasses

        plan = dataclasses.replace(plan, watch_pids=extra["watch_pids"])
    else:
        with pytest.warns(Warning):
            plan = with_shard(plan, extra["shard"], None)
    with pytest.raises(PlanError, match=flag):
        check_ray_plan(plan)


def test_ray_flags_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "driver.cli", "run", "http://127.0.0.1:9/", "-d", "1s",
                          "--ray-nodes", "2"], cwd=ROOT, capture_output=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.decode().strip() == "driver: error: --ray-nodes needs --ray"


def _endpoint(name: str, count: int):
    import numpy as np

    from driver.layout import C_REQUESTS, COUNTS_LEN, N_COUNTERS, N_HISTS
    from driver.stats.endpoint import EndpointResult

    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    counters[C_REQUESTS] = count
    hists = np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64)
    hists[0, 100] = count
    return EndpointResult(name, counters, hists)


def test_windows_of_one_second_merge_by_endpoint():
    from driver.stats.endpoint import total_of
    from driver.stats.window import Window

    a = [_endpoint("GET /a", 10), _endpoint("GET /b", 5)]
    b = [_endpoint("GET /a", 7)]
    w1 = Window(t=1.0, dt=1.0, rows=tuple(a), total=total_of(a), active_users=3, in_flight=2, cpu_max=0.5)
    w2 = Window(t=1.01, dt=1.0, rows=tuple(b), total=total_of(b), active_users=4, in_flight=1, cpu_max=0.7)
    merged = merge_windows([w1, w2])
    assert merged.row("GET /a").count == 17 and merged.row("GET /b").count == 5
    assert merged.total.count == 22
    assert (merged.active_users, merged.in_flight, merged.cpu_max) == (7, 3, 0.7)


ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'driver[ray]')")


@pytest.mark.parametrize("address, said", [
    ("127.0.0.1:1", "driver: error: --ray 127.0.0.1:1: cannot reach the cluster's head (Connection refused)"),
    ("auto", "driver: error: --ray auto: cannot reach the cluster (Could not find any running Ray instance"),
])
def test_a_cluster_that_is_not_there_is_one_line(address, said):
    import os

    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-m", "driver.cli", "run", "http://127.0.0.1:9/", "-d", "1s", "--ray", address],
                         cwd=ROOT, capture_output=True, timeout=120, env=env)
    assert out.returncode == 2
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(said), lines


def test_a_run_on_two_nodes_sends_the_plan_once(tmp_path):
    rate, seconds = 100, 3
    with aiohttp_server(ok_app) as srv:
        out = subprocess.run([sys.executable, "-m", "driver.cli", "run", srv.url + "/x", "-r", str(rate), "-d",
                              f"{seconds}s", "-w", "1", "--ray", "local:2", "-o", str(tmp_path), "-q",
                              "--report", "json"], cwd=ROOT, capture_output=True, timeout=300)
    # 4: not valid, when the shared test box started some arrivals late; the counts still hold
    assert out.returncode in (0, 4), out.stderr.decode()[-3000:]
    result = orjson.loads(next(tmp_path.glob("*/result.json")).read_bytes())
    assert result["complete"], result["reasons"]
    assert result["totals"]["arrivals"] == rate * seconds  # exactly the plan, across the cluster
    ep = result["endpoints"][0]["counters"]
    assert ep["sent"] == ep["requests"] + ep.get("unfinished", 0) + sum(
        v for k, v in ep.items() if k.startswith("err_"))
    nodes = result["plan"]["cluster"]["nodes"]
    assert len(nodes) == 2 and len({n["node_id"] for n in nodes}) == 2  # strict spread: two raylets
    for node in nodes:  # one clock here: the measured offset is within the round trip it was read in
        assert abs(node["clock_offset_s"]) <= node["clock_rtt_s"]
    assert result["plan"]["shard"]["merged"] == [1, 2]
    assert sorted(w["index"] for w in result["workers"]) == [0, 1]  # global worker indices
    # the per-second series is the cluster's: its requests add up to the run's
    assert sum(p["requests"] for p in result["series"]) <= result["totals"]["requests"]
    assert sum(p["requests"] for p in result["series"]) >= result["totals"]["requests"] * 0.9
    assert any("Ray cluster: 2 nodes" in n for n in result["notes"])


def test_a_node_killed_mid_run_marks_the_result_incomplete_and_keeps_what_it_recorded():
    from ray.cluster_utils import Cluster

    from driver.runner.cluster import run_on_ray

    made = {}

    def factory(n):
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        made["other"] = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        made["cluster"] = cluster
        return cluster

    seen = []
    rate, seconds = 100, 8

    def on_progress(win):
        seen.append(win)
        if len(seen) == 3 and "killed" not in made:  # 3 s into the load: the second raylet goes
            made["killed"] = win.t
            threading.Thread(target=made["cluster"].remove_node, args=(made["other"], False), daemon=True).start()

    counter = {"n": 0}

    def counting_app():
        from aiohttp import web

        async def ok(request):
            counter["n"] += 1
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/x", ok)
        return app

    with aiohttp_server(counting_app) as srv:
        plan = make_plan(srv.url + "/x", rate=rate, duration=f"{seconds}s", workers=1)
        started = time.monotonic()
        result = run_on_ray(plan, "local:2", on_progress=on_progress, cluster_factory=factory)
        assert time.monotonic() - started < 240  # it ends by itself
        served = counter["n"]
    assert "killed" in made
    assert not result.complete
    lost = [n for n in result.plan["cluster"]["nodes"] if "lost" in n]
    assert len(lost) == 1 and not lost[0]["complete"]
    assert any("was lost" in r for r in result.reasons)
    totals = result.totals()
    # the survivor sent its half; the lost node's seconds before it died are kept
    assert rate * seconds // 2 < totals.arrivals < rate * seconds
    assert totals.requests > rate * seconds // 2
    assert totals.requests <= served  # nothing counted that the server did not answer


def test_sigterm_on_the_head_stops_every_node_and_writes_the_result(tmp_path):
    import signal

    with aiohttp_server(ok_app) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "driver.cli", "run", srv.url + "/x", "-r", "50", "-d", "120s",
                                 "-w", "1", "--ray", "local:2", "--checkpoint", "1s", "-o", str(tmp_path), "-q",
                                 "--report", "json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 180
            while not list(tmp_path.glob("*/checkpoint.json")):  # the load has run a second or more
                assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
                assert time.monotonic() < deadline, "no checkpoint: the cluster run did not start"
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)  # the head alone, as `kill PID` or `docker stop` would
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 143, err.decode()[-2000:]
    result = orjson.loads(next(tmp_path.glob("*/result.json")).read_bytes())
    assert result["interrupted"] and result["interrupted_by"] == "SIGTERM"
    assert not result["complete"] and "interrupted (SIGTERM)" in result["reasons"]
    assert 0 < result["totals"]["arrivals"] < 50 * 120
    assert all(n["complete"] for n in result["plan"]["cluster"]["nodes"])  # each node stopped in order
