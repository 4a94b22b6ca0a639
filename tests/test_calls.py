"""Simulated calls (driver.scenario.calls) against the demo call API in its own process:
frames at real-time pace and counted alike on both sides, the audio formats, and every way
a call ends — completed, rejected at capacity, its media cut, failed, unfinished when the
run ends, the server killed — with calls started = completed + dropped + failed +
unfinished checked on every run. Every run is bounded by its iterations or its duration."""
from __future__ import annotations

import textwrap
import threading
import time
import wave

import numpy as np
import pytest

import driver
from driver.cli import build_plan
from driver.payloads.audio import tone
from driver.targets.process import CallsDemoTargetProcess
from tests.test_calls_demo import call_of, stats_of

PCMU = '"c", initiate={"path": "/calls", "json": {"codec": "pcmu"}}, codec="pcmu"'


def python_run(tmp_path, url: str, call: str, users: int = 1, iterations: int | None = 1, wait: float = 0,
               **plan):
    path = tmp_path / "calls_scenario.py"
    path.write_text("from driver.scenario import User, task, constant\n" + textwrap.dedent(f"""
        class Calls(User):
            wait = constant({wait})

            @task
            async def go(self):
                await self.calls.run({call})
    """))
    load = {"users": users, "workers": 1, **plan} | ({"requests": iterations} if iterations else {})
    return driver.run(build_plan(url, load, str(path)))


def ends(result, name: str = "c") -> dict:
    """How the calls of `name` ended, read from `call:NAME` as driver.scenario.calls says,
    with the relations between the endpoints checked on every run."""
    call = result.endpoint(f"call:{name}")
    kinds = call.errors_by_kind
    got = {"started": call.sent, "completed": call.flows, "dropped": kinds["connection_reset"],
           "failed": kinds["other"], "unfinished": call.unfinished}
    # the invariant: every call started ends exactly one way
    assert got["started"] == got["completed"] + got["dropped"] + got["failed"] + got["unfinished"]
    assert call.errors == got["dropped"] + got["failed"] + got["unfinished"]  # no other kind of error
    initiate = result.endpoint(f"call:{name}:initiate")
    assert initiate.requests + initiate.errors == got["started"]  # each call's initiate: answered or an error
    accepted = initiate.checks - initiate.check_failures
    names = {ep.name for ep in result.endpoints}
    if f"call:{name}:setup" in names:
        setup = result.endpoint(f"call:{name}:setup")
        assert setup.sent == accepted >= setup.flows  # media connected of calls accepted
    lateness = result.endpoint(f"call:{name}:lateness") if f"call:{name}:lateness" in names else None
    if lateness is not None:
        assert lateness.sent == lateness.flows == lateness.latency()["count"]  # one lateness per frame sent
    return got


def reasons(result) -> dict:
    return {(c["endpoint"], c["reason"]): c["failures"] for c in result.checks}


def test_frames_go_at_real_time_pace_and_both_sides_count_them_alike(tmp_path):
    with CallsDemoTargetProcess(event_every=10) as t:
        result = python_run(tmp_path, t.url, PCMU + ", duration=0.5, frame_ms=20, poll_interval=0.2",
                            users=2, iterations=4)
        server = stats_of(t.url)
        docs = [call_of(t.url, f"c{i}") for i in range(1, 5)]
    assert ends(result) == {"started": 4, "completed": 4, "dropped": 0, "failed": 0, "unfinished": 0}
    lateness = result.endpoint("call:c:lateness")
    assert lateness.flows == 4 * 25  # 0.5 s in 20 ms frames, per call
    assert server["frames"] == lateness.flows  # what the server counted is what was sent
    assert all(d["frames"] == 25 and d["bad_frames"] == 0 and d["bytes"] == 25 * 160 for d in docs)
    assert lateness.summary(1.0)["bytes_out"] == 100 * 160
    assert lateness.summary(1.0)["counters"]["messages"] == 4 * 2  # a transcript every 10 frames
    # the absolute schedule: frame k leaves no earlier than k frames after the first, so a
    # call lasts at least its audio (a client that bursts its frames would not)
    assert result.endpoint("call:c").latency()["min_ns"] >= 24 * 20_000_000
    assert result.endpoint("call:c:setup").flows == 4
    assert result.endpoint("call:c:hangup").status["2xx"] == 4
    assert result.endpoint("call:c:status").requests >= 4
    assert result.checks == [] or all(c["failures"] == 0 for c in result.checks)


