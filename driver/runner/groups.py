"""The groups of a grouped run (`plan.groups`), seen from the parent: which blocks are
each group's, its per-second windows and live abort thresholds, and its part of the
result (endpoints, totals, series, threshold verdicts).

Blocks: a grouped run has one block per (worker, group), group-major: group g of
worker i is block g * workers + i (a grouped run has no bot-side block). Group 0's
blocks are the workers' own, so everything that reads a worker's status (phase,
heartbeat, pid, CPU, lag) reads rows 0..workers-1 as for a single plan; each block
holds its group's active users, in-flight work and connections.

Endpoint names stay as each group records them (a `GROUP:` prefix would collide with
the name prefixes that classify endpoints: a group named `api` would make its
requests read as calls to a mock platform API, `flow:`/`job:` names would stop being
aggregates). The run's flat endpoints are merged by name over the groups (the whole
run by endpoint); each group's own, unambiguous, are in `Result.groups[NAME]`.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from driver.plan import Group, Plan
from driver.stats.result import Result
from driver.stats.thresholds import AbortWatch, evaluate
from driver.stats.window import Window, merge_blocks, window

__all__ = ["n_blocks", "block_index", "normalised", "GroupView"]


def normalised(plan: Plan) -> Plan:
    """A grouped plan whose groups share the run's block layout (every group as many
    endpoint slots as the largest: their name tables are read with one layout) and its
    workers. Config files make them so; a plan built by hand may not."""
    if not plan.groups:
        return plan
    slots = plan.endpoint_slots
    groups = tuple(g if (g.plan.endpoint_slots, g.plan.workers) == (slots, plan.workers) else
                   dataclasses.replace(g, plan=dataclasses.replace(g.plan, min_slots=slots, workers=plan.workers))
                   for g in plan.groups)
    return dataclasses.replace(plan, groups=groups)


def n_blocks(plan: Plan) -> int:
    """Stats blocks of the workers: one per (worker, group)."""
    return plan.workers * max(1, len(plan.groups))


def block_index(plan: Plan, worker: int, group: int) -> int:
    return group * plan.workers + worker


class GroupView:
    """The groups of one run: windows every second, results at the end."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.groups: tuple[Group, ...] = plan.groups
        self.watches = [AbortWatch(g.plan.thresholds) for g in self.groups]
        self.aborted: dict | None = None

    def _rows(self, g: int) -> slice:
        w = self.plan.workers
        return slice(g * w, (g + 1) * w)

    def windows(self, prev: np.ndarray, snap: np.ndarray, tables, layout, t: float, prev_t: float
                ) -> dict[str, Window]:
        """Each group's window between two snapshots."""
        out = {}
        for g, group in enumerate(self.groups):
            rows = self._rows(g)
            out[group.name] = window(prev[rows], snap[rows], tables[rows], layout, t, prev_t)
        return out

    def watch(self, windows: dict[str, Window]) -> dict | None:
        """A group's abort threshold broken for its grace: {"threshold": "GROUP: text", "t"}."""
        if self.aborted is not None:
            return None
        for group, watch in zip(self.groups, self.watches):
            win = windows.get(group.name)
            hit = watch.update(win) if win is not None else None
            if hit is not None:
                self.aborted = {**hit, "threshold": f"{group.name}: {hit['threshold']}", "group": group.name}
                return self.aborted
        return None

    def results(self, snap: np.ndarray, tables, layout, run: Result) -> dict[str, Result]:
        """Each group's part of the run's Result: its endpoints and failed checks, its span
        (from its start to its end or the run's), its series, its thresholds' verdicts."""
        described = run.plan.get("groups") or []
        out: dict[str, Result] = {}
        for g, group in enumerate(self.groups):
            rows = self._rows(g)
            endpoints, checks = merge_blocks(snap[rows], tables[rows], layout, known=group.plan.endpoints)
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
