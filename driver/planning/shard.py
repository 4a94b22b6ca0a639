"""Shards: one plan run on several boxes, each box one slice, merged exactly afterwards.

`driver run ... --shard i/N --start-at TIME` on box i (1-based, as `--shard 2/3`) runs
slice i of N. The split is the one the workers of one box already use, stretched over
the cluster: the cluster is N x workers workers with global indices, box i's workers
being (i-1)*workers ... i*workers-1. So open-loop arrival k goes to global worker
k mod (N*workers) and to no other (driver.engine.pacers.OpenPacer), closed-loop users,
the in-flight cap and a request count are split as `driver.shapes.split` splits them,
and the shards together send exactly the plan. Every box must run the same plan with
the same number of workers (`-w`): the plan's fingerprint (driver.plan.fingerprint, in
the result's plan.shard) says so, and `driver merge` checks it.

`--start-at` is an agreed wall-clock time (ISO 8601, or unix seconds): every box starts
its load then, so their seconds line up (as far as their clocks agree).
"""
from __future__ import annotations

import dataclasses
import re
import time
import warnings
from datetime import datetime, timezone

from driver.errors import PlanError, PlanWarning
from driver.stats.result import Result

__all__ = ["parse_shard", "parse_start_at", "with_shard", "worker_span", "start_at_ns", "check_shards",
           "merge_results", "MAX_AHEAD_S"]

MAX_AHEAD_S = 24 * 3600.0  # a start further ahead is a typo, not a plan
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def _sorted(values) -> list:
    """Shard indexes and fingerprints in order, whatever a hand-edited file holds."""
    return sorted(values, key=lambda v: (0, v, "") if isinstance(v, int) else (1, 0, str(v)))


def parse_shard(text: str) -> tuple[int, int]:
    """'i/N' (1 <= i <= N) -> (i, N); PlanError at --shard otherwise."""
    m = _SHARD.match(str(text))
    if not m:
        raise PlanError(f"--shard {text!r}: expected i/N, as 1/2 (this box runs slice i of N)", flag="--shard")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise PlanError(f"--shard {text!r}: i must be 1..N and N at least 1", flag="--shard")
    return i, n


def parse_start_at(text: str, now: float | None = None) -> float:
    """An agreed start: unix seconds ("1764504000") or ISO 8601 ("2026-11-30T14:00:00Z";
    without an offset it is UTC) -> epoch seconds. In the past, or more than 24 h ahead:
    PlanError at --start-at."""
    now = time.time() if now is None else now
    text = str(text).strip()
    try:
        at = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise PlanError(f"--start-at {text!r}: not unix seconds nor an ISO 8601 time "
                            f"(as 2026-11-30T14:00:00Z)", flag="--start-at") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        at = when.timestamp()
    if at <= now:
        raise PlanError(f"--start-at {text!r} is {now - at:.0f}s in the past: agree on a time ahead",
                        flag="--start-at")
    if at - now > MAX_AHEAD_S:
        raise PlanError(f"--start-at {text!r} is {(at - now) / 3600:.1f} h ahead (more than 24 h)",
                        flag="--start-at")
    return at


def with_shard(plan, shard: str | None, start_at: str | None, now: float | None = None):
    """The plan with --shard and --start-at applied (the plan as it is when neither is given)."""
    if shard is None and start_at is None:
        return plan
    parsed = parse_shard(shard) if shard is not None else None
    at = parse_start_at(start_at, now) if start_at is not None else None
    if parsed is not None and at is None and parsed[1] > 1:
        warnings.warn("--shard without --start-at: each box starts when it is ready, not together",
                      PlanWarning, stacklevel=2)
    return dataclasses.replace(plan, shard=parsed, start_at=at)


def worker_span(plan) -> tuple[int, int]:
    """(global index of this box's first worker, workers in the whole cluster)."""
    if plan.shard is None:
        return 0, plan.workers
    i, n = plan.shard
    return (i - 1) * plan.workers, n * plan.workers


def start_at_ns(plan, now_ns: int, now_s: float | None = None) -> int:
    """The agreed start on the clock of `now_ns` (ns); 0 when the plan has none."""
    if plan.start_at is None:
        return 0
    now_s = time.time() if now_s is None else now_s
    return now_ns + int((plan.start_at - now_s) * 1e9)


# -- merging ---------------------------------------------------------------------------


def check_shards(results: list[Result]) -> list[str]:
    """What is wrong with `results` as the shards of one plan: [] when nothing.

    Results without a shard merge as before (any runs side by side); once one has a
    shard, all must: one fingerprint, one N, each shard 1..N exactly once.
    """
    shards = [r.plan.get("shard") for r in results]
    if not any(shards):
        return []
    problems = []
    if not all(shards):
        problems.append(f"{sum(1 for s in shards if not s)} of {len(results)} results are not shards")
    shards = [s for s in shards if s]
    prints = _sorted({s.get("fingerprint") for s in shards})
    if len(prints) > 1:
        problems.append(f"the shards come from different plans (fingerprints {', '.join(map(str, prints))})")
    counts = _sorted({s.get("count") for s in shards})
    if len(counts) > 1:
        problems.append(f"the shards split the plan differently (N = {', '.join(map(str, counts))})")
    indexes = [s.get("index") for s in shards]
    repeated = _sorted({i for i in indexes if indexes.count(i) > 1})
    if repeated:
        problems.append(f"shard {', '.join(map(str, repeated))} given more than once")
    if len(counts) == 1:
        missing = [i for i in range(1, int(counts[0]) + 1) if i not in indexes]
        if missing:
            problems.append(f"shard {', '.join(map(str, missing))} of {counts[0]} missing")
    return problems


def merge_results(results: list[Result], force: bool = False) -> tuple[Result, list[str]]:
    """The results as one (counters and histograms added), and the problems found.

    Shards that do not make one plan exactly (check_shards) raise a PlanError, unless
    `force`: then they merge, the result is marked incomplete with the problems as
    reasons, and the problems come back for the caller to warn about. The merged
    result's plan.shard says which shards it holds.
    """
    problems = check_shards(results)
    if problems and not force:
        raise PlanError("; ".join(problems) + " (--force merges anyway)", flag="merge")
    merged = results[0]
    for other in results[1:]:
        merged = merged.merge(other)
    shards = [r.plan.get("shard") for r in results if r.plan.get("shard")]
    if shards:
        first = shards[0]
        merged.plan = {**merged.plan, "shard": {
            "merged": _sorted(s.get("index") for s in shards), "count": first.get("count"),
            "start_at": first.get("start_at"), "fingerprint": first.get("fingerprint")}}
    if problems:
        merged.complete = False
        merged.reasons = [*merged.reasons, *(f"merged with --force: {p}" for p in problems)]
    return merged, problems
