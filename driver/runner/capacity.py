"""find_capacity(plan, steps, thresholds) -> Result: one stepped run, judged step by step, stopped
at the first step that does not pass; the search's answer in Result.capacity.

Why one run and not a run per level: see driver.planning.capacity. Each second's window
goes to a driver.stats.capacity.StepTracker as the run goes; when a step ends with a
verdict other than "passed" and steps remain, the run is stopped as Ctrl-C stops it
(gracefully: the requests in flight get the grace), by raising a KeyboardInterrupt of
our own from the progress callback, which the supervisor's loop catches. The result is
then said to be stopped by the search, not interrupted: the search's note replaces the
interruption. (A supervisor hook to end a run from the progress callback would make this
plain; the callback is the one door the supervisor has today.)
"""
from __future__ import annotations

from driver.plan import OPEN, Plan
from driver.planning.capacity import StepPlan
from driver.runner.supervisor import run
from driver.stats.capacity import PASSED, StepTracker, answer
from driver.stats.result import Result

__all__ = ["find_capacity"]

_OUR_INTERRUPT = "interrupted (SIGINT)"  # the supervisor's reason for a KeyboardInterrupt


class _StepFailed(KeyboardInterrupt):
    """Raised from the progress callback to end the run at a step that did not pass."""


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
            return
        verdict = tracker.update(window)
        last = verdict is not None and verdict["index"] == len(steps.levels) - 1
        # the run's last window (after its end) is sampled outside the supervisor's loop:
        # never raise there, nor for the last step, which ends the run anyway
        if verdict is not None and verdict["status"] != PASSED and not last \
                and window.t < steps.duration_s - 0.5:
            stopped.update(t=window.t, verdict=verdict)
            raise _StepFailed()

    result = run(plan, on_progress=progress, check_target=check_target)
    if stopped and result.interrupted_by == "SIGINT":
        v = stopped["verdict"]
        result.interrupted, result.interrupted_by = False, None
        result.reasons = [r for r in result.reasons if r != _OUR_INTERRUPT]
        result.complete = not result.reasons
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
