"""Helpers of the database tests: a config for a cluster, a `driver run`, its endpoints."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from tests.pg import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
CLEAN = (0, 4)  # 4: NOT VALID, when a busy 2-core box lags the workers' loops (the counts still hold)


def config(tmp_path, pg, tasks: str, db: str = "pool: 4", target_port: int | None = None, users: str = "") -> Path:
    """A config whose target is the cluster's port and whose tasks share one `db:`
    (${PGPASSWORD} expanded from the environment `run` gives)."""
    text = f"""target:
  base_url: http://127.0.0.1:{target_port or pg.port}
scenario:
{users}  tasks:
"""
    dsn = f"postgresql://driver:${{PGPASSWORD}}@127.0.0.1:{pg.port}/postgres"
    text += tasks.replace("DB", f'{{dsn: "{dsn}", {db}}}')
    path = tmp_path / "db.yaml"
    path.write_text(text)
    return path


def run(tmp_path, *args, env=None, timeout=120):
    """`driver run ARGS -q -o tmp_path/out`: (process, result.json as a dict or None)."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", *args, "-q", "-o", str(out)], cwd=ROOT,
                          capture_output=True, timeout=timeout, env={**os.environ, "PGPASSWORD": PASSWORD, **(env or {})})
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    results = list(out.glob("*/result.json"))
    data = orjson.loads(results[0].read_bytes()) if results else None
    if data is not None:  # the password reaches no file the run writes, nor its output
        for f in results[0].parent.iterdir():
            assert PASSWORD.encode() not in f.read_bytes(), f.name
        assert PASSWORD not in proc.stdout.decode() + err
    return proc, data


def endpoint(data, name):
    return next(e for e in data["endpoints"] if e["name"] == name)


def names(data) -> set:
    return {e["name"] for e in data["endpoints"]}


def reasons(data, name) -> dict:
    """{reason: count} of the failed checks and error reasons of one endpoint."""
    return {c["reason"]: c["failures"] for c in data["checks"] if c["endpoint"] == name}


def accounted(ep) -> bool:
    """sent == count + the errors that end a sent query."""
    kinds = ep["errors_by_kind"]
    return ep["sent"] == ep["count"] + sum(kinds[k] for k in ("request_timeout", "connection_reset", "unfinished"))
