"""A Prometheus exporter during the run (`--prometheus [HOST:]PORT`): GET /metrics.

It runs in the parent only, never in the workers: a stdlib HTTP server in a daemon
thread serves the text the parent renders once a second from the supervisor's progress
(`update(window)`, the on_progress path). The figures are the run so far
(driver.runner.checkpoint.RunSoFar: the windows added up), so every counter is
cumulative since the start, and at the end equals the result's:

- driver_requests_total{endpoint}, driver_sent_total{endpoint}: responses (flows or
  iterations for an aggregate endpoint) and requests sent;
- driver_errors_total{endpoint,kind}: transport errors by kind (timeouts, resets,
  dropped...); driver_http_errors_total{endpoint}: 4xx/5xx less throttling;
  driver_responses_total{endpoint,class}: responses by status class;
- driver_latency_seconds{endpoint} histogram (from the intended start): the fixed
  LADDER of `le` bounds, `_sum` and `_count`; a bound's count is of the HDR buckets
  whose lowest value is at or below it (exact to the histogram's 1/1024);
- gauges of the last second: driver_requests_per_second, driver_users,
  driver_in_flight, driver_connections, driver_generator_cpu_ratio (busiest worker,
  1.0 a whole core), driver_loop_lag_seconds (worst worker's mean);
- the run's fitness so far (driver.stats.validity): driver_run_valid (1/0),
  driver_run_invalid_reasons, driver_run_late_ratio; the thresholds so far:
  driver_threshold_passed{threshold} (1/0); driver_elapsed_seconds.

Label values pass through the plan's secret masking (driver.masking), so no secret
value reaches a label.
"""
from __future__ import annotations

import errno
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from driver.errors import PlanError
from driver.histogram import counts_index
from driver.layout import C_LAT_SUM_NS, C_SENT, H_LATENCY, HIGHEST_NS
from driver.masking import mask_secrets
from driver.runner.checkpoint import RunSoFar

