"""Worker blocks -> numbers: a per-second Window from two snapshots, a Result's endpoints
from the final one. Pure: arrays in, objects out; no I/O, no processes.

A snapshot is a (workers, block length) int64 array of every worker's block (layout
driver.layout.BlockLayout); `tables` are the workers' name tables (slot -> endpoint
name, failed checks). Workers may give a name met at run time different slots, so
endpoints are merged by name. Every slot only grows, so the difference of two
snapshots is what happened between them — except the latency minimum and maximum,
which a window does not know (its percentiles come from its histograms alone).

The window's rows and total are EndpointResults: the live view and live thresholds
read them with the same accessors (error_rate, percentile, rate...) as the final
Result. `Window.point()` is its entry in Result.series (JSON); `point_failures`,
`point_attempts` and `point_error_rate` read such a saved point back.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from driver.layout import (
    C_BYTES_IN,
    C_LAT_MAX_NS,
    C_LAT_MIN_NS,
    C_MESSAGES,
    C_SENT,
    C_REQUESTS,
    LAT_MIN_UNSET,
    N_COUNTERS,
    ST_ACTIVE_USERS,
    ST_CONNECTIONS,
    ST_CPU_NS,
    ST_IN_FLIGHT,
    ST_LAG_SAMPLES,
    ST_LAG_SUM_NS,
    STATUS_LEN,
    BlockLayout,
    read_names,
)
from driver.stats.endpoint import ERROR_COLUMNS, EndpointResult, error_rate, is_reply, total_of

__all__ = ["Window", "ProcessSample", "window", "merge_blocks", "point_attempts", "point_failures", "point_error_rate"]

# every counter but the latency extremes, which are merged with min/max and do not subtract
_ACTIVITY = [c for c in range(N_COUNTERS) if c not in (C_LAT_MIN_NS, C_LAT_MAX_NS)]


@dataclass(frozen=True)
class ProcessSample:
    """One second of a watched process (driver.runner.watch): memory, CPU, fds, threads."""

    rss_bytes: int
    cpu: float | None = None  # share of one core since the previous sample (1.0: a whole core)
    fds: int | None = None  # open file descriptors (None where the OS does not say)
    threads: int | None = None

    def point(self) -> dict:
        return {"rss_bytes": self.rss_bytes, "cpu": None if self.cpu is None else round(self.cpu, 4),
                "fds": self.fds, "threads": self.threads}


@dataclass(frozen=True, eq=False)
class Window:
    """What happened in the `dt` seconds before `t` (seconds since the start of the load)."""

    t: float
    dt: float
    rows: tuple[EndpointResult, ...]  # endpoints active in the window, largest count first
    total: EndpointResult  # driver.stats.endpoint.total_of(rows)
    active_users: int = 0  # at the end of the window, all workers
    in_flight: int = 0
    connections: int = 0
    cpu_max: float = 0.0  # the busiest worker's CPU share of the window (1.0: a whole core)
    lag_mean_ns: int = 0  # the worst worker's mean event-loop lag over the window
    watch: dict[int, ProcessSample] = field(default_factory=dict)  # --watch-pid: pid -> its sample at `t`
    driver_rss: dict[str, int] = field(default_factory=dict)  # driver's own RSS (bytes): "parent", "worker N"
    metrics: dict[str, float | None] = field(default_factory=dict)  # --metrics-url: series -> last value
    groups: dict[str, "Window"] = field(default_factory=dict)  # a grouped run: each group's window

    def row(self, name: str) -> EndpointResult | None:
        return next((r for r in self.rows if r.name == name), None)

    @property
    def rps(self) -> float:
        return self.total.rate(self.dt) or 0.0

    def point(self) -> dict:
        """The window as an entry of Result.series: plain numbers (JSON)."""
        tot = self.total
        return {
            "t": round(self.t, 3),
            "requests": tot.count,
            "rps": self.rps,
            "errors": tot.errors,
            "http_errors": tot.http_errors,
            "throttled": tot.throttled,
            "check_failures": tot.check_failures,
            "bytes_in": int(tot.counters[C_BYTES_IN]),
            **{key: tot.percentile(p) for key, p in (("p50_ns", 50), ("p90_ns", 90), ("p95_ns", 95),
                                                    ("p99_ns", 99))},
            "active_users": self.active_users,
            "in_flight": self.in_flight,
            "connections": self.connections,
            "late": tot.late,
            "dropped": tot.dropped,
            "unfinished": tot.unfinished,
            "cpu_max": round(self.cpu_max, 4),
            "lag_mean_ns": self.lag_mean_ns,
            **self._bot_side(),
            **({"watch": {str(pid): s.point() for pid, s in self.watch.items()}} if self.watch else {}),
            **({"driver_rss": dict(self.driver_rss)} if self.driver_rss else {}),
            **({"metrics": dict(self.metrics)} if self.metrics else {}),
            **({"groups": {name: w.group_point() for name, w in self.groups.items()}} if self.groups else {}),
        }

    def group_point(self) -> dict:
        """A group's window as its entry in a point's `groups`: its own figures, no more."""
        tot = self.total
        return {
            "requests": tot.count,
            "rps": self.rps,
            "errors": tot.errors,
            "http_errors": tot.http_errors,
            "check_failures": tot.check_failures,
            "p50_ns": tot.percentile(50),
            "p99_ns": tot.percentile(99),
            "active_users": self.active_users,
            "in_flight": self.in_flight,
            "connections": self.connections,
            "late": tot.late,
            "dropped": tot.dropped,
            "unfinished": tot.unfinished,
        }

    def _bot_side(self) -> dict:
        """The bot side's figures of the window (runs with a mock): the replies to
        driver's updates (`reply:*` rows together) and the bot's calls to the mock
        (`api:*`). `missing` is counted when the reply timeout passes, so it belongs
        to the updates sent that long before."""
        replies = [r for r in self.rows if is_reply(r.name)]
        api = [r for r in self.rows if r.name.startswith("api:")]
        out = {}
        if replies:
            both = EndpointResult.merged("replies", replies)
            out["replies"] = {"tracked": both.sent, "replied": both.flows,
                              "missing": both.errors_by_kind["reply_missing"],
                              "check_failures": both.check_failures, "p99_ns": both.percentile(99)}
        if api:
            calls = EndpointResult.merged("api", api)
            ok = calls.status["2xx"]
            out["api"] = {"calls": calls.requests + calls.errors, "ok": ok,
                          "failed": calls.requests + calls.errors - ok}
        return out

    def merged(self, later: "Window") -> "Window":
        """This window and the one right after it as one window (rows added by name)."""
        by_name: dict[str, list[EndpointResult]] = {}
        for r in (*self.rows, *later.rows):
            by_name.setdefault(r.name, []).append(r)
        rows = _ordered(EndpointResult.merged(n, parts) for n, parts in by_name.items())
        total = EndpointResult.merged(self.total.name, [self.total, later.total])  # a total is additive
        total.arrival_count = self.total.arrivals + later.total.arrivals
        return Window(later.t, self.dt + later.dt, rows, total, later.active_users,
                      later.in_flight, later.connections, max(self.cpu_max, later.cpu_max),
                      max(self.lag_mean_ns, later.lag_mean_ns), later.watch or self.watch,
                      later.driver_rss or self.driver_rss, later.metrics or self.metrics,
                      {name: self.groups[name].merged(w) if name in self.groups else w
                       for name, w in later.groups.items()})


def _ordered(rows) -> tuple[EndpointResult, ...]:
    return tuple(sorted(rows, key=lambda r: (-r.count, r.name)))


def _named_slots(tables, layout: BlockLayout, workers: int):
    """(worker, slot, endpoint name) of every named slot of every worker."""
    for i in range(workers):
        for slot, name in enumerate(read_names(tables[i], layout.n_endpoints)[0]):
            if name:
                yield i, slot, name


def _differences(prev: np.ndarray, snap: np.ndarray, tables, layout: BlockLayout) -> dict[str, list]:
    """{name: [counters, histograms]} of what moved between two snapshots, summed over the
    workers. Slots whose counters did not move are left out and their histograms (most
    of a block) never read."""
    out: dict[str, list] = {}
    views = [(layout.views(p), layout.views(s)) for p, s in zip(prev, snap)]
    for i, slot, name in _named_slots(tables, layout, len(snap)):
        (_, c0, h0), (_, c1, h1) = views[i]
        c = c1[slot] - c0[slot]
        if not c[_ACTIVITY].any():
            continue
        acc = out.get(name)
        if acc is None:
            out[name] = acc = [np.zeros_like(c), np.zeros_like(h1[slot])]
        acc[0] += c
        acc[1] += h1[slot]
        acc[1] -= h0[slot]
    return out


def window(prev: np.ndarray, snap: np.ndarray, tables, layout: BlockLayout, t: float, prev_t: float) -> Window:
    """The Window between two snapshots taken at `prev_t` and `t` seconds."""
    rows = []
    for name, (c, h) in _differences(prev, snap, tables, layout).items():
        c[C_LAT_MIN_NS], c[C_LAT_MAX_NS] = LAT_MIN_UNSET, 0  # unknown within a window
        rows.append(EndpointResult(name, c, h))
    rows = _ordered(rows)
    dt = t - prev_t
    status = snap[:, :STATUS_LEN]
    dstatus = status - prev[:, :STATUS_LEN]
    cpu = [float(x) / 1e9 / dt if dt > 0 else 0.0 for x in dstatus[:, ST_CPU_NS]]
    lag = [int(s // n) if n else 0 for s, n in zip(dstatus[:, ST_LAG_SUM_NS], dstatus[:, ST_LAG_SAMPLES])]
    return Window(
        t=t, dt=dt, rows=rows, total=total_of(list(rows)),
        active_users=int(status[:, ST_ACTIVE_USERS].sum()),
        in_flight=int(status[:, ST_IN_FLIGHT].sum()),
        connections=int(status[:, ST_CONNECTIONS].sum()),
        cpu_max=max(cpu, default=0.0),
        lag_mean_ns=max(lag, default=0),
    )


def merge_blocks(snap: np.ndarray, tables, layout: BlockLayout, known=()) -> tuple[list[EndpointResult], list[dict]]:
    """A run's endpoints and failed checks from the final snapshot, merged by name.

    `known`: the plan's endpoint names, which come first in their order and stay even
    when unused; other names follow as met, unless their slot was never used.
    Checks: [{"endpoint", "reason", "failures"}], most failures first.
    """
    grouped: dict[str, list[EndpointResult]] = {}
    for i, slot, name in _named_slots(tables, layout, len(snap)):
        _, counters, hists = layout.views(snap[i])
        grouped.setdefault(name, []).append(EndpointResult(name, counters[slot], hists[slot]))
    endpoints = []
    for name in dict.fromkeys([*known, *grouped]):
        if name not in grouped:
            continue
        merged = EndpointResult.merged(name, grouped[name])  # counters added (min/max merged), histograms checked
        if name not in known and not merged.counters[[C_SENT, C_REQUESTS, C_MESSAGES, *ERROR_COLUMNS]].any():
            continue  # a slot named but never used ("other")
        endpoints.append(merged)
    failed: dict[tuple[str, str], int] = {}
    for i in range(len(snap)):
        names, checks = read_names(tables[i], layout.n_endpoints)
        for slot, reason, n in checks:
            key = (names[slot] if slot < len(names) else "?", reason)
            failed[key] = failed.get(key, 0) + n
    checks = [{"endpoint": ep, "reason": reason, "failures": n}
              for (ep, reason), n in sorted(failed.items(), key=lambda kv: -kv[1])]
    return endpoints, checks


# -- a saved point (Result.series) read back --------------------------------------------


def point_attempts(point: dict) -> int:
    return point.get("requests", 0) + point.get("errors", 0)


def point_failures(point: dict) -> int:
    return point.get("errors", 0) + point.get("http_errors", 0)


def point_error_rate(point: dict) -> float | None:
    return error_rate(point.get("requests", 0), point.get("errors", 0), point.get("http_errors", 0))
