"""The reports of a bot run: endpoint tables grouped (requests, replies, api:, chaos:),
threshold verdicts that carry a note instead of a value, and the result's notes apart
from the memory figures — in the terminal summary, Markdown and HTML."""
from __future__ import annotations

import re

import pytest

from driver.reports.common import GROUPS, endpoint_group, endpoint_rows, grouped, measured_text, verdict_message
from driver.reports.html import render_html
from driver.reports.junit import render_junit
from driver.reports.markdown import md_escape, render_markdown
from driver.reports.memory import memory_section
from driver.reports.summary import render as render_summary
from driver.stats.endpoint import is_aggregate
from driver.stats.result import Result
from tests.test_chaos_reports import chaos_result
from tests.test_thresholds import MS, _endpoint

# name, count: the result's order mixes every group; counts make "by count" differ from it
MIXED = [("chaos:health", 60), ("reply:/start", 40), ("api:sendMessage", 90), ("/webhook /help", 30),
         ("reply_last:/start", 40), ("/webhook /start", 50), ("reply:/help", 30), ("api:getMe", 2),
         ("chaos:malformed:huge_body", 4), ("reply_last:/help", 30), ("flow:signup", 5)]
# endpoint_rows: each group by count (most first, then by name), reply_last:X right after reply:X
BY_COUNT = ["/webhook /start", "/webhook /help", "flow:signup",
            "reply:/start", "reply_last:/start", "reply:/help", "reply_last:/help",
            "api:sendMessage", "api:getMe",
            "chaos:health", "chaos:malformed:huge_body"]
# the terminal summary: each group in the result's order
AS_RECORDED = ["/webhook /help", "/webhook /start", "flow:signup",
               "reply:/start", "reply_last:/start", "reply:/help", "reply_last:/help",
               "api:sendMessage", "api:getMe",
               "chaos:health", "chaos:malformed:huge_body"]
OUTAGE_NOTE = "outage at 20s: never recovered (not back within tolerance of the baseline before the run ended)"
OTHER_NOTES = ["mock telegram API at http://127.0.0.1:8081", "--metrics-url http://127.0.0.1:9/metrics: cannot "
               "scrape (connection refused)"]


def _mixed() -> Result:
    return Result(plan={"mode": "closed", "workers": 1, "target": "http://127.0.0.1:1"},
                  endpoints=[_endpoint(name, [MS] * n, flows=is_aggregate(name)) for name, n in MIXED],
                  duration_s=10.0, started_at="2026-11-30T00:00:00Z")


def _names_in_order(text: str, names) -> list[str]:
    """`names` in the order of their first occurrence in `text` as a whole table cell or line start."""
    where = {}
    for name in names:
        m = re.search(r"(^|[\s|>])" + re.escape(name) + r"($|[\s|<])", text, re.M)
        assert m, name
        where[name] = m.start()
    return sorted(names, key=where.get)


@pytest.mark.parametrize("name, group", [
    ("/webhook /start", "requests"),  # a request of the plan
    ("GET /health", "requests"),
    ("flow:signup", "requests"),  # flows and iterations are what driver sent, too
    ("iteration", "requests"),
    ("reply:/start", "replies"),
    ("reply_last:/start", "replies"),
    ("api:sendMessage", "api"),
    ("chaos:malformed:truncated_json", "chaos"),
    ("chaos:health", "chaos"),
    ("replying", "requests"),  # only the prefixes with their colon count
])
def test_endpoint_group_by_prefix(name, group):
    assert GROUPS[endpoint_group(name)] == group


def test_endpoint_rows_group_then_count_with_the_total_last():
    result = _mixed()
    rows = endpoint_rows(result)
    assert [r["name"] for r in rows[:-1]] == BY_COUNT
    assert rows[-1]["is_total"] and rows[-1]["count"] == result.totals().count


def test_grouped_keeps_the_given_order_within_a_group():
    assert [ep.name for ep in grouped(_mixed().endpoints)] == AS_RECORDED


def test_a_last_reply_without_its_first_keeps_its_own_place():
    names = ["reply_last:/a", "reply:/b", "/x", "reply_last:/b"]
    assert grouped(names, name=str) == ["/x", "reply_last:/a", "reply:/b", "reply_last:/b"]


