"""--prometheus: /metrics during a real run, read with prometheus_client's own parser."""
import dataclasses
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from driver.errors import PlanError
from driver.planning import make_plan
from driver.runner.exporter import LADDER_S, Exporter, parse_address
from driver.runner.supervisor import run
from tests.servers import aiohttp_server, free_port, ok_app

parser = pytest.importorskip("prometheus_client.parser")
ROOT = Path(__file__).resolve().parents[1]


def scrape(url: str) -> dict:
    """{(sample name, frozenset(labels)): value} of one scrape."""
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    out = {}
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: dict, name: str, **labels) -> float:
    return samples[(name, frozenset(labels.items()))]


def check_histogram(samples: dict, endpoint: str) -> None:
    """Buckets cumulative (monotonic in le), +Inf == _count."""
    buckets = [value(samples, "driver_latency_seconds_bucket", endpoint=endpoint, le=repr(le)) for le in LADDER_S]
    assert buckets == sorted(buckets)
    inf = value(samples, "driver_latency_seconds_bucket", endpoint=endpoint, le="+Inf")
    assert buckets[-1] <= inf == value(samples, "driver_latency_seconds_count", endpoint=endpoint)


@pytest.mark.parametrize("text, address", [
    ("9464", ("127.0.0.1", 9464)),  # the host defaults to loopback
    (":9464", ("127.0.0.1", 9464)),
    ("0.0.0.0:9464", ("0.0.0.0", 9464)),
    ("[::1]:9464", ("::1", 9464)),
])
def test_addresses(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["x", "127.0.0.1:http", "70000"])
def test_bad_addresses_are_plan_errors(text):
    with pytest.raises(PlanError, match="--prometheus"):
        parse_address(text)


def test_a_run_scraped_while_it_lasts_ends_at_the_results_figures():
    secret = "tok3n-s3cret"
    with aiohttp_server(ok_app) as srv:
        plan = make_plan(srv.url + "/x", rate=200, duration="3s", workers=2, name=f"GET /x?key={secret}",
                         headers=(f"Authorization: Bearer {secret}",), thresholds=("p99<5s", "rps>1000000"))
        plan = dataclasses.replace(plan, secrets=(secret,))
        scrapes, stop = [], threading.Event()
        with Exporter(plan, "127.0.0.1", 0) as exporter:
            def scraper():
                while not stop.is_set():
                    scrapes.append(urllib.request.urlopen(exporter.url, timeout=5).read().decode())
                    time.sleep(0.25)

            thread = threading.Thread(target=scraper, daemon=True)
            thread.start()
            result = run(plan, on_progress=exporter.update)
            stop.set()
            thread.join(10)
            final = scrape(exporter.url)
    assert len(scrapes) >= 4
    assert all(secret not in text for text in scrapes)
    name = "GET /x?key=***"  # the secret masked in the label
    during = [scrape_text(t) for t in scrapes]
    counts = [value(s, "driver_requests_total", endpoint=name) for s in during if
              ("driver_requests_total", frozenset({("endpoint", name)})) in s]
    assert counts == sorted(counts) and counts[-1] > 0  # a counter: cumulative since the start
    ep = result.endpoints[0]
    assert value(final, "driver_requests_total", endpoint=name) == ep.count == 600
    assert value(final, "driver_sent_total", endpoint=name) == ep.sent
    for kind, n in ep.errors_by_kind.items():  # every kind, zero or not
        assert value(final, "driver_errors_total", endpoint=name, kind=kind) == n
    assert value(final, "driver_responses_total", endpoint=name, **{"class": "2xx"}) == ep.status["2xx"]
    assert value(final, "driver_latency_seconds_count", endpoint=name) == ep.count  # one latency per response
    for s in (*during, final):
        if ("driver_latency_seconds_count", frozenset({("endpoint", name)})) in s:
            check_histogram(s, name)
    assert value(final, "driver_run_valid") in (0, 1)
    assert value(final, "driver_run_valid") == (1 if result.validity["valid"] else 0)
    for verdict in result.verdicts:  # the thresholds so far, at the end: the result's verdicts
        assert value(final, "driver_threshold_passed", threshold=verdict["threshold"]) == int(verdict["passed"])
    assert value(final, "driver_threshold_passed", threshold="rps>1000000") == 0
    assert value(final, "driver_elapsed_seconds") > 0


def scrape_text(text: str) -> dict:
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in parser.text_string_to_metric_families(text) for s in f.samples}


def test_the_cli_serves_metrics_during_the_run(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with aiohttp_server(ok_app) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "driver.cli", "run", srv.url, "-r", "100", "-d", "3s",
                                 "-w", "1", "--prometheus", str(port), "-o", str(tmp_path), "-q",
                                 "--report", "json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen = []
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                seen.append(value(scrape(url), "driver_requests_total", endpoint="GET /"))
            except (OSError, KeyError):
                pass  # not listening yet, or no second yet
            time.sleep(0.2)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 4), err.decode()  # 4: a busy machine made arrivals late
    result = orjson.loads(next(tmp_path.glob("*/result.json")).read_bytes())
    assert seen and seen == sorted(seen)
    assert 0 < seen[-1] <= result["totals"]["count"] == 300


def test_a_busy_port_is_one_line_and_exit_2(tmp_path):
    with aiohttp_server(ok_app) as srv, socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", srv.url, "-d", "1", "-w", "1",
                               "--prometheus", f"127.0.0.1:{port}", "-o", str(tmp_path)],
                              cwd=ROOT, capture_output=True, timeout=60)
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2
    assert err.count("\n") == 0 and err.startswith("driver: error: --prometheus")
    assert "busy" in err
    assert not list(tmp_path.iterdir())  # no run started, no run directory


def test_hostile_endpoint_names_are_escaped_labels():
    # a quote, a backslash, a newline and non-ASCII in an endpoint name: the text still
    # parses, and the label reads back as the name
    name = 'GET /q?"x"\\y\nz — ünïcode ✓'
    with aiohttp_server(ok_app) as srv:
        plan = make_plan(srv.url + "/x", rate=50, duration="1s", workers=1, name=name)
        with Exporter(plan, "127.0.0.1", 0) as exporter:
            result = run(plan, on_progress=exporter.update)
            final = scrape(exporter.url)
    assert value(final, "driver_requests_total", endpoint=name) == result.endpoints[0].count == 50
    check_histogram(final, name)
