"""find_capacity(plan, steps, thresholds) -> Result: one stepped run, judged step by step, stopped
at the first step that does not pass; with `search=Search("bisect")`, then a run per level
between the highest passing and the first failing level; the answer in Result.capacity.

Why one run and not a run per level: see driver.planning.capacity. Each second's window
goes to a driver.stats.capacity.StepTracker as the run goes; when a step ends with a
verdict other than "passed" and steps remain, the progress callback returns the
supervisor's STOP_RUN: the run ends gracefully (the requests in flight get the grace),
complete, and the search's note says why it ended early.

The bisection's levels cannot be planned before the climb has run (each depends on the
verdict before it), so each is a run of its own: one step at that level, with the
climb's step length and settle time, judged by the same rules. The Result is the
climb's (its series, endpoints and files); the bisection's steps are added to its
capacity steps (`"search": "bisect"`) and narrow its answer (driver.stats.capacity.refine).
"""
from __future__ import annotations

from driver.plan import OPEN, Plan
from driver.planning.capacity import BISECT, MAX_BISECT, Search, StepPlan, at_level, midpoint
from driver.runner.supervisor import STOP_RUN, run
from driver.stats.capacity import FOUND, PASSED, StepTracker, answer, refine
from driver.stats.result import Result

__all__ = ["find_capacity"]


def find_capacity(plan: Plan, steps: StepPlan, thresholds, on_progress=None, *, check_target: bool = True,
                  search: Search = Search()) -> Result:
    """Run the stepped `plan` (driver.planning.capacity.for_capacity) and judge its steps by
    `thresholds`; Result.capacity holds the steps, their verdicts and the answer.

    `on_progress(window)` is called with every window first (the live view)."""
    tracker = StepTracker(steps.steps(), thresholds, plan.mode == OPEN)
    stopped: dict = {}

    def progress(window):
        if on_progress is not None:
            on_progress(window)
        if stopped:
            return None
        verdict = tracker.update(window)
        last = verdict is not None and verdict["index"] == len(steps.levels) - 1
        # not for the last step, nor after the planned end: the run ends then anyway
        if verdict is not None and verdict["status"] != PASSED and not last \
                and window.t < steps.duration_s - 0.5:
            stopped.update(t=window.t, verdict=verdict)
            return STOP_RUN
        return None

    result = run(plan, on_progress=progress, check_target=check_target)
    if stopped:
        v = stopped["verdict"]
        result.notes.append(f"find-capacity stopped the run at {stopped['t']:.0f}s: step {v['index'] + 1} "
                            f"({v['level']:g} {steps.unit}) {v['status']}")
    ended_early = result.interrupted or not result.complete
    if not stopped and not ended_early and result.series:
        tracker.finish(result.series[-1]["t"])
    found = answer(tracker.verdicts, list(steps.levels), ended_early, steps.unit)
    verdicts = [{**v, "search": "climb"} for v in tracker.verdicts]
    if search.kind == BISECT and found["status"] == FOUND:
        bisected = _bisect(plan, steps, thresholds, found, search, result, on_progress, len(verdicts))
        verdicts += bisected
        found = refine(found, bisected, steps.unit)
    result.capacity = {
        **steps.describe(),
        **search.describe(),
        "thresholds": [th.text for th in thresholds],
        "steps": verdicts,
        "stopped_at_s": stopped.get("t"),
        "answer": found,
    }
    return result


def _bisect(plan: Plan, steps: StepPlan, thresholds, found: dict, search: Search, result: Result, on_progress,
            first_index: int) -> list[dict]:
    """Halve [highest passing, first failing] by runs of one step until it is at most the
    resolution wide; the verdicts, in the order run. An interrupted run ends the search
    (the Result says so); a step that is not valid ends it too (see refine)."""
    integer = steps.kind == "users"
    lo, hi = found["highest_passing"], found["first_failing"]["level"]
    resolution = search.resolution_for(lo, hi, integer)
    out: list[dict] = []
    while hi - lo > resolution and len(out) < MAX_BISECT:
        level = midpoint(lo, hi, integer)
        if level is None:
            break
        one_plan, one = at_level(plan, steps, level)
        tracker = StepTracker(one.steps(), thresholds, plan.mode == OPEN)

        def progress(window, tracker=tracker):
            if on_progress is not None:
                on_progress(window)
            tracker.update(window)

        got = run(one_plan, on_progress=progress, check_target=False)
        if got.interrupted or not got.complete:
            result.interrupted, result.interrupted_by = got.interrupted, got.interrupted_by
            result.complete = result.complete and got.complete
            result.notes.append(f"find-capacity: the bisection's run at {level:g} {steps.unit} did not finish; "
                                f"the answer is the bracket before it")
            break
        if not tracker.verdicts and got.series:
            tracker.finish(got.series[-1]["t"])
        if not tracker.verdicts:
            break
        v = {**tracker.verdicts[0], "index": first_index + len(out), "search": "bisect"}
        out.append(v)
        if v["status"] == PASSED:
            lo = level
        elif v["status"] == "failed":
            hi = level
        else:  # not valid: the generator's limit, nothing more to learn about the target
            break
    if out:
        result.notes.append(f"find-capacity bisected between {found['highest_passing']:g} and "
                            f"{found['first_failing']['level']:g} {steps.unit}: "
                            + ", ".join(f"{v['level']:g} {v['status']}" for v in out)
                            + f" (each a run of one {steps.step_s:g}s step)")
    return out
