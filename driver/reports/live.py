"""Live progress while a run goes on: fed the supervisor's per-second windows
(driver.stats.window.Window), whose figures are read through the same accessors as
the final result's.

Three kinds, chosen by `make_progress`:
- a terminal: a `rich` view redrawn with each window (about once a second): time and a
  progress bar, users, req/s, error rate, p50/p99 of the last second, a line per
  group in a grouped run, the busiest endpoints, and the thresholds failing in the
  live windows ("failing now");
- not a terminal (CI logs, a pipe): one plain line every PLAIN_EVERY_S seconds;
- quiet: nothing.

Each is a context manager with `update(window)` and `close()`. `rich` is imported only
for the terminal view.
"""
from __future__ import annotations

import sys

from driver.reports.common import rate_text
from driver.reports.summary import live_line
from driver.stats.thresholds import LiveCheck, format_value
from driver.durations import format_ns

__all__ = ["make_progress", "Progress", "PlainProgress", "RichProgress", "PLAIN_EVERY_S", "MAX_ENDPOINTS",
           "MAX_METRICS", "metrics_text"]

PLAIN_EVERY_S = 5.0
MAX_ENDPOINTS = 8  # rows of the endpoint table: the busiest
_WINDOW_SLACK_S = 0.5  # windows end a few ms either side of whole seconds
MAX_METRICS = 6  # --metrics-url series shown live (all of them are in the result)


def metrics_text(window) -> list[tuple[str, str]]:
    """(series, last value) of the --metrics-url series a window carries (its `metrics`,
    driver.runner.metrics), the first MAX_METRICS; "-" for a value that is not a number."""
    values = getattr(window, "metrics", None) or {}
    return [(name, "-" if v is None else f"{v:.4g}") for name, v in list(values.items())[:MAX_METRICS]]


def replies_text(window) -> list[tuple[str, str]]:
    """(label, value) of the bot's replies in a window (its `reply:*` rows together), when
    the run follows replies at a mock: replies/s, their p99, missing replies."""
    from driver.stats.endpoint import EndpointResult, is_reply

    rows = [r for r in window.rows if is_reply(r.name)]
    if not rows:
        return []
    both = EndpointResult.merged("replies", rows)
    out = [("replies/s", f"{both.flows / window.dt:,.0f}" if window.dt > 0 else "-"),
           ("reply p99", format_ns(both.percentile(99)))]
    missing = both.errors_by_kind["reply_missing"]
    if missing:
        out.append(("no reply", f"{missing}"))
    return out


def make_progress(plan, thresholds=(), *, quiet: bool, stream=None, console=None) -> "Progress":
    """The progress display for `plan` (its duration_s / max_requests set the bar).

    `thresholds`: strings or Thresholds; those that can be judged live are shown when
    failing. `stream` defaults to sys.stdout; a rich view when it is a terminal (or when
    a rich `console` is given), plain lines otherwise; nothing when `quiet`.
    """
    if quiet:
        return Progress()
    stream = stream if stream is not None else sys.stdout
    if console is not None or _isatty(stream):
        return RichProgress(plan, thresholds, stream=stream, console=console)
    return PlainProgress(plan, thresholds, stream)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


class Progress:
    """Shows nothing (quiet); the base of the others."""

    def update(self, window) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PlainProgress(Progress):
    """One `live_line` per PLAIN_EVERY_S seconds: the windows since the last line merged
    into one (counts, req/s and percentiles of the whole span), then any threshold failing now."""

    def __init__(self, plan, thresholds, stream):
        self.duration_s = getattr(plan, "duration_s", None)
        self.live = LiveCheck(thresholds)
        self.stream = stream
        self.span = None  # the windows since the last line, merged

    def update(self, window) -> None:
        failing = [v for v in self.live.update(window) if not v["passed"]]
        self.span = window if self.span is None else self.span.merged(window)
        if self.span.dt < PLAIN_EVERY_S - _WINDOW_SLACK_S:
            return
        line = live_line(self.span, self.duration_s)
        line += "".join(f"  {name} {value}" for name, value in replies_text(self.span))
        line += "".join(f"  {name} {value}" for name, value in metrics_text(window))  # the latest values
        if failing:
            line += "  failing now: " + ", ".join(v["threshold"] for v in failing)
        self.stream.write(line + "\n")
        self.stream.flush()
        self.span = None


