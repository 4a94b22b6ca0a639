"""What a fault window did to the bot, and how long it took to recover (pure).

From a run's per-second series (Result.series) and its chaos events, per event:
baseline, during and after figures — reply rate (replies/s), reply success rate,
webhook error rate, reply p99 — and `recovery_s`, the time from the end of the window
until the reply success rate and p99 are back within the tolerance of the baseline for
`consecutive_s` seconds in a row.

Seconds. A series point at `t` covers the second before it, (t - dt, t]. A reply that
never came is counted as missing `reply_timeout_s` after its update was sent, so the
missing count of second t + reply_timeout_s belongs to the updates of second t: the
success rate of second t is replied(t) / (replied(t) + missing(t + reply_timeout_s)),
and it is unknown for the last reply_timeout_s seconds of the series.

Basis. With replies in the series (a run with the mock) the figures are the replies';
without them (no mock) the webhook's: success = 1 - error rate, p99 = the webhook p99.

Baseline. The seconds before the first event, after `warmup_s`; when there are none,
the seconds before this event that lie in no other event's window (warm-up included
if nothing else is left). Baseline p99 is the median of the per-second p99s (one slow
second does not move it).

Defaults (Tolerance): success within 0.05 below the baseline's (5 percentage
points); p99 at most 1.5x the baseline's, or the baseline + 50 ms, whichever is
larger (a 2 ms baseline would otherwise call a 4 ms second unrecovered); 3
consecutive seconds; 5 s of warm-up; "after" figures over the 30 s after the window
(cut at the next event's start).
"""
from __future__ import annotations

import bisect
import statistics
from dataclasses import dataclass

from driver.stats.window import point_error_rate

__all__ = ["Tolerance", "DEFAULT_TOLERANCE", "analyse", "baseline_points", "basis_of", "Seconds"]


@dataclass(frozen=True)
class Tolerance:
    success: float = 0.05  # how far below the baseline's success rate still counts as recovered
    p99_ratio: float = 1.5  # p99 up to this multiple of the baseline's ...
    p99_floor_ns: int = 50_000_000  # ... or up to the baseline + this, whichever is larger
    consecutive_s: int = 3  # seconds in a row within tolerance
    warmup_s: float = 5.0  # first seconds of the run left out of the baseline
    after_s: float = 30.0  # the "after" figures: this long after the window


DEFAULT_TOLERANCE = Tolerance()


def basis_of(series) -> str:
    """"replies" when the series has replies tracked, else "webhook"."""
    return "replies" if any((p.get("replies") or {}).get("tracked") or (p.get("replies") or {}).get("replied")
                            for p in series) else "webhook"


class Seconds(list):
    """(start, end, point) of each point of a series, and the ends, for bisecting."""

    def __init__(self, series):
        prev = 0.0
        for p in series:
            t = float(p.get("t", 0.0))
            self.append((min(prev, t), t, p))
            prev = t
        self.ends = [e for _, e, _ in self]


def _missing_at(secs, end: float, shift: float) -> int | None:
    """The missing count of the point covering end + shift (None: beyond the series)."""
    target = end + shift
    i = bisect.bisect_left(secs.ends, target - 1e-9)
    if i == len(secs) or secs[i][0] >= target:
        return None
    return int((secs[i][2].get("replies") or {}).get("missing", 0))


def _p99(p: dict, basis: str) -> int | None:
    if basis == "replies":
        value = (p.get("replies") or {}).get("p99_ns")
        if value is not None:
            return value
        return None
    return p.get("p99_ns")


def _figures(chosen, secs, basis: str, shift: float) -> dict:
    """Figures over the seconds `chosen` ((start, end, point) each)."""
    n = len(chosen)
    out = {"seconds": n, "reply_rate": None, "success_rate": None, "error_rate": None, "p99_ns": None}
    if not n:
        return out
    span = sum(e - s for s, e, _ in chosen) or float(n)
    requests = sum(p.get("requests", 0) for *_, p in chosen)
    errors = sum(p.get("errors", 0) for *_, p in chosen)
    http_errors = sum(p.get("http_errors", 0) for *_, p in chosen)
    out["error_rate"] = point_error_rate({"requests": requests, "errors": errors, "http_errors": http_errors})
    p99s = [v for v in (_p99(p, basis) for *_, p in chosen) if v is not None]
    out["p99_ns"] = int(statistics.median(p99s)) if p99s else None
    if basis == "replies":
        replied = sum((p.get("replies") or {}).get("replied", 0) for *_, p in chosen)
        out["reply_rate"] = round(replied / span, 3)
        known = [(s, e, p) for s, e, p in chosen if _missing_at(secs, e, shift) is not None]
        ok = sum((p.get("replies") or {}).get("replied", 0) for *_, p in known)
        missing = sum(_missing_at(secs, e, shift) for _, e, _ in known)
        out["success_rate"] = round(ok / (ok + missing), 6) if ok + missing else None
    elif out["error_rate"] is not None:
        out["success_rate"] = round(1.0 - out["error_rate"], 6)
    return out


