"""The chaos timeline of a plan: fault windows, each at a time of the load, for a while.

    chaos:
      - {at: 30s, duration: 20s, fault: outage, mode: refuse}
      - {at: 70s, duration: 10s, fault: malformed, rate: 5}

A `ChaosEvent` is a frozen, picklable value (it travels in the plan). Every check of a
user's chaos entry is here: the config loader hands each entry with its "file:line" to
`parse_timeline`, and every mistake is one PlanError placed at that line, naming the
field. Platform faults run in the mock (a `Faults` of driver.mock.faults swapped for
the window); webhook faults are sent to the target by driver.chaos.runner.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterator

from driver.durations import parse_duration
from driver.errors import PlanError, suggest

__all__ = ["ChaosEvent", "Params", "parse_event", "parse_timeline", "FAULTS", "PLATFORM_FAULTS",
           "WEBHOOK_FAULTS", "MALFORMED_KINDS"]

#: the malformed-payload battery, in the order it is sent (round robin)
MALFORMED_KINDS = ("truncated_json", "wrong_types", "huge_body", "invalid_utf8", "unknown_kind",
                   "missing_secret", "wrong_secret", "bad_signature", "empty_body", "non_json")

# fault -> {param: (kind, default, low, high)}; kind: "fraction" (0..1), "number", "int",
# "choice" (low = the options), "kinds" (a list of MALFORMED_KINDS). Every number is
# bounded: a chaos entry cannot ask for a million connections or a 1 GB body.
PLATFORM_FAULTS: dict[str, dict[str, tuple]] = {
    "outage": {"mode": ("choice", "refuse", ("refuse", "reset", "hang"), None)},
    "rate_limit": {"rate": ("fraction", 1.0, 0.0, 1.0), "retry_after": ("int", 1, 1, 3600)},
    "slow_api": {"latency_ms": ("number", 1000.0, 0.0, 600_000.0),
                 "latency_max_ms": ("number", None, 0.0, 600_000.0)},
    "api_errors": {"rate": ("fraction", 1.0, 0.0, 1.0), "status": ("int", 500, 500, 599)},
}
WEBHOOK_FAULTS: dict[str, dict[str, tuple]] = {
    "malformed": {"kinds": ("kinds", MALFORMED_KINDS, None, None), "rate": ("number", 5.0, 0.1, 100.0)},
    "reset_mid_body": {"rate": ("number", 1.0, 0.1, 100.0)},
    "slowloris": {"connections": ("int", 50, 1, 2000)},
    "idle_flood": {"connections": ("int", 100, 1, 5000)},
    "spike": {"rate": ("number", None, 0.1, 100_000.0)},  # extra updates/s: required
}
FAULTS = {**PLATFORM_FAULTS, **WEBHOOK_FAULTS}
EVENT_KEYS = ("at", "duration", "fault")


class Params(Mapping):
    """A frozen, hashable, picklable mapping of a fault's parameters (MappingProxyType
    does not pickle, and the plan is pickled to the processes that run it)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping | None = None):
        self._items = tuple(sorted((items or {}).items()))

    def __getitem__(self, key: str) -> Any:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __repr__(self) -> str:
        return f"Params({dict(self)!r})"

    def __reduce__(self):
        return Params, (dict(self._items),)


@dataclass(frozen=True)
class ChaosEvent:
    """One fault window: from `at_s` (seconds since the start of the load) for `duration_s`."""

    at_s: float
    duration_s: float
    fault: str
    params: Mapping
    source: str = ""  # where it was given: "driver.yaml:12"

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s

    @property
    def platform(self) -> bool:
        """A fault of the platform API (run in the mock), not sent to the webhook."""
        return self.fault in PLATFORM_FAULTS

    def to_dict(self) -> dict:
        return {"at_s": self.at_s, "duration_s": self.duration_s, "fault": self.fault,
                "params": {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()},
                "source": self.source}


def _error(message: str, source: str) -> PlanError:
    m = re.match(r"^(.*):(\d+)$", source or "")
    if m:
        return PlanError(message, file=m.group(1), line=int(m.group(2)))
    return PlanError(f"{source}: {message}" if source else message)


def _seconds(value: Any, field: str, zero: bool, fail) -> float:
    if isinstance(value, bool) or value is None:
        raise fail(f"{field} must be a duration like 30s, 500ms or 2m, got {value!r}")
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise fail(f"{field}: {exc}") from None
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero):
        raise fail(f"{field} must be {'>= 0' if zero else '> 0'}, got {value!r}")
    return seconds