__all__ = ["Exporter", "parse_address", "render", "LADDER_S", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# seconds: a 1-2.5-5 ladder from 0.5 ms to a minute (Prometheus' defaults, widened both ways)
LADDER_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_LADDER_INDEXES = np.array([counts_index(min(int(round(le * 1e9)), HIGHEST_NS)) for le in LADDER_S])


def parse_address(text: str) -> tuple[str, int]:
    """'[HOST:]PORT' -> (host, port); host 127.0.0.1 when not given; PlanError otherwise."""
    text = str(text).strip()
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise PlanError(f"--prometheus {text!r}: expected [HOST:]PORT, as 9464 or 0.0.0.0:9464",
                        flag="--prometheus") from None
    if not 0 <= number <= 65535:
        raise PlanError(f"--prometheus {text!r}: port outside 0..65535", flag="--prometheus")
    return host, number


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(int(value))


class _Text:
    """Families of samples, rendered in the text exposition format 0.0.4."""

    def __init__(self, secrets):
        self.lines: list[str] = []
        self.secrets = secrets

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value, **labels) -> None:
        if labels:
            masked = mask_secrets({k: str(v) for k, v in labels.items()}, self.secrets)
            inner = ",".join(f'{k}="{_label(v)}"' for k, v in masked.items())
            self.lines.append(f"{name}{{{inner}}} {_num(value)}")
        else:
            self.lines.append(f"{name} {_num(value)}")

    def text(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()


def render(so_far: RunSoFar, secrets=()) -> bytes:
    """The run so far as /metrics text."""
    out = _Text(secrets)
    eps = so_far.ordered()
    out.family("driver_requests_total", "counter", "Responses received, any status (flows or iterations "
               "finished for an aggregate endpoint), since the start.")
    for ep in eps:
        out.sample("driver_requests_total", ep.count, endpoint=ep.name)
    out.family("driver_sent_total", "counter", "Requests sent, since the start.")
    for ep in eps:
        out.sample("driver_sent_total", int(ep.counters[C_SENT]), endpoint=ep.name)
    out.family("driver_errors_total", "counter", "Transport errors (no valid HTTP response) by kind.")
    for ep in eps:
        for kind, n in ep.errors_by_kind.items():
            out.sample("driver_errors_total", n, endpoint=ep.name, kind=kind)
    out.family("driver_http_errors_total", "counter", "4xx and 5xx responses, less the throttled ones.")
    for ep in eps:
        out.sample("driver_http_errors_total", ep.http_errors, endpoint=ep.name)
    out.family("driver_responses_total", "counter", "Responses by status class.")
    for ep in eps:
        for cls, n in ep.status.items():
            out.sample("driver_responses_total", n, endpoint=ep.name, **{"class": cls})
    _latency(out, eps)
    _gauges(out, so_far)
    return out.text()


def _latency(out: _Text, eps) -> None:
    out.family("driver_latency_seconds", "histogram", "Latency from the intended start (open loop) "
               "or the send (closed loop), since the start.")
    for ep in eps:
        cumulative = np.cumsum(ep.hists[H_LATENCY], dtype=np.int64)
        count = int(cumulative[-1])
        for le, n in zip(LADDER_S, cumulative[_LADDER_INDEXES]):
            out.sample("driver_latency_seconds_bucket", int(n), endpoint=ep.name, le=repr(le))
        out.sample("driver_latency_seconds_bucket", count, endpoint=ep.name, le="+Inf")
        out.sample("driver_latency_seconds_sum", int(ep.counters[C_LAT_SUM_NS]) / 1e9, endpoint=ep.name)
        out.sample("driver_latency_seconds_count", count, endpoint=ep.name)


def _gauges(out: _Text, so_far: RunSoFar) -> None:
    win = so_far.last
    gauges = [
        ("driver_elapsed_seconds", "Seconds of load so far.", float(so_far.t)),
        ("driver_requests_per_second", "Responses per second over the last second.",
         float(win.rps) if win else 0.0),
        ("driver_users", "Active virtual users (or connections), all workers.", win.active_users if win else 0),
        ("driver_in_flight", "Requests in flight, all workers.", win.in_flight if win else 0),
        ("driver_connections", "Open connections, all workers.", win.connections if win else 0),
        ("driver_generator_cpu_ratio", "The busiest worker's CPU over the last second (1.0: a whole core).",
         float(win.cpu_max) if win else 0.0),
        ("driver_loop_lag_seconds", "The worst worker's mean event-loop lag over the last second.",
         win.lag_mean_ns / 1e9 if win else 0.0),
    ]
    for name, help_text, value in gauges:
        out.family(name, "gauge", help_text)
        out.sample(name, value)
    result = so_far.result("running", environment=False)
    validity = result.validity
    out.family("driver_run_valid", "gauge", "1 while the load generator is fit to measure (driver's "
               "validity rules), 0 once a rule is broken.")
    out.sample("driver_run_valid", 1 if validity.get("valid", True) else 0)
    out.family("driver_run_invalid_reasons", "gauge", "How many validity rules are broken.")
    out.sample("driver_run_invalid_reasons", len(validity.get("reasons", ())))
    out.family("driver_run_late_ratio", "gauge", "Share of the open-loop arrivals that started late.")
    out.sample("driver_run_late_ratio", float(validity.get("figures", {}).get("late_share") or 0.0))
    out.family("driver_threshold_passed", "gauge", "1 while a threshold holds on the run so far, else 0.")
    for verdict in result.verdicts:
        out.sample("driver_threshold_passed", 1 if verdict["passed"] else 0, threshold=verdict["threshold"])


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the http.server name)
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404, "only /metrics here")
            return
        body = self.server.exporter.body()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - no access log on the run's terminal
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a scrape in progress never holds up the end of the run


class _Server6(_Server):
    address_family = socket.AF_INET6


class Exporter:
    """Serves /metrics at (host, port) from `start()` to `stop()`; `update(window)` each second.

    `start()` binds at once: a busy port is a PlanError at --prometheus, before any load.
    """

    def __init__(self, plan, host: str, port: int, so_far: RunSoFar | None = None):
        self.plan = plan
        self.host = host
        self.port = port
        self.so_far = so_far if so_far is not None else RunSoFar(plan)
        self.own = so_far is None
        self.lock = threading.Lock()
        self._body = render(self.so_far, plan.secrets)
        self.server = None
        self.thread = None

    def start(self) -> "Exporter":
        where = f"{self.host}:{self.port}"
        server_cls = _Server6 if ":" in self.host else _Server
        try:
            self.server = server_cls((self.host, self.port), _Handler)
        except OSError as exc:
            why = "the port is busy" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise PlanError(f"--prometheus {where}: cannot listen there: {why}", flag="--prometheus") from None
        self.server.exporter = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="driver-prometheus", daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def update(self, win) -> None:
        if self.own:
            self.so_far.add(win)
        body = render(self.so_far, self.plan.secrets)
        with self.lock:
            self._body = body

    def body(self) -> bytes:
        with self.lock:
            return self._body

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> "Exporter":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
