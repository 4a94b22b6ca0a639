"""Report writers: every format from a real run and from hand-made results.

One real run against an aiohttp server on loopback (some 500s and 429s among the
answers) gives a Result as the supervisor makes it; synthetic Results carry what a
small run does not: verdicts, validity, failed checks, aborts, hostile names, and a
one-hour soak's worth of series and histograms.
"""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import driver
from benchmarks.bench_reports import synthetic_result
from driver.errors import PlanError
from driver.layout import (
    C_ERR_CONN_RESET, C_ERR_CONNECT_REFUSED, C_LAT_MIN_NS, C_SENT, COUNTS_LEN, LAT_MIN_UNSET, N_COUNTERS, N_HISTS,
)
from driver.reports import FORMATS, parse_formats, write_reports
from driver.reports.csv import FAILURES_COLUMNS, HISTORY_COLUMNS, STATS_COLUMNS, history_rows, stats_rows
from driver.reports.charts import percentile_data
from driver.reports.html import render_html
from driver.reports.junit import render_junit
from driver.reports.markdown import render_markdown
from driver.reports.summary import render as render_summary
from driver.stats.result import EndpointResult, Result
from tests.servers import aiohttp_server
from tests.test_thresholds import MS, _endpoint, _iteration

EVIL = "<script>alert(1)</script>"
EVIL_REASON = '"><img src=x onerror=alert(2)> | `code` *bold*'
FILES = {"result.json", "report.html", "summary.md", "stats.csv", "stats_history.csv", "failures.csv", "junit.xml"}

# Locust 2.x, locust/stats.py (StatsCSV, StatsCSVFileWriter) with PERCENTILES_TO_REPORT
LOCUST_PERCENTILES = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]
LOCUST_STATS = ["Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
                "Min Response Time", "Max Response Time", "Average Content Size", "Requests/s", "Failures/s",
                *LOCUST_PERCENTILES]
LOCUST_HISTORY = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", *LOCUST_PERCENTILES,
                  "Total Request Count", "Total Failure Count", "Total Median Response Time",
                  "Total Average Response Time", "Total Min Response Time", "Total Max Response Time",
                  "Total Average Content Size"]
LOCUST_FAILURES = ["Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen"]


def _app():
    from aiohttp import web

    hits = {"n": 0}

    async def handler(request):
        hits["n"] += 1
        if hits["n"] % 20 == 0:
            return web.json_response({"error": "boom"}, status=500)
        if hits["n"] % 25 == 0:
            return web.json_response({"error": "slow down"}, status=429)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


@pytest.fixture(scope="module")
def real_result() -> Result:
    with aiohttp_server(_app) as srv:
        return driver.run(driver.make_plan(srv.url + "/api/items", users=2, requests=200, workers=1))


def _verdict(threshold, metric, op, limit, value, unit, passed, endpoint=None, abort=False):
    return {"threshold": threshold, "endpoint": endpoint, "metric": metric, "op": op, "limit": limit,
            "value": value, "unit": unit, "passed": passed, "abort": abort}


@pytest.fixture
def judged() -> Result:
    """A small synthetic run with thresholds (one failed), an invalid verdict, an abort and checks."""
    result = synthetic_result(seconds=30, endpoints=4, rps=200.0, users=20)
    result.endpoints[1].name = EVIL
    result.verdicts = [
        _verdict("p99<5s", "p99", "<", 5e9, 3.1e9, "ns", True),
        _verdict("p99<5s", "p99", "<", 5e9, 6.2e9, "ns", False, endpoint="/start", abort=True),
        _verdict("error_rate<1%", "error_rate", "<", 0.01, 0.002, "ratio", True),
        _verdict("rps>100", "rps", ">", 100.0, None, "rps", False, endpoint=EVIL),
    ]
    result.validity = {"valid": False, "reasons": ["the load generator was CPU-bound: a worker used >= 95% of a "
                                                   "core in 25 of 29 s (add workers, or lower the load per worker)"],
                       "figures": {"cpu_max_share": 0.99, "seconds_cpu_bound": 25, "seconds": 29,
                                   "lag_max_ns": 31_000_000, "late_share": 0.0}}
    result.aborted = {"threshold": "/start: p99<5s", "t": 12.0}
    result.complete = False
    result.reasons = ["aborted by threshold /start: p99<5s"]
    result.checks = [{"endpoint": EVIL, "reason": EVIL_REASON, "failures": 7},
                     {"endpoint": "/start", "reason": "status is 200", "failures": 3}]
    return result


