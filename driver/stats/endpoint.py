"""One endpoint's numbers over a span, and the accessors every reader of them uses.

An `EndpointResult` holds one endpoint's counters and histograms (the layout of
driver.layout) over a span: a whole run (a Result's endpoints and total) or one
window of it (driver.stats.window). Thresholds (final and live), the live view,
compare, the summary and every report read the figures below through these
accessors, so each figure has one definition, written here:

- responses (`requests`): complete HTTP responses, any status.
- `count`: what the endpoint counts: its responses; for an aggregate endpoint
  (`flow:NAME`, `iteration`, see `is_aggregate`) the flows or iterations finished.
- transport errors (`errors`, by kind in `errors_by_kind`): attempts that got no
  valid HTTP response — refused, connect timeout, request timeout, reset, protocol,
  TLS, other — and two kinds that make sure nothing asked of the target vanishes:
  `unfinished` (sent and still unanswered when the run ended) and `dropped`
  (open-loop arrivals never sent). A service that hangs, or a stall that fills the
  in-flight cap, therefore cannot pass as error free.
- HTTP errors (`http_errors`): 4xx and 5xx responses less the throttled ones (429,
  503 with Retry-After), which are counted apart (`throttled`).
  `http_errors_by_class` gives the 4xx and 5xx responses (throttled included).
- `failures` = transport errors + HTTP errors; `attempts` = count + transport errors.
- error rate = failures / attempts =
      (transport errors incl. unfinished and dropped + 4xx/5xx not throttled)
      / (responses + transport errors);
  None when nothing was attempted (`error_rate`, the one place it is computed).
- arrivals (open loop) = sent + dropped; `late` and `dropped` are shares of them.
- `unaccounted` = sent - (count + errors of the kinds that end a sent request,
  layout.SENT_ERRORS): 0 for every request endpoint once the run has ended.

Aggregate endpoints time and count whole flows or iterations whose requests are
recorded on their own endpoints: a total (`total_of`) leaves their responses and
latency out but keeps their errors (a dropped iteration is a failed arrival) and
their late arrivals; in a scenario the arrivals are iterations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from driver import histogram
from driver.layout import (
    C_BYTES_IN,
    C_BYTES_OUT,
    C_CHECK_FAILED,
    C_CHECKS,
    C_DROPPED,
    C_FLOWS,
    C_LAT_MAX_NS,
    C_LAT_MIN_NS,
    C_LAT_SUM_NS,
    C_LATE,
    C_REQUESTS,
    C_SENT,
    C_STATUS_4XX,
    C_STATUS_5XX,
    C_THROTTLED,
    C_UNFINISHED,
    COUNTER_NAMES,
    COUNTS_LEN,
    ERROR_COUNTERS,
    H_LATENCY,
    H_SERVICE,
    LAT_MIN_UNSET,
    N_COUNTERS,
    N_HISTS,
    SENT_ERRORS,
    STATUS_COUNTERS,
)

INT64_MAX = (1 << 63) - 1
PERCENTILES = {"p50_ns": 50.0, "p90_ns": 90.0, "p95_ns": 95.0, "p99_ns": 99.0, "p99_9_ns": 99.9}
ITERATION = "iteration"  # the aggregate endpoint of scenario iterations
FLOW_PREFIX = "flow:"  # aggregate endpoints of YAML flows: "flow:NAME"
ERROR_COLUMNS = list(ERROR_COUNTERS.values())
_SENT_ERROR_COLUMNS = [ERROR_COUNTERS[k] for k in SENT_ERRORS]


JOB_PREFIX = "job:"  # jobs (driver.scenario.jobs): job:NAME, job:NAME:first_progress, job:NAME:processing
JOB_REQUESTS = (":submit", ":poll", ":events")  # ... are aggregates; these are its requests
CALL_PREFIX = "call:"  # simulated calls (driver.scenario.calls): call:NAME, call:NAME:setup, call:NAME:lateness
CALL_REQUESTS = (":initiate", ":status", ":hangup")  # ... are aggregates; these are its requests
PUSH_PREFIX = "push:"  # server pushes timed from their timestamp (driver.scenario.ws): not requests
WS_CONNECT = "ws:connect"  # WebSocket handshakes (driver.engine.ws): count them apart, keep their errors
WS_PREFIX = "ws:"  # ws:connect, ws:lifetime, ws:lifetime:NAME: aggregates of WebSocket connections
REPLY_PREFIX = "reply:"  # a bot's replies to the updates of one endpoint: first-reply latency
REPLY_LAST_PREFIX = "reply_last:"  # the last message of the multi-message answers
# endpoints that watch the other side rather than count driver's own work: the calls the
# bot made to the mock platform API ("api:sendMessage") and the chaos timeline's probes
# and faults ("chaos:malformed:...", "chaos:health"); never part of the total
OBSERVED_PREFIXES = ("api:", "chaos:")


def is_aggregate(name: str) -> bool:
    """Whether `name` is an aggregate endpoint: it times whole flows or iterations, whose
    requests are on their own endpoints (`flow:NAME`, `iteration`), or the bot's replies
    to updates counted on their own endpoints (`reply:NAME`, `reply_last:NAME`), or the
    WebSocket connections (`ws:connect`, the handshakes: failures are errors of the run,
    handshakes are not round trips; `ws:lifetime[:NAME]`, each connection's time open)."""
    return (name == ITERATION or name.startswith(FLOW_PREFIX) or name.startswith(REPLY_PREFIX)
            or name.startswith(REPLY_LAST_PREFIX) or name.startswith(WS_PREFIX) or name.startswith(PUSH_PREFIX)
            or (name.startswith(JOB_PREFIX) and not name.endswith(JOB_REQUESTS))
            or (name.startswith(CALL_PREFIX) and not name.endswith(CALL_REQUESTS)))


def is_reply(name: str) -> bool:
    return name.startswith(REPLY_PREFIX)


def is_observed(name: str) -> bool:
    """An endpoint that watches the target's other side (see OBSERVED_PREFIXES)."""
    return name.startswith(OBSERVED_PREFIXES)


def error_rate(count: int, errors: int, http_errors: int) -> float | None:
    """The error rate: (transport errors + HTTP errors) / (count + transport errors).

    `errors` are transport errors, unfinished and dropped included; `http_errors`
    4xx/5xx responses that were not throttling; `count` responses (or, for an
    aggregate endpoint, flows or iterations finished). None when nothing was attempted.
    """
    attempts = count + errors
    return (errors + http_errors) / attempts if attempts else None


def merge_counters(rows: np.ndarray) -> np.ndarray:
    """Merge counter rows (k, N_COUNTERS): add, but min for the minimum and max for the maximum."""
    rows = np.atleast_2d(rows)
    out = rows.sum(axis=0)
    # the latency sum can pass int64 when many workers' sums are added: saturate, and
    # latency_summary falls back to the histogram's mean
    lat_sum = sum(int(x) for x in rows[:, C_LAT_SUM_NS])
    out[C_LAT_SUM_NS] = min(lat_sum, INT64_MAX)
    out[C_LAT_MIN_NS] = rows[:, C_LAT_MIN_NS].min() if len(rows) else LAT_MIN_UNSET
    out[C_LAT_MAX_NS] = rows[:, C_LAT_MAX_NS].max() if len(rows) else 0
    return out


def empty_counters() -> np.ndarray:
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    counters[C_LAT_MIN_NS] = LAT_MIN_UNSET
    return counters


def _exact(counters: np.ndarray | None, n: int) -> bool:
    """Whether the counters' min/max/sum describe exactly the `n` latencies of the histogram
    (not so for a window, whose extremes are unknown, nor where values were recorded
    without them: flows, unfinished requests)."""
    return (counters is not None and n > 0 and counters[C_REQUESTS] == n
            and counters[C_LAT_MIN_NS] != LAT_MIN_UNSET)


def latency_summary(counts: np.ndarray, counters: np.ndarray | None = None) -> dict:
    """min, mean, percentiles and max of one histogram, in ns (None when empty).

    With `counters` that cover exactly the histogram's values, min/mean/max are the
    exact recorded values and the percentiles stay within them; the percentiles
    come from the histogram (3 significant digits).
    """
    n = histogram.total(counts)
    if n == 0:
        return {"count": 0, "min_ns": None, "mean_ns": None, **{k: None for k in PERCENTILES}, "max_ns": None}
    values = histogram.percentiles(counts, [0.0, *PERCENTILES.values(), 100.0])
    out = {"count": n, "min_ns": values[0], "mean_ns": histogram.mean(counts)}
    out.update(zip(PERCENTILES, values[1:-1]))
    out["max_ns"] = values[-1]
    if _exact(counters, n):
        out["min_ns"] = int(counters[C_LAT_MIN_NS])
        out["max_ns"] = int(counters[C_LAT_MAX_NS])
        # a percentile is its bucket's highest equivalent value: keep it within the exact range
        for k in PERCENTILES:
            out[k] = min(max(out[k], out["min_ns"]), out["max_ns"])
        if counters[C_LAT_SUM_NS] < INT64_MAX:
            out["mean_ns"] = float(counters[C_LAT_SUM_NS]) / n
    return out


def sum_hists(hist_list) -> np.ndarray:
    """(N_HISTS, COUNTS_LEN) histograms added, each merge checked (layout, overflow)."""
    out = np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64)
    for h in hist_list:
        out = histogram.merge(out, h)
    return out


