"""Finding capacity: each step of a stepped load judged on its steady part, the knee, the answer.

Pure: Windows (driver.stats.window) in, plain dicts out; no clock, no processes. The
run that produces the windows is driver.runner.capacity; the step plan is
driver.planning.capacity.

A step is `(index, level, start_s, end_s)`: the users (closed loop) or arrivals/s (open
loop) held from start_s to end_s. Its first `settle_s` seconds are the change of level
and are not judged: the windows in the rest (the steady part) are merged into one
window, so the step's percentiles come from its merged histograms, exactly as a run's
do. The sampler's seconds do not line up with the steps: a window may begin up to
LEAD_S before the steady part (it is at the step's level already), but none that runs
past the step's end is taken, not even by a few milliseconds: a target that fails fast
at the next level answers hundreds of requests in them.

A step's verdict, in this order:
- "not valid": the load generator was unfit in that step, by the rules of
  driver.stats.validity applied to the step's seconds (a CPU-bound worker or a lagging
  event loop in more than MOST of them; in open loop more than LATE_BOUND of the
  arrivals late), or no steady second was measured. Its latencies include the
  generator's own queueing, so the step says nothing about the target: the search
  stops there, and the level reached is a limit of the generator, not of the target.
- "failed": a threshold is broken on the step's steady part (a threshold with no value
  there, e.g. no responses, is broken; a count such as `dropped<10` counts the step's).
- "passed" otherwise.

The knee (Kleinrock's "power"): for each judged step, power = throughput / mean
latency (responses per second per second of latency). Below saturation throughput
follows the load and latency stays flat, so power rises with the level; past it
throughput stops following the load while latency grows with it (Little's law), so
power falls. The knee is the step of highest power, reported once a later step's power
is at least KNEE_DROP below it (else the knee is not reached in the levels run); steps
that are not valid are left out. On two
consecutive steps, power falling means exactly that latency rose by a larger factor
than throughput did.
"""
from __future__ import annotations

from dataclasses import dataclass

from driver.layout import LATE_NS
from driver.errors import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_NOT_RUN, EXIT_OK, EXIT_TERMINATED, EXIT_THRESHOLD
from driver.stats.thresholds import LiveCheck, describe
from driver.stats.validity import CPU_BOUND, LAG_BOUND_NS, LATE_BOUND, MOST

__all__ = ["Step", "StepTracker", "judge_step", "knee", "answer", "refine", "exit_code_of", "capacity_exit_code",
           "KNEE_DROP", "LEAD_S"]

LEAD_S = 0.5  # a window may begin this much before a step's steady part and still count
END_SLACK_S = 0.25  # a run whose last window ends this close to a step's end has run that step
KNEE_DROP = 0.10  # a later step's power this much below the highest shows the knee

PASSED, FAILED, NOT_VALID = "passed", "failed", "not valid"
# the answer's status
FOUND = "found"  # a step failed a threshold after at least one passed: the highest passing level
FIRST_FAILED = "first step failed"
MAX_REACHED = "max reached"  # every level passed: the capacity is above the highest level tried
GENERATOR_LIMIT = "not valid"  # the generator became unfit before any threshold broke
INCOMPLETE = "incomplete"  # the run ended (interrupted, a worker died) before a step failed or the max


@dataclass(frozen=True)
class Step:
    index: int
    level: float  # users (closed loop) or arrivals per second (open loop)
    start_s: float
    end_s: float
    settle_s: float  # the first seconds of the step, not judged

    def steady(self, window) -> bool:
        """Whether `window` (it covers the dt seconds before t) lies in this step's steady part."""
        begin = window.t - window.dt
        return begin >= self.start_s + self.settle_s - LEAD_S and window.t <= self.end_s + 1e-9


