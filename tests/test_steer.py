"""Steering a run while it goes on: the pacers' steered schedules, the Steering object,
and real runs whose users or rate change mid-run (driver.engine.steer)."""
from __future__ import annotations

import math
import threading
import time

import pytest

import driver
from driver.engine.pacers import ClosedPacer, OpenPacer
from driver.engine.steer import Steering
from driver.errors import PlanError
from driver.layout import C_SENT, CTL_LEN, CTL_STEER_LOAD, CTL_STEER_PAUSED, CTL_STEER_SEQ
from driver.runner.supervisor import run
from driver.shapes import constant, from_stages
from tests.servers import aiohttp_server, ok_app


def _dues(pacer: OpenPacer, until: float) -> list[float]:
    out, j = [], 0
    while True:
        d = pacer.due(j)
        if math.isinf(d) or d >= until:
            return out
        out.append(d)
        j += 1


def _steered(shape, n, steers):
    pacers = [OpenPacer(shape, n, i) for i in range(n)]
    for p in pacers:
        for at, rate, paused in steers:
            p.steer(at, rate, paused)
    return pacers


@pytest.mark.parametrize("steers, until, want", [
    # 100/s for 2 s, then 300/s for 2 s: 200 + 600 arrivals
    ([(2.0, 300.0, False)], 4.0, 800),
    # 100/s, paused from 1 s to 3 s, then the shape again (100/s) to 4 s: 100 + 100
    ([(1.0, None, True), (3.0, None, False)], 4.0, 200),
    # 100/s for 1 s, then 50/s for 1 s, then paused
    ([(1.0, 50.0, False), (2.0, 50.0, True)], 10.0, 150),
    # a rate of 0 is a pause
    ([(0.5, 0.0, False)], 10.0, 50),
])
@pytest.mark.parametrize("n", [1, 3])
def test_open_steers_keep_the_global_schedule_exact(steers, until, want, n):
    pacers = _steered(constant(100, 100), n, steers)
    dues = sorted(d for p in pacers for d in _dues(p, until))
    assert len(dues) == want  # no arrival twice, none skipped, whatever the number of workers
    one = sorted(_dues(_steered(constant(100, 100), 1, steers)[0], until))
    assert dues == pytest.approx(one)  # the workers together send the one-worker schedule


def test_open_steer_keeps_earlier_arrivals_and_asks_the_new_rate():
    p = OpenPacer(from_stages([(10, 100)]), 1, 0)
    before = _dues(OpenPacer(from_stages([(10, 100)]), 1, 0), 2.0)
    p.steer(2.0, 40.0, False)
    assert _dues(p, 2.0) == pytest.approx(before)  # due before the steer: unchanged
    after = [d for d in _dues(p, 3.0) if d >= 2.0]
    assert len(after) == 40 and after[0] == pytest.approx(2.0)
    assert p.asked_at(1.0) == pytest.approx(10.0) and p.asked_at(2.5) == 40.0


def test_closed_steer_sets_users_then_pause_then_shape():
    p = ClosedPacer(constant(10, 100), 2, 0)
    p.steer(1.0, 30.0, False)
    p.steer(2.0, 30.0, True)
    p.steer(3.0, None, False)
    assert [p.active_at(t) for t in (0.5, 1.5, 2.5, 3.5)] == [5, 15, 0, 5]