@dataclass(eq=False)
class EndpointResult:
    """One endpoint's counters (N_COUNTERS,) and histograms (N_HISTS, COUNTS_LEN) over a span."""

    name: str
    counters: np.ndarray
    hists: np.ndarray
    arrival_count: int | None = None  # a total's arrivals (iterations in a scenario); None: sent + dropped

    def _c(self, column: int) -> int:
        return int(self.counters[column])

    # -- what was sent and answered
    @property
    def requests(self) -> int:
        """Responses: complete HTTP responses, any status."""
        return self._c(C_REQUESTS)

    @property
    def sent(self) -> int:
        return self._c(C_SENT)

    @property
    def is_aggregate(self) -> bool:
        return is_aggregate(self.name)

    @property
    def is_flow(self) -> bool:
        return self.name.startswith(FLOW_PREFIX)

    @property
    def flows(self) -> int:
        """Flows (or, for `iteration`, iterations) run to their end."""
        return self._c(C_FLOWS)

    @property
    def count(self) -> int:
        """Responses; flows or iterations finished for an aggregate endpoint."""
        return self.flows if self.is_aggregate else self.requests

    def rate(self, span_s: float) -> float | None:
        """`count` per second over a span of `span_s` seconds (None for an empty span)."""
        return self.count / span_s if span_s > 0 else None

    # -- errors
    @property
    def errors_by_kind(self) -> dict[str, int]:
        return {k: self._c(c) for k, c in ERROR_COUNTERS.items()}

    @property
    def errors(self) -> int:
        """Transport errors, unfinished and dropped included: no valid HTTP response."""
        return int(self.counters[ERROR_COLUMNS].sum())

    @property
    def unfinished(self) -> int:
        return self._c(C_UNFINISHED)

    @property
    def dropped(self) -> int:
        return self._c(C_DROPPED)

    @property
    def late(self) -> int:
        return self._c(C_LATE)

    @property
    def arrivals(self) -> int:
        """Open-loop arrivals: sent + dropped (for a total, as `total_of` counts them)."""
        return self.sent + self.dropped if self.arrival_count is None else self.arrival_count

    @property
    def status(self) -> dict[str, int]:
        return {k: self._c(c) for k, c in STATUS_COUNTERS.items()}

    @property
    def http_errors_by_class(self) -> dict[str, int]:
        """4xx and 5xx responses (throttled ones included: see `throttled`)."""
        return {"4xx": self._c(C_STATUS_4XX), "5xx": self._c(C_STATUS_5XX)}

    @property
    def throttled(self) -> int:
        return self._c(C_THROTTLED)

    @property
    def http_errors(self) -> int:
        """4xx and 5xx responses, less the throttled ones (429, 503 + Retry-After)."""
        return sum(self.http_errors_by_class.values()) - self.throttled

    @property
    def failures(self) -> int:
        return self.errors + self.http_errors

    @property
    def attempts(self) -> int:
        return self.count + self.errors

    @property
    def error_rate(self) -> float | None:
        """See `error_rate` (module): None when nothing was attempted."""
        return error_rate(self.count, self.errors, self.http_errors)

    @property
    def unaccounted(self) -> int:
        """sent - (count + errors that end a sent request): 0 per request endpoint once the run ended."""
        return self.sent - self.count - int(self.counters[_SENT_ERROR_COLUMNS].sum())

    # -- checks
    @property
    def checks(self) -> int:
        return self._c(C_CHECKS)

    @property
    def check_failures(self) -> int:
        return self._c(C_CHECK_FAILED)

    @property
    def check_failure_rate(self) -> float | None:
        return self.check_failures / self.checks if self.checks else None

    # -- latency
    def latency(self) -> dict:
        return latency_summary(self.hists[H_LATENCY], self.counters)

    def service(self) -> dict:
        return latency_summary(self.hists[H_SERVICE])

    def percentile(self, p: float) -> int | None:
        """The latency at percentile `p` (0..100), ns; within the exact range when known; None when empty."""
        counts = self.hists[H_LATENCY]
        n = histogram.total(counts)
        if n == 0:
            return None
        value = histogram.percentile(counts, p)
        if _exact(self.counters, n):
            value = min(max(value, self._c(C_LAT_MIN_NS)), self._c(C_LAT_MAX_NS))
        return value

    def summary(self, duration_s: float) -> dict:
        return {
            "name": self.name,
            "requests": self.requests,
            "count": self.count,
            "rps": self.rate(duration_s) or 0.0,
            "sent": self.sent,
            "errors": self.errors,
            "http_errors": self.http_errors,
            "http_errors_by_class": self.http_errors_by_class,
            "failures": self.failures,
            "error_rate": self.error_rate,
            "errors_by_kind": self.errors_by_kind,
            "arrivals": self.arrivals,
            "late": self.late,
            "throttled": self.throttled,
            "checks": self.checks,
            "check_failures": self.check_failures,
            "check_failure_rate": self.check_failure_rate,
            "flows": self.flows,
            "status": self.status,
            "bytes_in": self._c(C_BYTES_IN),
            "bytes_out": self._c(C_BYTES_OUT),
            "counters": {COUNTER_NAMES[i]: int(v) for i, v in enumerate(self.counters) if i in COUNTER_NAMES},
            "latency": self.latency(),
            "service": self.service(),
        }

    @classmethod
    def merged(cls, name: str, parts: list["EndpointResult"]) -> "EndpointResult":
        return cls(name, merge_counters(np.stack([p.counters for p in parts])), sum_hists([p.hists for p in parts]))


def total_of(parts: list[EndpointResult], name: str = "total") -> EndpointResult:
    """The endpoints as one: request endpoints added whole; aggregate endpoints add only
    their errors and late arrivals (their requests are on the request endpoints), so
    missing replies are errors of the run; observed endpoints (`api:`, `chaos:`) not at all.

    The arrivals are the `iteration` endpoint's when there is one (a scenario's open-loop
    arrivals are iterations), otherwise the request endpoints' sent + dropped.
    """
    parts = [p for p in parts if not is_observed(p.name)]
    requests = [p for p in parts if not p.is_aggregate]
    if requests:
        total = EndpointResult.merged(name, requests)
    else:
        total = EndpointResult(name, empty_counters(), np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64))
    for p in parts:
        if p.is_aggregate:
            total.counters[ERROR_COLUMNS] += p.counters[ERROR_COLUMNS]
            total.counters[C_LATE] += p.counters[C_LATE]
    iterations = [p for p in parts if p.name == ITERATION]
    if iterations:
        total.arrival_count = sum(p.arrivals for p in iterations)
    return total
