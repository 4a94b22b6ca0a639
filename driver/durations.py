"""Parsing of durations given by users: `10`, `10s`, `500ms`, `2m`, `1h`, `1m30s`.

Every duration is a finite number of seconds, at most MAX_SECONDS: `nan`, `inf` and
`99999999999h` are errors here, so no caller has to think about them.
"""
from __future__ import annotations

import math
import re

MAX_SECONDS = 7 * 24 * 3600.0  # a week: longer is a typo (and a point per second of series in memory)
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str | float | int) -> float:
    """Seconds from a number (seconds) or a string of number+unit parts.

    ValueError if malformed, not finite (`nan`, `inf`) or longer than MAX_SECONDS. A
    negative number is returned as it is: the caller says what the value must be.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        try:
            return _bounded(float(text), text)
        except OverflowError:  # an int beyond a float's range
            raise ValueError(f"duration {text!r} is longer than the longest allowed, "
                             f"{MAX_SECONDS / 86400:g} days") from None
    s = str(text).strip().lower()
    try:
        number = float(s)
    except ValueError:
        pass
    else:
        return _bounded(number, text)
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30, 30s, 500ms, 2m, 1h)")
    return _bounded(total, text)


def _bounded(seconds: float, text) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"not a duration: {text!r} is not a finite number of seconds")
    if seconds > MAX_SECONDS:
        raise ValueError(f"duration {text!r} is longer than the longest allowed, {MAX_SECONDS / 86400:g} days")
    return seconds


def format_ns(ns: float | int | None) -> str:
    """A latency in ns as a short human string: 812ns, 41.2µs, 3.07ms, 1.25s."""
    if ns is None:
        return "-"
    ns = float(ns)
    if ns < 1e3:
        return f"{ns:.0f}ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f}µs"
    if ns < 1e9:
        return f"{ns / 1e6:.2f}ms"
    return f"{ns / 1e9:.2f}s"