def test_steering_writes_the_control_block_and_refuses_wrong_values():
    closed = Steering(driver.make_plan("http://127.0.0.1:9/", users=4, duration="10s"))
    with pytest.raises(RuntimeError):
        closed.steer(users=5)  # not attached: no run going
    ctl = __import__("numpy").zeros(CTL_LEN, dtype="int64")
    closed.attach(ctl, 1)
    closed.steer(users=7)
    assert (ctl[CTL_STEER_SEQ], ctl[CTL_STEER_LOAD], ctl[CTL_STEER_PAUSED]) == (1, 7, 0)
    closed.steer(paused=True)
    assert (ctl[CTL_STEER_SEQ], ctl[CTL_STEER_LOAD], ctl[CTL_STEER_PAUSED]) == (2, 7, 1)
    for bad in (dict(rate=5.0), dict(users=-1), dict(users=2.5)):
        with pytest.raises(PlanError):
            closed.steer(**bad)
    opened = Steering(driver.make_plan("http://127.0.0.1:9/", rate=10, duration="10s"))
    opened.attach(ctl, 1)
    opened.steer(rate=12.5)
    assert ctl[CTL_STEER_LOAD] == 12500
    with pytest.raises(PlanError):
        opened.steer(users=3)
    closed.detach()
    with pytest.raises(RuntimeError):
        closed.steer(users=1)


def _steer_later(steering: Steering, at_s: float, **kw) -> threading.Thread:
    def go():
        while not steering.attached:
            time.sleep(0.01)
        time.sleep(at_s)
        steering.steer(**kw)
    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def _rps(series, lo, hi) -> float:
    pts = [p for p in series if lo < p["t"] <= hi]
    return sum(p["rps"] for p in pts) / len(pts)


def test_closed_loop_users_follow_a_steer_mid_run():
    with aiohttp_server(ok_app) as srv:
        plan = driver.make_plan(srv.url + "/", users=2, think="50ms", duration="5s", workers=2)
        steering = Steering(plan)
        thread = _steer_later(steering, 2.0, users=10)
        result = run(plan, steering=steering)
        thread.join(5)
    series = result.series
    assert [p["asked"] for p in series if p["t"] <= 2.0] == [2.0] * len([p for p in series if p["t"] <= 2.0])
    assert series[-1]["asked"] == 10.0 and max(p["active_users"] for p in series) == 10
    # the achieved rate follows the users (think time 50 ms: about users / 0.05 s)
    assert _rps(series, 3.5, 5.0) > 3 * _rps(series, 0.5, 2.0)
    assert any("steered at" in n and "10 users" in n for n in result.notes)
    assert result.complete


def test_open_loop_rate_and_pause_mid_run():
    with aiohttp_server(ok_app) as srv:
        plan = driver.make_plan(srv.url + "/", rate=50, duration="4s", workers=2)
        steering = Steering(plan)
        asked = []

        def go():
            while not steering.attached:
                time.sleep(0.01)
            time.sleep(1.0)
            asked.append(steering.steer(rate=150))
            time.sleep(1.0)
            asked.append(steering.steer(paused=True))

        thread = threading.Thread(target=go, daemon=True)
        thread.start()
        result = run(plan, steering=steering)
        thread.join(5)
    (t1, _, _), (t2, _, _) = [(a["t"], a["load"], a["paused"]) for a in asked]
    tot = result.totals()
    # arrivals asked: 50/s until t1, 150/s from t1 to t2, none after: each sent exactly once
    want = math.ceil(50 * t1) + math.ceil(150 * (t2 - t1))
    assert tot.counters[C_SENT] == want
    assert tot.errors == 0
    assert [p for p in result.series if p["t"] > t2 + 1.0 and p["requests"]] == []  # paused: nothing
    assert any(p["asked"] == 150.0 for p in result.series) and result.series[-1]["paused"] is True
    assert result.duration_s >= 0.95 * plan.duration_s  # paused is not finished: the run went on to its end


def test_a_run_of_scenario_groups_refuses_steers(tmp_path):
    from driver.config import load_config

    config = tmp_path / "groups.yaml"
    config.write_text("target: http://127.0.0.1:9\nscenarios:\n"
                      "  a: {users: 2, duration: 5s, tasks: [{name: a, path: /a}]}\n"
                      "  b: {rate: 5, duration: 5s, tasks: [{name: b, path: /b}]}\n")
    steering = Steering(load_config(config))
    steering.attach(__import__("numpy").zeros(CTL_LEN, dtype="int64"), 1)
    with pytest.raises(PlanError, match="groups cannot be steered"):
        steering.steer(users=3)