def _errors_only_result() -> Result:
    """Every connection refused: an endpoint with errors and no latency at all."""
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    counters[C_ERR_CONNECT_REFUSED] = 50
    counters[C_SENT] = 0
    counters[C_LAT_MIN_NS] = LAT_MIN_UNSET  # nothing recorded
    ep = EndpointResult("GET /down", counters, np.zeros((N_HISTS, COUNTS_LEN), dtype=np.int64))
    return Result(plan={"target": "http://127.0.0.1:9", "mode": "closed", "shape": [[0.0, 1.0], [1.0, 1.0]],
                        "requests": [{"name": "GET /down", "method": "GET", "path": "/down"}]},
                  endpoints=[ep], duration_s=1.0, started_at="2026-01-01T00:00:00+00:00", complete=False,
                  reasons=["target refused every connection"])


# -- formats --------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("html,md", ("html", "md")),  # order kept
    ("json", ("json",)),
    (" HTML , markdown ,html", ("html", "md")),  # case, spaces, alias, repeat dropped
    ("all", FORMATS),
    (["csv", "junit"], ("csv", "junit")),  # a list works as well as a string
    ("", ()),  # nothing asked, nothing written
])
def test_parse_formats(text, expected):
    assert parse_formats(text) == expected


def test_parse_formats_rejects_an_unknown_format_with_one_message():
    with pytest.raises(PlanError) as exc:
        parse_formats("html,pdf")
    message = str(exc.value)
    assert "'pdf'" in message and all(f in message for f in FORMATS) and "\n" not in message


def test_every_format_from_a_real_run(real_result, tmp_path):
    paths = write_reports(real_result, tmp_path, FORMATS)
    assert {p.name for p in paths} == FILES
    assert all(p.stat().st_size > 0 for p in paths)
    assert not list(tmp_path.glob("*.tmp"))  # every file renamed into place
    back = Result.load(tmp_path / "result.json")
    assert back.totals().requests == real_result.totals().requests == 200 - real_result.totals().errors

    rows = list(csv.reader(io.StringIO((tmp_path / "stats.csv").read_text())))
    assert rows[0] == list(STATS_COLUMNS) == LOCUST_STATS
    ep, agg = rows[1], rows[-1]
    assert ep[:2] == ["GET", "/api/items"] and agg[:2] == ["", "Aggregated"]
    tot = real_result.totals()
    assert int(agg[2]) == tot.requests + tot.errors
    assert int(agg[3]) == tot.errors + tot.http_errors > 0  # the 500s (and 429s, unless counted as throttling)
    failures = list(csv.reader(io.StringIO((tmp_path / "failures.csv").read_text())))
    assert failures[0] == LOCUST_FAILURES
    assert sum(int(r[3]) for r in failures[1:] if r[2].startswith("HTTP")) == tot.http_errors

    md = (tmp_path / "summary.md").read_text()
    assert "➖ no thresholds" in md and "GET /api/items" in md
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite.get("name") == "driver thresholds"
    html = (tmp_path / "report.html").read_text()
    assert "No thresholds." in html and "GET /api/items" in html


def test_write_reports_creates_the_directory_and_writes_only_what_was_asked(real_result, tmp_path):
    out = tmp_path / "a" / "b"
    paths = write_reports(real_result, out, "md,junit")
    assert [p.name for p in paths] == ["summary.md", "junit.xml"]
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "summary.md"]


# -- CSV ------------------------------------------------------------------------------


