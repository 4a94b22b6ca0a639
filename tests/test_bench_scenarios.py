"""The scenario benchmark's two driver scenarios (benchmarks/scenario.yaml and
benchmarks/scenario_python.py) run through the CLI against nginx on loopback: the five
tasks by weight, every request recorded and checked, as run_scenario.py relies on."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAMES = {"/start", "text", "button", "/help", "photo"}
REQUESTS = 600


def _run(args: list[str], out: Path, **env: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "driver.cli", "run", *args, "-n", str(REQUESTS), "-u", "4",
                           "-w", "1", "-q", "-o", str(out)],
                          cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = out.rglob("result.json")
    return json.loads(result.read_text())


@pytest.mark.parametrize("kind", ["yaml", "python"])
def test_benchmark_scenarios_record_and_check_every_request(kind, nginx, tmp_path):
    if kind == "yaml":
        result = _run(["-c", "benchmarks/scenario.yaml"], tmp_path, DRIVER_BENCH_URL=nginx.url.rstrip("/"))
    else:
        result = _run(["-s", "benchmarks/scenario_python.py", nginx.url], tmp_path)
    endpoints = {e["name"]: e for e in result["endpoints"] if e.get("requests")}
    assert set(endpoints) == NAMES
    totals = result["totals"]
    assert totals["requests"] == REQUESTS and totals["errors"] == 0
    assert totals["checks"] == REQUESTS and totals["check_failures"] == 0  # one status check per request
    # weights 5:3:2:1:1: /start is the most frequent, /help and photo the least
    counts = {name: e["requests"] for name, e in endpoints.items()}
    assert counts["/start"] > counts["text"] > max(counts["/help"], counts["photo"])
