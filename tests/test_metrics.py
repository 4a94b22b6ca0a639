"""--metrics-url end to end, and the Prometheus text parser (driver.stats.exposition)
checked against prometheus_client's own parsers on text prometheus_client wrote.

The scraper runs against a real aiohttp server on loopback whose metrics change every
second; a `driver run` keeps a named series in result.json; a URL that refuses and an
endpoint that answers garbage are notes, not failures."""
from __future__ import annotations

import contextlib
import math
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from driver.errors import PlanError
from driver.planning import make_plan
from driver.runner.metrics import MAX_SERIES, Scraper, check_metrics, with_metrics
from driver.stats.exposition import ExpositionError, Sample, parse, parse_selector, series_name

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, Summary  # noqa: E402
from prometheus_client.exposition import generate_latest  # noqa: E402
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics  # noqa: E402
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRICKY = ['say "hi"', "back\\slash", "two\nlines", "ünïcødé ✓", "", "a,b=c}{", "trailing\\"]


def _registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    g = Gauge("queue_depth", "Jobs waiting, by queue", ["queue", "note"], registry=reg)
    for i, text in enumerate(TRICKY):
        g.labels(queue=f"q{i}", note=text).set(i * 1.5 - 2)
    g.labels(queue="nan", note="").set(float("nan"))
    g.labels(queue="inf", note="").set(float("inf"))
    g.labels(queue="-inf", note="").set(float("-inf"))
    c = Counter("jobs_done", "Jobs finished\nwith a \\ in help", ["kind"], registry=reg)
    c.labels(kind="mail").inc(7)
    s = Summary("rpc_seconds", "RPC time", registry=reg)
    for v in (0.1, 0.2, 0.4):
        s.observe(v)
    h = Histogram("req_seconds", "Request time", buckets=(0.1, 1.0, 10.0), registry=reg)
    for v in (0.05, 0.5, 5.0, 50.0):
        h.observe(v)
    Info("build", "Build info", registry=reg).info({"version": "1.2.3", "commit": 'ab"c'})
    return reg


def _reference(families) -> list[tuple]:
    return [(s.name, s.labels, s.value, s.timestamp) for f in families for s in f.samples]


def _mine(samples) -> list[tuple]:
    return [(s.name, s.label_dict, s.value, s.timestamp) for s in samples]


