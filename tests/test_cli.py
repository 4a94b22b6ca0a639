"""The CLI: bad input is one line and exit 2; an unreachable target is exit 3; demo works."""
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.servers import free_port, refused_port

ROOT = Path(__file__).resolve().parents[1]


def driver_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True,
                          timeout=timeout)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "not a url"], "scheme"),  # no scheme at all
        (["run", "ftp://127.0.0.1/"], "unsupported URL scheme 'ftp'"),
        (["run", "http://127.0.0.1:99999/"], "malformed URL"),  # port out of range
        (["run", "http:///path"], "no host"),
        (["run", "http://127.0.0.1/", "-u", "0"], "--users must be > 0"),
        (["run", "http://127.0.0.1/", "-u", "-5"], "--users must be > 0"),
        (["run", "http://127.0.0.1/", "-r", "0"], "--rate must be > 0"),
        (["run", "http://127.0.0.1/", "-d", "0"], "--duration must be > 0"),
        (["run", "http://127.0.0.1/", "-d", "-3s"], "--duration"),
        (["run", "http://127.0.0.1/", "-d", "soon"], "not a duration"),
        (["run", "http://127.0.0.1/", "--body-file", "/nonexistent/body.json"], "body file not found"),
        (["run", "http://127.0.0.1/", "-H", "NoColonHere"], "has no colon"),
        (["run", "http://127.0.0.1/", "-w", "0"], "--workers must be > 0"),
        (["run", "http://127.0.0.1/", "-u", "many"], "'many' is not a valid integer"),  # click's own check
        (["run"], "give a URL to load"),
        (["nosuchcommand"], "No such command"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle):
    proc = driver_cli(*args)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_refused_target_exits_3_quickly():
    with refused_port() as port:
        t0 = time.monotonic()
        proc = driver_cli("run", port.url + "/", "-d", "30s")
    err = proc.stderr.decode()
    assert proc.returncode == 3, err
    assert "refused" in err and len(err.strip().splitlines()) == 1
    assert time.monotonic() - t0 < 30  # stopped at the pre-flight connect, not after the run


def test_unresolvable_host_exits_3():
    proc = driver_cli("run", "http://no-such-host.invalid/", "-d", "5s", "--connect-timeout", "2s")
    err = proc.stderr.decode()
    assert proc.returncode == 3, err
    assert "resolve" in err and "Traceback" not in err


def test_demo_runs_the_builtin_target(tmp_path):
    proc = driver_cli("demo", "-d", "2s", "-u", "10", "-o", str(tmp_path))
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert "/start" in out and "p99.9" in out and "checks failed" in out
    data = orjson.loads(next(tmp_path.glob("*/result.json")).read_bytes())
    tot = data["totals"]
    assert tot["requests"] > 0
    assert tot["status"]["2xx"] == tot["requests"]  # the bot answers every update
    assert tot["errors"] == 0
    assert tot["checks"] >= 3 * tot["requests"]  # status, method and the tier rule on every reply
    assert tot["check_failures"] == 0 and data["checks"] == []
    names = {e["name"] for e in data["endpoints"]}
    assert {"/start", "/help"} <= names  # per-command stats


def test_target_demo_serves_on_the_given_port():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "driver.cli", "target", "demo", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        until = time.monotonic() + 20
        while time.monotonic() < until:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    reply = b""
                    while chunk := s.recv(4096):
                        reply += chunk
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        assert reply.startswith(b"HTTP/1.1 200") and b'"status"' in reply
    finally:
        proc.terminate()
        proc.wait(10)


# --- one plan from the flags, with or without a config file --------------------------------

CLI_FLAGS = {  # one value per layered flag
    "profile": ["--profile", "smoke"],
    "users": ["-u", "7"],
    "rate": ["-r", "40"],
    "duration": ["-d", "3s"],
    "requests": ["-n", "500"],
    "ramp_up": ["--ramp-up", "2s"],
    "stages": ["--stage", "4s:20", "--stage", "2s:0"],
    "workers": ["-w", "2"],
    "max_in_flight": ["--max-in-flight", "9"],
    "think": ["--think", "250ms"],
    "timeout": ["--timeout", "4s"],
    "connect_timeout": ["--connect-timeout", "1s"],
    "insecure": ["-k"],
    "output": ["-o", "out"],
    "report": ["--report", "md,junit"],
}
PLAN_FIELDS = ("mode", "shape", "duration_s", "max_requests", "workers", "think_s", "connect_timeout_s",
               "request_timeout_s", "max_in_flight", "grace_s", "profile", "insecure", "output", "thresholds")