def test_every_endpoint_table_is_grouped():
    result = _mixed()
    summary = render_summary(result)
    table = summary[summary.index("endpoint"):summary.index("latency")]
    assert _names_in_order(table, AS_RECORDED) == AS_RECORDED
    assert table.rstrip().splitlines()[-1].startswith("total")
    latency = summary[summary.index("latency"):]
    assert _names_in_order(latency, AS_RECORDED) == AS_RECORDED

    md = render_markdown(result)
    md_table = md[md.index("### Endpoints"):]
    escaped = [md_escape(n) for n in BY_COUNT]  # reply\_last:...
    assert _names_in_order(md_table, escaped) == escaped
    assert "| **total** |" in md_table.splitlines()[4 + len(BY_COUNT)]

    page = render_html(result)
    html_table = page[page.index('<section id="endpoints">'):]
    html_table = html_table[:html_table.index("</section>")]
    cells = re.findall(r'<td class="name">([^<]*)</td>', html_table)
    assert cells == [*BY_COUNT, "total"]


def _noted_verdict() -> dict:
    return {"threshold": "recovery<30s", "endpoint": None, "metric": "recovery", "op": "<", "limit": 30e9,
            "value": None, "unit": "ns", "passed": False, "abort": False, "note": OUTAGE_NOTE}


def test_a_verdict_with_a_note_shows_the_note_not_no_data():
    v = _noted_verdict()
    assert measured_text(v) == OUTAGE_NOTE
    assert verdict_message(v) == f"recovery = {OUTAGE_NOTE}, limit < 30s"
    assert measured_text({**v, "note": ""}) == "no data"  # no note: as before
    assert measured_text({**v, "value": 12e9}) == "12.00s"  # a value wins over a note

    result = chaos_result()
    result.verdicts = [v]
    md = render_markdown(result)
    assert "no data" not in md
    assert f"| ❌ | recovery&lt;30s | {md_escape(OUTAGE_NOTE)} | &lt; 30s |" in md
    page = render_html(result)
    thresholds = page[page.index('<section id="thresholds">'):]
    thresholds = thresholds[:thresholds.index("</section>")]
    assert f'<td class="bad">{OUTAGE_NOTE}</td>' in thresholds and "no data" not in thresholds
    assert f"recovery = {OUTAGE_NOTE}" in page  # the verdict list at the top
    assert OUTAGE_NOTE in render_junit(result)


def _with_notes(notes, leak=None) -> Result:
    result = _mixed()
    result.notes = list(notes)
    result.leak = leak
    return result


LEAK = {"targets": {"4242": {"slope_mb_h": 36.1, "low_mb_h": 30.2, "high_mb_h": 41.0, "warmup_s": 60.0,
                             "points": 240}}, "driver": {}}


def test_other_notes_are_not_under_a_memory_heading():
    result = _with_notes(OTHER_NOTES)
    summary = render_summary(result)
    assert "memory slope" not in summary
    notes = summary[summary.index("\nnotes:"):]
    assert all(f"  {n}" in notes for n in OTHER_NOTES)

    assert memory_section(result) == ""  # no RSS, no leak verdict: no memory section
    page = render_html(result)
    assert "Memory (RSS)" not in page
    section = page[page.index('<section id="notes"><h2>Notes</h2>'):]
    assert all(f"<li>{n}</li>" in section for n in OTHER_NOTES)

    md = render_markdown(result)
    assert "### Notes" in md and all(f"- {md_escape(n)}" in md for n in OTHER_NOTES)
    assert "Memory" not in md


def test_memory_shows_only_the_leak_verdict_and_notes_stand_apart():
    result = _with_notes(OTHER_NOTES, LEAK)
    summary = render_summary(result)
    memory = summary[summary.index("memory slope"):summary.index("\nnotes:")]
    assert "pid 4242: +36.1 MB/h" in memory and not any(n in memory for n in OTHER_NOTES)
    assert all(n in summary[summary.index("\nnotes:"):] for n in OTHER_NOTES)

    section = memory_section(result)
    assert "pid 4242: +36.1 MB/h" in section and not any(n in section for n in OTHER_NOTES)
    page = render_html(result)
    assert page.index('<section id="memory">') < page.index('<section id="notes">')


def test_no_notes_no_notes_section():
    result = _with_notes([])
    assert "notes:" not in render_summary(result)
    assert '<section id="notes">' not in render_html(result)
    assert "### Notes" not in render_markdown(result)


def test_notes_are_escaped():
    evil = "<script>alert(1)</script> | *x*"
    result = _with_notes([evil])
    assert "<script>alert(1)" not in render_html(result).split('<script type="application/json"')[0]
    md = render_markdown(result)
    assert "<script>" not in md and "\\|" in md