def _same(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for (n1, l1, v1, t1), (n2, l2, v2, t2) in zip(a, b):
        if (n1, l1, t1) != (n2, l2, t2):
            return False
        if not (v1 == v2 or (math.isnan(v1) and math.isnan(v2))):
            return False
    return True


HANDWRITTEN = r'''# HELP odd A help line with "quotes" and \\ and \n
# TYPE odd gauge
# a comment of no kind
odd{a="x\"y",b="z\\",} 3 1700000000123
odd{ a = "spaced" } -Inf
odd NaN
	odd{c=""} +Inf   1700000000000
untyped_thing 1e+06
'''


def test_the_parse_equals_prometheus_clients_on_its_own_exposition():
    text = generate_latest(_registry()).decode()
    assert 'say \\"hi\\"' in text and "two\\nlines" in text  # the tricky labels are in it, escaped
    mine = parse(text)
    assert _same(_mine(mine), _reference(text_string_to_metric_families(text)))
    assert len(mine) > 20


def test_the_parse_equals_prometheus_clients_on_openmetrics_text():
    text = generate_openmetrics(_registry()).decode()
    assert text.rstrip().endswith("# EOF")
    assert _same(_mine(parse(text)), _reference(parse_openmetrics(text)))


def test_the_parse_equals_prometheus_clients_on_handwritten_text():
    mine = parse(HANDWRITTEN)
    assert _same(_mine(mine), _reference(text_string_to_metric_families(HANDWRITTEN)))
    assert mine[0].labels == (("a", 'x"y'), ("b", "z\\"))
    assert mine[0].timestamp == pytest.approx(1700000000.123)  # milliseconds in 0.0.4, seconds here
    assert mine[0].family == "odd" and mine[-1].family == ""


@pytest.mark.parametrize("text, where", [
    ('x{a="never closed} 1\n', "line 1"),   # a quote never closed
    ("ok 1\nx{a=1} 2\n", "line 2"),        # an unquoted label value
    ("x one\n", "line 1"),                  # not a number
    ("x\n", "line 1"),                      # no value
    ("<html><body>hi</body></html>\n", "line 1"),  # an HTML page
    ("x 1 2 3\n", "line 1"),                # too many fields
])
def test_garbage_is_an_error_naming_its_line(text, where):
    with pytest.raises(ExpositionError, match=where):
        parse(text)


@pytest.mark.parametrize("selector, kept", [
    # a family name keeps its samples, a summary's quantiles, _sum and _count; no buckets
    ("rpc_seconds", {"rpc_seconds{quantile=\"0.5\"}", "rpc_seconds_sum", "rpc_seconds_count"}),
    ("req_seconds", {"req_seconds_sum", "req_seconds_count"}),
    ("req_seconds_bucket", {'req_seconds_bucket{le="1"}', 'req_seconds_bucket{le="+Inf"}'}),  # named: kept
    ('queue_depth{queue="mail"}', {'queue_depth{queue="mail"}'}),  # labels narrow it
    ("jobs", {'jobs_total{kind="a"}'}),  # a counter by its family name
    ("jobs_total", {'jobs_total{kind="a"}'}),
    ("queue", set()),  # a prefix is not a family
])
def test_selectors_keep_what_they_name(selector, kept):
    text = """# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 0.2
rpc_seconds_sum 0.7
rpc_seconds_count 3
# TYPE req_seconds histogram
req_seconds_bucket{le="1"} 2
req_seconds_bucket{le="+Inf"} 4
req_seconds_sum 55.5
req_seconds_count 4
# TYPE queue_depth gauge
queue_depth{queue="mail"} 3
queue_depth{queue="sms"} 5
# TYPE jobs counter
jobs_total{kind="a"} 9
"""
    sel = parse_selector(selector)
    assert {series_name(s) for s in parse(text) if sel.matches(s)} == kept


@pytest.mark.parametrize("bad", ["", "9lives", "x{a=b}", 'x{a="b"', "x y", 'x{a="b"}z'])
def test_bad_selectors_say_so(bad):
    with pytest.raises(ValueError):
        parse_selector(bad)


def test_series_names_escape_and_sort_labels():
    s = Sample("m", (("b", 'q"'), ("a", "n\nl")), 1.0)
    assert series_name(s) == 'm{a="n\\nl",b="q\\""}'
    assert series_name(Sample("m", (), 1.0)) == "m"


# --- the plan ----------------------------------------------------------------------


@pytest.mark.parametrize("urls, names, flag", [
    (("ftp://127.0.0.1/metrics",), ("x",), "--metrics-url"),
    (("127.0.0.1:9100/metrics",), ("x",), "--metrics-url"),
    (("http://127.0.0.1:9100/metrics",), (), "--metrics-url"),  # no --metric: nothing to keep
    ((), ("x",), "--metric"),  # no URL to scrape
    (("http://127.0.0.1:9100/metrics",), ("x{y}",), "--metric"),
])
def test_bad_metrics_flags_are_plan_errors(urls, names, flag):
    with pytest.raises(PlanError) as err:
        check_metrics(urls, names)
    assert err.value.flag == flag


def test_metrics_reach_the_plan_once_each_and_its_description():
    plan = make_plan("http://127.0.0.1:9/", users=1, duration="1s", workers=1)
    plan = with_metrics(plan, ["http://u:pw@127.0.0.1:9100/metrics"] * 2, ["a", "a", "b"])
    assert plan.metrics_urls == ("http://u:pw@127.0.0.1:9100/metrics",)
    assert plan.metric_names == ("a", "b")
    described = plan.describe()
    assert described["metric_names"] == ["a", "b"]
    assert "pw" not in described["metrics_urls"][0]


# --- the scraper against real servers -------------------------------------------------


@contextlib.contextmanager
def metrics_server(body=None):
    """(url, hits) of an aiohttp server on loopback: `queue_depth{queue="mail"}` is the
    number of whole seconds since it started (it changes every second), or `body`."""
    started = time.monotonic()
    hits = []
    ready = threading.Event()
    box = {}

    async def handler(request):
        hits.append(time.monotonic())
        if body is not None:
            return web.Response(body=body, content_type="text/plain")
        n = int(time.monotonic() - started)
        text = ("# TYPE queue_depth gauge\n"
                f'queue_depth{{queue="mail"}} {n}\nqueue_depth{{queue="sms"}} 1\n'
                "# TYPE pool_in_use gauge\npool_in_use NaN\n")
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    def serve():
        import asyncio

        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/metrics", handler)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        box["port"] = site._server.sockets[0].getsockname()[1]
        box["loop"] = loop
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{box['port']}/metrics", hits
    finally:
        box["loop"].call_soon_threadsafe(box["loop"].stop)
        thread.join(10)


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/metrics"


def test_the_scraper_keeps_the_named_series_as_they_change():
    with metrics_server() as (url, hits):
        with Scraper([url], ['queue_depth{queue="mail"}', "pool_in_use", "missing_one"], period_s=0.25) as sc:
            seen = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(set(seen)) < 2:
                value = sc.latest().get('queue_depth{queue="mail"}')
                if value is not None:
                    seen.append(value)
                time.sleep(0.05)
            latest = sc.latest()
    assert len(set(seen)) >= 2  # it changed between scrapes
    assert set(latest) == {'queue_depth{queue="mail"}', "pool_in_use"}
    assert latest["pool_in_use"] is None  # NaN has no JSON spelling
    assert len(hits) >= 2
    assert sc.notes == [f"--metric missing_one: no such series at {url}"]


def test_a_refused_url_is_one_note_and_retried():
    url = _refused_url()
    with Scraper([url], ["x"], period_s=0.1) as sc:
        time.sleep(0.5)
    assert len(sc.notes) == 1 and sc.notes[0].startswith(f"--metrics-url {url}: cannot scrape")
    assert sc.latest() == {} and sc.scrapes == 0


def test_garbage_is_one_note_not_a_failure():
    with metrics_server(body=b"<html>not metrics</html>\n") as (url, hits):
        with Scraper([url], ["x"], period_s=0.1) as sc:
            deadline = time.monotonic() + 10
            while len(hits) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
    assert len(hits) >= 3  # retried
    assert len(sc.notes) == 1 and "not Prometheus text (line 1" in sc.notes[0]


def test_a_scrape_that_hangs_is_cut_below_the_period():
    with socket.socket() as listener:  # accepts, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/metrics"
        with Scraper([url], ["x"], period_s=0.5) as sc:
            t0 = time.monotonic()
            sc.scrape_once()
            took = time.monotonic() - t0
    assert took < 0.5 * 1.5  # the timeout is below the period (a ratio of it, not an absolute)
    assert any("no answer within" in n for n in sc.notes)


def test_series_from_several_urls_name_their_endpoint():
    with metrics_server() as (a, _), metrics_server() as (b, _):
        sc = Scraper([a, b], ["queue_depth"])
        sc.scrape_once()
    names = set(sc.latest())
    assert len(names) == 4 and all(" @127.0.0.1:" in n for n in names)


def test_too_many_series_are_cut_and_noted():
    body = "".join(f'many{{i="{i}"}} {i}\n' for i in range(MAX_SERIES + 10)).encode()
    with metrics_server(body=body) as (url, _):
        sc = Scraper([url], ["many"])
        sc.scrape_once()
    assert len(sc.latest()) == MAX_SERIES and "match 74 series" in sc.notes[0]


# --- a run ------------------------------------------------------------------------------


def driver_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True,
                          timeout=timeout)


