"""Runs that end unusually still end, on time, with what they measured: SIGTERM,
a worker stuck in user code, users whose on_start fails, tasks that are not async."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson

from servers import aiohttp_server, ok_app

ROOT = Path(__file__).resolve().parent.parent


def _popen(*args):
    return subprocess.Popen([sys.executable, "-m", "driver.cli", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _result(outdir: Path) -> dict:
    (path,) = outdir.glob("*/result.json")
    return orjson.loads(path.read_bytes())


def _shm_left(pid: int) -> list[str]:
    return [n for n in os.listdir("/dev/shm") if n.startswith(f"driver_{pid}_")]


def _scenario(tmp_path, body) -> str:
    path = tmp_path / "bot.py"
    path.write_text("import time\nfrom driver.scenario import User, task\n\n" + textwrap.dedent(body))
    return str(path)


def test_sigterm_ends_the_run_like_ctrl_c_and_keeps_the_result(tmp_path):
    with aiohttp_server(ok_app) as srv:
        proc = _popen("run", srv.url + "/", "-u", "4", "-d", "20s", "-w", "1", "-q", "-o", str(tmp_path))
        time.sleep(2.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()
    assert b"Traceback" not in err
    data = _result(tmp_path)
    assert data["interrupted"] is True
    assert any("SIGTERM" in r for r in data["reasons"])
    assert data["totals"]["requests"] > 0
    assert data["duration_s"] < 15  # it ended at the signal, not at 20 s
    assert _shm_left(proc.pid) == []


def test_a_worker_stuck_in_user_code_is_named_and_the_run_still_ends(tmp_path):
    path = _scenario(tmp_path, """
        class Bot(User):
            @task
            async def hit(self):
                await self.http.get("/x", name="x")
                self.state["n"] = self.state.get("n", 0) + 1
                if self.state["n"] == 20:
                    time.sleep(60)  # blocks the worker's event loop: every user stops
    """)
    with aiohttp_server(ok_app) as srv:
        proc = _popen("run", srv.url, "-s", path, "-u", "1", "-d", "2s", "-w", "1", "--timeout", "1s",
                      "-q", "-o", str(tmp_path))
        out, err = proc.communicate(timeout=50)  # it ends long before the 60 s sleep would
    data = _result(tmp_path)
    reasons = " ".join(data["reasons"])
    assert "worker 0 stuck" in reasons and "hit (bot.py:" in reasons, reasons
    assert "killed at the end of the run" in reasons
    assert data["complete"] is False
    assert data["totals"]["requests"] >= 20  # what it measured before it blocked is kept
    assert b"Traceback" not in err


def test_users_whose_on_start_fails_run_no_task(tmp_path):
    import driver
    from driver.cli import build_plan

    path = _scenario(tmp_path, """
        class Bot(User):
            async def on_start(self):
                raise RuntimeError("login refused")

            @task
            async def hit(self):
                await self.http.get("/x", name="x")
    """)
    with aiohttp_server(ok_app) as srv:
        plan = build_plan(srv.url, {"users": 2, "duration": "1s", "workers": 1}, path)
        result = driver.run(plan)
    names = [e.name for e in result.endpoints]
    assert "x" not in names or result.endpoint("x").requests == 0
    err = result.endpoint("error:RuntimeError")
    assert err.errors >= 2  # each user's attempt, retried after a backoff
    assert any(c["reason"] == "login refused" for c in result.checks)


def test_a_task_that_is_not_async_is_a_usage_error(tmp_path):
    path = _scenario(tmp_path, """
        class Bot(User):
            @task
            def hit(self):
                time.sleep(0.01)
    """)
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", "http://127.0.0.1:9/", "-s", path],
                          cwd=ROOT, capture_output=True, timeout=60)
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2
    assert len(err.splitlines()) == 1 and "Bot.hit must be `async def`" in err


def test_a_task_that_hides_a_user_attribute_is_a_usage_error(tmp_path):
    # a task named `wait` would replace the user's think time with a method
    path = _scenario(tmp_path, """
        class Bot(User):
            @task
            async def wait(self):
                pass
    """)
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", "http://127.0.0.1:9/", "-s", path],
                          cwd=ROOT, capture_output=True, timeout=60)
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2
    assert len(err.splitlines()) == 1 and "Bot.wait: a task may not be named 'wait'" in err
