"""benchmarks/run_inproc.py with tiny counts: the harness runs and its figures add up
(no absolute times: counts, and "it finishes")."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_benchmark_runs_every_variant(loop):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_inproc.py"), "--calls", "500", "--users",
                           "4", "--rounds", "2", "--loop", loop, "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["runs"]) == {"plain", "plain_tasks", "driver"}
    for runs in out["runs"].values():
        assert len(runs) == 2 and all(r["calls"] == 500 and r["cpu_s"] > 0 for r in runs)
    m = out["median_cpu_us_per_call"]
    assert out["ratio_driver_to_plain"] == pytest.approx(m["driver"] / m["plain"])
    assert out["loop"] == ("Loop" if loop == "uvloop" else "_UnixSelectorEventLoop")


def test_the_table():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_inproc.py"), "--calls", "100", "--rounds",
                           "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "| driver |" in proc.stdout and "driver / plain:" in proc.stdout


def test_bad_arguments_are_refused():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_inproc.py"), "--calls", "1", "--users", "5"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--calls >= --users" in proc.stderr