def test_a_run_keeps_the_named_series_in_result_json_and_the_report(tmp_path, demo_target):
    refused = _refused_url()
    with metrics_server() as (url, _):
        done = driver_cli("run", demo_target.url + "/health", "-d", "3s", "-u", "2", "-w", "1", "-o", str(tmp_path),
                          "--metrics-url", url, "--metrics-url", refused, "--metric", 'queue_depth{queue="mail"}',
                          "--report", "html", "-q")
    assert done.returncode == 0, done.stderr.decode()
    (path,) = tmp_path.glob("*/result.json")
    result = orjson.loads(path.read_bytes())
    key = f'queue_depth{{queue="mail"}} @{url.split("/")[2]}'
    values = [p["metrics"][key] for p in result["series"] if key in p.get("metrics", {})]
    assert len(values) >= 2 and values == sorted(values) and values[-1] > values[0]
    assert result["complete"] is True  # the refused URL is a note, not an error
    assert [n for n in result["notes"] if n.startswith(f"--metrics-url {refused}")]
    assert result["plan"]["metric_names"] == ['queue_depth{queue="mail"}']
    html = (path.parent / "report.html").read_text()
    assert "Target metrics" in html and "queue_depth" in html


def test_metrics_url_without_metric_is_a_usage_error(tmp_path):
    done = driver_cli("run", "http://127.0.0.1:9/", "-d", "1s", "--metrics-url", "http://127.0.0.1:9/metrics")
    err = done.stderr.decode()
    assert done.returncode == 2 and err.count("\n") == 1
    assert err.startswith("driver: error: --metrics-url needs at least one --metric")


