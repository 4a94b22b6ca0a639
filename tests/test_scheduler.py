"""The scheduler with a unit kind of the test's own: the policy (quota, refunds,
ramp-down, the open-loop queue, drops) without a network."""
import asyncio

import numpy as np
import pytest

import driver
from driver._speedups import Recorder, now_ns
from driver.engine import scheduler as sched_mod
from driver.engine.scheduler import Scheduler
from driver.engine.unit import Unit, UnitKind
from driver.layout import C_DROPPED, C_LATE, H_LATENCY, BlockLayout


class Kind(UnitKind):
    def __init__(self):
        self.units = []
        self.arrivals = []

    def new_unit(self, sched):
        unit = FakeUnit(sched)
        self.units.append(unit)
        return unit

    def arrival_started(self, intended_ns):
        self.arrivals.append(intended_ns)


class FakeUnit(Unit):
    __slots__ = ("starts", "abandoned", "pause")

    def __init__(self, sched):
        super().__init__(sched)
        self.starts = []
        self.abandoned = False
        self.pause = 0.0

    def pause_s(self):
        return self.pause

    def start(self, intended_ns):
        self.busy = True
        self.starts.append(intended_ns)

    def finish(self, sent=True):
        self.busy = False
        self.sched.done(self, now_ns(), sent)

    def abandon(self, now):
        self.abandoned = True


def _with_scheduler(plan, body, started_ago_s=0.0):
    layout = BlockLayout(1)
    block = np.zeros(layout.length, dtype=np.int64)
    layout.initialise(block)
    rec = Recorder(block, 1)
    kind = Kind()

    async def main():
        sched = Scheduler(plan, 0, 1, kind, rec, now_ns() - int(started_ago_s * 1e9))
        sched.begin(now_ns())
        await body(sched, kind)

    asyncio.run(main())
    _, counters, hists = layout.views(block)
    return counters[0], hists[0]


URL = "http://127.0.0.1:9/"


def test_closed_loop_keeps_its_units_busy_until_the_quota_is_spent():
    async def body(sched, kind):
        assert [len(u.starts) for u in kind.units] == [1, 1, 1]
        for _ in range(3):  # each unit finishes: 5 - 3 = 2 more pieces may start
            for u in kind.units:
                if u.busy:
                    u.finish()
        assert sum(len(u.starts) for u in kind.units) == 5
        assert sched.finished()

    _with_scheduler(driver.make_plan(URL, users=3, requests=5, workers=1), body)


def test_closed_loop_gives_back_the_claim_of_a_piece_that_never_reached_the_target():
    async def body(sched, kind):
        unit = kind.units[0]
        unit.pause = 0.02  # the unit's backoff
        unit.finish(sent=False)  # a failed connect: the claim comes back, the unit backs off
        assert sched.remaining == 3
        assert not unit.busy
        await asyncio.sleep(0.1)  # after the backoff it starts again, with a new claim
        assert len(unit.starts) == 2 and sched.remaining == 2

    _with_scheduler(driver.make_plan(URL, users=1, requests=3, workers=1), body)


def test_closed_loop_retires_units_when_the_shape_goes_down():
    async def body(sched, kind):
        assert len(kind.units) == 4
        sched.tick(sched.start_ns + int(20e9))  # half-way down a 20 s ramp from 4 to 0
        assert sched.active == 2
        assert [u.retired for u in kind.units] == [False, False, True, True]
        kind.units[3].finish()  # a retired unit's piece ends: nothing new starts on it
        assert len(kind.units[3].starts) == 1

    _with_scheduler(driver.make_plan(URL, stages=["0s:4", "10s:4", "20s:0"], workers=1), body)