def test_csv_columns_are_locusts():
    assert list(STATS_COLUMNS) == LOCUST_STATS
    assert list(HISTORY_COLUMNS) == LOCUST_HISTORY
    assert list(FAILURES_COLUMNS) == LOCUST_FAILURES


@pytest.mark.skipif(shutil.which("locust") is None, reason="Locust is not installed (pip install '.[bench]')")
def test_csv_columns_match_the_installed_locust(tmp_path):
    # in a child process: importing locust monkey-patches the interpreter (gevent)
    code = (
        "import json, sys\n"
        "from locust.env import Environment\n"
        "from locust.stats import PERCENTILES_TO_REPORT, StatsCSV, StatsCSVFileWriter\n"
        "env = Environment()\n"
        "w = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, sys.argv[1])\n"
        "print(json.dumps([w.requests_csv_columns, w.stats_history_csv_columns, w.failures_columns]))\n"
        "w.close_files()\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "locust")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    stats, history, failures = json.loads(out.stdout.strip().splitlines()[-1])
    assert [stats, history, failures] == [list(STATS_COLUMNS), list(HISTORY_COLUMNS), list(FAILURES_COLUMNS)]


def test_stats_rows_in_milliseconds_as_locust_writes_them(judged):
    rows = stats_rows(judged)
    names = [r[1] for r in rows[:-1]]
    assert names == sorted(names)  # Locust sorts by name
    agg = rows[-1]
    tot = judged.totals()
    lat = tot.latency()
    assert agg[2] == tot.requests + tot.errors and agg[3] == tot.errors + tot.http_errors
    assert agg[4] == round(lat["p50_ns"] / 1e6) and isinstance(agg[4], int)  # median: whole ms
    assert agg[5] == pytest.approx(lat["mean_ns"] / 1e6, abs=1e-6)  # average, min, max: exact, fractional ms
    assert agg[6] == pytest.approx(lat["min_ns"] / 1e6, abs=1e-6)
    assert agg[7] == pytest.approx(lat["max_ns"] / 1e6, abs=1e-6)
    assert agg[9] == pytest.approx((tot.requests + tot.errors) / judged.duration_s)
    pcts = agg[11:]
    assert len(pcts) == 11 and pcts == sorted(pcts) and all(isinstance(p, int) for p in pcts)
    assert pcts[-1] == round(lat["max_ns"] / 1e6) and pcts[7] == round(lat["p99_ns"] / 1e6)


def test_stats_row_of_an_endpoint_without_responses_says_na():
    rows = stats_rows(_errors_only_result())
    ep = rows[0]
    assert ep[:4] == ["GET", "/down", 50, 50]
    assert ep[11:] == ["N/A"] * 11


def test_history_has_one_aggregated_row_per_second(judged):
    rows = history_rows(judged)
    assert len(rows) == len(judged.series) == 30
    assert all(r[2] == "" and r[3] == "Aggregated" for r in rows)
    stamps = [r[0] for r in rows]
    assert stamps == sorted(stamps) and stamps[0] >= 1767225600  # unix seconds from started_at
    first = judged.series[0]
    assert rows[0][1] == first["active_users"]
    assert rows[0][4] == f"{first['rps']:2f}"  # Locust's own (odd) format: 6 decimals
    assert rows[0][6] == round(first["p50_ns"] / 1e6) and rows[0][7] == "N/A"  # 66%: not kept per second
    assert rows[-2][17] == sum(p["requests"] + p["errors"] for p in judged.series[:-1])  # running totals
    assert rows[-2][19:23] == ["N/A"] * 4
    agg = stats_rows(judged)[-1]  # the last row ends where stats.csv stands
    assert rows[-1][17:23] == [agg[2], agg[3], agg[4], agg[5], agg[6], agg[7]]


def test_failures_csv_lists_error_kinds_statuses_and_checks(judged, tmp_path):
    judged.endpoints[2].counters[C_ERR_CONN_RESET] = 4
    write_reports(judged, tmp_path, ["csv"])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "failures.csv").read_text())))
    errors = {r["Error"] for r in rows}
    assert "connection reset" in errors and "HTTP 5xx" in errors
    check = next(r for r in rows if r["Error"] == f"check failed: {EVIL_REASON}")
    assert check["Name"] == EVIL and check["Occurrences"] == "7"
    occurrences = [int(r["Occurrences"]) for r in rows]
    assert occurrences == sorted(occurrences, reverse=True)