@pytest.mark.parametrize("codec,rate,frame_ms,size", [("pcm16", 16000, 10, 320), ("pcmu", 8000, 30, 240)])
def test_the_declared_format_is_what_is_streamed(tmp_path, codec, rate, frame_ms, size):
    call = (f'"c", initiate={{"path": "/calls", "json": {{"codec": "{codec}", "sample_rate": {rate}, '
            f'"frame_ms": {frame_ms}}}}}, codec="{codec}", sample_rate={rate}, frame_ms={frame_ms}, duration=0.3, '
            'status=None')
    with CallsDemoTargetProcess() as t:
        result = python_run(tmp_path, t.url, call)
        doc = call_of(t.url, "c1")
    n = round(300 / frame_ms)
    assert ends(result)["completed"] == 1
    assert doc["frames"] == n and doc["bad_frames"] == 0 and doc["bytes"] == n * size
    assert "call:c:status" not in {ep.name for ep in result.endpoints}  # status=None: never polled


def test_a_wav_file_is_streamed(tmp_path):
    path = tmp_path / "hello.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(tone(16000, 0.25, 300.0).tobytes())
    with CallsDemoTargetProcess() as t:
        result = python_run(tmp_path, t.url, f'"c", initiate={{"path": "/calls", "json": {{}}}}, audio={str(path)!r}, '
                                             'duration=0.4, hangup={"method": "POST", "path": "/calls/{id}/hangup"}')
        doc = call_of(t.url, "c1")
    assert ends(result)["completed"] == 1
    assert doc["frames"] == 20 and doc["bad_frames"] == 0 and doc["reason"] == "hung up"  # the clip loops


def test_calls_past_capacity_are_rejected_and_failed(tmp_path):
    with CallsDemoTargetProcess(max_calls=2) as t:
        result = python_run(tmp_path, t.url, PCMU + ", duration=0.6", users=4, iterations=4)
        server = stats_of(t.url)
    got = ends(result)
    assert got == {"started": 4, "completed": 2, "dropped": 0, "failed": 2, "unfinished": 0}
    assert server["rejected"] == 2
    assert reasons(result)[("call:c", "call rejected: status 503")] == 2
    assert reasons(result)[("call:c:initiate", "call rejected: status 503")] == 2
    assert result.endpoint("call:c:initiate").status["5xx"] == 2
    assert result.totals().errors >= 2  # the rejected calls weigh on the run's errors


def test_media_cut_mid_call_is_a_dropped_call(tmp_path):
    with CallsDemoTargetProcess(drop_every=2, drop_after=5) as t:
        result = python_run(tmp_path, t.url, PCMU + ", duration=0.5", users=2, iterations=4)
        server = stats_of(t.url)
    assert ends(result) == {"started": 4, "completed": 2, "dropped": 2, "failed": 0, "unfinished": 0}
    assert server["dropped"] == 2
    assert reasons(result)[("call:c", "call dropped: closed without a close frame after 5 of 25 frames")] == 2
    assert result.endpoint("call:c:hangup").sent == 4  # a dropped call is hung up too
    assert result.endpoint("call:c:lateness").flows == 2 * 25 + 2 * 5


def test_a_failure_state_is_a_failed_call(tmp_path):
    with CallsDemoTargetProcess(fail_every=2, drop_after=5) as t:
        result = python_run(tmp_path, t.url, PCMU + ", duration=0.5", users=2, iterations=4)
        server = stats_of(t.url)
    assert ends(result) == {"started": 4, "completed": 2, "dropped": 0, "failed": 2, "unfinished": 0}
    assert server["failed"] == 2
    assert reasons(result)[("call:c", "call failed: state failed")] == 2


def test_stalled_status_polls_time_out_and_the_calls_go_on(tmp_path):
    with CallsDemoTargetProcess(stall_status_every=2) as t:
        result = python_run(tmp_path, t.url, PCMU + ", duration=0.8, poll_interval=0.1", users=2, iterations=2,
                            timeout="0.3s")
    assert ends(result) == {"started": 2, "completed": 2, "dropped": 0, "failed": 0, "unfinished": 0}
    status = result.endpoint("call:c:status")
    assert status.errors_by_kind["request_timeout"] >= 1 and status.requests >= 1
    assert status.sent == status.requests + status.errors_by_kind["request_timeout"]


