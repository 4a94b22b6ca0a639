"""The step plan of a capacity search: levels, step length, and the one stepped load that runs them.

`--users 10:500:+10` or `--rate 100:5000:x1.5` with `--step 20s`: the levels are START,
then each the one before plus N (`+N`) or times F (`xF`, F > 1; users round up to at
least one more), while at most MAX; MAX is the last level when the steps do not land
on it. Each level is held for the step's length; its first `settle` seconds (default a
quarter of the step, at least 1 s) are the change of level and are not judged; at least
2 s are left to judge, as the per-second windows do not line up with the steps
(driver.stats.capacity).

Why one run with stepped stages rather than a run per level: the workers, their
connections and the target's warm state carry over from step to step, as they would
under a load that grows in production; the steps cost no start-up or drain between
them; the per-second series, the live view and the report show the whole climb on
one time axis; and a step that fails stops the run right there. The price is that a
failing step's backlog can spill into the next — there is no next: the search stops at
the first step that does not pass.

The steps become k6-style stages: a zero-length stage jumps to the level, a stage of
the step's length holds it (driver.shapes.from_stages).

`--search bisect` refines the answer after the climb: between the highest level that
passed and the first that failed, each next level is the midpoint of the two, run as a
step of its own (`at_level`: one run of one step, so a failing level's backlog does
not weigh on the next) until the two are at most `--resolution` apart (default an
eighth of the climb's bracket; whole users for a users climb).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from driver.durations import parse_duration
from driver.errors import PlanError
from driver.plan import CLOSED, OPEN, Plan
from driver.shapes import from_stages
from driver.stats.capacity import Step
from driver.stats.thresholds import is_live

__all__ = ["StepPlan", "parse_levels", "step_plan", "stepped_settings", "capacity_thresholds", "for_capacity",
           "Search", "search_plan", "midpoint", "at_level", "CLIMB", "BISECT", "SEARCHES", "MAX_BISECT",
           "MAX_STEPS", "MIN_STEP_S", "MIN_JUDGED_S"]

CLIMB, BISECT = "climb", "bisect"
SEARCHES = (CLIMB, BISECT)
MAX_BISECT = 12  # bisection runs at most (a bracket halved 12 times is 1/4096 of itself)
BISECT_SHARE = 8  # the default resolution: the bracket over this

MAX_STEPS = 100
MIN_STEP_S = 3.0  # a settle second, and two to hold at least one whole window
MIN_JUDGED_S = 2.0
_SPEC = re.compile(r"^\s*(?P<start>[^:]+):(?P<max>[^:]+):(?P<op>[+x*])(?P<by>[^:]+?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class StepPlan:
    kind: str  # "users" (closed loop) or "rate" (open loop, arrivals per second)
    levels: tuple[float, ...]
    step_s: float
    settle_s: float

    @property
    def unit(self) -> str:
        return "users" if self.kind == "users" else "req/s"

    @property
    def duration_s(self) -> float:
        return self.step_s * len(self.levels)

    def steps(self) -> list[Step]:
        return [Step(i, level, i * self.step_s, (i + 1) * self.step_s, self.settle_s)
                for i, level in enumerate(self.levels)]

    def stages(self) -> list[tuple[float, float]]:
        """Jump to each level (a zero-length stage), hold it for the step."""
        out = []
        for level in self.levels:
            out += [(0.0, level), (self.step_s, level)]
        return out

    def describe(self) -> dict:
        return {"kind": self.kind, "unit": self.unit, "levels": list(self.levels), "step_s": self.step_s,
                "settle_s": self.settle_s}


def _number(text: str, flag: str, what: str, integer: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PlanError(f"{flag}: {what} {text.strip()!r} is not a number", flag=flag) from None
    if not math.isfinite(value) or value <= 0:
        raise PlanError(f"{flag}: {what} must be > 0, got {text.strip()!r}", flag=flag)
    if integer and value != int(value):
        raise PlanError(f"{flag}: {what} must be a whole number of users, got {text.strip()!r}", flag=flag)
    return value


def parse_levels(text: str, flag: str, integer: bool) -> tuple[float, ...]:
    """`START:MAX:+N` or `START:MAX:xF` -> the levels (see the module docstring)."""
    m = _SPEC.match(str(text))
    if not m:
        raise PlanError(f"{flag}: {text!r} must be START:MAX:+N or START:MAX:xF (e.g. 10:500:+10, 100:5000:x1.5)",
                        flag=flag)
    start = _number(m.group("start"), flag, "START", integer)
    top = _number(m.group("max"), flag, "MAX", integer)
    by = _number(m.group("by"), flag, "the step", integer and m.group("op") == "+")
    top = float(top)
    if top < start:
        raise PlanError(f"{flag}: MAX {top:g} is below START {start:g}", flag=flag)
    multiply = m.group("op") != "+"
    if multiply and by <= 1:
        raise PlanError(f"{flag}: a factor must be > 1, got x{by:g}", flag=flag)
    levels = [start]
    while len(levels) <= MAX_STEPS:
        prev = levels[-1]
        nxt = prev * by if multiply else prev + by
        if integer:
            nxt = float(max(prev + 1, math.ceil(nxt - 1e-9)))
        else:
            nxt = float(f"{nxt:.4g}")  # 3844.3359375 arrivals/s is 3844
        if nxt > top:
            break
        levels.append(nxt)
    if levels[-1] < top:
        levels.append(top)
    if len(levels) > MAX_STEPS:
        raise PlanError(f"{flag}: {text!r} makes more than {MAX_STEPS} steps: take a larger step or a factor "
                        f"(e.g. xF)", flag=flag)
    return tuple(levels)


def step_plan(users: str | None, rate: str | None, step="20s", settle=None) -> StepPlan:
    """The StepPlan of the flags: exactly one of `users` and `rate`; PlanError naming the flag."""
    if (users is None) == (rate is None):
        raise PlanError("give the levels to climb: --users START:MAX:STEP or --rate START:MAX:STEP "
                        "(one of them)", flag="--users")
    kind, text, flag = ("users", users, "--users") if users is not None else ("rate", rate, "--rate")
    levels = parse_levels(text, flag, integer=kind == "users")
    step_s = _seconds("--step", step)
    if step_s < MIN_STEP_S:
        raise PlanError(f"--step must be at least {MIN_STEP_S:g}s (a settle second, and {MIN_JUDGED_S:g}s "
                        f"to judge), got {step!r}", flag="--step")
    if settle is None:
        settle_s = max(1.0, step_s / 4)
    else:
        settle_s = _seconds("--settle", settle, allow_zero=True)
        if settle_s > step_s - MIN_JUDGED_S:
            raise PlanError(f"--settle must leave at least {MIN_JUDGED_S:g}s of the {step_s:g}s step to judge, "
                            f"got {settle!r}", flag="--settle")
    return StepPlan(kind, levels, step_s, settle_s)


def _seconds(flag: str, value, allow_zero: bool = False) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise PlanError(f"{flag}: {exc}", flag=flag) from None
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise PlanError(f"{flag} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}", flag=flag)
    return seconds


def stepped_settings(steps: StepPlan) -> dict:
    """make_plan / load_config settings for the stepped load: the stages (open loop: from the
    first rate) and the whole length."""
    out = {"stages": steps.stages(), "duration": steps.duration_s}
    if steps.kind == "rate":
        out["rate"] = steps.levels[0]
    return out


def capacity_thresholds(thresholds, where: str = "-t") -> tuple:
    """The thresholds a step is judged by (Threshold objects): at least one, each judged per
    step (driver.stats.thresholds.is_live). PlanError otherwise."""
    ths = tuple(thresholds)
    if not ths:
        raise PlanError("find-capacity needs at least one threshold: what a passing step is "
                        "(e.g. -t 'p99<500ms' -t 'error_rate<1%')", flag=where)
    for th in ths:
        if not is_live(th):
            raise PlanError(f"threshold {th.text!r} cannot be judged per step: min, mean and max, memory slopes, "
                            f"chaos times and lower limits on counts are judged over a whole run only "
                            f"(use a percentile, error_rate, rps or a share)", flag=th.source or where)
    return ths


def for_capacity(plan: Plan, steps: StepPlan) -> Plan:
    """The plan to run: checked against the steps (a config cannot turn a users climb into a
    rate, or end it after N requests), its thresholds left to the steps (a whole-run verdict
    over levels that differ by design would mean nothing)."""
    want = CLOSED if steps.kind == "users" else OPEN
    if plan.mode != want:
        raise PlanError(f"the config sets a {'rate' if plan.mode == OPEN else 'closed loop'}: with "
                        f"{'--users' if steps.kind == 'users' else '--rate'} the climb needs a "
                        f"{'closed' if want == CLOSED else 'open'} loop; remove load.rate or use "
                        f"{'--rate' if steps.kind == 'users' else '--users'}", flag=f"--{steps.kind}")
    if plan.max_requests is not None:
        raise PlanError("a request count (load.requests) would end the climb early: remove it for find-capacity",
                        flag="--requests")
    return replace(plan, thresholds=())


@dataclass(frozen=True)
class Search:
    """How the levels are searched: `climb` (the steps only) or `bisect` (then halve the
    bracket the climb found down to `resolution`, in the climb's unit; None: the default)."""

    kind: str = CLIMB
    resolution: float | None = None

    def resolution_for(self, lo: float, hi: float, integer: bool) -> float:
        res = self.resolution if self.resolution is not None else (hi - lo) / BISECT_SHARE
        return max(res, 1.0) if integer else res

    def describe(self) -> dict:
        return {"search": self.kind, "resolution": self.resolution}


def search_plan(search: str | None, resolution=None) -> Search:
    """The Search of `--search` and `--resolution`; PlanError naming the flag."""
    kind = (search or CLIMB).strip().lower()
    if kind not in SEARCHES:
        raise PlanError(f"--search must be {' or '.join(SEARCHES)}, got {search!r}", flag="--search")
    if resolution is None:
        return Search(kind)
    if kind != BISECT:
        raise PlanError("--resolution is the bisection's: give it with --search bisect", flag="--resolution")
    return Search(kind, _number(str(resolution), "--resolution", "the resolution", integer=False))


def midpoint(lo: float, hi: float, integer: bool) -> float | None:
    """The level between `lo` (passed) and `hi` (failed) to try next; None when there is none
    (whole users one apart)."""
    if integer:
        mid = float(math.floor((lo + hi) / 2))
        return mid if lo < mid < hi else None
    mid = float(f"{(lo + hi) / 2:.4g}")
    return mid if lo < mid < hi else None


def at_level(plan: Plan, steps: StepPlan, level: float) -> tuple[Plan, StepPlan]:
    """The plan and step plan of one step at `level` (a bisection's run): the climb's step
    length and settle time, the same load otherwise."""
    one = replace(steps, levels=(float(level),))
    shape = from_stages(one.stages(), float(level)) if plan.mode == OPEN else from_stages(one.stages())
    return replace(plan, shape=shape, duration_s=one.duration_s), one
