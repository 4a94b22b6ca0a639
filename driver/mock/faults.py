"""Programmable faults of a mock platform API: what share of calls fail and how, how
slow the answers are, and whether the API is out.

A `Faults` is a frozen value; the mock holds the current one and swaps it whole when
`POST /_driver/faults` (or `set_faults`) gives a new one, so a call in progress sees one
consistent config. `Faults.from_dict` is the one place where a user's fault config is
checked (ValueError names the field).
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["Faults", "OUTAGES", "Decision"]

#: refuse: every call answered 503 at once; reset: the connection is reset (TCP RST)
#: before any answer; hang: no answer until the outage is lifted (clients time out).
OUTAGES = ("refuse", "reset", "hang")


@dataclass(frozen=True)
class Faults:
    """error_rate: share of calls answered 5xx (`error_status`) in Bot API shape.
    rate_limit_rate: share of calls answered 429 with `parameters.retry_after`.
    latency_ms / latency_max_ms: added delay before each answer, fixed (max None) or
    uniform in [latency_ms, latency_max_ms].
    outage: None, or one of OUTAGES; it takes precedence over everything else.
    Shares are fractions in [0, 1]; error and 429 draws are exclusive (one draw)."""

    error_rate: float = 0.0
    error_status: int = 500
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    latency_ms: float = 0.0
    latency_max_ms: float | None = None
    outage: str | None = None

    def __post_init__(self) -> None:
        for name in ("error_rate", "rate_limit_rate"):
            value = getattr(self, name)
            if not _number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
        if self.error_rate + self.rate_limit_rate > 1.0:
            raise ValueError("error_rate + rate_limit_rate must not exceed 1")
        if not isinstance(self.error_status, int) or isinstance(self.error_status, bool) \
                or not 500 <= self.error_status <= 599:
            raise ValueError(f"error_status must be a 5xx status, got {self.error_status!r}")
        if not isinstance(self.retry_after, int) or isinstance(self.retry_after, bool) \
                or self.retry_after < 1:
            raise ValueError(f"retry_after must be a whole number of seconds >= 1, "
                             f"got {self.retry_after!r}")
        if not _number(self.latency_ms) or not 0 <= self.latency_ms < float("inf"):
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms!r}")
        if self.latency_max_ms is not None and (
                not _number(self.latency_max_ms)
                or not self.latency_ms <= self.latency_max_ms < float("inf")):
            raise ValueError(f"latency_max_ms must be >= latency_ms ({self.latency_ms}), "
                             f"got {self.latency_max_ms!r}")
        if self.outage is not None and self.outage not in OUTAGES:
            raise ValueError(f"outage must be one of {', '.join(OUTAGES)} or null, "
                             f"got {self.outage!r}")

    @classmethod
    def from_dict(cls, data: Any) -> "Faults":
        """A Faults from a JSON object; unknown keys are an error (a typo must not
        silently leave a fault off). Missing keys take their defaults."""
        if not isinstance(data, dict):
            raise ValueError(f"the fault config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def delay_s(self, rng: random.Random) -> float:
        """The added latency of one call, in seconds."""
        if self.latency_max_ms is None:
            return self.latency_ms / 1000.0
        return rng.uniform(self.latency_ms, self.latency_max_ms) / 1000.0

    def decide(self, rng: random.Random) -> "Decision":
        """What happens to one call: 'outage', 'error', 'rate_limit' or 'ok'."""
        if self.outage is not None:
            return "outage"
        if self.error_rate or self.rate_limit_rate:
            draw = rng.random()
            if draw < self.error_rate:
                return "error"
            if draw < self.error_rate + self.rate_limit_rate:
                return "rate_limit"
        return "ok"


Decision = str


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
