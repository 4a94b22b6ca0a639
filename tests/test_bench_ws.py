"""The WebSocket benchmark's parts (benchmarks/run_ws.py): the bare clients against the
picows echo server and its counters, output parsing, driver's probe, the goals, and
the RESULTS.md section. No absolute times: only counts and "it finishes"."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks import run_ws as rw

import common as c  # noqa: E402  (on the path run_ws puts benchmarks/ on)

BENCH = Path(rw.__file__).resolve().parent


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    stats_path = tmp_path_factory.mktemp("echo") / "echo.stats"
    server = rw.start_server(",".join(str(x) for x in sorted(os.sched_getaffinity(0))), stats_path)
    stats = rw.EchoStats(stats_path)
    yield server, stats
    stats.close()
    server.stop()


@pytest.mark.parametrize("client", ["picows", "aiohttp", "websockets"])
def test_a_bare_client_against_the_echo_server_counts_round_trips(echo, client):
    server, stats = echo
    before, _ = stats.counts()
    p = subprocess.run([sys.executable, str(rw.BARE[client]), server.url + "/", "-c", "4", "-d", "1",
                        "--body", "hello"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = rw.parse_bare(p.stdout)
    assert got["own_count"] > 0 and got["client_errors"] == 0
    # the server echoed at least every message the client saw come back (its counters
    # are flushed every 20 ms: wait for them, bounded)
    for _ in range(500):
        echoed, open_now = stats.counts()
        if echoed - before >= got["own_count"] and open_now == 0:
            break
        time.sleep(0.01)
    assert echoed - before >= got["own_count"]
    assert open_now == 0  # every connection closed at the end


def test_echo_stats_read_like_stub_status(echo):
    _, stats = echo
    st = stats.read()
    echoed, open_now = stats.counts()
    assert st.requests_excluding_polls >= 0 and st.requests >= 0
    assert st.active - 1 == open_now  # run_monitored takes one connection off, as on nginx
    assert st.polls == 0 and echoed >= 0


def test_parse_bare_takes_the_last_json_line():
    out = 'warming up\n{"round_trips": 5, "errors": 0}\n{"round_trips": 12, "errors": 1, "rps": 3.0}\n'
    assert rw.parse_bare(out) == {"own_count": 12, "client_errors": 1}
    with pytest.raises(ValueError):
        rw.parse_bare("Traceback (most recent call last):\n")


def test_driver_round_trips_sum_every_endpoint():
    assert rw.driver_round_trips({"endpoints": [{"count": 10}, {"count": 32, "errors": 1}]}) == 42
    assert rw.driver_round_trips({"endpoints": []}) == 0
    assert rw.driver_round_trips({}) == 0


def test_parse_driver_reads_result_json_and_the_exit(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "result.json").write_text(json.dumps(
        {"endpoints": [{"count": 7, "errors": 2}], "validity": {"valid": True}}))
    assert rw.parse_driver(0, tmp_path) == {"own_count": 7, "client_errors": 2, "exit_ok": True}
    assert rw.parse_driver(1, tmp_path)["exit_ok"] is False
    assert rw.parse_driver(0, tmp_path / "empty") == {"own_count": None, "client_errors": None,
                                                       "exit_ok": False}


def test_a_driver_without_ws_urls_is_skipped_with_its_error_line(tmp_path):
    code = "import sys; print('driver: error: unsupported URL scheme ws', file=sys.stderr); sys.exit(2)"
    drv = c.DriverSetup(cmd=[sys.executable, "-c", code], env=dict(os.environ), cwd=tmp_path, source="test")
    a = SimpleNamespace(connections=2, body="hello")
    why = rw.probe_driver(a, "ws://127.0.0.1:9/", drv, tmp_path)
    assert why is not None
    assert "not available" in why and "exit 2" in why and "unsupported URL scheme ws" in why


def test_a_driver_recording_round_trips_passes_the_probe(tmp_path):
    # a stand-in that writes what `driver run -o DIR` writes: the probe reads only that
    code = ("import json, os, sys; o = sys.argv[sys.argv.index('-o') + 1]; os.makedirs(o, exist_ok=True); "
            "json.dump({'endpoints': [{'count': 3}]}, open(os.path.join(o, 'result.json'), 'w'))")
    drv = c.DriverSetup(cmd=[sys.executable, "-c", code], env=dict(os.environ), cwd=tmp_path, source="test")
    assert rw.probe_driver(SimpleNamespace(connections=2, body="x"), "ws://127.0.0.1:9/", drv, tmp_path) is None


def test_client_commands_pin_the_tool_core_and_pass_the_load(tmp_path):
    a = SimpleNamespace(tool_core="1", connections=64, duration=10.0, body="hello", driver_args="--think 0")
    drv = c.DriverSetup(cmd=["driver"], env={}, cwd=tmp_path, source="test")
    cmd = rw.client_command("driver", "ws://127.0.0.1:5/", a, tmp_path, drv)
    assert cmd == ["taskset", "-c", "1", "driver", "run", "ws://127.0.0.1:5/", "-u", "64", "-d", "10s", "-w", "1",
                   "--body", "hello", "-q", "-o", str(tmp_path), "--think", "0"]
    bare = rw.client_command("picows", "ws://127.0.0.1:5/", a, tmp_path, None)
    assert bare[:3] == ["taskset", "-c", "1"] and bare[4] == str(BENCH / "ws_bare_picows.py")
    assert bare[5:] == ["ws://127.0.0.1:5/", "-c", "64", "-d", "10", "--body", "hello"]


def _med(**cpu):
    return {k: {"cpu_us": v, "steady_us": v, "rps": 1.0, "user_us": None, "sys_us": None,
                "server_us": None, "runs": 1} for k, v in cpu.items()}


@pytest.mark.parametrize("cpu, expected", [
    # driver 1.2x picows, below both others: every goal met
    ({"picows": 5.0, "aiohttp": 8.0, "websockets": 14.0, "driver": 6.0}, ["met", "met", "met"]),
    # 1.4x picows: the ratio goal missed, still ahead of aiohttp
    ({"picows": 5.0, "aiohttp": 8.0, "websockets": 14.0, "driver": 7.0}, ["missed", "met", "met"]),
    # exactly 1.3x is within the goal; equal to aiohttp is not "below"
    ({"picows": 5.0, "aiohttp": 6.5, "websockets": 14.0, "driver": 6.5}, ["met", "missed", "met"]),
    # driver skipped: nothing measured
    ({"picows": 5.0, "aiohttp": 8.0, "websockets": 14.0}, ["not measured"] * 3),
    # only picows beside driver: one goal
    ({"picows": 5.0, "driver": 5.5}, ["met"]),
])
def test_goals(cpu, expected):
    assert [s for _, s, _ in rw.goals(_med(**cpu))] == expected


def test_summarize_takes_medians_of_successful_runs_only():
    runs = [{"client": "picows", "ok": True, **{k: v for k in rw.KEYS}} for v in (1.0, 3.0, 2.0)]
    runs.append({"client": "picows", "ok": False, **{k: 100.0 for k in rw.KEYS}})
    med = rw.summarize(runs, ["picows"])
    assert med["picows"]["cpu_us"] == 2.0 and med["picows"]["runs"] == 3


def test_the_section_is_written_between_its_markers_and_replaced(tmp_path):
    a = SimpleNamespace(quick=True, sched="default", server_core="0", tool_core="1", connections=64,
                        body="hello", duration=3.0, rounds=1)
    run = {"round": 1, "client": "picows", "ok": True, "returncode": 0, "round_trips": 1000, "own_count": 1000,
           "cpu_s": 0.006, "wall_s": 3.1, "wait_s": 0.0, "other_cpu_s": 0.1, "attempts": 1,
           **{k: 6.0 for k in rw.KEYS}}
    med = rw.summarize([run], ["picows"])
    text = rw.render(a, [run], med, ["picows"], {"driver": "not available"}, None, ["--quick"])
    assert "QUICK, not results" in text and "driver skipped: not available" in text
    md = tmp_path / "RESULTS.md"
    md.write_text("# results\n\n<!-- http:begin -->\nHTTP\n<!-- http:end -->\n")
    c.update_section(md, rw.SECTION, text)
    c.update_section(md, rw.SECTION, text.replace("QUICK", "QUICKER"))
    body = md.read_text()
    assert body.count("<!-- ws:begin -->") == 1 and body.count("<!-- ws:end -->") == 1
    assert "QUICKER, not results" in body and "HTTP" in body
    assert body.index("<!-- http:end -->") < body.index("<!-- ws:begin -->")


def test_bad_arguments_exit_2():
    p = subprocess.run([sys.executable, str(BENCH / "run_ws.py"), "--clients", "picows,curl"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--clients" in p.stderr.splitlines()[-1]


def test_quick_sets_short_defaults_that_flags_override():
    a = rw.parse_args(["--quick"])
    assert (a.duration, a.rounds, a.retries, a.nice) == (3.0, 1, 0, 0)
    a = rw.parse_args(["--quick", "--duration", "5s", "--clients", "picows,driver"])
    assert a.duration == 5.0 and a.client_list == ["picows", "driver"]