def _success_of(p, e, secs, basis: str, shift: float) -> float | None:
    """One second's success rate; None when unknown (no traffic, or its missing count
    lies beyond the series)."""
    if basis == "replies":
        missing = _missing_at(secs, e, shift)
        if missing is None:
            return None
        replied = (p.get("replies") or {}).get("replied", 0)
        return replied / (replied + missing) if replied + missing else None
    rate = point_error_rate(p)
    return None if rate is None else 1.0 - rate


def baseline_points(secs, events, event, warmup_s: float) -> list:
    first = min(e.at_s for e in events)
    chosen = [x for x in secs if x[0] >= warmup_s - 1e-9 and x[1] <= first + 1e-9]
    if chosen:
        return chosen
    others = [e for e in events if e is not event]

    def free(x) -> bool:
        return x[1] <= event.at_s + 1e-9 and not any(o.at_s < x[1] and x[0] < o.end_s for o in others)

    chosen = [x for x in secs if free(x) and x[0] >= warmup_s - 1e-9]
    return chosen or [x for x in secs if free(x)]


def _within(success, p99, base: dict, tol: Tolerance) -> bool:
    if success is None or p99 is None or base["success_rate"] is None or base["p99_ns"] is None:
        return False
    limit = max(base["p99_ns"] * tol.p99_ratio, base["p99_ns"] + tol.p99_floor_ns)
    return success >= base["success_rate"] - tol.success and p99 <= limit


def _recovery(secs, event, base: dict, basis: str, shift: float, tol: Tolerance) -> tuple[float | None, str]:
    if base["success_rate"] is None or base["p99_ns"] is None:
        return None, "no baseline to recover to (no traffic before the fault)"
    after = [x for x in secs if x[1] > event.end_s + 1e-9]
    if not after:
        return None, "the run ended inside the fault window"
    run, first = 0, None
    for s, e, p in after:
        success = _success_of(p, e, secs, basis, shift)
        if _within(success, _p99(p, basis), base, tol):
            first = s if run == 0 else first
            run += 1
            if run >= tol.consecutive_s:
                return round(max(0.0, first - event.end_s), 3), ""
        else:
            run = 0
    return None, "not back within tolerance of the baseline before the run ended"


def analyse(series, events, *, reply_timeout_s: float, tolerance: Tolerance = DEFAULT_TOLERANCE) -> list[dict]:
    """Per event (in order): its window, baseline/during/after figures and recovery_s
    (None when it never recovered within the run: `recovery_note` says why)."""
    events = list(events)
    if not events:
        return []
    secs = Seconds(series or [])
    basis = basis_of(series or [])
    out = []
    for i, event in enumerate(events):
        base = _figures(baseline_points(secs, events, event, tolerance.warmup_s), secs, basis, reply_timeout_s)
        during = [x for x in secs if x[1] > event.at_s + 1e-9 and x[0] < event.end_s - 1e-9]
        later = [e.at_s for e in events[i + 1:] if e.at_s >= event.end_s]
        stop = min([event.end_s + tolerance.after_s, *later])
        after = [x for x in secs if x[0] >= event.end_s - 1e-9 and x[1] <= stop + 1e-9]
        recovery, note = _recovery(secs, event, base, basis, reply_timeout_s, tolerance)
        out.append({
            "fault": event.fault, "at_s": event.at_s, "duration_s": event.duration_s, "end_s": event.end_s,
            "params": event.to_dict()["params"], "source": event.source, "basis": basis,
            "baseline": base, "during": _figures(during, secs, basis, reply_timeout_s),
            "after": _figures(after, secs, basis, reply_timeout_s),
            "recovery_s": recovery, "recovered": recovery is not None, "recovery_note": note,
        })
    return out
