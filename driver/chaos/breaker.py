"""A bot's circuit breaker, verified from outside: what it did during a platform outage (pure).

From the series' "api" figures (calls the bot made to the mock each second, and how
many were answered 2xx) around each `outage` window:

- baseline_calls_s: mean calls per second over the baseline seconds (as
  driver.chaos.recovery chooses them);
- time_to_trip_s: from the outage start to the start of the first second whose calls
  fall below `trip_fraction` of the baseline (the breaker opened); None: never tripped;
- calls_while_open: calls from that second to the end of the outage;
- probe_interval_s: the median gap between the seconds with calls while open (a
  half-open breaker's probes); None with fewer than two such seconds;
- time_to_recover_s: from the outage end to the start of the first second whose 2xx
  answers reach `recover_fraction` of the baseline calls; None: not within the run.

Defaults (BreakerTolerance): trips below 10% of the baseline calls/s, recovered at
50% of them answered ok.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from driver.chaos.recovery import DEFAULT_TOLERANCE, Seconds, Tolerance, baseline_points

__all__ = ["BreakerTolerance", "DEFAULT_BREAKER", "analyse_breaker", "breaker_events"]


@dataclass(frozen=True)
class BreakerTolerance:
    trip_fraction: float = 0.1
    recover_fraction: float = 0.5


DEFAULT_BREAKER = BreakerTolerance()


def _api(p: dict) -> dict:
    return p.get("api") or {}


def breaker_events(events) -> list:
    """The events a breaker is judged on: platform outages."""
    return [e for e in events if e.fault == "outage"]


def _one(secs, events, event, tol: BreakerTolerance, warmup: Tolerance) -> dict:
    out = {"fault": event.fault, "at_s": event.at_s, "end_s": event.end_s, "source": event.source,
           "baseline_calls_s": None, "time_to_trip_s": None, "calls_while_open": None, "probe_interval_s": None,
           "time_to_recover_s": None, "tripped": False, "recovered": False, "note": ""}
    base = baseline_points(secs, events, event, warmup.warmup_s)
    span = sum(e - s for s, e, _ in base)
    calls = sum(_api(p).get("calls", 0) for *_, p in base)
    if not base or not span or not calls:
        out["note"] = "no platform API calls before the outage: nothing to compare with"
        return out
    rate = calls / span
    out["baseline_calls_s"] = round(rate, 3)
    during = [x for x in secs if x[1] > event.at_s + 1e-9 and x[0] < event.end_s - 1e-9]
    trip = next((x for x in during if _api(x[2]).get("calls", 0) / max(x[1] - x[0], 1e-9)
                 < tol.trip_fraction * rate), None)
    if trip is not None:
        out["tripped"] = True
        out["time_to_trip_s"] = round(max(0.0, trip[0] - event.at_s), 3)
        open_secs = [x for x in during if x[0] >= trip[0]]
        out["calls_while_open"] = int(sum(_api(p).get("calls", 0) for *_, p in open_secs))
        probes = [s for s, _, p in open_secs if _api(p).get("calls", 0)]
        gaps = [b - a for a, b in zip(probes, probes[1:])]
        out["probe_interval_s"] = round(statistics.median(gaps), 3) if gaps else None
    after = [x for x in secs if x[1] > event.end_s + 1e-9]
    if not after:
        out["note"] = "the run ended inside the outage"
        return out
    back = next((x for x in after if _api(x[2]).get("ok", 0) / max(x[1] - x[0], 1e-9)
                 >= tol.recover_fraction * rate), None)
    if back is not None:
        out["recovered"] = True
        out["time_to_recover_s"] = round(max(0.0, back[0] - event.end_s), 3)
    else:
        out["note"] = "calls were not answered ok at the baseline rate again before the run ended"
    if not out["tripped"]:
        out["note"] = ("calls never fell below "
                       f"{tol.trip_fraction:.0%} of the baseline during the outage: no breaker opened"
                       + (f"; {out['note']}" if out["note"] else ""))
    return out


def analyse_breaker(series, events, *, tolerance: BreakerTolerance = DEFAULT_BREAKER,
                    warmup: Tolerance = DEFAULT_TOLERANCE) -> list[dict]:
    """One dict per outage event (see the module doc); [] without outages."""
    events = list(events)
    secs = Seconds(series or [])
    return [_one(secs, events, e, tolerance, warmup) for e in breaker_events(events)]
