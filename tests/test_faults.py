"""Real faults: killed workers, Ctrl-C, reset connections, stalled servers, garbage bytes,
an unreachable target, a paused worker. The driver never crashes and loses nothing it
recorded; shared memory is always released."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import driver
from driver.errors import TargetUnreachable
from driver.layout import C_RECONNECTS
from driver.shm import list_segments
from tests.servers import (
    aiohttp_server,
    close_mid_body_server,
    garbage_server,
    refused_port,
    reset_server,
    stall_server,
)

ROOT = Path(__file__).resolve().parents[1]


def _app():
    from aiohttp import web

    async def ok(request):
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    return app


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(x) for x in text]
    return out


def _worker_pids(pid: int, n: int, timeout=30.0) -> list[int]:
    """The worker processes of a driver parent (spawned python processes running the worker)."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        pids = [c for c in _children(pid)
                if b"multiprocessing.spawn" in Path(f"/proc/{c}/cmdline").read_bytes()
                and b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]
        if len(pids) >= n:
            return pids
        time.sleep(0.05)
    raise AssertionError("workers did not start")


def _result(outdir: Path) -> dict:
    files = list(outdir.glob("*/result.json"))
    assert len(files) == 1, files
    return orjson.loads(files[0].read_bytes())


def test_worker_killed_with_sigkill_keeps_its_data_and_leaks_no_shm(tmp_path):
    with aiohttp_server(_app) as srv:
        proc = _cli("run", srv.url + "/", "-u", "4", "-w", "2", "-d", "6s", "-q", "-o", str(tmp_path))
        victim = sorted(_worker_pids(proc.pid, 2))[0]
        time.sleep(2.5)  # let it record
        os.kill(victim, signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err.decode()
    data = _result(tmp_path)
    assert data["complete"] is False
    assert any("died" in r and "SIGKILL" in r for r in data["reasons"])
    dead = [w for w in data["workers"] if "SIGKILL" in w["exit"]]
    assert len(dead) == 1 and dead[0]["requests"] > 0  # what it recorded before dying is in the result
    assert data["totals"]["requests"] == sum(w["requests"] for w in data["workers"])
    assert b"INCOMPLETE" in out
    assert not [s for s in list_segments() if s.startswith(f"driver_{proc.pid}_")]


def test_ctrl_c_writes_the_partial_result_and_exits_130(tmp_path):
    with aiohttp_server(_app) as srv:
        proc = _cli("run", srv.url + "/", "-u", "4", "-w", "2", "-d", "30s", "-q", "-o", str(tmp_path),
                    start_new_session=True)
        _worker_pids(proc.pid, 2)
        time.sleep(2.5)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole process group
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()
    data = _result(tmp_path)
    assert data["interrupted"] is True and data["complete"] is False
    assert data["totals"]["requests"] > 0
    assert data["duration_s"] < 20
    assert b"Traceback" not in err
    assert not [s for s in list_segments() if s.startswith(f"driver_{proc.pid}_")]


def test_connection_resets_are_counted_and_users_reconnect():
    with reset_server(after_requests=3) as srv:
        result = driver.run(driver.make_plan(srv.url + "/", users=2, requests=200, workers=1))
    tot = result.totals()
    assert tot.errors_by_kind["connection_reset"] > 0
    assert tot.requests > 0
    assert tot.requests + tot.errors == 200  # every claimed request ended as a response or an error
    assert tot.counters[C_RECONNECTS] > 0


def test_stalled_server_gives_request_timeouts():
    with stall_server() as srv:
        result = driver.run(driver.make_plan(srv.url + "/", users=2, duration="2s", timeout="0.4s", workers=1))
    tot = result.totals()
    assert tot.requests == 0
    assert tot.errors_by_kind["request_timeout"] >= 4  # 2 users, ~0.4 s each, over ~2 s


@pytest.mark.parametrize(
    "payload",
    [
        b"\x00\xffNOT HTTP AT ALL \x01\x02\x03\r\n\r\n",  # binary garbage
        b"SSH-2.0-OpenSSH_9.2\r\n",  # another protocol
        b'{"ok": true}',  # a body with no head
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",  # a broken head
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # a broken chunk size
    ],
)
def test_garbage_bytes_are_protocol_errors(payload):
    with garbage_server(payload=payload) as srv:
        result = driver.run(driver.make_plan(srv.url + "/", users=2, requests=20, workers=1))
    tot = result.totals()
    assert tot.errors_by_kind["protocol_error"] + tot.errors_by_kind["connection_reset"] == 20
    assert tot.errors_by_kind["protocol_error"] > 0
    assert result.complete


def test_truncated_body_is_a_connection_error():
    with close_mid_body_server() as srv:
        result = driver.run(driver.make_plan(srv.url + "/", users=1, requests=10, workers=1))
    tot = result.totals()
    assert tot.errors_by_kind["connection_reset"] == 10 and tot.requests == 0


def test_refused_target_is_reported_before_the_run():
    with refused_port() as port:
        t0 = time.monotonic()
        with pytest.raises(TargetUnreachable, match="refused"):
            driver.run(driver.make_plan(port.url + "/", users=1, duration="5s"))
        assert time.monotonic() - t0 < 5  # within the connect timeout, no hang


def test_target_killed_mid_run_is_counted_not_fatal():
    import threading

    from driver.targets.process import DemoTargetProcess

    with DemoTargetProcess() as target:
        plan = driver.make_plan(target.url + "/health", users=4, duration="3s", workers=1,
                                connect_timeout="0.5s")
        killer = threading.Timer(1.0, lambda: os.kill(target.pid, signal.SIGKILL))
        killer.start()
        result = driver.run(plan)
        killer.join()
    tot = result.totals()
    assert tot.requests > 0
    kinds = tot.errors_by_kind
    assert kinds["connect_refused"] + kinds["connection_reset"] > 0
    assert result.complete  # the target failing is a finding, not a broken run


def test_paused_worker_shows_in_latency_from_intended_start(tmp_path):
    # Coordinated omission: while the worker is stopped (SIGSTOP) its arrivals fall
    # due; they are sent late when it resumes. Latency from the intended start must
    # show the pause; latency from the actual send must not.
    with aiohttp_server(_app) as srv:
        proc = _cli("run", srv.url + "/", "-r", "100", "-w", "1", "-d", "4s", "-q", "-o", str(tmp_path))
        worker = _worker_pids(proc.pid, 1)[0]
        time.sleep(2.0)
        os.kill(worker, signal.SIGSTOP)
        time.sleep(0.5)
        os.kill(worker, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    # ~50 of ~400 arrivals started late: the generator was not fit to measure (exit 4)
    assert proc.returncode == 4, err.decode()
    data = _result(tmp_path)
    assert any("intended time" in r for r in data["validity"]["reasons"])
    tot = data["totals"]
    assert tot["counters"]["late"] >= 20  # ~50 arrivals fell due during the pause
    assert tot["latency"]["max_ns"] >= 0.3e9
    assert tot["service"]["p99_ns"] < tot["latency"]["p99_ns"]
