"""TLS: a certificate that does not verify is a reachability failure before the run
(exit 3, one line), not a clean run of errors; TLS errors during a run have a kind."""
import contextlib
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

import driver
from driver.runner.supervisor import run as supervisor_run
from servers import tls_server

trustme = pytest.importorskip("trustme")
ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def self_signed_server():
    """tests/servers.tls_server: a certificate from a CA nobody trusts; yields its https URL."""
    with tls_server() as srv:
        yield f"https://127.0.0.1:{srv.port}/"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True, timeout=120)


def test_an_unverifiable_certificate_stops_the_run_before_it_starts(tmp_path):
    with self_signed_server() as url:
        proc = _cli("run", url, "-u", "2", "-d", "1s", "-w", "1", "-q", "-o", str(tmp_path))
    err = proc.stderr.decode()
    assert proc.returncode == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "certificate" in lines[0] and "--insecure" in lines[0]
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*/result.json"))  # nothing ran


def test_insecure_runs_against_a_self_signed_certificate(tmp_path):
    with self_signed_server() as url:
        proc = _cli("run", url, "-k", "-u", "2", "-n", "40", "-w", "1", "-q", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    (path,) = tmp_path.glob("*/result.json")
    totals = orjson.loads(path.read_bytes())["totals"]
    assert totals["requests"] == 40 and totals["errors"] == 0


def test_tls_errors_during_a_run_are_their_own_kind():
    # the certificate goes bad after the check (here: no check): every connect fails
    # verification, and the errors say so instead of "other"
    with self_signed_server() as url:
        plan = replace(driver.make_plan(url, users=2, duration="0.5s", workers=1), grace_s=0.2)
        result = supervisor_run(plan, check_target=False)
    tot = result.totals()
    assert tot.requests == 0
    assert tot.errors_by_kind["tls"] >= 2
    assert tot.errors == tot.errors_by_kind["tls"]
