"""The result of an in-process load run inside a test (driver.runner.inline): plain
attributes to `assert` on, and `assert_*` helpers whose failures say what was expected,
what came, and the whole load's figures (with the top allocation sites when memory is
what failed).

Latencies are in seconds (floats), rates are fractions (0.25 is 25%), memory in bytes
(`*_mb` in MiB). Outcomes: `success` (ok), `rejected` (an expected refusal), `errors`
(exceptions, timeouts, calls unfinished at the end); `calls` are the calls started.
"""
from __future__ import annotations

from driver.layout import C_ERR_REQUEST_TIMEOUT, C_STATUS_2XX, C_STATUS_5XX, C_UNFINISHED
from driver.runner.memory import MIB, Memory
from driver.stats.endpoint import EndpointResult
from driver.stats.result import Result

LATENCY_KEYS = (("min", "min_ns"), ("mean", "mean_ns"), ("p50", "p50_ns"), ("p90", "p90_ns"), ("p95", "p95_ns"),
                ("p99", "p99_ns"), ("max", "max_ns"))


class Stats:
    """The figures of one endpoint (or the whole load) of an in-process run."""

    def __init__(self, ep: EndpointResult, duration_s: float, errors_by_kind: dict[str, int]):
        self.name = ep.name
        self.duration_s = duration_s
        self.calls = ep.sent
        self.success = int(ep.counters[C_STATUS_2XX])
        self.rejected = ep.throttled
        timeouts, unfinished = int(ep.counters[C_ERR_REQUEST_TIMEOUT]), int(ep.counters[C_UNFINISHED])
        self.errors = int(ep.counters[C_STATUS_5XX]) + timeouts + unfinished
        self.errors_by_kind = dict(errors_by_kind)
        if timeouts:
            self.errors_by_kind["request_timeout"] = timeouts
        if unfinished:
            self.errors_by_kind["unfinished"] = unfinished
        lat = ep.latency()
        for attr, key in LATENCY_KEYS:
            value = lat.get(key)
            setattr(self, attr, None if value is None else value / 1e9)

    def _share(self, n: int) -> float:
        return n / self.calls if self.calls else 0.0

    @property
    def success_rate(self) -> float:
        return self._share(self.success)

    @property
    def rejected_rate(self) -> float:
        return self._share(self.rejected)

    @property
    def error_rate(self) -> float:
        return self._share(self.errors)

    @property
    def throughput(self) -> float:
        """Calls that ended (any outcome) per second of the load."""
        return (self.success + self.rejected + self.errors) / self.duration_s if self.duration_s else 0.0

    @property
    def success_per_s(self) -> float:
        return self.success / self.duration_s if self.duration_s else 0.0

    def latency_line(self) -> str:
        if self.p50 is None:
            return "latency  (no call ended)"
        return "latency  " + "  ".join(f"{attr} {_ms(getattr(self, attr))}" for attr, _ in LATENCY_KEYS)

    def outcome_line(self) -> str:
        return (f"success {self.success} ({self.success_rate:.1%})  rejected {self.rejected} "
                f"({self.rejected_rate:.1%})  errors {self.errors} ({self.error_rate:.1%})")

    def to_dict(self) -> dict:
        return {"name": self.name, "calls": self.calls, "success": self.success, "rejected": self.rejected,
                "errors": self.errors, "errors_by_kind": self.errors_by_kind, "success_rate": self.success_rate,
                "rejected_rate": self.rejected_rate, "error_rate": self.error_rate,
                "throughput": self.throughput, "success_per_s": self.success_per_s,
                **{attr: getattr(self, attr) for attr, _ in LATENCY_KEYS}}


