"""A small asyncio circuit breaker around a bot's platform API calls.

States and transitions (`failures` and `reset_timeout_s` are the two settings):

    closed     calls go through. A call that fails (an exception of `failure_types`)
               adds one to a run of consecutive failures, a success ends the run;
               `failures` consecutive failures trip the breaker: -> open.
    open       calls fail fast with `BreakerOpen` and are never sent (counted as
               `rejected`). Once `reset_timeout_s` has passed since it opened: -> half_open.
    half_open  one call at a time goes through as a probe (others meanwhile: `BreakerOpen`).
               Probe success -> closed; probe failure -> open, for another reset_timeout_s.

Consecutive failures (not a failure ratio in a window): the breaker only has to notice
that the platform is down, and during an outage every call fails, so a run of N
failures trips it after exactly N calls whatever the traffic; a ratio would need a
minimum call count per window to avoid tripping on one early failure, a second knob.

Only exceptions of `failure_types` count as failures (by default every Exception):
a caller passes the exception it raises for "the platform is unavailable" (connection
errors, timeouts, 5xx), so that an answer such as 400 Bad Request, which proves the
platform is up, neither trips the breaker nor fails a probe. A probe cancelled before
it finished gives no verdict: the next call probes again.

The state machine (`admit`, `record_success`, `record_failure`) is synchronous and
reads time only through `clock` (seconds, monotonic), so it is table-tested with a
fake clock; `call` wraps an awaitable in it. `snapshot()` is what /health shows.
"""
from __future__ import annotations

import time
from typing import Any, Awaitable, Callable, TypeVar

__all__ = ["BreakerOpen", "CircuitBreaker", "CLOSED", "OPEN", "HALF_OPEN"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
T = TypeVar("T")


class BreakerOpen(Exception):
    """The breaker is open (or half-open with its probe in flight): the call was not made."""


class CircuitBreaker:
    """See the module docstring. Not thread-safe: one event loop uses it."""

    def __init__(self, failures: int = 5, reset_timeout_s: float = 5.0, *,
                 failure_types: tuple[type[BaseException], ...] = (Exception,),
                 clock: Callable[[], float] = time.monotonic, name: str = "") -> None:
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
            raise ValueError(f"failures must be a whole number >= 1, got {failures!r}")
        if isinstance(reset_timeout_s, bool) or not isinstance(reset_timeout_s, (int, float)) \
                or not 0 < reset_timeout_s < float("inf"):
            raise ValueError(f"reset_timeout_s must be a positive number of seconds, "
                             f"got {reset_timeout_s!r}")
        self.failures = failures
        self.reset_timeout_s = float(reset_timeout_s)
        self.failure_types = failure_types
        self.name = name
        self._clock = clock
        self._state = CLOSED
        self._opened_at = 0.0
        self._probing = False
        self.consecutive_failures = 0
        self.last_change = clock()  # clock seconds of the last state change
        # counters, for the lifetime of the breaker
        self.calls = 0  # admitted (made)
        self.successes = 0  # admitted calls that did not fail (a 4xx answer included)
        self.failed = 0  # admitted calls that failed
        self.rejected = 0  # not made: open, or half-open with a probe in flight
        self.trips = 0  # closed -> open
        self.probes = 0  # calls admitted in half_open
        self.probe_failures = 0  # half_open -> open

    # --- the state machine -----------------------------------------------------

    @property
    def state(self) -> str:
        """closed, open or half_open (open turns half_open once the timeout passed)."""
        if self._state == OPEN and self._clock() - self._opened_at >= self.reset_timeout_s:
            self._set(HALF_OPEN)
        return self._state

    def _set(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.last_change = self._clock()

    def admit(self) -> bool:
        """Let one call through or raise BreakerOpen. True: the call is a probe."""
        state = self.state
        if state == CLOSED:
            self.calls += 1
            return False
        if state == HALF_OPEN and not self._probing:
            self._probing = True
            self.calls += 1
            self.probes += 1
            return True
        self.rejected += 1
        raise BreakerOpen(f"circuit breaker{' ' + self.name if self.name else ''} is {state}")

    def record_success(self, probe: bool) -> None:
        self.successes += 1
        self.consecutive_failures = 0
        if probe:
            self._probing = False
            self._set(CLOSED)

    def record_failure(self, probe: bool) -> None:
        self.failed += 1
        self.consecutive_failures += 1
        if probe:
            self._probing = False
            self.probe_failures += 1
            self._open()
        elif self._state == CLOSED and self.consecutive_failures >= self.failures:
            self.trips += 1
            self._open()

    def record_cancelled(self, probe: bool) -> None:
        """A call that ended without a verdict (cancelled): frees the probe slot."""
        if probe:
            self._probing = False

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._set(OPEN)

    # --- asyncio ---------------------------------------------------------------

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await `fn(*args, **kwargs)` through the breaker (BreakerOpen: not called)."""
        probe = self.admit()
        try:
            result = await fn(*args, **kwargs)
        except self.failure_types:
            self.record_failure(probe)
            raise
        except Exception:
            # not a platform failure (say a 4xx answer): the platform answered, it is up
            self.record_success(probe)
            raise
        except BaseException:  # cancelled: no verdict
            self.record_cancelled(probe)
            raise
        self.record_success(probe)
        return result

    def snapshot(self) -> dict[str, Any]:
        """State and counters as JSON-ready values (for /health)."""
        state = self.state
        return {"state": state, "failures_to_trip": self.failures,
                "reset_timeout_s": self.reset_timeout_s,
                "consecutive_failures": self.consecutive_failures,
                "calls": self.calls, "successes": self.successes, "failures": self.failed,
                "rejected": self.rejected, "trips": self.trips, "probes": self.probes,
                "probe_failures": self.probe_failures,
                "since_change_s": round(self._clock() - self.last_change, 3)}
