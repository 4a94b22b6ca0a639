"""Handshake headers (the target's `-H` and config `headers:`/`auth:`) on WebSocket
handshakes — the fast unit's (driver.engine.ws) and the YAML `ws:` steps' (self.ws) —
against the demo server's /headers route, which refuses an upgrade without
Authorization and answers each message with the headers its handshake carried. The
token reaches the server and no output file, nor the console."""
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson

from driver.targets.process import WsDemoTargetProcess

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-ws-token-7f3a"


def _cli(tmp_path, *args):
    proc = subprocess.run([sys.executable, "-m", "driver.cli", *args, "-q", "-o", str(tmp_path),
                           "--report", "html,md,csv,junit"], cwd=ROOT, capture_output=True, timeout=120)
    out = proc.stdout.decode() + proc.stderr.decode()
    assert "Traceback" not in out, out
    run_dir = next(tmp_path.iterdir())
    return proc, out, run_dir, orjson.loads((run_dir / "result.json").read_bytes())


def _eps(data):
    return {e["name"]: e for e in data["endpoints"]}


def _nowhere(out: str, run_dir: Path) -> None:
    assert TOKEN not in out
    for f in run_dir.iterdir():
        assert TOKEN not in f.read_text(errors="replace"), f.name


def test_fast_unit_sends_the_target_headers_with_its_handshake(tmp_path):
    with WsDemoTargetProcess() as target:
        proc, out, run_dir, data = _cli(tmp_path / "with", "run", target.url + "/headers", "-u", "2", "-n", "40",
                                        "-w", "1", "-H", f"Authorization: Bearer {TOKEN}",
                                        "-H", "X-Client: driver")
        refused, _, _, without = _cli(tmp_path / "without", "run", target.url + "/headers", "-u", "1", "-d", "1s",
                                      "-w", "1", "-H", "X-Client: driver")
    assert proc.returncode == 0, out
    eps = _eps(data)
    assert eps["WS /headers"]["count"] == 40 and eps["WS /headers"]["errors"] == 0
    assert eps["ws:connect"]["count"] == 2  # both handshakes taken: the server saw Authorization
    _nowhere(out, run_dir)
    # without it the server refuses every upgrade (401): the handshakes fail (errors of the run;
    # no threshold given, so the exit code is 0), nothing is sent
    hs = _eps(without)["ws:connect"]
    assert refused.returncode == 0 and hs["count"] == 0 and hs["errors_by_kind"]["protocol_error"] > 0


def test_yaml_ws_steps_carry_the_target_headers_and_auth(tmp_path):
    with WsDemoTargetProcess() as target:
        config = tmp_path / "ws.yaml"
        config.write_text(textwrap.dedent(f"""
            target:
              base_url: {target.url.replace("ws://", "http://")}
              headers: {{X-Tenant: t1}}
              auth: {{bearer: "${{WS_TOKEN}}"}}
            load: {{users: 2, requests: 20, workers: 1}}
            scenario:
              flows:
                - name: whoami
                  steps:
                    - ws: {{connect: /headers, reuse: true, as: me}}
                    - name: seen
                      ws:
                        send: {{text: who}}
                        expect: {{contains: '"x-tenant":"t1"'}}
                    - name: auth
                      ws:
                        send: {{text: who}}
                        expect: {{contains: '"authorization":"Bearer '}}
        """))
        proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", "-c", str(config), "-q",
                               "-o", str(tmp_path / "out"), "--report", "html,md,csv,junit"],
                              cwd=ROOT, capture_output=True, timeout=120, env={**_env(), "WS_TOKEN": TOKEN})
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 0, out
    run_dir = next((tmp_path / "out").iterdir())
    eps = _eps(orjson.loads((run_dir / "result.json").read_bytes()))
    assert eps["seen"]["count"] == 20 and eps["seen"]["check_failures"] == 0
    assert eps["auth"]["count"] == 20 and eps["auth"]["check_failures"] == 0
    _nowhere(out, run_dir)


def _env():
    import os

    return dict(os.environ)
