"""Soak checkpoints: the result so far, written atomically; a parent killed with SIGKILL
leaves one that `driver report` renders, with no more than the server saw."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from driver.errors import PlanError
from driver.planning import make_plan
from driver.runner.checkpoint import checkpoint_interval
from driver.stats.result import Result
from tests.servers import aiohttp_server

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("duration, given, every", [
    ("10s", None, 0.0),  # short runs: off by default
    ("5m", None, 60.0),  # 5 minutes or more: every minute
    ("1h", "0", 0.0),  # off
    ("1h", "30s", 30.0),
    ("10s", "2", 2.0),  # plain seconds
])
def test_intervals(duration, given, every):
    plan = make_plan("http://127.0.0.1:1/", users=1, duration=duration, workers=1)
    assert checkpoint_interval(plan, given) == every


@pytest.mark.parametrize("given", ["soon", "-5s"])
def test_bad_intervals_are_plan_errors(given):
    plan = make_plan("http://127.0.0.1:1/", users=1, duration="10s", workers=1)
    with pytest.raises(PlanError, match="--checkpoint"):
        checkpoint_interval(plan, given)


def counting_app(seen: list):
    from aiohttp import web

    async def ok(request):
        seen[0] += 1
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    return app


def driver(*args, **kw):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True,
                          timeout=120, **kw)


def test_a_killed_run_leaves_a_checkpoint_that_reports_render(tmp_path):
    seen = [0]
    with aiohttp_server(lambda: counting_app(seen)) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "driver.cli", "run", srv.url, "-r", "100", "-d", "60s",
                                 "-w", "1", "--checkpoint", "1s", "-o", str(tmp_path), "-q"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            checkpoint = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                found = list(tmp_path.glob("*/checkpoint.json"))
                if found and orjson.loads(found[0].read_bytes())["checkpoint"]["t"] >= 2.0:
                    checkpoint = found[0]  # more than one interval in
                    break
                time.sleep(0.1)
            assert checkpoint is not None, proc.stderr.read().decode() if proc.poll() is not None else "none"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            # the orphaned workers notice their parent is gone and stop: the server goes quiet
            last, quiet_since = -1, time.monotonic()
            while time.monotonic() - quiet_since < 1.0 and time.monotonic() < deadline:
                if seen[0] != last:
                    last, quiet_since = seen[0], time.monotonic()
                time.sleep(0.1)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever of this run is left
            except ProcessLookupError:
                pass
    result = Result.load(checkpoint)
    assert not result.complete and result.checkpoint["t"] >= 2.0
    assert "checkpoint at" in result.reasons[0]
    count = result.totals().count
    assert 0 < count <= seen[0]
    assert not list(checkpoint.parent.glob(".*.tmp"))  # never half a file left behind
    out = driver("report", str(checkpoint), "--report", "html,md")
    assert out.returncode == 0, out.stderr.decode()
    summary = (checkpoint.parent / "summary.md").read_text()
    assert (checkpoint.parent / "report.html").exists()
    assert "checkpoint at" in summary  # the report says it is a checkpoint, not a finished run


def test_the_final_result_replaces_the_checkpoint(tmp_path):
    seen = [0]
    with aiohttp_server(lambda: counting_app(seen)) as srv:
        out = driver("run", srv.url, "-r", "50", "-d", "3s", "-w", "1", "--checkpoint", "1s", "-o", str(tmp_path),
                     "-q", "--report", "json")
    assert out.returncode in (0, 4), out.stderr.decode()  # 4: a busy machine made arrivals late
    [run_dir] = list(tmp_path.iterdir())
    assert sorted(p.name for p in run_dir.iterdir()) == ["result.json"]
    result = Result.load(run_dir / "result.json")
    assert result.complete and not result.checkpoint and result.totals().count == 150


def test_checkpoints_are_written_while_the_run_lasts(tmp_path):
    """Each checkpoint holds more than the one before it, and all hold what the server saw."""
    seen = [0]
    snapshots = []
    with aiohttp_server(lambda: counting_app(seen)) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "driver.cli", "run", srv.url, "-r", "100", "-d", "4s",
                                 "-w", "1", "--checkpoint", "1s", "-o", str(tmp_path), "-q", "--report", "json"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def watch():
            while proc.poll() is None:
                for path in tmp_path.glob("*/checkpoint.json"):
                    try:
                        snapshots.append(orjson.loads(path.read_bytes()))
                    except FileNotFoundError:
                        pass  # replaced by the final result just now
                time.sleep(0.05)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        proc.wait(60)
        thread.join(5)
    assert proc.returncode in (0, 4), proc.stderr.read().decode()  # 4: arrivals late on a busy machine
    ts = [s["checkpoint"]["t"] for s in snapshots]  # every read parsed: each file was whole
    assert ts == sorted(ts) and len(set(ts)) >= 2
    counts = [s["totals"]["count"] for s in snapshots]
    assert counts == sorted(counts) and 0 < counts[-1] <= seen[0]


def test_a_checkpoint_streams_the_series_and_equals_the_whole_result(tmp_path):
    # the series goes from the spool to the file line by line (driver.runner.checkpoint):
    # what is written must be exactly the result the run so far makes with its whole series
    from types import SimpleNamespace

    from driver.runner.checkpoint import Checkpointer, RunSoFar

    plan = make_plan("http://127.0.0.1:1/", users=1, duration="10m", workers=1)
    for n in (0, 1, 3, 200):
        so_far = RunSoFar(plan)
        for i in range(n):
            point = {"t": i + 1.0, "requests": i, "cpu_max": 0.99 if i % 2 else 0.1, "lag_mean_ns": 1000 * i,
                     "note": "ünïcödé \"quoted\" \\ ,]", "nested": {"a": [1, 2.5, None]}, "big": 2**62}
            so_far.add(SimpleNamespace(rows=[], t=i + 1.0, point=lambda p=point: p))
        path = Checkpointer(plan, tmp_path, 60, so_far=so_far).write()
        got = orjson.loads(path.read_bytes())
        whole = so_far.result(got["reasons"][0], got["checkpoint"])
        assert got == orjson.loads(whole.to_json()), n
        assert len(got["series"]) == n and got["validity"] == whole.validity
        assert Result.from_dict(got).series == whole.series
        # the spool goes on after the copy: the next point lands after the others
        so_far.add(SimpleNamespace(rows=[], t=n + 1.0, point=lambda: {"t": n + 1.0}))
        assert len(so_far.series.points()) == n + 1 and so_far.series.points()[-1] == {"t": n + 1.0}
