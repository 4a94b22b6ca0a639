"""The live view and the verdicts of a grouped run: a line per group, the group named in
every verdict, each group's failed checks judged by its own thresholds."""
import dataclasses
import io
from types import SimpleNamespace

from driver.errors import EXIT_OK, EXIT_THRESHOLD
from driver.reports.common import outcome
from driver.reports.live import PlainProgress, RichProgress
from driver.reports.summary import live_line
from driver.stats.result import Result
from driver.stats.thresholds import exit_code, parse_threshold, render
from tests.test_thresholds import MS, _endpoint, _window

PLAN = SimpleNamespace(duration_s=30.0, max_requests=None)


def _grouped_window(t: float):
    groups = {"api": _window(t, requests=80, p99=5 * MS, active_users=7),
              "websocket": _window(t, requests=20, errors=2, p99=MS, active_users=3)}
    return dataclasses.replace(_window(t, requests=100, active_users=10), groups=groups)


def test_the_live_line_has_a_line_per_group():
    lines = live_line(_grouped_window(1.0), 30.0).splitlines()
    assert len(lines) == 3
    assert lines[1].split()[:3] == ["api", "users", "7"] and "p99   5.00ms" in lines[1]
    assert lines[2].split()[:3] == ["websocket", "users", "3"]


def test_plain_progress_merges_each_groups_windows():
    stream = io.StringIO()
    progress = PlainProgress(PLAN, [], stream)
    for t in range(1, 6):
        progress.update(_grouped_window(float(t)))
    out = stream.getvalue().splitlines()
    assert len(out) == 3 and "req/s       100" in out[0]
    assert "errors     10" in out[2]  # 2 a second over the 5 s merged


def test_the_rich_view_shows_each_group():
    stream = io.StringIO()
    with RichProgress(PLAN, [], stream=stream) as progress:
        progress.update(_grouped_window(1.0))
    text = stream.getvalue()
    assert "scenario" in text and "api" in text and "websocket" in text


def _result(groups: dict) -> Result:
    endpoints = [ep for sub in groups.values() for ep in sub.endpoints]
    result = Result(plan={}, endpoints=endpoints, duration_s=10.0, started_at="", groups=groups,
                    validity={"valid": True})
    result.verdicts = [v for sub in groups.values() for v in sub.verdicts]
    return result


def _group(name: str, endpoint, verdicts=()) -> Result:
    return Result(plan={"name": name}, endpoints=[endpoint], duration_s=10.0, started_at="",
                  verdicts=[{**v, "group": name} for v in verdicts])


def _verdict(text: str, passed: bool) -> dict:
    th = parse_threshold(text)
    return {"threshold": th.text, "endpoint": th.endpoint, "metric": th.metric, "op": th.op, "limit": th.limit,
            "value": 0.01, "unit": th.unit, "passed": passed, "abort": False}


def test_a_groups_check_failure_rate_judges_its_own_checks_only():
    api = _endpoint("GET /a", [MS] * 10, checks=10, check_failed=2)
    ws = _endpoint("WS /echo", [MS] * 10, checks=10, check_failed=2)
    tolerated = _verdict("check_failure_rate<50%", True)
    # api tolerates its failed checks; websocket's are judged by nobody: the run fails
    result = _result({"api": _group("api", api, [tolerated]), "websocket": _group("websocket", ws)})
    assert exit_code(result) == EXIT_THRESHOLD
    assert outcome(result)["checks_failed"] == 2  # the reports say the same: websocket's two
    result = _result({"api": _group("api", api, [tolerated]), "websocket": _group("websocket", ws, [tolerated])})
    assert exit_code(result) == EXIT_OK
    assert outcome(result)["checks_failed"] == 0


def test_a_groups_verdict_is_rendered_with_its_group():
    v = {**_verdict("p99<300ms", False), "value": 320 * MS, "group": "api"}
    assert "FAIL  api › p99 = 320.00ms (limit < 300ms) FAILED" in render([v])


def test_a_groups_abort_threshold_watches_its_own_windows():
    import numpy as np

    from driver.layout import BlockLayout
    from driver.plan import Group
    from driver.planning import make_plan
    from driver.runner.groups import GroupView

    slow = make_plan("http://127.0.0.1:8080/a", users=1, duration="10s", workers=1,
                     thresholds=["p99<1ms abort=2s"])
    fast = make_plan("http://127.0.0.1:8080/b", users=1, duration="10s", workers=1)
    plan = dataclasses.replace(slow, thresholds=(), groups=(Group("fast", fast), Group("slow", slow)))
    block = SimpleNamespace(array=np.zeros(BlockLayout(1).length, dtype=np.int64))
    shm = SimpleNamespace(blocks=[block], group_blocks=[[block]], names=[], group_names=[[]])
    view = GroupView(plan, shm)
    hits = [view.watch({"fast": _window(float(t), p99=5 * MS), "slow": _window(float(t), p99=5 * MS)})
            for t in (1, 2, 3)]
    # only the slow group has the threshold; broken from 0 s, it fires once its 2 s of grace
    # are over, named with its group, and never again
    assert hits == [None, {"threshold": "slow: p99<1ms abort=2s", "t": 2.0, "group": "slow"}, None]
