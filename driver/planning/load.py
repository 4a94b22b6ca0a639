"""Layered settings -> the load of a Plan: mode, shape, length, workers, timeouts, think.

Each value is checked with the name its source gives it ("--users", "load.users"), and
an error is placed where the value came from. A setting that the user gave but that
the load cannot use (`--think` in open loop, `--max-in-flight` in closed loop, ...)
is a PlanWarning, one per setting.
"""
from __future__ import annotations

from dataclasses import replace

from driver.limits import check_limits
from driver.errors import PlanError
from driver.plan import (
    CLOSED, DEFAULT_DURATION_S, DEFAULT_MAX_IN_FLIGHT, DEFAULT_USERS, OPEN, ScenarioSpec, ThinkTime, _positive,
    _seconds, available_cpus, parse_stage,
)
from driver.planning.layers import Source
from driver.shapes import from_stages, ramp_then_hold

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0
MAX_GRACE_S = 3.0  # at the end, how long requests in flight may still finish (at most the timeout)


def _checked(values: dict, key: str, check, **kw):
    """`check(name, value, **kw)` of the setting `key`, or None when not set; errors placed at its source."""
    if key not in values:
        return None
    value, source = values[key]
    try:
        return check(source.name, value, **kw)
    except PlanError as exc:
        raise source.locate(exc) from None


def _stages(values: dict) -> list[tuple[float, float]]:
    if "stages" not in values:
        return []
    stages, source = values["stages"]
    try:
        return [parse_stage(s) if isinstance(s, str) else tuple(s) for s in stages]
    except PlanError as exc:
        raise source.locate(exc) from None


def _think(values: dict) -> ThinkTime | None:
    """The layered think time: a ThinkTime (a config's scenario.think) or a duration (a constant pause)."""
    if "think" not in values:
        return None
    value, _ = values["think"]
    if isinstance(value, ThinkTime):
        return value
    return ThinkTime("constant", _checked(values, "think", _seconds, allow_zero=True))


def load_fields(values: dict, scenario: ScenarioSpec | None = None) -> dict:
    """Plan keyword arguments for the load from layered `values` (key -> (value, Source)).

    `scenario` is the plan's scenario: a given think time becomes its pause between
    iterations (returned as "scenario").
    """
    users = _checked(values, "users", _positive, kind=int)
    rate = _checked(values, "rate", _positive)
    duration_s = _checked(values, "duration", _seconds)
    max_requests = _checked(values, "requests", _positive, kind=int)
    ramp_s = _checked(values, "ramp_up", _seconds, allow_zero=True) or 0.0
    think = _think(values)
    request_timeout = _checked(values, "timeout", _seconds) or DEFAULT_TIMEOUT_S
    connect_timeout = _checked(values, "connect_timeout", _seconds) or min(DEFAULT_CONNECT_TIMEOUT_S,
                                                                           request_timeout)
    cap = _checked(values, "max_in_flight", _positive, kind=int)
    n_workers = _checked(values, "workers", _positive, kind=int)
    stages = _stages(values)
    if duration_s is None and (max_requests is None or stages):  # stages set their own length
        duration_s = sum(d for d, _ in stages) if stages else DEFAULT_DURATION_S

    if rate is not None:
        mode = OPEN
        # with a rate, stage targets are arrivals/s ramping from the rate, and the users
        # cap the requests in flight (like wrk2's -c) unless max_in_flight does
        shape = from_stages(stages, rate) if stages else ramp_then_hold(rate, ramp_s, duration_s or 0.0)
        cap = cap or users
    else:
        mode = CLOSED
        shape = from_stages(stages) if stages else ramp_then_hold(users or DEFAULT_USERS, ramp_s, duration_s or 0.0)
    if shape.peak <= 0:
        where = values.get("stages", values.get("users", (None, Source("the load"))))[1]
        raise where.error("the load never rises above zero: give --users, --rate or a stage target > 0")
    if n_workers is None:
        n_workers = available_cpus()
        if mode == CLOSED:
            n_workers = max(1, min(n_workers, int(shape.peak)))
    check_limits(mode, shape.peak, n_workers, cap or DEFAULT_MAX_IN_FLIGHT)  # the machine's ceilings
    _warn_ignored(values, mode, scenario)
    if think is not None and scenario is not None and not scenario.python:
        scenario = replace(scenario, think=think)
    return {
        "mode": mode,
        "shape": shape,
        "duration_s": duration_s,
        "max_requests": max_requests,
        "workers": n_workers,
        "think_s": think.a if think is not None and think.kind == "constant" else 0.0,
        "connect_timeout_s": connect_timeout,
        "request_timeout_s": request_timeout,
        "max_in_flight": cap or DEFAULT_MAX_IN_FLIGHT,
        "grace_s": min(MAX_GRACE_S, request_timeout),
        "scenario": scenario,
    }


def _warn_ignored(values: dict, mode: str, scenario: ScenarioSpec | None) -> None:
    """One PlanWarning for each setting the user gave that this load does not use."""

    def given(key: str) -> Source | None:
        source = values[key][1] if key in values else None
        return source if source is not None and source.given else None

    if (think := given("think")) is not None:
        if mode == OPEN:
            think.warn(f"{think.name} is ignored in open loop (a rate is set): arrivals follow the rate, "
                       "not the users' pauses")
        elif scenario is not None and scenario.python:
            think.warn(f"{think.name} is ignored with a Python scenario: its User class's `wait` sets the pause")
    if (cap := given("max_in_flight")) is not None and mode == CLOSED:
        cap.warn(f"{cap.name} is ignored without a rate: in closed loop the users are the requests in flight")
    if (users := given("users")) is not None:
        if mode == OPEN and "max_in_flight" in values:
            users.warn(f"{users.name} is ignored: with a rate, {values['max_in_flight'][1].name} "
                       "caps the requests in flight")
        elif mode == CLOSED and "stages" in values:
            users.warn(f"{users.name} is ignored: without a rate, the stage targets are the users")
