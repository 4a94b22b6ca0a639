"""The Chaos section of the terminal summary, Markdown and HTML reports."""
from driver.chaos.analysis import chaos_results, malformed_answers
from driver.chaos.timeline import parse_timeline
from driver.reports.html import render_html
from driver.reports.markdown import render_markdown
from driver.reports.summary import render as render_summary
from driver.stats.result import Result
from tests.test_chaos_recovery import MS, series
from tests.test_thresholds import _endpoint

OUT = set(range(21, 31))


def chaos_result():
    s = series(60, replied=lambda t: 0 if t in OUT else 10, missing=lambda t: 10 if t - 2 in OUT else 0,
               p99=lambda t: 3000 * MS if 30 < t <= 35 else 100 * MS)
    for p in s:  # a bot whose breaker opens 2s into the outage and closes as it ends
        t = p["t"]
        calls = 1 if 22 < t <= 30 and t % 3 == 0 else (0 if 22 < t <= 30 else 20)
        p["api"] = {"calls": calls, "ok": 0 if 20 < t <= 30 else calls, "failed": calls if 20 < t <= 30 else 0}
    events = parse_timeline([({"at": 20, "duration": 10, "fault": "outage"}, "c.yaml:4"),
                             ({"at": 40, "duration": 5, "fault": "malformed", "kinds": ["truncated_json", "huge_body"]},
                              "c.yaml:5")])
    endpoints = [_endpoint("/webhook", [5 * MS] * 50),
                 _endpoint("chaos:malformed:truncated_json", [MS] * 4, e4xx=3, e5xx=1, checks=4, check_failed=1),
                 _endpoint("chaos:malformed:huge_body", [MS] * 4, e4xx=4, checks=4),
                 _endpoint("chaos:health", [MS] * 60, checks=60)]
    return Result(plan={"mode": "closed", "workers": 1, "target": "http://127.0.0.1:1"}, endpoints=endpoints,
                  duration_s=60.0, started_at="2026-11-30T00:00:00Z", series=s,
                  chaos=chaos_results(s, events, reply_timeout_s=2))


def test_chaos_results_combine_recovery_and_breaker():
    outage, malformed = chaos_result().chaos
    assert outage["recovery_s"] == 5.0 and malformed["recovery_s"] == 0.0
    assert outage["breaker"]["tripped"] and outage["breaker"]["time_to_trip_s"] == 2.0
    assert malformed["breaker"] is None
    kinds = {m["kind"]: m for m in malformed_answers(chaos_result().endpoints)}
    assert kinds["truncated_json"] == {"kind": "truncated_json", "sent": 4, "status": {"4xx": 3, "5xx": 1},
                                       "errors": 0, "failed": 1}


def test_the_terminal_summary_has_a_chaos_section():
    text = render_summary(chaos_result())
    chaos = text[text.index("chaos:"):]
    assert "outage (mode refuse), 20s–30s: recovery 5s; breaker: trip 2s, 3 calls while open, probe every 3s, " \
           "recover 0s" in chaos
    assert "malformed (kinds truncated_json,huge_body, rate 5.0), 40s–45s: recovery 0s" in chaos
    assert "truncated_json" in chaos and "4xx:3 5xx:1" in chaos
    assert "health endpoint: polled 60 times, 0 failed" in chaos
    assert "chaos:" not in render_summary(Result(plan={}, endpoints=[_endpoint("/", [MS])], duration_s=1.0,
                                                 started_at=""))


def test_markdown_and_html_have_a_chaos_section():
    md = render_markdown(chaos_result())
    assert "### Chaos" in md and "✅ 5s" in md and "| truncated\\_json | 4 | 4xx:3 5xx:1 | 0 | 1 |" in md
    page = render_html(chaos_result())
    assert '<section id="chaos">' in page and "recovery <b class=\"\">5s</b>" in page
    assert "Malformed input" in page


def test_a_never_recovered_event_says_why():
    r = chaos_result()
    r.chaos[0]["recovery_s"], r.chaos[0]["recovered"] = None, False
    r.chaos[0]["recovery_note"] = "not back within tolerance of the baseline before the run ended"
    assert "recovery never (not back within tolerance" in render_summary(r)
    assert "❌ never" in render_markdown(r)
    assert 'class="bad">never' in render_html(r)


def test_the_charts_data_carries_the_fault_windows():
    import json
    import re

    page = render_html(chaos_result())
    data = json.loads(re.search(r'id="driver-data">(.*?)</script>', page, re.S).group(1))
    assert data["chaos"] == [[20.0, 30.0, "outage"], [40.0, 45.0, "malformed"]]
