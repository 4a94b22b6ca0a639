"""The run's verdict: the exit code, failed checks nobody judged, threshold verdicts as text.

Verdicts are the dicts driver.stats.thresholds.evaluate makes; this module only reads
them (and the Result), so reports and the CLI can use it without the threshold parser.
"""
from __future__ import annotations

from driver.durations import format_ns
from driver.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_INVALID, EXIT_NOT_RUN, EXIT_OK, EXIT_THRESHOLD

__all__ = ["exit_code", "unjudged_check_failures", "describe", "format_value", "render", "chaos_value",
           "CHAOS_METRICS"]

# threshold metric -> (the Result.chaos figure, whether it is the breaker's); seconds
CHAOS_METRICS = {"recovery": ("recovery_s", False), "breaker_trip": ("time_to_trip_s", True),
                 "breaker_recover": ("time_to_recover_s", True)}


def unjudged_check_failures(result, verdicts: list[dict] | None = None) -> int:
    """Failed checks (on requests, and failed flows) that no `check_failure_rate` threshold judges.

    A `check_failure_rate` threshold for the whole run judges every check; one for an
    endpoint judges that endpoint's. Failures left over fail the run by themselves
    (exit 1), as in Locust, where a run with failures exits 1.
    """
    verdicts = result.verdicts if verdicts is None else verdicts
    judged = {v.get("endpoint") for v in verdicts or () if v.get("metric") == "check_failure_rate"}
    if None in judged:
        return 0
    return sum(ep.check_failures for ep in result.endpoints if ep.name not in judged)


def exit_code(result, verdicts: list[dict] | None = None) -> int:
    """The CLI's exit code for a finished run (_plain_exit_code). In a grouped run
    (`result.groups`) each group's failed checks are judged by the run's own
    `check_failure_rate` thresholds and the group's, not by another group's."""
    verdicts = result.verdicts if verdicts is None else verdicts
    groups = getattr(result, "groups", None)
    if not groups:
        return _plain_exit_code(result, verdicts)
    run_level = [v for v in verdicts if not v.get("group")]
    # the checks are judged group by group below: here, everything else in its order
    code = _plain_exit_code(result, [*verdicts, {"metric": "check_failure_rate", "endpoint": None, "passed": True}])
    if code != EXIT_OK:
        return code
    for name, sub in groups.items():
        if unjudged_check_failures(sub, [*run_level, *(v for v in verdicts if v.get("group") == name)]):
            return EXIT_THRESHOLD
    return EXIT_OK


def _plain_exit_code(result, verdicts: list[dict]) -> int:
    """The CLI's exit code for a finished run, the first that applies:

    130 interrupted (Ctrl-C; 143: SIGTERM) > 3 not carried out (aborted by a threshold, or incomplete:
    a worker died) > 4 not valid (the load generator could not measure: validity) >
    1 a threshold failed (`verdicts`, by default `result.verdicts`), or checks failed
    and no `check_failure_rate` threshold sets the tolerance for them
    (`unjudged_check_failures`: Locust's convention, a run with failures exits 1) >
    0 passed. A run that did not finish says nothing trustworthy about thresholds,
    hence the order.
    """
    if result.interrupted:
        return EXIT_TERMINATED if result.interrupted_by == "SIGTERM" else EXIT_INTERRUPTED
    if result.aborted or not result.complete:
        return EXIT_NOT_RUN
    if result.validity.get("valid") is False:
        return EXIT_INVALID
    if any(not v["passed"] for v in verdicts) or unjudged_check_failures(result, verdicts):
        return EXIT_THRESHOLD
    return EXIT_OK


def _when(entry: dict) -> str:
    return f"{entry.get('fault', '?')} at {entry.get('at_s', 0):g}s"


def chaos_value(metric: str, result) -> tuple[float | None, str]:
    """The worst chaos event's figure for a CHAOS_METRICS threshold, in ns, and a note
    when there is none: no event to judge, or an event that never recovered (never
    tripped) — which fails the threshold, however long the run went on."""
    key, of_breaker = CHAOS_METRICS[metric]
    entries = list(getattr(result, "chaos", None) or ())
    if of_breaker:
        entries = [{**e["breaker"], "fault": e.get("fault"), "at_s": e.get("at_s")} for e in entries
                   if e.get("breaker")]
        if not entries:
            return None, "no platform outage in the chaos timeline"
    elif not entries:
        return None, "no chaos events in this run"
    for e in entries:
        if e.get(key) is None:
            what = {"recovery_s": "never recovered", "time_to_trip_s": "no breaker tripped",
                    "time_to_recover_s": "the breaker never recovered"}[key]
            why = e.get("recovery_note") or e.get("note") or ""
            return None, f"{_when(e)}: {what}" + (f" ({why})" if why else "")
    return max(float(e[key]) for e in entries) * 1e9, ""


def _compact_ns(ns: float) -> str:
    """A limit in the largest unit that keeps it >= 1: 5s, 300ms, 1.5µs."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:g}{unit}"
    return f"{ns:g}ns"


def format_value(value: float | None, unit: str, limit: bool = False) -> str:
    """A verdict's value (or, with limit=True, its limit) for people."""
    if value is None:
        return "no data"
    if unit == "ns":
        return _compact_ns(value) if limit else format_ns(value)
    if unit == "ratio":
        return f"{value * 100:g}%" if limit else f"{value * 100:.2f}%"
    if unit == "rps":
        return f"{value:g}" if limit else f"{value:.1f}"
    if unit == "MB/h":
        return f"{value:g}MB/h" if limit else f"{value:+.1f}MB/h"
    return f"{value:.0f}"


def describe(verdict: dict) -> str:
    """`p99 = 6.20s (limit < 5s) FAILED`, with `ENDPOINT: ` before it for an endpoint, and the
    group first for a group's threshold (`api › p99 = 320ms (limit < 300ms) FAILED`)."""
    where = f"{verdict['endpoint']}: " if verdict.get("endpoint") is not None else ""
    if verdict.get("group"):
        where = f"{verdict['group']} › {where}"
    value = format_value(verdict["value"], verdict["unit"])
    if verdict["value"] is None and verdict.get("endpoint") is not None and "t" not in verdict:
        value = "no data (no such endpoint, or nothing recorded)"
    if verdict["value"] is None and verdict.get("note"):
        value = verdict["note"]
    limit = format_value(verdict["limit"], verdict["unit"], limit=True)
    status = "passed" if verdict["passed"] else "FAILED"
    return f"{where}{verdict['metric']} = {value} (limit {verdict['op']} {limit}) {status}"


def render(verdicts: list[dict]) -> str:
    """The report's threshold block: one line per verdict and a count ('' when none)."""
    if not verdicts:
        return ""
    failed = sum(1 for v in verdicts if not v["passed"])
    lines = [f"thresholds: {len(verdicts) - failed} passed, {failed} failed"]
    lines += [f"  {'ok  ' if v['passed'] else 'FAIL'}  {describe(v)}" for v in verdicts]
    return "\n".join(lines)