def judge_step(step: Step, windows, thresholds, open_loop: bool) -> dict:
    """The verdict and figures of `step` from its steady `windows` (driver.stats.window.Window).

    `thresholds`: Threshold objects that LiveCheck can judge (driver.planning.capacity
    checks that). Returns {"index", "level", "start_s", "end_s", "seconds", "status",
    "reasons", "throughput", "requests", "error_rate", "mean_ns", "p50_ns", "p90_ns", "p99_ns",
    "cpu_max", "lag_max_ns", "late_share", "verdicts"}.
    """
    base = {"index": step.index, "level": step.level, "start_s": step.start_s, "end_s": step.end_s,
            "seconds": len(windows)}
    if not windows:
        return {**base, "status": NOT_VALID, "reasons": ["no steady second was measured in this step "
                                                         "(make the step longer than its settle time)"],
                "throughput": None, "requests": 0, "error_rate": None, "mean_ns": None, "p50_ns": None,
                "p90_ns": None, "p99_ns": None, "cpu_max": None, "lag_max_ns": None, "late_share": None,
                "verdicts": []}
    merged = windows[0]
    for w in windows[1:]:
        merged = merged.merged(w)
    tot = merged.total
    late_share = tot.late / tot.arrivals if tot.arrivals else 0.0
    figures = {
        "throughput": tot.rate(merged.dt),
        "requests": tot.count,
        "error_rate": tot.error_rate,
        "mean_ns": tot.latency()["mean_ns"],
        **{key: tot.percentile(p) for key, p in (("p50_ns", 50), ("p90_ns", 90), ("p99_ns", 99))},
        "cpu_max": max(w.cpu_max for w in windows),
        "lag_max_ns": max(w.lag_mean_ns for w in windows),
        "late_share": late_share,
    }
    invalid = _invalid(windows, late_share, open_loop)
    check = LiveCheck(thresholds)
    got = {v["threshold"]: v for v in check.update(merged)}
    verdicts = []
    for th in check.thresholds:  # a threshold without a value here (no responses) is broken
        v = got.get(th.text) or {"threshold": th.text, "endpoint": th.endpoint, "metric": th.metric, "op": th.op,
                                 "limit": th.limit, "value": None, "unit": th.unit, "passed": False,
                                 "abort": th.abort}
        v.pop("t", None)
        verdicts.append(v)
    broken = [_broken_text(v) for v in verdicts if not v["passed"]]
    if invalid:
        status, reasons = NOT_VALID, invalid
    elif broken:
        status, reasons = FAILED, broken
    else:
        status, reasons = PASSED, []
    return {**base, "status": status, "reasons": reasons, **figures, "verdicts": verdicts}


def _broken_text(v: dict) -> str:
    """`p99<500ms: p99 = 812ms (limit < 500ms)`."""
    if v["value"] is None:
        return f"{v['threshold']}: nothing measured in the step"
    return f"{v['threshold']}: {describe(v).removesuffix(' FAILED')}"


def _invalid(windows, late_share: float, open_loop: bool) -> list[str]:
    """The driver.stats.validity rules on one step's seconds: the reasons it was not valid."""
    n = len(windows)
    cpu_bound = sum(1 for w in windows if w.cpu_max >= CPU_BOUND)
    laggy = sum(1 for w in windows if w.lag_mean_ns > LAG_BOUND_NS)
    out = []
    if cpu_bound > MOST * n:
        out.append(f"the load generator was CPU-bound (a worker used >= {CPU_BOUND:.0%} of a core in "
                   f"{cpu_bound} of {n} s): not a limit of the target (add workers)")
    if laggy > MOST * n:
        out.append(f"the workers' event loops lagged over {LAG_BOUND_NS / 1e6:g} ms in {laggy} of {n} s: "
                   f"not a limit of the target")
    if open_loop and late_share > LATE_BOUND:
        out.append(f"{late_share:.1%} of the arrivals started more than {LATE_NS / 1e6:g} ms late (limit "
                   f"{LATE_BOUND:.0%}): the generator could not keep the rate, not a limit of the target")
    return out


class StepTracker:
    """Feeds a run's windows to the steps, one verdict as each step ends.

    `update(window)` returns the verdict of a step that ended with this window, else None.
    A step ends with the first window whose t reaches its end; `finish(t)` judges a last
    step whose end the run reached without a window after it."""

    def __init__(self, steps: list[Step], thresholds, open_loop: bool):
        self.steps = list(steps)
        self.thresholds = tuple(thresholds)
        self.open_loop = open_loop
        self.next = 0  # the step not judged yet
        self.windows: list = []  # its steady windows so far
        self.verdicts: list[dict] = []

    def update(self, window) -> dict | None:
        if self.next >= len(self.steps):
            return None
        step = self.steps[self.next]
        if step.steady(window):
            self.windows.append(window)
        if window.t < step.end_s - 1e-9:
            return None
        verdict = self._judge()
        if self.next < len(self.steps) and self.steps[self.next].steady(window):  # a long window (rare)
            self.windows.append(window)
        return verdict

    def _judge(self) -> dict:
        verdict = judge_step(self.steps[self.next], self.windows, self.thresholds, self.open_loop)
        self.verdicts.append(verdict)
        self.next += 1
        self.windows = []
        return verdict

    def finish(self, last_t: float) -> dict | None:
        """At the end of the run (its last window ended at `last_t`): the verdict of the step
        under way if the run reached its end (within END_SLACK_S), else None."""
        if self.done or last_t < self.steps[self.next].end_s - END_SLACK_S:
            return None
        return self._judge()

    @property
    def done(self) -> bool:
        """Whether every step has been judged, or one did not pass (the search is over)."""
        return self.next >= len(self.steps) or any(v["status"] != PASSED for v in self.verdicts)


def _power(v: dict) -> float | None:
    """Throughput per second of mean latency; None for a step without figures, or not valid
    (its latencies hold the generator's own queueing)."""
    if v.get("status") == NOT_VALID or v.get("throughput") is None or not v.get("mean_ns"):
        return None
    return v["throughput"] / (v["mean_ns"] / 1e9)


