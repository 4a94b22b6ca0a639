"""In-process targets through `driver run`: python:// URLs and the config's target.python,
run by worker processes (supervisor, worker, result.json), and their errors (one line, exit 2)."""
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPONENT = "examples/inproc/component.py"


def driver_cli(*args, cwd=ROOT, timeout=120, env=None):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=cwd, capture_output=True,
                          timeout=timeout, env=env)


def result_of(out_dir: Path) -> dict:
    (path,) = out_dir.glob("*/result.json")
    return orjson.loads(path.read_bytes())


def test_a_python_url_runs_and_counts_outcomes(tmp_path):
    url = f"python://{COMPONENT}:handle?setup=make&teardown=report&rejected=LimitReached"
    proc = driver_cli("run", url, "-u", "30", "-n", "300", "-o", str(tmp_path), "--report", "json", "-q")
    assert proc.returncode == 0, proc.stderr.decode()
    err = proc.stderr.decode()
    assert "conversations: started" in err and "INCONSISTENT" not in err  # the teardown hook ran
    result = result_of(tmp_path)
    (ep,) = result["endpoints"]
    assert ep["name"] == "handle" and ep["sent"] == 300
    assert ep["status"]["2xx"] + ep["status"]["4xx"] == 300 and ep["throttled"] == ep["status"]["4xx"] > 0
    assert ep["errors"] == 0 and ep["error_rate"] == 0.0
    assert result["plan"]["target"] == f"python://{COMPONENT}:handle" and result["plan"]["workers"] == 1


def test_errors_of_the_callable_reach_the_failed_checks(tmp_path):
    (tmp_path / "flaky.py").write_text(
        "async def call(ctx):\n    if ctx.n % 2:\n        raise ConnectionError('db down')\n")
    proc = driver_cli("run", f"python://{tmp_path}/flaky.py:call", "-u", "2", "-n", "20", "-o", str(tmp_path / "out"),
                      "--report", "json", "-q", "-t", "error_rate<1%")
    assert proc.returncode == 1, proc.stderr.decode()  # the threshold failed
    result = result_of(tmp_path / "out")
    assert result["endpoints"][0]["status"]["5xx"] == 10
    assert result["checks"] == [{"endpoint": "call", "reason": "ConnectionError: db down", "failures": 10}]


def test_a_hanging_call_counts_request_timeout(tmp_path):
    (tmp_path / "hang.py").write_text("import asyncio\n\nasync def call():\n    await asyncio.sleep(60)\n")
    proc = driver_cli("run", f"python://{tmp_path}/hang.py:call", "-u", "2", "-n", "4", "--timeout", "0.3",
                      "-o", str(tmp_path / "out"), "--report", "json", "-q")
    assert proc.returncode == 0, proc.stderr.decode()
    ep = result_of(tmp_path / "out")["endpoints"][0]
    assert ep["errors_by_kind"]["request_timeout"] == 4 and ep["sent"] == 4


def test_a_sync_call_that_blocks_the_loop_is_noted(tmp_path):
    (tmp_path / "blocks.py").write_text("import time\n\ndef call():\n    time.sleep(2.5)\n")
    proc = driver_cli("run", f"python://{tmp_path}/blocks.py:call", "-u", "1", "-n", "1",
                      "-o", str(tmp_path / "out"), "--report", "json", "-q")
    result = result_of(tmp_path / "out")
    # the supervisor's note says where it blocked (the worker's watchdog's note)
    assert any("worker 0 stuck" in n and "blocks.py" in n for n in result["notes"] + result["reasons"]), \
        (result["notes"], result["reasons"], proc.stderr.decode())
    assert result["endpoints"][0]["status"]["2xx"] == 1


def test_a_setup_that_raises_ends_the_run_incomplete(tmp_path):
    (tmp_path / "c.py").write_text("def make():\n    raise RuntimeError('no database')\n\n"
                                   "async def call():\n    pass\n")
    proc = driver_cli("run", f"python://{tmp_path}/c.py:call?setup=make", "-n", "5", "-o", str(tmp_path / "out"),
                      "--report", "json", "-q")
    assert proc.returncode == 3, proc.stderr.decode()
    assert "RuntimeError: no database" in proc.stderr.decode()
    result = result_of(tmp_path / "out")
    assert not result["complete"] and any("worker 0" in r and "died" in r for r in result["reasons"])


def test_a_config_with_target_python_and_every_report(tmp_path):
    proc = driver_cli("run", "-c", "examples/inproc/conversations.yaml", "--stage", "1s:10", "--stage", "1s:0",
                      "-o", str(tmp_path), "--report", "json,html,md,csv,junit", "-q")
    assert proc.returncode == 0, proc.stderr.decode()
    (run_dir,) = tmp_path.iterdir()
    assert "python://component.py:handle" in (run_dir / "summary.md").read_text()
    assert (run_dir / "report.html").stat().st_size > 0 and (run_dir / "junit.xml").exists()
    result = result_of(tmp_path)
    assert result["plan"]["shape"] == [[0.0, 0.0], [1.0, 10.0], [2.0, 0.0]]
    assert result["endpoints"][0]["name"] == "handle" and result["endpoints"][0]["status"]["2xx"] > 0
    assert [v["passed"] for v in result["verdicts"]] == [True, True]


def test_more_workers_warn_that_each_has_its_own_component(tmp_path):
    proc = driver_cli("run", f"python://{COMPONENT}:handle?setup=make&rejected=LimitReached", "-w", "2",
                      "-n", "20", "-o", str(tmp_path), "--report", "json", "-q")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "each worker process has its own instance" in proc.stderr.decode()
    assert result_of(tmp_path)["plan"]["workers"] == 2


@pytest.mark.parametrize("args, needle", [
    (["run", f"python://{COMPONENT}:nothing"], "has no 'nothing'"),
    (["run", "python://examples/inproc/missing.py:f"], "file not found"),
    (["run", "python://no_such_module_here:f"], "does not import: ModuleNotFoundError"),
    (["run", "python://examples/inproc/conversations.py:QUICK_S"], "is not callable (a float)"),
    (["run", f"python://{COMPONENT}:handle?nope=1"], "unknown option 'nope'"),
    (["run", f"python://{COMPONENT}:handle", "-m", "POST"], "--method is for http(s):// and ws(s):// URLs"),
    (["run", f"python://{COMPONENT}:handle", "-s", "x.py"], "--scenario is for http(s):// and ws(s):// URLs"),
])
def test_usage_errors_are_one_line(args, needle):
    proc = driver_cli(*args)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1 and err.startswith("driver: error: "), err
    assert needle in err and "Traceback" not in err


@pytest.mark.parametrize("target, needle", [
    ("python: component.py:nothing", "x.yaml:2: target.python: the call 'component.py:nothing'"),
    ("python: component.py:handle\n  rejected: {a: 1}", "x.yaml:3"),
    ("python: component.py:handle\n  base_url: http://127.0.0.1/", "x.yaml:3"),
])
def test_config_errors_name_file_and_line(tmp_path, target, needle):
    for name in ("component.py", "conversations.py", "broken_conversations.py"):
        (tmp_path / name).write_bytes((ROOT / "examples" / "inproc" / name).read_bytes())
    (tmp_path / "x.yaml").write_text(f"target:\n  {target}\nload:\n  requests: 5\n")
    proc = driver_cli("run", "-c", str(tmp_path / "x.yaml"))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1 and needle in err, err
