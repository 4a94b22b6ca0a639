"""Live progress: plain lines off a terminal, the rich view on one, nothing when quiet."""
import io
import re
from types import SimpleNamespace

import pytest

from driver.reports.live import MAX_ENDPOINTS, PlainProgress, Progress, RichProgress, make_progress
from tests.test_thresholds import MS, _endpoint, _window

PLAN = SimpleNamespace(duration_s=30.0, max_requests=None)


def _endpoints(n):
    return [_endpoint(f"/ep{i}", [MS] * (50 - i) + [3 * MS] * 50, resets=i) for i in range(n)]


def _feed(progress, seconds, **kw):
    for t in range(1, seconds + 1):
        progress.update(_window(float(t), **kw))


class _Tty(io.StringIO):
    def isatty(self):
        return True


KINDS = [
    # quiet, stream, kind
    (True, io.StringIO(), Progress),  # quiet: nothing at all
    (True, _Tty(), Progress),  # quiet wins over a terminal
    (False, io.StringIO(), PlainProgress),  # not a terminal: plain lines
    (False, _Tty(), RichProgress),  # a terminal: the rich view
]


@pytest.mark.parametrize("quiet,stream,kind", KINDS)
def test_make_progress_picks_the_kind(quiet, stream, kind):
    with make_progress(PLAN, [], quiet=quiet, stream=stream) as progress:
        assert type(progress) is kind


def test_quiet_writes_nothing():
    out = io.StringIO()
    with make_progress(PLAN, ["p99<1ms"], quiet=True, stream=out) as progress:
        _feed(progress, 12, p99=5 * MS)
    assert out.getvalue() == ""


def test_plain_writes_a_line_every_five_seconds():
    out = io.StringIO()
    with make_progress(PLAN, [], quiet=False, stream=out) as progress:
        _feed(progress, 12, requests=200, errors=1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # at 5 s and 10 s; 11-12 s wait for the next window
    assert lines[0].startswith("[   5.0/30s]") and lines[1].startswith("[  10.0/30s]")
    assert re.search(r"req/s\s+200\b", lines[0])  # the window's average
    assert re.search(r"errors\s+5 \(0\.50%\)", lines[0])  # summed over the window, with the error rate
    assert re.search(r"p99\s+10.00ms", lines[0]) and "failing" not in lines[0]


def test_plain_tolerates_jittered_points():
    out = io.StringIO()
    with make_progress(PLAN, [], quiet=False, stream=out) as progress:
        prev = 0.0
        for t in (1.002, 1.998, 3.004, 4.001, 4.999, 6.003, 9.998, 10.01):
            progress.update(_window(t, dt=t - prev))
            prev = t
    assert [line[:12] for line in out.getvalue().splitlines()] == ["[   5.0/30s]", "[  10.0/30s]"]


def test_plain_names_thresholds_failing_now():
    out = io.StringIO()
    with make_progress(PLAN, ["p99<5ms", "error_rate<1%", "mean<1ms"], quiet=False, stream=out) as progress:
        _feed(progress, 5, p99=8 * MS)
    assert out.getvalue().rstrip().endswith("failing now: p99<5ms")


def _rich(thresholds=(), plan=PLAN):
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)
    return make_progress(plan, thresholds, quiet=False, console=console), console


def test_rich_view_shows_figures_endpoints_and_failing_thresholds():
    progress, console = _rich(["p99<5ms", "/ep1:rps>1000", "rps>1"])
    with progress:
        _feed(progress, 3, p99=8 * MS, errors=2, rows=_endpoints(3))
    text = console.file.getvalue()
    for part in ("/ep0", "/ep1", "/ep2", "req/s", "users", "p99", "8.00ms", "3s / 30s", "27s left"):
        assert part in text
    assert "failing now" in text and "p99<5ms" in text and "/ep1:rps>1000" in text
    assert "rps>1 " not in text  # holding: not shown


def test_rich_view_keeps_the_busiest_endpoints():
    progress, console = _rich()
    with progress:
        progress.update(_window(1.0, rows=_endpoints(MAX_ENDPOINTS + 3)))
    text = console.file.getvalue()
    assert f"/ep{MAX_ENDPOINTS - 1}" in text and f"/ep{MAX_ENDPOINTS}" not in text
    assert "and 3 more" in text


def test_rich_view_with_a_request_count():
    progress, console = _rich(plan=SimpleNamespace(duration_s=None, max_requests=1000))
    with progress:
        _feed(progress, 2, requests=150, errors=50)
    assert "400 / 1000 requests" in console.file.getvalue()


def test_rich_render_before_the_first_point_and_close_twice():
    progress, console = _rich()
    console.print(progress.render(None))
    progress.close()
    progress.close()
    assert "starting" in console.file.getvalue()
