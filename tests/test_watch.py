"""--watch-pid end to end: a target that leaks on purpose and one that does not, each
watched during a short run; the series, result.json, the summary, the report and the
`target_rss_slope` threshold. Also driver.runner.watch on its own."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from driver.errors import PlanError
from driver.planning import make_plan
from driver.reports.summary import live_line
from driver.runner.watch import Watcher, check_pids
from driver.stats.window import ProcessSample
from tests.test_thresholds import _window

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "tests" / "leaky_target.py"


def driver_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True,
                          timeout=timeout)


@contextlib.contextmanager
def target(kind: str):
    """(pid, url) of tests/leaky_target.py started as `kind` (leak or flat); killed on exit."""
    proc = subprocess.Popen([sys.executable, str(TARGET), kind], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield proc.pid, f"http://127.0.0.1:{port}/"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def watched_run(tmp_path: Path, kind: str, *extra):
    with target(kind) as (pid, url):
        out = tmp_path / kind
        done = driver_cli("run", url, "--watch-pid", str(pid), "-d", "4s", "-u", "2", "-w", "1", "-o", str(out),
                          "--report", "html", *extra)
    (path,) = out.glob("*/result.json")
    return pid, done, orjson.loads(path.read_bytes()), path.parent


def test_a_leaking_target_is_told_from_a_steady_one(tmp_path):
    leak_pid, leak_done, leaking, leak_dir = watched_run(tmp_path, "leak", "-t", "target_rss_slope<1MB/h")
    flat_pid, flat_done, flat, _ = watched_run(tmp_path, "flat")
    assert leak_done.returncode == 1, leak_done.stderr.decode()  # the slope threshold failed
    assert flat_done.returncode == 0, flat_done.stderr.decode()
    # the per-second series holds the target's samples and driver's own RSS
    for result, pid in ((leaking, leak_pid), (flat, flat_pid)):
        samples = [p["watch"][str(pid)] for p in result["series"] if "watch" in p]
        assert len(samples) >= 3
        assert all(s["rss_bytes"] > 0 and s["threads"] >= 1 and s["fds"] >= 1 for s in samples)
        assert all(p["driver_rss"]["parent"] > 0 for p in result["series"])
        # a worker's RSS until it ends (a last partial second may come after it exited)
        assert sum(p["driver_rss"].get("worker 0", 0) > 0 for p in result["series"]) >= 3
        assert result["plan"]["watch_pids"] == [pid]
    rss = [p["watch"][str(leak_pid)]["rss_bytes"] for p in leaking["series"] if "watch" in p]
    assert rss[-1] > rss[0]
    # the verdict: the leaking target's slope is clearly positive and above the steady one's
    up = leaking["leak"]["targets"][str(leak_pid)]
    steady = flat["leak"]["targets"][str(flat_pid)]
    assert up["low_mb_h"] > 0
    assert up["slope_mb_h"] > steady["high_mb_h"]
    assert "worker 0" in leaking["leak"]["driver"]
    (verdict,) = leaking["verdicts"]
    assert (verdict["metric"], verdict["passed"], verdict["value"]) == ("target_rss_slope", False, up["slope_mb_h"])
    summary = leak_done.stdout.decode()
    assert f"pid {leak_pid}: +" in summary and "MB/h" in summary
    page = (leak_dir / "report.html").read_text()
    assert 'id="memory"' in page and "<polyline" in page and f"pid {leak_pid}" in page


def test_a_missing_pid_is_a_usage_error_before_the_load(tmp_path):
    done = driver_cli("run", "http://127.0.0.1:1/", "--watch-pid", "999999", "-d", "1s", "-o", str(tmp_path))
    err = done.stderr.decode().strip()
    assert done.returncode == 2
    assert err.count("\n") == 0 and err.startswith("driver: error: --watch-pid 999999")
    assert not list(tmp_path.iterdir())  # nothing ran, nothing written


@pytest.mark.parametrize("pids", [[0], [-3], ["abc"], [True]])
def test_bad_pids_are_plan_errors(pids):
    with pytest.raises(PlanError) as exc:
        make_plan("http://127.0.0.1:8080/", watch_pids=pids)
    assert exc.value.flag == "--watch-pid"


def test_pids_reach_the_plan_once_each():
    plan = make_plan("http://127.0.0.1:8080/", watch_pids=[os.getpid(), "7", os.getpid()])
    assert plan.watch_pids == (os.getpid(), 7)
    assert make_plan("http://127.0.0.1:8080/").watch_pids == ()


def test_a_process_that_exits_is_noted_and_no_longer_sampled():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        check_pids([proc.pid])
        watcher = Watcher([proc.pid])
        watcher.add_own("parent", os.getpid())
        watched, own = watcher.sample(1.0)
        assert watched[proc.pid].rss_bytes > 0 and own["parent"] > 0
        proc.kill()
        proc.wait(timeout=10)
        watched, own = watcher.sample(2.0)
        assert watched == {} and own["parent"] > 0
        assert watcher.notes == [f"watched process {proc.pid} exited at 2s; it was not sampled after that"]
        assert watcher.sample(3.0)[0] == {} and len(watcher.notes) == 1
        with pytest.raises(PlanError):
            check_pids([proc.pid])
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_the_window_carries_the_samples_into_its_point_and_the_live_line():
    sample = ProcessSample(rss_bytes=123_400_000, cpu=0.25, fds=9, threads=4)
    win = _window(2.0, watch={77: sample}, driver_rss={"parent": 5, "worker 0": 6})
    point = win.point()
    assert point["watch"] == {"77": {"rss_bytes": 123_400_000, "cpu": 0.25, "fds": 9, "threads": 4}}
    assert point["driver_rss"] == {"parent": 5, "worker 0": 6}
    assert "rss[77] 123.4MB" in live_line(win, 10.0)
    later = _window(3.0)  # a window without samples keeps the earlier one's when merged
    assert win.merged(later).watch == {77: sample}
    assert "watch" not in later.point() and "driver_rss" not in later.point()


def test_a_watched_process_that_exits_during_the_run_is_a_note_not_an_error(tmp_path):
    short = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    try:
        with target("flat") as (pid, url):
            done = driver_cli("run", url, "--watch-pid", str(pid), "--watch-pid", str(short.pid), "-d", "3s",
                              "-u", "1", "-w", "1", "-o", str(tmp_path), "--report", "json")
    finally:
        short.kill()
        short.wait(timeout=10)
    assert done.returncode == 0, done.stderr.decode()
    (path,) = tmp_path.glob("*/result.json")
    result = orjson.loads(path.read_bytes())
    assert result["complete"] and result["reasons"] == []
    (note,) = result["notes"]
    assert note.startswith(f"watched process {short.pid} exited")
    assert str(short.pid) not in result["series"][-1]["watch"] and str(pid) in result["series"][-1]["watch"]
    assert note in done.stdout.decode()


def test_the_rich_live_view_shows_each_watched_rss():
    from tests.test_live import _rich

    progress, console = _rich()
    with progress:
        progress.update(_window(1.0, watch={77: ProcessSample(rss_bytes=50_000_000)}))
    assert "rss 77" in console.file.getvalue() and "50.0MB" in console.file.getvalue()


def test_an_own_process_that_exited_unreaped_is_not_sampled_as_zero():
    import time as _time
    from driver.runner.watch import Watcher
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # exits; a zombie until waited for
    w = Watcher()
    w.add_own("bot side", child.pid)
    deadline = _time.monotonic() + 10
    while _time.monotonic() < deadline:
        _, own = w.sample(1.0)
        if "bot side" not in own:
            break
        assert own["bot side"] > 0  # alive: a real RSS, never 0
        _time.sleep(0.05)
    assert "bot side" not in w.sample(2.0)[1]
    child.wait()
