"""`driver demo --ws`, `--jobs` and `--calls` (driver.cli.demo): each starts its demo
target on a free loopback port, runs a few seconds and saves a result with the
endpoints its scenario records (driver.scenario.wsdemo)."""
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _demo(tmp_path, *args):
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "demo", *args, "-w", "1", "-q", "-o", str(tmp_path)],
                          cwd=ROOT, capture_output=True, timeout=120)
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 0, out
    run_dir = next(tmp_path.iterdir())
    return orjson.loads((run_dir / "result.json").read_bytes()), out, run_dir


def _eps(data):
    return {e["name"]: e for e in data["endpoints"]}


def test_demo_ws_runs_round_trips_and_pushes(tmp_path):
    data, out, _ = _demo(tmp_path, "--ws", "-d", "3s", "-u", "4")
    assert "demo WebSocket server at ws://127.0.0.1:" in out
    eps = _eps(data)
    assert {"ws:connect", "echo", "push:feed", "echo ping"} <= set(eps)
    assert eps["echo"]["count"] > 0 and eps["echo"]["errors"] == 0
    assert eps["push:feed"]["count"] > 0  # pushes timed from the demo's ts_ns
    assert eps["ws:connect"]["count"] == 8  # two connections per user


def test_demo_jobs_follows_jobs_and_charts_the_queue(tmp_path):
    data, out, run_dir = _demo(tmp_path, "--jobs", "-d", "3s", "-u", "2")
    assert "demo job API at http://127.0.0.1:" in out
    eps = _eps(data)
    assert {"job:report", "job:report:submit", "job:report:poll", "job:report:processing"} <= set(eps)
    submitted = eps["job:report:submit"]["count"]
    assert submitted > 0 and eps["job:report"]["count"] > 0
    assert all("queue_depth" in (p.get("metrics") or {}) for p in data["series"][1:])  # scraped every second
    assert "queue_depth" in (run_dir / "report.html").read_text()


@pytest.mark.parametrize("flags", [("--ws", "--api"), ("--jobs", "--chaos")])
def test_demo_variant_with_a_bot_flag_is_a_usage_error(tmp_path, flags):
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "demo", *flags, "-o", str(tmp_path)],
                          cwd=ROOT, capture_output=True, timeout=60)
    err = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and err[0].startswith("driver: error: --")


def test_demo_calls_streams_audio_at_pace(tmp_path):
    data, out, _ = _demo(tmp_path, "--calls", "-d", "4s", "-u", "2")
    assert "demo call API at http://127.0.0.1:" in out
    eps = _eps(data)
    assert {"call:demo", "call:demo:setup", "call:demo:lateness", "call:demo:initiate"} <= set(eps)
    call = eps["call:demo"]
    assert call["count"] >= 2 and call["errors"] == 0
    assert call["sent"] == call["count"]  # every call set up was completed (the grace lets the last end)
    assert eps["call:demo:lateness"]["count"] >= 150 * call["count"]  # 3 s calls of 20 ms frames