# -- Markdown -------------------------------------------------------------------------


def test_markdown_puts_the_verdicts_first(judged):
    md = render_markdown(judged)
    first_table = md.index("### Endpoints")
    head = md[:first_table]
    assert md.startswith("## ❌")
    assert head.count("❌") >= 3 and head.count("✅") == 2  # 2 failed thresholds + invalid; 2 passed
    assert "| ❌ | /start: p99&lt;5s *(abort)* | 6.20s | &lt; 5s |" in head
    assert "no data" in head  # a threshold without a value
    assert "**not valid**" in head and "CPU-bound" in head
    assert "aborted at 12.0s by threshold /start: p99&lt;5s" in head
    assert md.index("### Failed checks") > first_table
    assert md.rstrip().endswith("</sub>") and "target http://127.0.0.1:8080" in md


def test_markdown_escapes_user_text(judged):
    md = render_markdown(judged)
    assert EVIL not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "<img" not in md
    row = next(line for line in md.splitlines() if "onerror" in line)
    assert len(re.split(r"(?<!\\)\|", row)) == 3 + 2  # the reason's "|" is escaped: still three cells


def test_markdown_without_thresholds_or_validity():
    md = render_markdown(_errors_only_result())
    assert "➖ no thresholds" in md and "➖ validity: not assessed" in md
    assert "- ⚠️ **incomplete: target refused every connection**" in md
    assert "connection refused 50" in md


# -- JUnit ----------------------------------------------------------------------------


def test_junit_parses_and_counts_failures(judged):
    root = ET.fromstring(render_junit(judged).encode())
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert suite.get("name") == "driver thresholds"
    assert len(cases) == int(suite.get("tests")) == 4 + 3
    failed = [c for c in cases if c.find("failure") is not None]
    # 2 thresholds, the failed checks no check_failure_rate threshold judges, validity, the run
    assert len(failed) == int(suite.get("failures")) == int(root.get("failures")) == 5
    messages = {c.get("name"): c.find("failure").get("message") for c in failed}
    assert messages["/start: p99<5s"] == "p99 on /start = 6.20s, limit < 5s"
    assert messages[f"{EVIL}: rps>100"].endswith("= no data, limit > 100 req/s")
    assert "CPU-bound" in messages["load generator valid"]
    assert "aborted at 12.0s" in messages["run complete"]
    assert "failed check and no check_failure_rate threshold" in messages["checks passed"]


def test_junit_all_good_and_hostile_text():
    result = synthetic_result(seconds=5, endpoints=2, rps=50.0)
    result.verdicts = [_verdict("p99<\x00\x1b5s & more", "p99", "<", 5e9, 1e6, "ns", True)]
    result.validity = {}
    root = ET.fromstring(render_junit(result).encode())
    suite = root.find("testsuite")
    # its checks all passed: a passing "checks passed" case
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "0", "1")
    assert suite.find("testcase").get("name") == "p99<\ufffd\ufffd5s & more"
    assert suite.find("testcase[@name='load generator valid']/skipped").get("message") == "not assessed"


# -- HTML -----------------------------------------------------------------------------


def _data_json(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="driver-data">(.*?)</script>', page, re.S)
    assert m, "no embedded data"
    return json.loads(m.group(1))


def _tags(page: str) -> list[tuple[str, list]]:
    """Every start tag of the page with its attributes (an HTML parser, not a regex)."""
    from html.parser import HTMLParser

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags = []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, attrs))

    parser = Tags()
    parser.feed(page)
    return parser.tags