# --- the live view -------------------------------------------------------------------------


def _with_metrics(window, metrics: dict):
    """`window` carrying `metrics` as the supervisor's window does (a `metrics` field)."""
    import dataclasses

    from driver.stats.window import Window

    if "metrics" in {f.name for f in dataclasses.fields(Window)}:
        return dataclasses.replace(window, metrics=metrics)

    @dataclasses.dataclass(frozen=True, eq=False)
    class _Carrying(Window):
        metrics: dict = dataclasses.field(default_factory=dict)

    return _Carrying(**{f.name: getattr(window, f.name) for f in dataclasses.fields(Window)}, metrics=metrics)


def test_the_live_views_show_the_last_values():
    import io

    from driver.reports.live import PlainProgress
    from tests.test_live import _rich
    from tests.test_thresholds import _window

    progress, console = _rich()
    with progress:
        progress.update(_with_metrics(_window(1.0), {'queue_depth{queue="mail"}': 42.0, "pool_in_use": None}))
    shown = console.file.getvalue()
    assert 'queue_depth{queue="mail"}' in shown and "42" in shown and "pool_in_use" in shown
    stream = io.StringIO()
    plain = PlainProgress(None, (), stream)
    for t in range(1, 6):
        plain.update(_with_metrics(_window(float(t)), {"queue_depth": float(t * 10)}))
    assert stream.getvalue().rstrip().endswith("queue_depth 50")  # the last second's value


# --- the report ---------------------------------------------------------------------------


def test_the_report_charts_each_series_with_gaps_where_it_had_no_value():
    from driver.reports.target_metrics import metrics_data, metrics_section
    from driver.stats.result import Result

    series = [{"t": 1.0, "metrics": {"a": 1.0}}, {"t": 2.0, "metrics": {"a": None, "b": 5.0}}, {"t": 3.0},
              {"t": 4.0, "metrics": {"a": 3.0, "b": 6.0}}]
    result = Result(plan={"metrics_urls": ["http://127.0.0.1:9/metrics"]}, endpoints=[], duration_s=4.0, started_at="",
                    series=series)
    data = metrics_data(result)
    assert data["series"] == [{"name": "a", "values": [1.0, None, None, 3.0]},
                              {"name": "b", "values": [None, 5.0, None, 6.0]}]
    section = metrics_section(result)
    assert section.count("<svg") == 2 and "Target metrics" in section
    assert section.count("<circle") == 4 and "<polyline" not in section  # lone points: no line across a gap
    assert metrics_section(Result(plan={}, endpoints=[], duration_s=1.0, started_at="", series=[{"t": 1.0}])) == ""


def test_a_json_endpoint_keeps_numbers_only_and_broken_json_is_one_note():
    doc = b'{"a": "12", "b": 1e308, "c": true, "d": [1], "e": {"f": -3}, "u": "\xc3\xbc"}'
    with metrics_server(body=doc) as (url, _):
        sc = Scraper([url], ["json:a", "json:b", "json:c", "json:d", "json:e.f", "json:d[0]"])
        sc.scrape_once()
    # a string or a list is not a figure; true counts 1; a huge number stays as it is
    assert sc.latest() == {"json:b": 1e308, "json:c": 1.0, "json:e.f": -3.0, "json:d[0]": 1.0}
    with metrics_server(body=b'{"depth": 4, oops') as (url, hits):  # a lying server
        with Scraper([url], ["json:depth"], period_s=0.1) as sc:
            deadline = time.monotonic() + 10
            while len(hits) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
    assert len(hits) >= 3 and sc.latest() == {}  # retried, nothing kept
    assert len(sc.notes) == 1 and "not JSON" in sc.notes[0]
