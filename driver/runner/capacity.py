"""find_capacity(plan, steps, thresholds) -> Result: one stepped run, judged step by step, stopped
at the first step that does not pass; the search's answer in Result.capacity.

Why one run and not a run per level: see driver.planning.capacity. Each second's window
goes to a driver.stats.capacity.StepTracker as the run goes; when a step ends with a
verdict other than "passed" and steps remain, the progress callback returns the
supervisor's STOP_RUN: the run ends gracefully (the requests in flight get the grace),
complete, and the search's note says why it ended early.
"""
from __future__ import annotations

from driver.plan import OPEN, Plan
from driver.planning.capacity import StepPlan
from driver.runner.supervisor import STOP_RUN, run
from driver.stats.capacity import PASSED, StepTracker, answer
from driver.stats.result import Result

__all__ = ["find_capacity"]

def find_capacity(plan: Plan, steps: StepPlan, thresholds, on_progress=None, *, check_target: bool = True) -> Result:
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
    result.capacity = {
        **steps.describe(),
        "thresholds": [th.text for th in thresholds],
        "steps": tracker.verdicts,
        "stopped_at_s": stopped.get("t"),
        "answer": answer(tracker.verdicts, list(steps.levels), ended_early, steps.unit),
    }
    return result