def test_open_loop_queues_arrivals_behind_the_cap_and_serves_them_in_order():
    async def body(sched, kind):
        # 10 ms at 1000/s are due at once: 2 units take two, 8 wait
        a, b = kind.units
        assert len(sched.queue) >= 8
        first_queued = sched.queue[0]
        a.finish()
        assert a.starts[-1] == first_queued  # FIFO: the oldest waiting arrival
        sched.stop()
        sched.abandon(now_ns())
        assert a.abandoned and b.abandoned

    counters, hists = _with_scheduler(
        driver.make_plan(URL, rate=1000, duration="10s", workers=1, max_in_flight=2), body, started_ago_s=0.01)
    assert counters[C_LATE] >= 1  # the one served from the queue waited > 2 ms
    assert counters[C_DROPPED] >= 7  # still queued at the end: never sent
    assert hists[H_LATENCY].sum() == counters[C_DROPPED]  # each with its age as latency


def test_open_loop_drops_arrivals_only_when_the_queue_is_full(monkeypatch):
    monkeypatch.setattr(sched_mod, "QUEUE_MAX", 3)

    async def body(sched, kind):
        assert len(kind.units) == 1 and len(sched.queue) == 3
        assert len(kind.arrivals) == 1
        sched.stop()
        sched.abandon(now_ns())

    counters, hists = _with_scheduler(
        driver.make_plan(URL, rate=1000, duration="10s", workers=1, max_in_flight=1), body, started_ago_s=0.01)
    # >= 10 due: 1 sent, 3 queued (dropped at the end), the rest dropped at once
    assert counters[C_DROPPED] >= 9
    assert hists[H_LATENCY].sum() == 3  # only the queued ones have an age to record


@pytest.mark.parametrize("requests, want", [(1, 1), (4, 4), (None, None)])
def test_open_loop_quota_ends_arrivals(requests, want):
    async def body(sched, kind):
        await asyncio.sleep(0.03)
        if want is not None:
            assert len(kind.arrivals) + len(sched.queue) == want
            assert sched.arrivals_over or sched.remaining == 0
        else:
            assert len(kind.arrivals) + len(sched.queue) >= 30

    _with_scheduler(driver.make_plan(URL, rate=1000, duration="10s", workers=1, requests=requests,
                                     max_in_flight=1000), body)


def test_a_unit_retired_with_work_in_flight_is_still_accounted_for():
    # ramp-down retires a busy unit: its request is still in flight, swept and, if the
    # run ends first, abandoned (counted unfinished) — it does not vanish with the unit
    async def body(sched, kind):
        sched.tick(sched.start_ns + int(20e9))  # 4 -> 2 units
        gone = kind.units[3]
        assert gone.retired and gone.busy and sched.in_flight() == 4
        sched.stop()
        sched.abandon(now_ns())
        assert gone.abandoned

    _with_scheduler(driver.make_plan(URL, stages=["0s:4", "10s:4", "20s:0"], workers=1), body)


def test_a_retired_unit_that_finishes_leaves_the_books():
    async def body(sched, kind):
        sched.tick(sched.start_ns + int(20e9))
        gone = kind.units[3]
        gone.finish()
        assert sched.in_flight() == 3 and gone not in sched.retiring  # 2 active + the other retiring one

    _with_scheduler(driver.make_plan(URL, stages=["0s:4", "10s:4", "20s:0"], workers=1), body)


def test_open_loop_opens_a_few_units_at_a_time_not_the_whole_cap():
    # 50 arrivals due at once and none of the new units ready yet (still connecting): the
    # scheduler makes WARMING_MAX units and queues the rest for them, instead of opening
    # a connection per arrival up to the cap of 1000
    async def body(sched, kind):
        assert len(kind.units) == sched_mod.WARMING_MAX
        assert len(sched.queue) >= 50 - sched_mod.WARMING_MAX
        sched.warmed(kind.units[0])  # one got connected: the next arrival may make one more
        sched._arrive(now_ns(), now_ns())
        assert len(kind.units) == sched_mod.WARMING_MAX + 1
        kind.units[1].finish()  # a finished first piece also ends the warm-up
        assert kind.units[1] not in sched.warming

    _with_scheduler(driver.make_plan(URL, rate=1000, duration="10s", workers=1), body, started_ago_s=0.05)