def test_html_is_self_contained(judged):
    page = render_html(judged)
    tags = _tags(page)
    assert {t for t, _ in tags} <= {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3",
                                    "div", "main", "section", "p", "span", "b", "ul", "li", "table", "thead",
                                    "tbody", "tr", "th", "td", "code", "label", "input", "footer", "script"}
    loading = {"src", "href", "action", "formaction", "srcset", "poster", "data", "background", "ping"}
    assert not [(t, a) for t, attrs in tags for a, _ in attrs if a in loading]
    assert not re.search(r"url\(|@import", page, re.I)
    # http(s):// only in data: the target (text and JSON) and the banner comment of the vendored library
    without = re.sub(r'<script type="application/json" id="driver-data">.*?</script>', "", page, flags=re.S)
    without = without.replace(judged.plan["target"], "").replace("/*! https://github.com/leeoniya/uPlot", "")
    assert "http://" not in without and "https://" not in without
    csp = [dict(attrs).get("content", "") for t, attrs in tags if dict(attrs).get("http-equiv") ==
           "Content-Security-Policy"]
    assert csp and csp[0].startswith("default-src 'none';")  # the browser itself refuses to load anything
    assert page.count("<script") == 3  # data, uPlot, the report's own


def test_html_escapes_user_text(judged):
    page = render_html(judged)
    assert EVIL not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    data = _data_json(page)  # the JSON still holds the name as it was, \u003c-escaped in the page
    assert EVIL in [s["name"] for s in data["percentiles"]["series"]]
    assert "\\u003cscript" in page


def test_html_shows_verdicts_validity_and_notices(judged):
    page = render_html(judged)
    assert 'id="validity-alert"' in page and "CPU-bound" in page
    assert 'id="run-alert"' in page and "aborted at 12.0s" in page
    assert page.index('id="validity-alert"') < page.index('id="charts"')  # prominent: before everything else
    # 2 failed thresholds in the verdict and in the table, and the failed checks no threshold judges
    assert "Thresholds failed" in page and page.count('class="pill bad">fail<') == 2 + 2 + 1
    data = _data_json(page)
    assert data["aborted_t"] == 12.0 and len(data["series"]["t"]) == 30


def test_html_without_anything_to_judge():
    page = render_html(_errors_only_result())
    assert "No thresholds." in page and "not assessed" in page
    assert "has no per-second series" in page
    assert _data_json(page)["percentiles"] == {"x": [], "series": []}


def test_percentile_plot_runs_to_each_endpoints_maximum(judged):
    data = percentile_data(judged)
    xs = data["x"]
    assert xs[0] == 1.0 and xs == sorted(xs)
    assert [s["name"] for s in data["series"]][-1] == "total"
    for s, ep in zip(data["series"], sorted(judged.endpoints, key=lambda e: -e.requests)):
        values = [v for v in s["values"] if v is not None]
        assert values == sorted(values)  # a percentile curve never falls
        lat = ep.latency()
        assert values[0] == pytest.approx(lat["min_ns"] / 1e6, abs=1e-4)
        assert values[-1] == pytest.approx(lat["max_ns"] / 1e6, abs=1e-4)
        assert xs[len(values) - 1] == ep.requests  # the maximum sits at x = count


# -- the text summary -----------------------------------------------------------------


def _text_run(*endpoints, mode="closed") -> Result:
    return Result(plan={"target": "http://127.0.0.1:9", "mode": mode, "workers": 1}, endpoints=list(endpoints),
                  duration_s=5.0, started_at="")


def _row_of(text: str, name: str) -> list[str]:
    """The cells of the first table's row for `name` (cells are separated by 2+ spaces)."""
    line = next(ln for ln in text.splitlines() if ln.startswith(name + " "))
    return re.split(r"\s{2,}", line.strip())


def test_summary_shows_http_errors_where_transport_errors_are_none():
    # issue 8: every response a 401 read as "errors 0" in the table
    text = render_summary(_text_run(_endpoint("GET /me", [MS] * 500, e4xx=500)))
    heads = re.split(r"\s{2,}", text.splitlines()[2].strip())
    assert heads[:7] == ["endpoint", "requests", "req/s", "errors", "error rate", "transport errors", "HTTP errors"]
    cells = _row_of(text, "GET /me")
    assert cells[3:7] == ["500", "100.00%", "-", "4xx 500"]


