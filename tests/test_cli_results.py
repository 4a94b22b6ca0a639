"""What a CI job gates on: exit codes of thresholds, aborts and validity; report and
compare on saved results; secrets never reaching any output."""
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.servers import aiohttp_server, ok_app

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, env=None, timeout=120):
    import os

    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def _only_result(outdir: Path) -> Path:
    (path,) = outdir.glob("*/result.json")
    return path


@pytest.fixture(scope="module")
def server():
    with aiohttp_server(ok_app) as srv:
        yield srv


@pytest.mark.parametrize(
    "thresholds, code",
    [
        (["p99<30s", "error_rate<1%", "rps>1"], 0),  # all hold
        (["p99<1ns"], 1),  # impossible latency: a failed threshold
        (["/nope:p99<1s"], 1),  # an endpoint that does not exist fails
        (["p99<1ns abort=1s"], 3),  # broken for its grace period: the run is aborted
    ],
)
def test_threshold_exit_codes(server, tmp_path, thresholds, code):
    args = ["run", server.url + "/x", "-u", "2", "-w", "1", "-d", "4s", "-q", "-o", str(tmp_path),
            "--report", "json,junit,md"]
    for t in thresholds:
        args += ["-t", t]
    proc = cli(*args)
    assert proc.returncode == code, proc.stderr.decode()
    data = orjson.loads(_only_result(tmp_path).read_bytes())
    assert [v["threshold"] for v in data["verdicts"]] == thresholds
    if code == 3:
        assert data["aborted"]["threshold"] == "p99<1ns abort=1s" and data["duration_s"] < 3.5
    junit = (_only_result(tmp_path).parent / "junit.xml").read_text()
    assert junit.count("<testcase") >= len(thresholds)


def test_a_starved_run_exits_4(nginx, tmp_path):
    proc = cli("run", nginx.url + "/", "-r", "400000", "-w", "1", "--max-in-flight", "64", "-d", "3s", "-q",
               "-o", str(tmp_path))
    assert proc.returncode == 4, proc.stderr.decode()
    assert b"NOT VALID" in proc.stderr
    assert orjson.loads(_only_result(tmp_path).read_bytes())["validity"]["valid"] is False


def test_report_and_compare_on_saved_results(server, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert cli("run", server.url + "/x", "-u", "2", "-w", "1", "-n", "300", "-q", "-o", str(out)).returncode == 0
    ra, rb = _only_result(a), _only_result(b)
    proc = cli("report", str(ra), "--report", "md,csv", "-o", str(tmp_path / "re"))
    assert proc.returncode == 0, proc.stderr.decode()
    assert (tmp_path / "re" / "summary.md").exists() and (tmp_path / "re" / "stats.csv").exists()
    same = cli("compare", str(ra), str(ra), "--fail-on", "p99>+10%")
    assert same.returncode == 0 and b"GET /x" in same.stdout
    worse = cli("compare", str(ra), str(rb), "--fail-on", "rps<+1000%")  # b cannot be 10x faster than a
    assert worse.returncode == 1


@pytest.mark.parametrize("content", [b"{}", b"not json", b'{"schema": "other"}'])
def test_report_and_compare_reject_what_is_not_a_result(tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    for args in (["report", str(bad)], ["compare", str(bad), str(bad)]):
        proc = cli(*args)
        err = proc.stderr.decode()
        assert proc.returncode == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_secrets_never_reach_any_output(server, tmp_path):
    secret_header = "Bearer sk-live-TOPSECRET-123"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
target:
  base_url: {server.url}
  headers: {{X-Trace: visible}}
  auth: {{bearer: "${{API_TOKEN}}"}}
scenario:
  tasks:
    - name: call
      path: /x?key=${{API_KEY}}
      headers: {{X-Other: !secret "${{OTHER_SECRET}}"}}
load: {{users: 2, requests: 50, workers: 1}}
""")
    env = {"API_TOKEN": "sk-live-TOPSECRET-123", "API_KEY": "ak-SECRET-456", "OTHER_SECRET": "os-SECRET-789"}
    out = tmp_path / "out"
    proc = cli("run", "-c", str(cfg), "-o", str(out), "--report", "json,html,md,csv,junit", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    # and a plain URL run with an Authorization header on the command line
    proc2 = cli("run", server.url + "/y", "-u", "1", "-w", "1", "-n", "20", "-o", str(out),
                "--report", "json,html,md,csv,junit", "-H", f"Authorization: {secret_header}")
    assert proc2.returncode == 0, proc2.stderr.decode()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 10
    texts = [proc.stdout, proc.stderr, proc2.stdout, proc2.stderr] + [p.read_bytes() for p in files]
    for secret in (b"TOPSECRET", b"os-SECRET-789"):
        assert not any(secret in t for t in texts), secret
