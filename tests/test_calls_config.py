"""YAML `call:` tasks (driver.config.calls): the example validates and runs from the CLI
against the demo call API, a call task's endpoints are the plan's, every mistake is one
line at file:line, and `driver find-capacity` climbs concurrent calls to a level."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import wave
from pathlib import Path

import orjson
import pytest

import driver
from driver.config import load_config, validate_config
from driver.errors import PlanError
from driver.plan import call_endpoints, scenario_endpoints
from driver.stats.endpoint import is_aggregate
from driver.targets.process import CallsDemoTargetProcess
from tests.test_calls import ends, reasons
from tests.test_calls_demo import stats_of

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "calls.yaml"

YAML = """
target: {{base_url: "{url}", headers: {{X-Tenant: demo}}}}
scenario:
  tasks:
    - name: sup
      call:
        initiate: {{path: /calls, json: {{codec: pcmu, who: "{{{{user.id}}}}"}}, expect: {{status: 201}}}}
        {extra}
        {defaults}
load: {{users: 2, requests: 4, workers: 1}}
"""


def yaml(url: str, extra: str) -> str:
    """The config with `extra` lines under `call:` (the duration and codec unless it sets them)."""
    defaults = [line for line in ("duration: 400ms", "codec: pcmu") if line.split(":")[0] not in extra]
    return YAML.format(url=url, extra=extra, defaults="\n        ".join(defaults))


def cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_the_example_validates_pickles_and_follows_the_environment():
    plan = validate_config(EXAMPLE, env={})
    assert pickle.loads(pickle.dumps(plan)) == plan  # workers receive it as it is
    (task,) = plan.scenario.tasks
    assert task["method"] == "POST" and task["path"] == "/calls"
    call = task["call"]
    assert (call["codec"], call["sample_rate"], call["frame_ms"], call["audio"]) == ("pcmu", 8000, 20.0, "tone")
    assert call["hangup_method"] == "DELETE" and call["poll_interval_s"] == 1.0 and call["duration_s"] == 3.0
    assert call["accept"] == (201,)
    assert set(call_endpoints("support")) <= set(plan.endpoints)
    assert load_config(EXAMPLE, env={"TARGET_URL": "http://127.0.0.1:9999"}).target.port == 9999


def test_a_yaml_plan_gives_call_tasks_their_endpoints():
    from driver.plan import ScenarioSpec

    for status, hangup in ((True, True), (False, True), (True, False)):
        call = {"status": None if not status else "/s/{id}", "hangup": None if not hangup else "/h/{id}"}
        names = scenario_endpoints(ScenarioSpec(tasks=({"name": "x", "call": call},)))
        assert names == call_endpoints("x", status, hangup)
        assert ("call:x:status" in names) == status and ("call:x:hangup" in names) == hangup


@pytest.mark.parametrize("extra", ['status: {path: "/calls/{id}", interval: 100ms}\n        '
                                   'hangup: {method: POST, path: "/calls/{id}/hangup"}',
                                   "status: false\n        hangup: false"])
def test_a_yaml_call_task_runs(tmp_path, extra):
    with CallsDemoTargetProcess() as t:
        path = tmp_path / "calls.yaml"
        path.write_text(yaml(url=t.url, extra=extra))
        result = driver.run(load_config(path, env={}))
        server = stats_of(t.url)
    names = {ep.name for ep in result.endpoints}
    assert ends(result, "sup") == {"started": 4, "completed": 4, "dropped": 0, "failed": 0, "unfinished": 0}
    assert result.endpoint("call:sup:lateness").flows == server["frames"] == 4 * 20
    if "false" in extra:  # no polls, no hangup: the call ends when its media socket closes
        assert "call:sup:status" not in names and "call:sup:hangup" not in names
        assert server["dropped"] == 4  # to the server a call that only went away
    else:
        assert result.endpoint("call:sup:hangup").status["2xx"] == 4 and server["ended"] == 4


def test_a_relative_wav_is_found_beside_the_config(tmp_path):
    with wave.open(str(tmp_path / "hello.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(3200))
    path = tmp_path / "calls.yaml"
    path.write_text(yaml(url="http://127.0.0.1:9", extra="audio: hello.wav"))
    assert load_config(path, env={}).scenario.tasks[0]["call"]["audio"] == str(tmp_path / "hello.wav")


@pytest.mark.parametrize("extra, message", [
    ("frame_ms: .nan", "frame_ms must be a number"),
    ("frame_ms: -20", "frame_ms must be > 0"),
    ("frame_ms: 100000", "frame_ms must be a number of milliseconds above 0 and at most 1000"),
    ("frame_ms: 0.01", "not a whole number of samples"),
    ("codec: opus", "codec must be one of pcm16, pcmu"),
    ("sample_rate: 1000", "sample_rate must be a whole number of Hz from 8000 to 48000"),
    ("audio: missing.wav", "missing.wav' not found"),
    ("audio: notes.txt", "notes.txt' is not a PCM WAV file"),
    ("duration: 0s", "duration must be > 0"),
    ("duration: 25h", "duration must be a number of seconds above 0 and at most 24h"),
    ('media: "calls/{id}"', "must be a path like /calls/{id} (or a ws:// URL)"),
    ('status: {path: /s, every: 1s}', "unknown key 'every'"),
    ('hangup: {path: /h, method: BREW}', "must be one of DELETE, POST, PUT, PATCH, GET"),
    ("medias: /m", "unknown key 'medias'"),
])
def test_yaml_call_mistakes_name_their_line(tmp_path, extra, message):
    (tmp_path / "notes.txt").write_text("not audio")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml(url="http://127.0.0.1:9", extra=extra))
    with pytest.raises(PlanError) as err:
        load_config(path, env={})
    assert message in str(err.value), str(err.value)
    assert "bad.yaml:8" in str(err.value)  # the line of the mistake


@pytest.mark.parametrize("extra, message", [("frame_ms: .nan", "frame_ms must be a number"),
                                            ("audio: nope.wav", "nope.wav' not found")])
def test_cli_config_errors_are_one_line_exit_2(tmp_path, extra, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml(url="http://127.0.0.1:9", extra=extra))
    proc = cli("run", "-c", str(path), "-q")
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("driver: error: ") and "bad.yaml:8" in err and message in err


def test_the_example_runs_from_the_cli(tmp_path):
    with CallsDemoTargetProcess() as t:
        proc = cli("run", "-c", str(EXAMPLE), "-d", "4s", "-u", "3", "-q", "-o", str(tmp_path), "--report", "json",
                   env={"TARGET_URL": t.url, "API_TOKEN": "s3cret-call-token"})
        server = stats_of(t.url)
    out = proc.stdout.decode() + proc.stderr.decode()
    raw = (next(tmp_path.iterdir()) / "result.json").read_bytes()
    assert b"s3cret-call-token" not in raw and "s3cret-call-token" not in out  # the auth goes to the target only
    data = orjson.loads(raw)
    eps = {e["name"]: e for e in data["endpoints"]}
    assert set(call_endpoints("support")) <= set(eps)
    call = eps["call:support"]
    # 3 callers of 3 s calls for 4 s: 3 completed, 3 more started and still going at the end
    assert call["flows"] >= 3 and call["sent"] == call["flows"] + call["errors"]
    assert call["errors_by_kind"]["unfinished"] == call["sent"] - call["flows"]
    assert eps["call:support:lateness"]["flows"] >= server["frames"] - 3  # the last frames may be in flight
    assert eps["call:support:lateness"]["flows"] >= 3 * 150
    assert eps["call:support:initiate"]["status"]["2xx"] == call["sent"]
    verdicts = {th["threshold"]: th["passed"] for th in data["verdicts"]}
    assert verdicts["call:support:setup:p95<500ms"] is True
    assert is_aggregate("call:support") and verdicts["call:support:error_rate<1%"] is True
    assert proc.returncode in (0, 4), out  # 4: not valid, when a busy box started arrivals late


def test_find_capacity_climbs_concurrent_calls_to_the_limit(tmp_path):
    # the example's calls against a target that takes 3 at a time: 2 callers pass, 4 do not
    # (one caller is refused, and tries again after its think time, all through the step)
    text = EXAMPLE.read_text()
    assert "duration: 3s" in text and "think: 100ms" in text and "thresholds:" in text
    text = text.replace("duration: 3s", "duration: 2s").replace("think: 100ms", "think: 50ms")
    config = tmp_path / "calls.yaml"
    config.write_text(text[:text.index("thresholds:")])
    with CallsDemoTargetProcess(max_calls=3) as t:
        proc = cli("find-capacity", "-c", str(config), "--users", "2:8:x2", "--step", "3s", "-t", "error_rate<1%",
                   "-q", "-o", str(tmp_path / "out"), "--report", "json", env={"TARGET_URL": t.url})
        server = stats_of(t.url)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    data = orjson.loads((next((tmp_path / "out").iterdir()) / "result.json").read_bytes())
    answer = data["capacity"]["answer"]
    assert answer["highest_passing"] == 2 and answer["first_failing"]["level"] == 4
    assert "CAPACITY: capacity: 2 users passed; 4 users failed: error_rate<1%" in out
    assert server["rejected"] >= 1
    eps = {e["name"]: e for e in data["endpoints"]}
    assert eps["call:support"]["errors_by_kind"]["other"] >= 1  # the refused calls failed