class RichProgress(Progress):
    """The terminal view: a `rich.live.Live` redrawn with each window (no refresh thread)."""

    def __init__(self, plan, thresholds, *, stream=None, console=None):
        from rich.console import Console
        from rich.live import Live

        self.duration_s = getattr(plan, "duration_s", None)
        self.max_requests = getattr(plan, "max_requests", None)
        self.live_check = LiveCheck(thresholds)
        self.console = console if console is not None else Console(file=stream or sys.stdout)
        self.done = 0  # attempts so far, for a --requests bar
        self.live = Live(self.render(None), console=self.console, auto_refresh=False, transient=False)
        self.started = False

    def __enter__(self) -> "RichProgress":
        self.start()  # "starting the workers..." while they spawn
        return self

    def start(self) -> None:
        if not self.started:
            self.live.start(refresh=True)
            self.started = True

    def update(self, window) -> None:
        self.done += window.total.attempts
        failing = [v for v in self.live_check.update(window) if not v["passed"]]
        self.start()
        self.live.update(self.render(window, failing), refresh=True)

    def close(self) -> None:
        if self.started:
            self.live.stop()
            self.started = False

    # -- drawing
    def render(self, window, failing=()):
        """The whole view for one window (None: before the first)."""
        from rich.console import Group
        from rich.text import Text

        if window is None:
            return Text("starting the workers...", style="dim")
        parts = [self._progress(window.t), self._figures(window)]
        if window.groups:  # a grouped run: a line per group
            parts.append(self._groups(window))
        if window.rows:
            parts.append(self._endpoints(window))
        for v in failing:
            when = "so far" if v["unit"] == "count" else "last second"  # live counts add up from the start
            value = f"  ({when}: {format_value(v['value'], v['unit'])})"
            parts.append(Text.assemble(("failing now  ", "bold red"), (v["threshold"], "red"), (value, "red")))
        return Group(*parts)

    def _progress(self, t: float):
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        if self.duration_s:
            left = max(0.0, self.duration_s - t)
            bar = ProgressBar(total=self.duration_s, completed=min(t, self.duration_s), width=40)
            label = f"{t:5.0f}s / {self.duration_s:g}s  ({left:.0f}s left)"
        elif self.max_requests:
            bar = ProgressBar(total=self.max_requests, completed=min(self.done, self.max_requests), width=40)
            label = f"{self.done} / {self.max_requests} requests  ({t:.0f}s)"
        else:
            return _text(f"{t:5.0f}s")
        grid.add_row(bar, label)
        return grid

    def _figures(self, w):
        from rich.text import Text

        tot = w.total
        rate = tot.error_rate
        fields = [
            ("users", f"{w.active_users}", ""),
            ("req/s", f"{w.rps:,.0f}", ""),
            ("errors", rate_text(rate), "red" if rate else ""),
            ("p50", format_ns(tot.percentile(50)), ""),
            ("p99", format_ns(tot.percentile(99)), ""),
            ("in flight", f"{w.in_flight}", ""),
        ]
        for label, n in (("dropped", tot.dropped), ("unanswered", tot.unfinished)):
            if n:
                fields.append((label, f"{n}", "yellow"))
        for label, value in replies_text(w):  # a bot's replies at the mock
            fields.append((label, value, "red" if label == "no reply" else ""))
        for pid, s in w.watch.items():  # --watch-pid
            fields.append((f"rss {pid}", f"{s.rss_bytes / 1e6:.1f}MB", ""))
        fields.extend((name, value, "") for name, value in metrics_text(w))  # --metrics-url
        if w.cpu_max >= 0.95:  # the driver itself may be the bottleneck
            fields.append(("worker cpu", f"{w.cpu_max:.0%}", "yellow"))
        text = Text()
        for label, value, style in fields:
            text.append(f"{label} ", style="dim")
            text.append(value, style=style or "bold")
            text.append("   ")
        return text

    def _groups(self, w):
        from rich.table import Table

        table = Table(box=None, padding=(0, 2), header_style="dim", show_edge=False)
        for name, justify in (("scenario", "left"), ("users", "right"), ("req/s", "right"), ("errors", "right"),
                              ("p50", "right"), ("p99", "right")):
            table.add_column(name, justify=justify)
        for name, g in w.groups.items():
            tot = g.total
            table.add_row(name, str(g.active_users), f"{g.rps:,.0f}", rate_text(tot.error_rate),
                          format_ns(tot.percentile(50)), format_ns(tot.percentile(99)))
        return table

    def _endpoints(self, w):
        from rich.table import Table

        table = Table(box=None, padding=(0, 2), header_style="dim", show_edge=False)
        for name, justify in (("endpoint", "left"), ("req/s", "right"), ("errors", "right"),
                              ("p50", "right"), ("p99", "right")):
            table.add_column(name, justify=justify)
        for e in w.rows[:MAX_ENDPOINTS]:
            table.add_row(e.name, f"{e.rate(w.dt) or 0.0:,.0f}", str(e.failures), format_ns(e.percentile(50)),
                          format_ns(e.percentile(99)))
        if len(w.rows) > MAX_ENDPOINTS:
            table.caption = f"and {len(w.rows) - MAX_ENDPOINTS} more"
        return table


def _text(s: str):
    from rich.text import Text

    return Text(s)
