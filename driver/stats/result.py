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
from driver.layout import COUNTER_NAMES, COUNTS_LEN, H_LATENCY, H_SERVICE, N_COUNTERS, N_HISTS
from driver.stats.endpoint import (  # noqa: F401 - EndpointResult and its helpers are part of this module's API
    INT64_MAX,
    PERCENTILES,
    EndpointResult,
    is_aggregate,
    latency_summary,
    merge_counters,
    total_of,
)

SCHEMA = "driver.result/1"


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
    interrupted_by: str | None = None  # "SIGINT" (Ctrl-C) or "SIGTERM"
    reasons: list[str] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)  # failed checks: endpoint, reason, failures
    verdicts: list[dict] = field(default_factory=list)  # threshold verdicts (driver.stats.thresholds)
    validity: dict = field(default_factory=dict)  # was the load generator itself fit (driver.stats.validity)
    aborted: dict | None = None  # a threshold marked abort ended the run: {"threshold", "t"}
    notes: list[str] = field(default_factory=list)  # what happened beside the load (a watched process exited)
    leak: dict = field(default_factory=dict)  # memory slopes after warm-up (driver.stats.leak.leak_verdicts)
    chaos: list = field(default_factory=list)  # per chaos event: recovery and breaker (driver.chaos.analysis)
    capacity: dict = field(default_factory=dict)  # find-capacity: steps, verdicts, answer (driver.stats.capacity)
    # a grouped run (a config's scenarios:): each group's part, a Result of its own: its
    # endpoints, span, series (its entries of the run's points), checks and verdicts
    groups: dict[str, "Result"] = field(default_factory=dict)
    checkpoint: dict = field(default_factory=dict)  # a soak checkpoint's {"t", "written_at"} (driver.runner.checkpoint)

    def totals(self) -> EndpointResult:
        """The whole run as one endpoint (driver.stats.endpoint.total_of): aggregate endpoints
        (flows, iterations) add their errors and arrivals, not their requests or latency."""
        return total_of(self.endpoints)

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
            "interrupted_by": self.interrupted_by,
            "reasons": self.reasons,
            "checks": self.checks,
            "verdicts": self.verdicts,
            "validity": self.validity,
            "aborted": self.aborted,
            "notes": self.notes,
            "leak": self.leak,
            "chaos": self.chaos,
            **({"capacity": self.capacity} if self.capacity else {}),
            **({"groups": {name: sub.to_dict() for name, sub in self.groups.items()}} if self.groups else {}),
            **({"checkpoint": self.checkpoint} if self.checkpoint else {}),
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
            interrupted_by=data.get("interrupted_by"),
            reasons=data.get("reasons", []),
            checks=data.get("checks", []),
            verdicts=data.get("verdicts", []),
            validity=data.get("validity", {}),
            aborted=data.get("aborted"),
            notes=data.get("notes", []),
            leak=data.get("leak", {}),
            chaos=data.get("chaos", []),
            capacity=data.get("capacity") or {},
            groups={name: cls.from_dict(sub) for name, sub in (data.get("groups") or {}).items()},
            checkpoint=data.get("checkpoint") or {},
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
            interrupted_by=self.interrupted_by or other.interrupted_by,
            reasons=[*self.reasons, *other.reasons],
            checks=_merge_checks(self.checks, other.checks),
            notes=[*self.notes, *other.notes],
            leak={k: {**self.leak.get(k, {}), **other.leak.get(k, {})} for k in {*self.leak, *other.leak}},
            chaos=[*self.chaos, *other.chaos],  # each run's own analysis: their series are not merged
            # groups matched by name; a group only one run had stays as it was
            groups={name: (self.groups[name].merge(other.groups[name])
                           if name in self.groups and name in other.groups
                           else self.groups.get(name) or other.groups[name])
                    for name in dict.fromkeys([*self.groups, *other.groups])},
        )


def _merge_checks(a: list[dict], b: list[dict]) -> list[dict]:
    total: dict[tuple[str, str], int] = {}
    for c in [*a, *b]:
        key = (c["endpoint"], c["reason"])
        total[key] = total.get(key, 0) + c["failures"]
    return [{"endpoint": e, "reason": r, "failures": n} for (e, r), n in sorted(total.items(), key=lambda kv: -kv[1])]
