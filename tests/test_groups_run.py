"""Several workloads in one run, for real: an HTTP group against the demo target, a
WebSocket group against the demo WebSocket server and a job group against the jobs demo,
at the same time in the same workers, through `python -m driver.cli run -c`."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from driver.config import load_config
from driver.runner.supervisor import run
from driver.stats.result import Result
from driver.targets.process import DemoTargetProcess, JobsDemoTargetProcess, WsDemoTargetProcess
from tests.servers import aiohttp_server

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """\
target: {http}
load: {{workers: 2}}
scenarios:
  api:
    users: 3
    duration: 3s
    think: 20ms
    tasks:
      - {{name: health, path: /health}}
    thresholds: ["p99<1ns"]              # fails: only this group's verdict
  websocket:
    url: {ws}/echo
    users: 2
    duration: 3s
    think: 20ms
    body: hello
    thresholds: ["error_rate<50%"]
  jobs:
    target: {jobs}
    users: 2
    duration: 2s
    start: 1s
    tasks:
      - name: report
        job:
          submit: {{path: /jobs, json: {{kind: r}}}}
          id: id
          state: state
          success: [done]
          failure: [failed]
          poll: {{path: "/jobs/{{id}}", interval: 20ms}}
          timeout: 10s
    thresholds: ["job:report:error_rate<50%"]
thresholds: ["error_rate<50%", "rps>1"]
"""


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def _result_file(outdir: Path) -> Path:
    files = list(outdir.glob("*/result.json"))
    assert len(files) == 1, files
    return files[0]


@pytest.fixture(scope="module")
def targets():
    with DemoTargetProcess() as http, WsDemoTargetProcess() as ws, \
            JobsDemoTargetProcess(workers=4, processing_ms=20) as jobs:
        yield {"http": http.url, "ws": ws.url, "jobs": jobs.url}


@pytest.fixture(scope="module")
def grouped(targets, tmp_path_factory):
    """One run of the three groups: (exit code, stdout, result.json as data, its directory)."""
    tmp = tmp_path_factory.mktemp("groups")
    config = tmp / "groups.yaml"
    config.write_text(CONFIG.format(**targets))
    out = tmp / "out"
    proc = _cli("run", "-c", str(config), "-q", "-o", str(out), "--report", "json,html,md,csv,junit")
    stdout, stderr = proc.communicate(timeout=120)
    path = _result_file(out)
    return proc.returncode, stdout.decode(), stderr.decode(), orjson.loads(path.read_bytes()), path


def test_each_group_records_its_own_endpoints(grouped):
    code, _, stderr, data, _ = grouped
    assert data["complete"], data["reasons"]
    groups = data["groups"]
    assert list(groups) == ["api", "websocket", "jobs"]
    names = {g: [e["name"] for e in sub["endpoints"]] for g, sub in groups.items()}
    assert names["api"] == ["health"]
    assert names["websocket"] == ["WS /echo", "ws:connect", "ws:lifetime"]
    assert names["jobs"][:3] == ["job:report:submit", "job:report:poll", "job:report"]
    for name, sub in groups.items():
        assert sub["totals"]["count"] > 0, name
    # the run's flat endpoints are the groups' merged by name: nothing counted twice or lost
    flat = {e["name"]: e["counters"] for e in data["endpoints"]}
    for sub in groups.values():
        for e in sub["endpoints"]:
            assert flat[e["name"]] == e["counters"]
    assert data["totals"]["count"] == sum(sub["totals"]["count"] for sub in groups.values())


def test_nothing_asked_of_the_target_vanishes_in_any_group(grouped):
    data = grouped[3]
    for name, sub in data["groups"].items():
        for e in sub["endpoints"]:
            if e["name"] in ("health", "WS /echo", "job:report:submit", "job:report:poll"):
                c = e["counters"]
                answered = c.get("requests", 0)
                errors = sum(e["errors_by_kind"].values())
                assert e["sent"] == answered + errors, (name, e["name"])  # unfinished is one of the kinds


def test_a_group_threshold_fails_only_its_group_and_the_run_exits_1(grouped):
    code, stdout, stderr, data, _ = grouped
    assert code == 1, stderr
    by_group = {g: sub["verdicts"] for g, sub in data["groups"].items()}
    assert [v["passed"] for v in by_group["api"]] == [False]
    assert [v["passed"] for v in by_group["websocket"]] == [True]
    assert [v["passed"] for v in by_group["jobs"]] == [True]
    run_level = [v for v in data["verdicts"] if "group" not in v]
    assert [v["threshold"] for v in run_level] == ["error_rate<50%", "rps>1"] and all(v["passed"] for v in run_level)
    # judged on the whole run: its value is the run's total, not a group's
    totals = data["totals"]
    assert run_level[1]["value"] == pytest.approx(totals["count"] / data["duration_s"])
    assert "api › p99 = " in stdout and "FAILED" in stdout


def test_the_series_has_each_group_per_second(grouped):
    data = grouped[3]
    points = [p for p in data["series"] if "groups" in p]
    assert len(points) >= 2
    assert set(points[0]["groups"]) == {"api", "websocket", "jobs"}
    assert sum(p["groups"]["api"]["requests"] for p in data["series"] if "groups" in p) <= \
        data["groups"]["api"]["totals"]["count"]
    assert max(p["groups"]["websocket"]["active_users"] for p in points) == 2
    before_start = [p for p in points if p["t"] < 0.9]  # the jobs group starts 1 s in
    assert all(p["groups"]["jobs"]["requests"] == 0 for p in before_start)


def test_every_report_has_a_section_per_group(grouped):
    path = grouped[4]
    md = (path.parent / "summary.md").read_text()
    assert all(f"### Scenario {name}" in md for name in ("api", "websocket", "jobs"))
    html = (path.parent / "report.html").read_text()
    assert 'id="scenarios"' in html and html.count('class="scenario"') == 3
    junit = (path.parent / "junit.xml").read_text()
    assert all(f'testsuite name="driver scenario {name}"' in junit for name in ("api", "websocket", "jobs"))
    stats = (path.parent / "stats.csv").read_text()
    assert "scenario,api," in stats and "api › health" in stats and "websocket › WS /echo" in stats


def test_a_grouped_result_loads_and_merges(grouped, tmp_path):
    path = grouped[4]
    result = Result.load(path)
    assert list(result.groups) == ["api", "websocket", "jobs"]
    assert result.groups["api"].endpoint("health").count == grouped[3]["groups"]["api"]["totals"]["count"]
    out = tmp_path / "merged.json"
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "merge", str(path), str(path), "-o", str(out)],
                          cwd=ROOT, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    merged = Result.load(out)
    for name, sub in result.groups.items():
        assert merged.groups[name].totals().count == 2 * sub.totals().count
    # a result from before groups still loads, with none
    old = orjson.loads(path.read_bytes())
    del old["groups"]
    assert Result.from_dict(old).groups == {}


def test_a_worker_killed_mid_run_keeps_every_groups_numbers(targets, tmp_path):
    config = tmp_path / "groups.yaml"
    config.write_text(CONFIG.format(**targets).replace("duration: 3s", "duration: 6s"))
    proc = _cli("run", "-c", str(config), "-q", "-o", str(tmp_path / "out"))
    victim = None
    until = time.monotonic() + 30
    while victim is None and time.monotonic() < until:  # the first worker the parent spawned
        kids = sorted(int(x) for task in Path(f"/proc/{proc.pid}/task").iterdir()
                      for x in (task / "children").read_text().split())
        spawned = [k for k in kids if b"multiprocessing.spawn" in Path(f"/proc/{k}/cmdline").read_bytes()
                   and b"resource_tracker" not in Path(f"/proc/{k}/cmdline").read_bytes()]
        victim = spawned[0] if len(spawned) >= 2 else None
        time.sleep(0.05)
    time.sleep(2.5)  # every group has started and recorded (jobs starts at 1 s)
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 3, err.decode()
    data = orjson.loads(_result_file(tmp_path / "out").read_bytes())
    assert data["complete"] is False and any("SIGKILL" in r for r in data["reasons"])
    dead = [w for w in data["workers"] if "SIGKILL" in w["exit"]]
    assert len(dead) == 1 and dead[0]["requests"] > 0
    for name, sub in data["groups"].items():
        assert sub["totals"]["count"] > 0, name
        assert sub["complete"] is False
    # every request a worker recorded, in whichever group's block, is in the result
    assert sum(e["counters"]["requests"] for e in data["endpoints"]) == sum(w["requests"] for w in data["workers"])


def _ok_app():
    from aiohttp import web

    async def ok(request):
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    return app


BROWSER = """\
from driver.scenario import User, task, constant