class LoadResult(Stats):
    """The whole load: Stats over every endpoint, `endpoints` by name, `memory`, `notes`,
    and the driver Result (`result`: thresholds' verdicts, validity, the series)."""

    def __init__(self, result: Result, memory: Memory | None, label: str = "load"):
        per_kind: dict[str, dict[str, int]] = {}
        for check in result.checks:
            per_kind.setdefault(check["endpoint"], {})[check["reason"]] = check["failures"]
        super().__init__(result.totals(), result.duration_s,
                         {k: v for kinds in per_kind.values() for k, v in kinds.items()})
        self.name = label
        self.result = result
        self.memory = memory
        self.notes = list(result.notes) + list(result.reasons)
        self.endpoints = {ep.name: Stats(ep, result.duration_s, per_kind.get(ep.name, {}))
                          for ep in result.endpoints}

    def endpoint(self, name: str) -> Stats:
        return self.endpoints[name]

    # -- text
    def report(self) -> str:
        lines = [f"{self.name}: {self.calls} calls in {self.duration_s:.3f} s "
                 f"({self.throughput:.1f} calls/s, {self.success_per_s:.1f} ok/s)",
                 "  " + self.outcome_line(), "  " + self.latency_line()]
        if len(self.endpoints) > 1:
            for ep in self.endpoints.values():
                lines.append(f"  [{ep.name}] {ep.calls} calls, {ep.outcome_line()}; {ep.latency_line()}")
        if self.memory is not None:
            lines.append("  memory   " + self.memory.describe())
        for kind, n in sorted(self.errors_by_kind.items(), key=lambda kv: -kv[1])[:10]:
            lines.append(f"  error    {kind}: {n}")
        lines += [f"  note     {note}" for note in self.notes]
        lines += [f"  threshold {v['threshold']}: {'ok' if v['passed'] else 'FAILED'}" for v in self.result.verdicts]
        return "\n".join(lines)

    __str__ = report

    def to_dict(self) -> dict:
        return {**super().to_dict(), "duration_s": self.duration_s, "notes": self.notes,
                "memory": None if self.memory is None else self.memory.to_dict(),
                "endpoints": {k: v.to_dict() for k, v in self.endpoints.items()}}

    # -- assertions
    def _fail(self, message: str, memory: bool = False) -> None:
        text = f"{message}\n{self.report()}"
        if memory and self.memory is not None and self.memory.top:
            text += "\n  top allocation sites (growth during the load):\n" + "\n".join(
                f"    {site}" for site in self.memory.top)
        raise AssertionError(text)

    def assert_counts(self, success: int | None = None, rejected: int | None = None,
                      errors: int | None = None) -> None:
        """Exact outcome counts (None: not checked)."""
        got = {"success": self.success, "rejected": self.rejected, "errors": self.errors}
        wrong = [f"{k} {got[k]} (expected {v})" for k, v in
                 (("success", success), ("rejected", rejected), ("errors", errors)) if v is not None and got[k] != v]
        if wrong:
            self._fail("outcome counts: " + ", ".join(wrong))

    def assert_no_errors(self) -> None:
        if self.errors:
            self._fail(f"{self.errors} calls failed (expected none)")

    def assert_percentile_below(self, p: str, seconds: float) -> None:
        value = getattr(self, p)
        if value is None or value >= seconds:
            self._fail(f"{p} {_ms(value)} is not below {_ms(seconds)}")

    def assert_p50_below(self, seconds: float) -> None:
        self.assert_percentile_below("p50", seconds)

    def assert_p95_below(self, seconds: float) -> None:
        self.assert_percentile_below("p95", seconds)

    def assert_p99_below(self, seconds: float) -> None:
        self.assert_percentile_below("p99", seconds)

    def assert_success_rate_at_least(self, fraction: float) -> None:
        if self.success_rate < fraction:
            self._fail(f"success rate {self.success_rate:.1%} is below {fraction:.1%}")

    def assert_throughput_above(self, per_s: float, of: str = "success") -> None:
        """Successful calls per second (of="success") or calls ended per second (of="calls")."""
        value = self.success_per_s if of == "success" else self.throughput
        if value <= per_s:
            self._fail(f"throughput ({of}) {value:.2f}/s is not above {per_s:g}/s")

    def assert_memory_growth_below(self, mb: float) -> None:
        """What the load left allocated (tracemalloc's growth when traced, else RSS's), in MiB."""
        if self.memory is None:
            raise AssertionError("memory was not tracked (memory=False)")
        if self.memory.growth >= mb * MIB:
            self._fail(f"memory growth {self.memory.growth_mb:.2f} MiB is not below {mb:g} MiB", memory=True)

    def assert_thresholds(self) -> None:
        """Every threshold given (driver's SLO texts, e.g. 'p95<5s') held."""
        broken = [v for v in self.result.verdicts if not v["passed"]]
        if broken:
            self._fail("thresholds broken: " + ", ".join(f"{v['threshold']} (got {v['value']})"
                                                         for v in broken))


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.3f} ms" if seconds < 1 else f"{seconds:.3f} s"