def knee(verdicts: list[dict]) -> dict | None:
    """The knee of the judged steps (see the module docstring): {"index", "level", "power",
    "drop_level", "drop_power"}, or None when no later step shows power falling by KNEE_DROP."""
    best = None
    for v in verdicts:
        p = _power(v)
        if p is None:
            continue
        if best is None or p > best[1]:
            best = (v, p)
            continue
        if p <= best[1] * (1 - KNEE_DROP):
            return {"index": best[0]["index"], "level": best[0]["level"], "power": best[1],
                    "drop_level": v["level"], "drop_power": p}
    return None


def answer(verdicts: list[dict], levels: list[float], ended_early: bool, unit: str = "users") -> dict:
    """What the search found: {"status", "highest_passing", "first_failing", "knee", "summary"}.

    `ended_early`: the run stopped before its steps were all run for a reason of its own
    (interrupted, a worker died), not because a step failed."""
    first = next((v for v in verdicts if v["status"] != PASSED), None)
    passed = [v for v in verdicts if v["status"] == PASSED]
    if first is not None:
        passed = [v for v in passed if v["index"] < first["index"]]
    highest = passed[-1]["level"] if passed else None
    failing = None if first is None else {"index": first["index"], "level": first["level"],
                                          "status": first["status"], "reasons": first["reasons"]}
    if first is not None and first["status"] == NOT_VALID:
        status = GENERATOR_LIMIT
    elif first is not None:
        status = FOUND if passed else FIRST_FAILED
    elif ended_early or len(verdicts) < len(levels):
        status = INCOMPLETE
    else:
        status = MAX_REACHED
    return {"status": status, "highest_passing": highest, "first_failing": failing, "knee": knee(verdicts),
            "summary": _summary(status, highest, failing, levels, unit)}


def refine(found: dict, bisected: list[dict], unit: str = "users") -> dict:
    """The climb's answer (`found`, status FOUND) narrowed by the bisection's steps, in the
    order run: each passing one raises the highest passing level, each failing one lowers
    the first failing level; a step that is not valid ends the refinement (the generator's
    limit says nothing of the target). The knee stays the climb's (its steps grow with the
    level; the bisection's do not). Adds "bracket": [highest passing, first failing] and
    "bisected": the levels tried."""
    highest, failing = found["highest_passing"], found["first_failing"]
    tried = []
    for v in bisected:
        tried.append(v["level"])
        if v["status"] == PASSED and v["level"] > highest:
            highest = v["level"]
        elif v["status"] == FAILED and v["level"] < failing["level"]:
            failing = {"index": v["index"], "level": v["level"], "status": v["status"], "reasons": v["reasons"]}
        elif v["status"] == NOT_VALID:
            break
    out = {**found, "highest_passing": highest, "first_failing": failing, "bisected": tried,
           "bracket": [highest, failing["level"]]}
    out["summary"] = _summary(FOUND, highest, failing, [], unit) + (
        f" (bisected: {', '.join(f'{lv:g}' for lv in tried)})" if tried else "")
    return out


def _summary(status: str, highest, failing, levels, unit: str) -> str:
    def lvl(level) -> str:
        return f"{level:g} {unit}"

    if status == FOUND:
        return (f"capacity: {lvl(highest)} passed; {lvl(failing['level'])} failed: "
                f"{'; '.join(failing['reasons'])}")
    if status == FIRST_FAILED:
        return f"no capacity found: the first step ({lvl(failing['level'])}) failed: {'; '.join(failing['reasons'])}"
    if status == MAX_REACHED:
        return f"every level passed up to {lvl(levels[-1])}: the capacity is above it (raise the max)"
    if status == GENERATOR_LIMIT:
        got = f"{lvl(highest)} passed; " if highest is not None else ""
        return (f"{got}the load generator could not drive {lvl(failing['level'])}: "
                f"{'; '.join(failing['reasons'])} — the target's capacity is not known beyond the level that passed")
    return ("the run ended before a step failed" + (f": {lvl(highest)} passed" if highest is not None else ""))


def exit_code_of(status: str, highest) -> int:
    """The CLI's code for an answer (not for an interrupted run): 0 a level passed, 1 the first
    step failed a threshold, 4 the generator was unfit from the first step, 3 nothing judged."""
    if highest is not None:
        return EXIT_OK
    if status == FIRST_FAILED:
        return EXIT_THRESHOLD
    if status == GENERATOR_LIMIT:
        return EXIT_INVALID
    return EXIT_NOT_RUN


def capacity_exit_code(result) -> int:
    """The CLI's code for a find-capacity Result: 130/143 interrupted, 3 a run that did not
    finish (a worker died), else exit_code_of its answer."""
    if result.interrupted:
        return EXIT_TERMINATED if result.interrupted_by == "SIGTERM" else EXIT_INTERRUPTED
    if not result.complete:
        return EXIT_NOT_RUN
    found = (result.capacity or {}).get("answer") or {}
    return exit_code_of(found.get("status", INCOMPLETE), found.get("highest_passing"))