class Browser(User):
    wait = constant(0.02)

    @task
    async def page(self):
        await self.http.get("/page", name="page")
"""


def test_an_open_loop_group_sends_exactly_rate_times_duration(tmp_path):
    (tmp_path / "browse.py").write_text(BROWSER)
    with aiohttp_server(_ok_app) as srv:
        config = tmp_path / "open.yaml"
        config.write_text(f"target: {srv.url}\nload: {{workers: 2}}\nscenarios:\n"
                          f"  steady: {{url: /steady, rate: 25, duration: 2s, start: 500ms}}\n"
                          f"  busy: {{url: /busy, users: 2, think: 10ms, duration: 3s}}\n"
                          f"  browse: {{python: browse.py:Browser, stages: ['800ms:2'], start: 1s}}\n")
        result = run(load_config(config))
    steady = result.groups["steady"]
    ep = steady.endpoint("GET /steady")
    assert ep.arrivals == 50  # 25/s x 2 s, split over 2 workers, nothing lost or sent twice
    assert ep.count + ep.errors == 50
    assert result.groups["busy"].endpoint("GET /busy").count > 0
    assert steady.duration_s == pytest.approx(2.0)
    # a Python scenario group, from 1 s in, records the names it meets into its own blocks
    browse = result.groups["browse"]
    assert browse.endpoint("page").count > 0 and browse.duration_s == pytest.approx(0.8)
    assert [e.name for e in result.groups["busy"].endpoints] == ["GET /busy"]
    assert result.complete, result.reasons
    # a group that ends before the run lets its users go at its end; the others go on
    at_2s = [p["groups"] for p in result.series if 1.95 <= p["t"] < 2.5][0]  # browse ended at 1.8 s
    assert at_2s["browse"]["active_users"] == 0 and at_2s["browse"]["in_flight"] == 0
    assert at_2s["busy"]["active_users"] == 2
    assert browse.endpoint("page").unfinished == 0