def test_calls_still_running_when_the_run_ends_are_unfinished(tmp_path):
    with CallsDemoTargetProcess() as t:
        result = python_run(tmp_path, t.url, PCMU + ", duration=30", users=2, iterations=None, duration="1s")
    got = ends(result)
    assert got == {"started": 2, "completed": 0, "dropped": 0, "failed": 0, "unfinished": 2}
    lateness = result.endpoint("call:c:lateness")
    assert 0 < lateness.flows < 2 * 1500  # the frames sent until the end, not the 30 s of them
    assert result.endpoint("call:c").latency()["count"] == 2  # their ages


def test_every_way_of_ending_in_one_run_adds_up(tmp_path):
    # capacity 3 for 4 callers, every 3rd call cut, every 5th failing, and calls still
    # going when the run ends: each call started ends exactly one way
    with CallsDemoTargetProcess(max_calls=3, drop_every=3, fail_every=5, drop_after=3) as t:
        result = python_run(tmp_path, t.url, PCMU + ", duration=0.3, poll_interval=0.05", users=4,
                            iterations=None, duration="2.5s", wait=0.05)
        server = stats_of(t.url)
    got = ends(result)
    assert got["completed"] > 0 and got["dropped"] > 0 and got["failed"] > 0
    assert got["started"] >= server["calls"] + server["rejected"] - got["unfinished"]


def kill_when(target, ready, limit_s: float = 20.0) -> threading.Thread:
    """A thread that SIGKILLs the target (no close frames, then refused connections) once
    `ready(stats)` holds (or after `limit_s`)."""
    def watch():
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                if ready(stats_of(target.url)):
                    break
            except OSError:
                return
            time.sleep(0.02)
        target.proc.kill()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_killed_server_ends_calls_with_errors(tmp_path):
    with CallsDemoTargetProcess() as t:
        # killed mid-call, once a call has ended and others are under way
        watcher = kill_when(t, lambda s: s["ended"] >= 1 and s["active"] >= 1 and s["frames"] > 40)
        result = python_run(tmp_path, t.url, PCMU + ", duration=0.6", users=2, iterations=None,
                            duration="4s", wait=0.1)
        watcher.join()
    got = ends(result)
    assert got["completed"] >= 1  # before the kill
    assert got["dropped"] >= 1  # cut mid-call
    assert result.endpoint("call:c:initiate").errors_by_kind["connect_refused"] >= 1
    assert any(reason == "initiate: connect_refused" for (_, reason) in reasons(result))


def test_open_loop_arrivals_are_calls_timed_from_their_intended_start(tmp_path):
    with CallsDemoTargetProcess() as t:
        result = python_run(tmp_path, t.url, PCMU + ", duration=0.2, status=None", iterations=None, rate=10,
                            duration="1.5s")
    got = ends(result)
    arrivals = result.endpoint("iteration")
    assert got["started"] == arrivals.sent > 0  # one call per arrival
    assert got["completed"] + got["unfinished"] == got["started"]
    # a call's setup covers its initiate, from the arrival's intended start
    assert result.endpoint("call:c:setup").latency()["min_ns"] >= result.endpoint("call:c:initiate").latency()["min_ns"]


def test_a_close_frame_mid_call_without_a_status_to_ask_is_a_drop_with_its_code(tmp_path):
    with CallsDemoTargetProcess(fail_every=1, drop_after=5) as t:
        result = python_run(tmp_path, t.url, PCMU + ", duration=0.5, status=None")
    assert ends(result) == {"started": 1, "completed": 0, "dropped": 1, "failed": 0, "unfinished": 0}
    assert reasons(result)[("call:c", "call dropped: server closed 1011 after 5 of 25 frames")] == 1


def test_the_demo_caller_runs_against_the_demo_call_api(tmp_path):
    # what `driver demo --calls` runs: the built-in caller, 3 s calls, for a bounded time
    from driver.planning import make_plan

    with CallsDemoTargetProcess() as t:
        result = driver.run(make_plan(t.url, scenario="driver.scenario.calls:DemoCaller", users=2, duration="4s",
                                      workers=1))
        server = stats_of(t.url)
    got = ends(result, "demo")
    assert got["completed"] >= 2 and got["dropped"] == got["failed"] == 0  # at least one call each
    assert server["frames"] >= result.endpoint("call:demo:lateness").flows >= 2 * 150
