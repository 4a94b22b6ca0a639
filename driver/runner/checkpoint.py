"""Soak checkpoints: the result so far, written atomically every interval during a run.

Fed from the supervisor's per-second progress (`update(window)`, the on_progress
path): the windows are added up by endpoint name — counters and histograms only grow,
so the sum of a run's windows is its result so far, exactly, except the latency
minimum and maximum that a window does not know (the report then takes them from the
histogram, within its precision). Every `every_s` seconds of load the sum is written
as `checkpoint.json` (a driver result, `complete: false`, with a `checkpoint` entry
saying when) through a temporary file, fsync and os.replace: a reader, or a crash of
the box, finds either the last whole checkpoint or the one before, never half of one.
So a crash loses at most one interval, and `driver report checkpoint.json` renders it.
The final result replaces it (`discard()` once result.json is written).

`RunSoFar` is the accumulation alone; the Prometheus exporter (driver.runner.exporter)
reads the same totals.
"""
from __future__ import annotations

import os
import secrets
from datetime import datetime, timezone
from pathlib import Path

import orjson

from driver.durations import parse_duration
from driver.environment import describe_environment
from driver.errors import PlanError
from driver.stats.result import Result
from driver.stats.serieslog import SeriesLog
from driver.stats.thresholds import evaluate
from driver.stats.validity import SERIES_FIGURES, assess

__all__ = ["RunSoFar", "Checkpointer", "checkpoint_interval", "CHECKPOINT_NAME", "AUTO_FROM_S", "DEFAULT_EVERY_S"]

CHECKPOINT_NAME = "checkpoint.json"
DEFAULT_EVERY_S = 60.0
AUTO_FROM_S = 300.0  # runs this long or longer checkpoint by default


def checkpoint_interval(plan, given: str | float | None) -> float:
    """Seconds between checkpoints: `given` ("60s", "2m", 0: off), or by default
    DEFAULT_EVERY_S for runs of AUTO_FROM_S or more and 0 (off) for shorter ones."""
    if given is None:
        return DEFAULT_EVERY_S if (plan.duration_s or 0) >= AUTO_FROM_S else 0.0
    try:
        every = float(given) if isinstance(given, (int, float)) else parse_duration(str(given))
    except (ValueError, PlanError) as exc:
        raise PlanError(f"--checkpoint {given!r}: not a duration ({exc})", flag="--checkpoint") from None
    if every < 0:
        raise PlanError(f"--checkpoint {given!r}: must be 0 (off) or more", flag="--checkpoint")
    return every


class RunSoFar:
    """A run's windows added up: endpoints by name, the series, the last second."""

    def __init__(self, plan):
        self.plan = plan
        self.endpoints: dict = {}  # name -> EndpointResult, the run so far
        self.series = SeriesLog()  # on disk while the run lasts (driver.stats.serieslog)
        self.last = None  # the last window
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")

    @property
    def t(self) -> float:
        return self.last.t if self.last is not None else 0.0

    def add(self, win) -> None:
        for row in win.rows:
            have = self.endpoints.get(row.name)
            self.endpoints[row.name] = row if have is None else type(row).merged(row.name, [have, row])
        self.series.append(win.point())
        self.last = win

    def ordered(self) -> list:
        """The endpoints, the plan's known names first (as a final result orders them)."""
        names = dict.fromkeys([*self.plan.endpoints, *self.endpoints])
        return [self.endpoints[n] for n in names if n in self.endpoints]

    def result(self, reason: str, checkpoint: dict | None = None, environment: bool = True,
               series: bool = True) -> Result:
        """The run so far as an incomplete Result, `reason` its reason, with its validity
        and threshold verdicts so far (`environment`: describe the machine too; `series`
        False: only the figures validity judges, driver.stats.validity.SERIES_FIGURES)."""
        points = self.series.points() if series else self.series.figures(SERIES_FIGURES)
        result = Result(plan=self.plan.describe(), endpoints=self.ordered(), duration_s=self.t,
                        started_at=self.started_at, series=points,
                        environment=describe_environment(self.plan.workers) if environment else {},
                        complete=False, reasons=[reason], checkpoint=checkpoint or {})
        result.validity = assess(result)
        result.verdicts = evaluate(self.plan.thresholds, result)
        return result


# where the series goes in the checkpoint's JSON: NULs and a token of this process's own,
# so that no name or reason a user wrote can be taken for it
_SERIES_HERE = f"\x00driver: the series goes here {secrets.token_hex(16)}\x00"


class Checkpointer:
    """`update(window)` every second; writes `directory/checkpoint.json` every `every_s`
    seconds of load (never when `every_s` is 0)."""

    def __init__(self, plan, directory: str | Path, every_s: float, so_far: RunSoFar | None = None):
        self.path = Path(directory) / CHECKPOINT_NAME
        self.every_s = every_s
        self.so_far = so_far if so_far is not None else RunSoFar(plan)
        self.own = so_far is None  # whether update() adds the windows itself
        self.written_t = 0.0
        self.written = 0

    def update(self, win) -> None:
        if self.own:
            self.so_far.add(win)
        if self.every_s > 0 and win.t - self.written_t >= self.every_s:
            self.write()

    def write(self) -> Path:
        t = self.so_far.t
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        result = self.so_far.result(
            f"checkpoint at {t:.0f}s of load (written {when}): the run had not ended",
            {"t": round(t, 3), "written_at": when, "every_s": self.every_s}, series=False)
        # the series goes from the spool to the file line by line, never whole in memory
        result.series = [_SERIES_HERE]
        head, found, tail = result.to_json().partition(orjson.dumps([_SERIES_HERE]))
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "wb") as f:
            if found:
                f.write(head + b"[")
                for i, line in enumerate(self.so_far.series.lines()):
                    f.write(b"," + line if i else line)
                f.write(b"]" + tail)
            else:  # not expected; the checkpoint is written whole rather than lost
                result.series = self.so_far.series.points()
                f.write(result.to_json())
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, self.path)
        self.written_t = t
        self.written += 1
        return self.path

    def discard(self) -> None:
        """The final result is written: the checkpoint has served."""
        for path in (self.path, self.path.with_name(f".{self.path.name}.tmp")):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
