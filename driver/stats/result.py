"""Result: the merged counters, histograms and time series of one run.

A Result carries its histograms, so results merge exactly (addition over one fixed
layout) and serialise to JSON (`schema: driver.result/1`, histograms as sparse
[index, count] pairs) and back. Everything derived — rates, percentiles, error
rates — is computed when asked, never stored as the source of truth.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from driver import histogram
from driver.errors import DriverError
from driver.layout import (
    C_BYTES_IN,
    C_BYTES_OUT,
    C_CHECK_FAILED,
    C_CHECKS,
    C_FLOWS,
    C_THROTTLED,
    C_LAT_MAX_NS,
    C_LAT_MIN_NS,
    C_LAT_SUM_NS,
    C_REQUESTS,
    C_SENT,
    C_STATUS_4XX,
    C_STATUS_5XX,
    COUNTER_NAMES,
    COUNTS_LEN,
    ERROR_COUNTERS,
    H_LATENCY,
    H_SERVICE,
    LAT_MIN_UNSET,
    N_COUNTERS,
    N_HISTS,
    STATUS_COUNTERS,
)

SCHEMA = "driver.result/1"
INT64_MAX = (1 << 63) - 1
PERCENTILES = {"p50_ns": 50.0, "p90_ns": 90.0, "p95_ns": 95.0, "p99_ns": 99.0, "p99_9_ns": 99.9}


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


def latency_summary(counts: np.ndarray, counters: np.ndarray | None = None) -> dict:
    """min, mean, percentiles and max of one histogram, in ns (None when empty).

    With `counters`, min/mean/max are the exact recorded values; the percentiles
    come from the histogram (3 significant digits).
    """
    n = histogram.total(counts)
    if n == 0:
        return {"count": 0, "min_ns": None, "mean_ns": None, **{k: None for k in PERCENTILES}, "max_ns": None}
    values = histogram.percentiles(counts, [0.0, *PERCENTILES.values(), 100.0])
    out = {"count": n, "min_ns": values[0], "mean_ns": histogram.mean(counts)}
    out.update(zip(PERCENTILES, values[1:-1]))
    out["max_ns"] = values[-1]
    if counters is not None and counters[C_REQUESTS] == n:
        out["min_ns"] = int(counters[C_LAT_MIN_NS])
        out["max_ns"] = int(counters[C_LAT_MAX_NS])
        # a percentile is its bucket's highest equivalent value: keep it within the exact range
        for k in PERCENTILES:
            out[k] = min(max(out[k], out["min_ns"]), out["max_ns"])
        if counters[C_LAT_SUM_NS] < INT64_MAX:
            out["mean_ns"] = float(counters[C_LAT_SUM_NS]) / n
    return out


@dataclass
class EndpointResult:
    name: str
    counters: np.ndarray  # (N_COUNTERS,) int64
    hists: np.ndarray  # (N_HISTS, COUNTS_LEN) int64

    @property
    def requests(self) -> int:
        return int(self.counters[C_REQUESTS])

    @property
    def is_flow(self) -> bool:
        """A flow endpoint times whole multi-step flows; its requests are in its steps."""
        return self.name.startswith("flow:")

    @property
    def flows(self) -> int:
        return int(self.counters[C_FLOWS])

    @property
    def throttled(self) -> int:
        return int(self.counters[C_THROTTLED])

    @property
    def checks(self) -> int:
        return int(self.counters[C_CHECKS])

    @property
    def check_failures(self) -> int:
        return int(self.counters[C_CHECK_FAILED])

    @property
    def errors_by_kind(self) -> dict[str, int]:
        return {k: int(self.counters[c]) for k, c in ERROR_COUNTERS.items()}

    @property
    def errors(self) -> int:
        """Transport errors: the request got no valid HTTP response."""
        return sum(self.errors_by_kind.values())

    @property
    def status(self) -> dict[str, int]:
        return {k: int(self.counters[c]) for k, c in STATUS_COUNTERS.items()}

    @property
    def http_errors(self) -> int:
        """4xx and 5xx responses, less the throttled ones (429, 503 + Retry-After)."""
        return int(self.counters[C_STATUS_4XX] + self.counters[C_STATUS_5XX] - self.counters[C_THROTTLED])

    @property
    def error_rate(self) -> float:
        """(transport errors + 4xx + 5xx) / attempts that ended (responses + transport errors)."""
        attempts = self.requests + self.errors
        return (self.errors + self.http_errors) / attempts if attempts else 0.0

    def latency(self) -> dict:
        return latency_summary(self.hists[H_LATENCY], self.counters)

    def service(self) -> dict:
        return latency_summary(self.hists[H_SERVICE])

    def summary(self, duration_s: float) -> dict:
        return {
            "name": self.name,
            "requests": self.requests,
            "rps": self.requests / duration_s if duration_s > 0 else 0.0,
            "sent": int(self.counters[C_SENT]),
            "errors": self.errors,
            "http_errors": self.http_errors,
            "error_rate": self.error_rate,
            "errors_by_kind": self.errors_by_kind,
            "throttled": self.throttled,
            "checks": self.checks,
            "check_failures": self.check_failures,
            "check_failure_rate": self.check_failures / self.checks if self.checks else 0.0,
            "flows": self.flows,
            "status": self.status,
            "bytes_in": int(self.counters[C_BYTES_IN]),
            "bytes_out": int(self.counters[C_BYTES_OUT]),
            "counters": {COUNTER_NAMES[i]: int(v) for i, v in enumerate(self.counters) if i in COUNTER_NAMES},
            "latency": self.latency(),
            "service": self.service(),
        }

    @classmethod
    def merged(cls, name: str, parts: list["EndpointResult"]) -> "EndpointResult":
        return cls(name, merge_counters(np.stack([p.counters for p in parts])),
                   _sum_hists([p.hists for p in parts]))


def _sum_hists(hist_list) -> np.ndarray:
    out = np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64)
    for h in hist_list:
        for i in range(N_HISTS):
            out[i] = histogram.merge(out[i], h[i])
    return out


@dataclass
class Result:
    plan: dict
    endpoints: list[EndpointResult]
    duration_s: float
    started_at: str
    series: list[dict] = field(default_factory=list)
    workers: list[dict] = field(default_factory=list)
    environment: dict = field(default_factory=dict)
    complete: bool = True
    interrupted: bool = False
    reasons: list[str] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)  # failed checks: endpoint, reason, failures
    verdicts: list[dict] = field(default_factory=list)  # threshold verdicts (driver.stats.thresholds)
    validity: dict = field(default_factory=dict)  # was the load generator itself fit (driver.stats.validity)
    aborted: dict | None = None  # a threshold marked abort ended the run: {"threshold", "t"}

    def totals(self) -> EndpointResult:
        """All request endpoints merged (flow endpoints left out: their requests are in their steps)."""
        parts = [e for e in self.endpoints if not e.is_flow] or self.endpoints
        if not parts:
            counters = np.zeros(N_COUNTERS, dtype=np.int64)
            counters[C_LAT_MIN_NS] = LAT_MIN_UNSET
            return EndpointResult("total", counters, np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64))
        return EndpointResult.merged("total", parts)

    def endpoint(self, name: str) -> EndpointResult:
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        raise KeyError(name)

    # -- JSON
    def to_dict(self) -> dict:
        eps = []
        for ep in self.endpoints:
            d = ep.summary(self.duration_s)
            d["histograms"] = {
                "latency": histogram.to_sparse(ep.hists[H_LATENCY]),
                "service": histogram.to_sparse(ep.hists[H_SERVICE]),
            }
            eps.append(d)
        return {
            "schema": SCHEMA,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "complete": self.complete,
            "interrupted": self.interrupted,
            "reasons": self.reasons,
            "checks": self.checks,
            "verdicts": self.verdicts,
            "validity": self.validity,
            "aborted": self.aborted,
            "totals": self.totals().summary(self.duration_s),
            "endpoints": eps,
            "series": self.series,
            "workers": self.workers,
            "plan": self.plan,
            "environment": self.environment,
        }

    def to_json(self) -> bytes:
        # compact: indenting spreads every histogram pair over four lines (3.5x the size)
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(self.to_json())
        tmp.replace(path)  # never a half-written result file
        return path

    @classmethod
    def from_dict(cls, data: dict) -> "Result":
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise DriverError("not a driver result (no 'schema': 'driver.result/1')")
        endpoints = []
        for ep in data["endpoints"]:
            counters = np.zeros(N_COUNTERS, dtype=np.int64)
            names = {v: k for k, v in COUNTER_NAMES.items()}
            for key, value in ep["counters"].items():
                counters[names[key]] = value
            hists = np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64)
            hists[H_LATENCY] = histogram.from_sparse(ep["histograms"]["latency"])
            hists[H_SERVICE] = histogram.from_sparse(ep["histograms"]["service"])
            endpoints.append(EndpointResult(ep["name"], counters, hists))
        return cls(
            plan=data.get("plan", {}), endpoints=endpoints, duration_s=data["duration_s"],
            started_at=data.get("started_at", ""), series=data.get("series", []),
            workers=data.get("workers", []), environment=data.get("environment", {}),
            complete=data.get("complete", True), interrupted=data.get("interrupted", False),
            reasons=data.get("reasons", []),
            checks=data.get("checks", []),
            verdicts=data.get("verdicts", []),
            validity=data.get("validity", {}),
            aborted=data.get("aborted"),
        )

    @classmethod
    def load(cls, path) -> "Result":
        try:
            data = orjson.loads(Path(path).read_bytes())
        except FileNotFoundError:
            raise DriverError(f"result file not found: {path}") from None
        except orjson.JSONDecodeError as exc:
            raise DriverError(f"{path}: not JSON ({exc})") from None
        try:
            return cls.from_dict(data)
        except DriverError as exc:
            raise DriverError(f"{path}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise DriverError(f"{path}: malformed driver result ({exc!r})") from None

    def merge(self, other: "Result") -> "Result":
        """Both runs as one: endpoints matched by name, counters and histograms added.

        The merged duration is the longer one (runs side by side, e.g. on two boxes).
        """
        by_name: dict[str, list[EndpointResult]] = {}
        for ep in [*self.endpoints, *other.endpoints]:
            by_name.setdefault(ep.name, []).append(ep)
        return Result(
            plan=self.plan,
            endpoints=[EndpointResult.merged(n, parts) for n, parts in by_name.items()],
            duration_s=max(self.duration_s, other.duration_s),
            started_at=min(self.started_at, other.started_at),
            series=[],
            workers=[*self.workers, *other.workers],
            environment=self.environment,
            complete=self.complete and other.complete,
            interrupted=self.interrupted or other.interrupted,
            reasons=[*self.reasons, *other.reasons],
            checks=_merge_checks(self.checks, other.checks),
        )


def _merge_checks(a: list[dict], b: list[dict]) -> list[dict]:
    total: dict[tuple[str, str], int] = {}
    for c in [*a, *b]:
        key = (c["endpoint"], c["reason"])
        total[key] = total.get(key, 0) + c["failures"]
    return [{"endpoint": e, "reason": r, "failures": n} for (e, r), n in sorted(total.items(), key=lambda kv: -kv[1])]
