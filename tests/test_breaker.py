"""The demo bot's circuit breaker: the state machine with a fake clock, table-tested,
and `call` around real coroutines."""
from __future__ import annotations

import asyncio

import pytest

from driver.targets.breaker import CLOSED, HALF_OPEN, OPEN, BreakerOpen, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Down(Exception):
    """The platform is unavailable (what the breaker counts)."""


class Rejected(Exception):
    """The platform answered 4xx: not a failure of the platform."""


def run_steps(breaker: CircuitBreaker, clock: Clock, steps: str) -> list[str]:
    """Apply steps, one letter each, and return the state after each:
    s = an admitted call that succeeds, f = one that fails (a rejected admission is
    recorded as "R"), t = the clock moves 1 s, p = a probe admitted and left in flight."""
    states = []
    in_flight = []
    for step in steps:
        if step == "t":
            clock.now += 1.0
        elif step in "sf":
            try:
                probe = breaker.admit()
            except BreakerOpen:
                states.append("R")
                continue
            (breaker.record_success if step == "s" else breaker.record_failure)(probe)
        elif step == "p":
            in_flight.append(breaker.admit())
        states.append(breaker.state)
    return states


# failures=3, reset_timeout_s=2: (steps, the states after each, counters expected at the end)
CASES = [
    # successes keep it closed
    ("sss", [CLOSED] * 3, {"calls": 3, "successes": 3, "trips": 0}),
    # two failures, a success ends the run, two more: still closed
    ("ffsff", [CLOSED] * 5, {"failures": 4, "trips": 0, "consecutive_failures": 2}),
    # the third consecutive failure trips it; calls then fail fast and are not made
    ("ffffs", [CLOSED, CLOSED, OPEN, "R", "R"], {"calls": 3, "rejected": 2, "trips": 1}),
    # open until reset_timeout_s has passed, then half-open
    ("ffftt", [CLOSED, CLOSED, OPEN, OPEN, HALF_OPEN], {"trips": 1}),
    # a probe success closes it
    ("ffftts", [CLOSED, CLOSED, OPEN, OPEN, HALF_OPEN, CLOSED],
     {"probes": 1, "trips": 1, "consecutive_failures": 0}),
    # a probe failure opens it again for another reset_timeout_s, then it probes again
    ("fffttfttts", [CLOSED, CLOSED, OPEN, OPEN, HALF_OPEN, OPEN, OPEN, HALF_OPEN,
                    HALF_OPEN, CLOSED],
     {"probes": 2, "probe_failures": 1, "trips": 1, "calls": 5}),
    # one probe at a time: while it is in flight the others are rejected
    ("fffttpss", [CLOSED, CLOSED, OPEN, OPEN, HALF_OPEN, HALF_OPEN, "R", "R"],
     {"probes": 1, "rejected": 2}),
    # after closing, it takes `failures` new consecutive failures to trip again
    ("ffftts" "fff", [CLOSED, CLOSED, OPEN, OPEN, HALF_OPEN, CLOSED, CLOSED, CLOSED, OPEN],
     {"trips": 2}),
]


@pytest.mark.parametrize("steps,states,counters", CASES, ids=[c[0] for c in CASES])
def test_state_machine(steps, states, counters):
    clock = Clock()
    breaker = CircuitBreaker(3, 2.0, clock=clock)
    assert run_steps(breaker, clock, steps) == states
    snapshot = breaker.snapshot()
    for name, value in counters.items():
        assert snapshot[name] == value, (name, snapshot)


def test_snapshot_reports_the_last_state_change():
    clock = Clock()
    breaker = CircuitBreaker(1, 5.0, clock=clock)
    clock.now += 10
    assert breaker.snapshot()["since_change_s"] == 10.0
    run_steps(breaker, clock, "f")  # trips at t=110
    clock.now += 3
    snap = breaker.snapshot()
    assert snap["state"] == OPEN and snap["since_change_s"] == 3.0
    assert snap["failures_to_trip"] == 1 and snap["reset_timeout_s"] == 5.0


@pytest.mark.parametrize("failures,reset", [
    (0, 1.0),  # no call could ever trip it
    (True, 1.0),  # a bool is not a count
    (2.5, 1.0),
    (3, 0),  # it would never stay open
    (3, -1.0),
    (3, float("inf")),  # it would never probe
])
def test_bad_settings(failures, reset):
    with pytest.raises(ValueError):
        CircuitBreaker(failures, reset)


def test_call_counts_only_failure_types_and_fails_fast_while_open():
    clock = Clock()
    breaker = CircuitBreaker(2, 1.0, failure_types=(Down,), clock=clock)
    made = []

    async def api(outcome: str) -> str:
        made.append(outcome)
        if outcome == "down":
            raise Down()
        if outcome == "rejected":
            raise Rejected()
        return outcome

    async def scenario():
        with pytest.raises(Rejected):  # a 4xx: the platform is up, no failure counted
            await breaker.call(api, "rejected")
        for _ in range(2):
            with pytest.raises(Down):
                await breaker.call(api, "down")
        assert breaker.state == OPEN
        with pytest.raises(BreakerOpen):
            await breaker.call(api, "ok")  # not made
        clock.now += 1.0
        with pytest.raises(Rejected):  # a probe answered 4xx: the platform is up
            await breaker.call(api, "rejected")
        assert breaker.state == CLOSED
        assert await breaker.call(api, "ok") == "ok"

    asyncio.run(scenario())
    assert made == ["rejected", "down", "down", "rejected", "ok"]
    assert breaker.failed == 2 and breaker.rejected == 1 and breaker.successes == 3


def test_a_cancelled_probe_frees_the_probe_slot():
    clock = Clock()
    breaker = CircuitBreaker(1, 1.0, clock=clock)

    async def scenario():
        with pytest.raises(ZeroDivisionError):  # every Exception counts by default
            await breaker.call(_fail)
        assert breaker.state == OPEN
        clock.now += 1.0
        probe = asyncio.ensure_future(breaker.call(asyncio.sleep, 10))
        await asyncio.sleep(0)  # the probe is in flight
        with pytest.raises(BreakerOpen):
            await breaker.call(asyncio.sleep, 0)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        assert breaker.state == HALF_OPEN  # no verdict: still half-open
        await breaker.call(asyncio.sleep, 0)  # the next call probes, and closes it
        assert breaker.state == CLOSED

    asyncio.run(scenario())
    assert breaker.probes == 2 and breaker.probe_failures == 0


async def _fail():
    raise ZeroDivisionError()