def _param(fault: str, name: str, value: Any, spec: tuple, fail) -> Any:
    kind, _, low, high = spec
    field = f"{fault}.{name}"
    if kind == "choice":
        if value not in low:
            raise fail(f"{field} must be one of {', '.join(low)}, got {value!r}{suggest(value, low)}")
        return value
    if kind == "kinds":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not value:
            raise fail(f"{field} must be a non-empty list of: {', '.join(MALFORMED_KINDS)}")
        for k in value:
            if k not in MALFORMED_KINDS:
                raise fail(f"{field}: unknown kind {k!r}{suggest(k, MALFORMED_KINDS)} "
                           f"(kinds: {', '.join(MALFORMED_KINDS)})")
        return tuple(dict.fromkeys(value))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(f"{field} must be a number, got {value!r}")
    if kind == "int" and value != int(value):
        raise fail(f"{field} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise fail(f"{field} must be between {low:g} and {high:g}, got {value!r}")
    return int(value) if kind == "int" else float(value)


def parse_event(item: Any, source: str = "", where: str = "chaos") -> ChaosEvent:
    """A ChaosEvent from one entry (`{at, duration, fault, PARAM...}`) given at `source`
    ("file:line"); PlanError placed there, naming the field, otherwise."""

    def fail(message: str) -> PlanError:
        return _error(f"{where}: {message}", source)

    if not isinstance(item, Mapping):
        raise fail(f"an entry must be a mapping like {{at: 30s, duration: 10s, fault: outage}}, "
                   f"got {type(item).__name__}")
    for key in ("at", "duration", "fault"):
        if key not in item:
            raise fail(f"the entry has no '{key}' (required: at, duration, fault)")
    fault = item["fault"]
    if not isinstance(fault, str) or fault not in FAULTS:
        raise fail(f"unknown fault {fault!r}{suggest(fault, FAULTS)} (faults: {', '.join(FAULTS)})")
    at = _seconds(item["at"], "at", True, fail)
    duration = _seconds(item["duration"], "duration", False, fail)
    specs = FAULTS[fault]
    params: dict[str, Any] = {}
    for name, value in item.items():
        if name in EVENT_KEYS:
            continue
        if name not in specs:
            known = ", ".join(specs) or "none"
            raise fail(f"unknown parameter '{name}' of fault {fault}{suggest(name, specs)} (its parameters: {known})")
        params[name] = _param(fault, name, value, specs[name], fail)
    for name, spec in specs.items():
        if name not in params:
            if spec[1] is None and name != "latency_max_ms":
                raise fail(f"{fault} needs '{name}'")
            if spec[1] is not None:
                params[name] = spec[1]
    if fault == "slow_api" and params.get("latency_max_ms") is not None \
            and params["latency_max_ms"] < params["latency_ms"]:
        raise fail(f"slow_api.latency_max_ms ({params['latency_max_ms']:g}) is below latency_ms "
                   f"({params['latency_ms']:g})")
    return ChaosEvent(at, duration, fault, Params(params), source)


def parse_timeline(items, where: str = "chaos") -> tuple[ChaosEvent, ...]:
    """The events of a `chaos:` list, sorted by start.

    `items`: (entry, source) pairs, source "file:line" (as the config loader gives them),
    or plain entries (their source is then `where[i]`). Platform fault windows must not
    overlap each other: the mock holds one fault config at a time.
    """
    if isinstance(items, (str, bytes, Mapping)) or not hasattr(items, "__iter__"):
        raise _error(f"{where} must be a list of fault entries", "")
    events = []
    for i, item in enumerate(items):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], str):
            entry, source = item
        else:
            entry, source = item, f"{where}[{i}]"
        events.append(parse_event(entry, source, where))
    events.sort(key=lambda e: (e.at_s, e.end_s))
    platform = [e for e in events if e.platform]
    for a, b in zip(platform, platform[1:]):
        if b.at_s < a.end_s:
            raise _error(f"{where}: the {b.fault} window at {b.at_s:g}s overlaps the {a.fault} window "
                         f"{a.at_s:g}s-{a.end_s:g}s ({a.source}): platform faults take turns", b.source)
    return tuple(events)