def test_summary_shows_unanswered_and_dropped_requests():
    hung = _endpoint("/hang", [MS] * 450, sent=500, unfinished=50)
    open_loop = _endpoint("/o", [MS] * 90, sent=90, dropped=10, late=4)
    text = render_summary(_text_run(hung, open_loop, mode="open"))
    assert _row_of(text, "/hang")[3:6] == ["50", "10.00%", "unanswered 50"]
    assert _row_of(text, "/o")[3:6] == ["10", "10.00%", "dropped 10"]
    assert "unanswered at the end: 50 requests still in flight when the run ended" in text
    assert "600 arrivals, late 4, dropped 10 (never sent: errors)" in text


def test_every_format_shows_what_was_never_answered(tmp_path):
    hung = _endpoint("/hang", [MS] * 450, sent=500, unfinished=50)
    run = _text_run(hung, _endpoint("/o", [MS] * 90, sent=90, dropped=10), mode="open")
    run.plan["shape"] = [[0.0, 100.0], [5.0, 100.0]]
    page = render_html(run)
    for label, n in (("unanswered at the end", "50"), ("arrivals dropped", "10")):
        assert f'<div class="label">{label}</div><div class="value bad">{n}</div>' in page
    md = render_markdown(run)
    assert "unanswered at the end 50" in md and "arrival dropped (never sent) 10" in md
    assert "| /hang | 450 | 90.0 | 50 (10.00%) |" in md
    write_reports(run, tmp_path, ["csv"])
    failures = list(csv.DictReader(io.StringIO((tmp_path / "failures.csv").read_text())))
    assert {(r["Name"], r["Error"], r["Occurrences"]) for r in failures} == {
        ("/hang", "unanswered at the end", "50"), ("/o", "arrival dropped (never sent)", "10")}
    agg = stats_rows(run)[-1]
    assert agg[2:4] == [450 + 90 + 60, 60]  # Request Count and Failure Count include them


def test_summary_says_failed_checks_fail_the_run():
    run = _text_run(_endpoint("/a", [MS] * 10, checks=10, check_failed=4))
    assert "CHECKS FAILED: 4 failed checks and no check_failure_rate threshold: the run fails (exit 1)" \
        in render_summary(run)
    assert render_markdown(run).startswith("## ❌ driver: checks failed")
    run.verdicts = [_verdict("check_failure_rate<50%", "check_failure_rate", "<", 0.5, 0.4, "ratio", True)]
    assert "CHECKS FAILED" not in render_summary(run) and render_markdown(run).startswith("## ✅")


def test_summary_of_a_scenario_counts_iterations():
    text = render_summary(_text_run(_endpoint("/o", [MS] * 10), _iteration(40, dropped=10)))
    assert _row_of(text, "iteration")[1:6] == ["40", "8.0", "10", "20.00%", "dropped 10"]
    assert _row_of(text, "total")[1:6] == ["10", "2.0", "10", "50.00%", "dropped 10"]  # requests, its drops
    assert "dropped: 10 arrivals never sent (errors)" in text


# -- a soak run -----------------------------------------------------------------------


def test_one_hour_result_renders_every_format(tmp_path):
    result = synthetic_result()  # 3,600 points, 20 endpoints, ~7.2 million latencies
    paths = write_reports(result, tmp_path, FORMATS)
    assert {p.name for p in paths} == FILES
    history = (tmp_path / "stats_history.csv").read_text().splitlines()
    assert len(history) == 1 + 3600
    data = _data_json((tmp_path / "report.html").read_text())
    assert len(data["series"]["t"]) == 3600 and len(data["percentiles"]["series"]) == 6
    assert (tmp_path / "report.html").stat().st_size < 2_000_000  # the page stays light
    assert len(ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")) == 1 + 4 + 3
