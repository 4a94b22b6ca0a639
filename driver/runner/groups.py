"""The groups of a grouped run (`plan.groups`), seen from the parent: their blocks, their
per-second windows and live abort thresholds, and their part of the result (endpoints,
totals, series, threshold verdicts).

Blocks: each (worker, group) has a block of its own, sized for that group's endpoint
slots (a Python scenario's 64 slots are not imposed on a group of one request). The
first group records into the workers' own blocks (`SharedBlocks.blocks`), so everything
that reads a worker's status (phase, heartbeat, pid, CPU, lag) reads them as for a
single plan; the others' are `SharedBlocks.group_blocks[g - 1]`. Each block holds its
group's active users, in-flight work and connections. The parent reads every group's
blocks with that group's layout, each second and at the end (`GroupView`).

Endpoint names stay as each group records them (a `GROUP:` prefix would collide with
the name prefixes that classify endpoints: a group named `api` would make its
requests read as calls to a mock platform API, `flow:`/`job:` names would stop being
aggregates). The run's flat endpoints are merged by name over the groups (the whole
run by endpoint); each group's own, unambiguous, are in `Result.groups[NAME]`.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from driver.layout import C_REQUESTS, STATUS_LEN, BlockLayout
from driver.plan import Group, Plan
from driver.stats.endpoint import EndpointResult, total_of
from driver.stats.result import Result
from driver.stats.thresholds import AbortWatch, evaluate
from driver.stats.window import Window, merge_blocks, window

__all__ = ["normalised", "group_layouts", "GroupView", "group_series"]


def normalised(plan: Plan) -> Plan:
    """A grouped plan whose groups run on its workers (config files make them so; a plan
    built by hand may not)."""
    if not plan.groups or all(g.plan.workers == plan.workers for g in plan.groups):
        return plan
    return dataclasses.replace(plan, groups=tuple(
        dataclasses.replace(g, plan=dataclasses.replace(g.plan, workers=plan.workers)) for g in plan.groups))


def group_layouts(plan: Plan) -> tuple[BlockLayout, ...]:
    """The block layouts of the groups after the first (SharedBlocks' `groups`)."""
    return tuple(BlockLayout(g.plan.endpoint_slots) for g in plan.groups[1:])


class GroupView:
    """The groups of one run: snapshots of their blocks, windows every second, results at the end."""

    def __init__(self, plan: Plan, shm):
        self.plan = plan
        self.shm = shm
        self.groups: tuple[Group, ...] = plan.groups
        self.layouts = [BlockLayout(g.plan.endpoint_slots) for g in self.groups]
        self.watches = [AbortWatch(g.plan.thresholds) for g in self.groups]
        self.aborted: dict | None = None
        self.prev = self.snapshot()
        self.final: list[tuple[list[EndpointResult], list[dict]]] = []
        self.requests: list[list[int]] = []

    def _blocks(self, g: int) -> list:
        return self.shm.blocks[: self.plan.workers] if g == 0 else self.shm.group_blocks[g - 1]

    def _tables(self, g: int) -> list:
        names = self.shm.names[: self.plan.workers] if g == 0 else self.shm.group_names[g - 1]
        return [t.array for t in names]

    def snapshot(self) -> list[np.ndarray]:
        """A copy of every group's blocks: one (workers, its layout's length) array per group."""
        return [np.stack([b.array.copy() for b in self._blocks(g)]) for g in range(len(self.groups))]

    def moved(self) -> bool:
        """Whether any group recorded something since the last window."""
        return any((s[:, STATUS_LEN:] != p[:, STATUS_LEN:]).any() for s, p in zip(self.snapshot(), self.prev))

    # -- every second
    def windows(self, t: float, prev_t: float) -> dict[str, Window]:
        """Each group's window since the last call."""
        snap = self.snapshot()
        out = {group.name: window(self.prev[g], snap[g], self._tables(g), self.layouts[g], t, prev_t)
               for g, group in enumerate(self.groups)}
        self.prev = snap
        return out

    @staticmethod
    def whole(base: Window, windows: dict[str, Window]) -> Window:
        """The run's window from its groups' (rows added by name); the workers' own figures
        (CPU, lag) from `base`, the window of their own blocks."""
        by_name: dict[str, list[EndpointResult]] = {}
        for w in windows.values():
            for r in w.rows:
                by_name.setdefault(r.name, []).append(r)
        rows = tuple(sorted((EndpointResult.merged(n, parts) if len(parts) > 1 else parts[0]
                             for n, parts in by_name.items()), key=lambda r: (-r.count, r.name)))
        return dataclasses.replace(
            base, rows=rows, total=total_of(list(rows)), groups=windows,
            active_users=sum(w.active_users for w in windows.values()),
            in_flight=sum(w.in_flight for w in windows.values()),
            connections=sum(w.connections for w in windows.values()))

    def watch(self, windows: dict[str, Window]) -> dict | None:
        """A group's abort threshold broken for its grace: {"threshold": "GROUP: text", "t", "group"}."""
        if self.aborted is not None:
            return None
        for group, watch in zip(self.groups, self.watches):
            win = windows.get(group.name)
            hit = watch.update(win) if win is not None else None
            if hit is not None:
                self.aborted = {**hit, "threshold": f"{group.name}: {hit['threshold']}", "group": group.name}
                return self.aborted
        return None

    # -- at the end
    def endpoints(self) -> tuple[list[EndpointResult], list[dict]]:
        """The run's endpoints (every group's, merged by name, in the plan's order) and failed
        checks, from a last snapshot of every group's blocks."""
        snap = self.snapshot()
        self.final = [merge_blocks(snap[g], self._tables(g), self.layouts[g], known=group.plan.endpoints)
                      for g, group in enumerate(self.groups)]
        # each worker's responses in each group's block: [group][worker]
        self.requests = [[int(self.layouts[g].views(row)[1][:, C_REQUESTS].sum()) for row in snap[g]]
                         for g in range(len(self.groups))]
        by_name: dict[str, list[EndpointResult]] = {}
        for eps, _ in self.final:
            for ep in eps:
                by_name.setdefault(ep.name, []).append(ep)
        endpoints = [EndpointResult.merged(n, by_name[n]) for n in dict.fromkeys([*self.plan.endpoints, *by_name])
                     if n in by_name]
        failed: dict[tuple[str, str], int] = {}
        for _, checks in self.final:
            for c in checks:
                failed[(c["endpoint"], c["reason"])] = failed.get((c["endpoint"], c["reason"]), 0) + c["failures"]
        checks = [{"endpoint": e, "reason": r, "failures": n}
                  for (e, r), n in sorted(failed.items(), key=lambda kv: -kv[1])]
        return endpoints, checks

    def worker_requests(self, i: int) -> int:
        """Worker i's responses over all its groups' blocks (after `endpoints`)."""
        return sum(per_worker[i] for per_worker in self.requests)

    def worker_status(self, i: int, key: int) -> int:
        """A status figure of worker i added over its groups' blocks (iterations, connections)."""
        return sum(int(self._blocks(g)[i].array[key]) for g in range(len(self.groups)))

    def results(self, run: Result) -> dict[str, Result]:
        """Each group's part of the run's Result (after `endpoints`): its endpoints and failed
        checks, its span (from its start to its end or the run's), its series, its
        thresholds' verdicts."""
        described = run.plan.get("groups") or []
        out: dict[str, Result] = {}
        for g, group in enumerate(self.groups):
            endpoints, checks = self.final[g]
            end = run.duration_s if group.end_s is None else min(run.duration_s, group.end_s)
            sub = Result(
                plan=described[g] if g < len(described) else {"name": group.name},
                endpoints=endpoints,
                duration_s=max(0.0, end - group.start_s),
                started_at=run.started_at,
                series=group_series(run.series, group.name),
                complete=run.complete,
                interrupted=run.interrupted,
                interrupted_by=run.interrupted_by,
                reasons=list(run.reasons),
                checks=checks,
            )
            sub.verdicts = [{**v, "group": group.name} for v in evaluate(group.plan.thresholds, sub)]
            out[group.name] = sub
        return out


def group_series(series: list[dict], name: str) -> list[dict]:
    """A group's per-second points, out of the run's (each point's `groups` entry)."""
    return [{"t": p["t"], **p["groups"][name]} for p in series if name in (p.get("groups") or {})]