def plan_of(monkeypatch, capsys, *args):
    """The plan `driver run ARGS` would run (the run itself left out), or its error line."""
    import driver.cli
    import driver.cli.run

    plans = []
    monkeypatch.setattr(driver.cli.run, "execute", lambda plan, quiet: plans.append(plan) or 0)
    with pytest.raises(SystemExit):
        driver.cli.main(["run", *args])
    if not plans:
        return capsys.readouterr().err.splitlines()[-1]
    capsys.readouterr()
    return {name: getattr(plans[0], name) for name in PLAN_FIELDS}


@pytest.mark.parametrize("keys", [(k,) for k in CLI_FLAGS] + [
    ("profile", "stages"),  # the stages set the length, not the profile's 30 s
    ("profile", "users"), ("profile", "rate", "duration"), ("profile", "ramp_up"), ("rate", "stages"),
    ("users", "stages", "duration"), ("rate", "users", "max_in_flight"), ("requests", "duration"),
    ("ramp_up", "stages"),  # refused the same way
    ("timeout", "connect_timeout", "think"), ("profile", "requests", "workers", "output", "report"),
], ids=lambda keys: "+".join(keys))
def test_run_with_a_url_or_a_config_gives_the_same_plan(tmp_path, monkeypatch, capsys, keys):
    cfg = tmp_path / "driver.yaml"
    cfg.write_text("target: {base_url: 'http://127.0.0.1:8080/'}\n")
    flags = [arg for key in keys for arg in CLI_FLAGS[key]] + ["-t", "p99<1s"]
    via_url = plan_of(monkeypatch, capsys, "http://127.0.0.1:8080/", *flags)
    via_config = plan_of(monkeypatch, capsys, "-c", str(cfg), *flags)
    assert via_url == via_config
    if "stages" in keys and "duration" not in keys and "ramp_up" not in keys:
        assert via_url["duration_s"] == 6.0


def test_ignored_flags_are_one_warning_line_each():
    with refused_port() as port:
        proc = driver_cli("run", port.url + "/", "-s", "driver.scenario.telegram:CatalogBot", "-u", "2",
                          "--max-in-flight", "5", "--body", "{}", "-d", "1s")
    err = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 3, err
    assert sorted(err[:2]) == [
        "driver: warning: --body is ignored with --scenario: the scenario makes its own requests",
        "driver: warning: --max-in-flight is ignored without a rate: in closed loop the users are the requests "
        "in flight",
    ]
    assert err[2].startswith("driver: error:") and "refused" in err[2] and len(err) == 3


def test_validate_shows_the_warnings_of_a_config(tmp_path):
    cfg = tmp_path / "driver.yaml"
    cfg.write_text("target: {base_url: 'http://127.0.0.1:8080/', insecure: true}\nload: {rate: 5}\n")
    proc = driver_cli("validate", str(cfg))
    assert proc.returncode == 0
    assert proc.stderr.decode().splitlines() == [
        f"driver: warning: {cfg}:1: target.insecure is ignored: the target is http://, no TLS certificate to verify"]


def test_a_config_error_is_one_line_with_file_and_line(tmp_path):
    cfg = tmp_path / "driver.yaml"
    cfg.write_text("target: {base_url: 'http://127.0.0.1:8080/'}\nload:\n  users: many\n")
    proc = driver_cli("run", "-c", str(cfg), "-d", "1s")
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [
        f"driver: error: {cfg}:3: load.users must be an integer, got 'many'"]


def test_profiles_lists_a_config_profile_whose_stages_set_its_length(tmp_path):
    cfg = tmp_path / "driver.yaml"
    cfg.write_text("target: {base_url: 'http://127.0.0.1:8080/'}\nprofiles:\n  smoke: {stages: ['10s:5', '5s:0']}\n")
    proc = driver_cli("profiles", "-c", str(cfg))
    assert proc.returncode == 0, proc.stderr.decode()
    smoke = next(line for line in proc.stdout.decode().splitlines() if line.startswith("smoke"))
    assert smoke.split()[1:4] == ["5", "10", "15s"]  # the built-in's users and rate, the stages' length
