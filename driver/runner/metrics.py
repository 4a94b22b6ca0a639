"""--metrics-url: scrape the target's Prometheus endpoints once a second, in a thread.

A `--metric json:PATH` reads a number at a json path instead, from an endpoint that
answers JSON (a job API's `/stats` with `{"queue": {"depth": 12}}`: `json:queue.depth`),
kept in the series as `json:PATH`; true/false count as 1/0.

The supervisor's once-a-second loop must never wait on a target's endpoint, so the
scraping runs in a daemon thread of its own: each second it GETs every URL (a timeout
below one second, SCRAPE_TIMEOUT_S), parses the text (driver.stats.exposition) and
keeps the samples the user's --metric selectors match. The supervisor only reads
`latest()`: the values of the last successful scrape of each URL, which go into the
window's series point as `"metrics": {series: value}`.

A URL that fails (refused, a timeout, an HTTP error, text that is not the format) is
noted once per kind of failure in the result's notes and tried again the next second:
the load is not in error because the target's metrics are. A selector that matched
nothing during the whole run is noted at the end. Series are keyed by
driver.stats.exposition.series_name; with more than one URL, by `series @host:port`.
At most MAX_SERIES series are kept (a selector that matches a huge family does not
grow the result without bound); the rest are noted.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import orjson

from driver.errors import PlanError
from driver.masking import mask_url
from driver.scenario.session import json_path
from driver.stats.exposition import ExpositionError, finite_or_none, parse, parse_selector, series_name

__all__ = ["Scraper", "check_metrics", "with_metrics", "METRICS_URL_FLAG", "METRIC_FLAG", "SCRAPE_TIMEOUT_S", "MAX_SERIES"]

METRICS_URL_FLAG = "--metrics-url"
METRIC_FLAG = "--metric"
SCRAPE_TIMEOUT_S = 0.8  # below the 1 s period: a slow endpoint skips a second, never piles up
MAX_SERIES = 64
MAX_BODY = 16 * 1024 * 1024  # an exposition larger than this is not read
ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"


def check_metrics(urls, names, flag_url: str = METRICS_URL_FLAG, flag_metric: str = METRIC_FLAG) -> None:
    """PlanError (a usage error, before any load) for a URL that is not http(s), a
    selector that does not parse, or URLs without any --metric (there is no sensible
    default: an endpoint may export thousands of series) or names without a URL."""
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PlanError(f"{flag_url} {mask_url(url)!r}: not an http(s) URL", flag=flag_url)
    for name in names:
        try:
            parse_selector(name)
        except ValueError as exc:
            raise PlanError(f"{flag_metric} {exc}", flag=flag_metric) from None
    if urls and not names:
        raise PlanError(f"{flag_url} needs at least one {flag_metric} NAME: the series to keep "
                        f"(a metric family, or NAME{{label=\"value\"}})", flag=flag_url)
    if names and not urls:
        raise PlanError(f"{flag_metric} needs a {flag_url} to scrape", flag=flag_metric)


def with_metrics(plan, urls=(), names=()):
    """`plan` that also scrapes `urls` for the series `names` (--metrics-url, --metric),
    added to those of the config's `watch:`; checked as a whole (check_metrics)."""
    urls = tuple(dict.fromkeys([*plan.metrics_urls, *urls]))
    names = tuple(dict.fromkeys([*plan.metric_names, *names]))
    check_metrics(urls, names)
    if (urls, names) == (plan.metrics_urls, plan.metric_names):
        return plan
    return dataclasses.replace(plan, metrics_urls=urls, metric_names=names)


class Scraper:
    """The scraping thread; a context manager (started on enter, stopped on exit)."""

    def __init__(self, urls, names, period_s: float = 1.0, timeout_s: float = SCRAPE_TIMEOUT_S):
        self.urls = tuple(dict.fromkeys(urls))
        self.selectors = tuple(parse_selector(n) for n in dict.fromkeys(names))
        self.period_s = period_s
        self.timeout_s = min(timeout_s, period_s * 0.8)
        self.notes: list[str] = []
        self.scrapes = 0  # successful scrapes, all URLs
        self._latest: dict[str, dict[str, float | None]] = {}  # url -> {series: value}
        self._matched: set[str] = set()  # selector texts that matched something
        self._noted: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="driver-metrics", daemon=True)
        # straight to the target, as the workers connect: no proxy from the environment
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self) -> None:
        """Start scraping (nothing to do without URLs)."""
        if self.urls and not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def __enter__(self) -> "Scraper":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """End the thread (within one scrape's timeout) and note the selectors that never matched."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.timeout_s + 1)
        if self.scrapes:
            for sel in self.selectors:
                if sel.text not in self._matched:
                    self._note(("unmatched", sel.text), f"{METRIC_FLAG} {sel.text}: no such series at "
                               f"{', '.join(mask_url(u) for u in self.urls)}")

    def latest(self) -> dict[str, float | None]:
        """{series: value} of the last successful scrape of each URL (null for NaN/±Inf)."""
        with self._lock:
            out: dict[str, float | None] = {}
            for values in self._latest.values():
                out.update(values)
            return out

    def scrape_once(self) -> None:
        """One pass over the URLs (the thread calls it each period)."""
        for url in self.urls:
            try:
                values = self._scrape(url)
            except _Failed as exc:
                with self._lock:
                    self._latest.pop(url, None)  # a failed URL's old values are not repeated
                self._note((url, exc.kind), f"{METRICS_URL_FLAG} {mask_url(url)}: {exc} (retried every second)")
                continue
            with self._lock:
                self._latest[url] = values
                self.scrapes += 1

    # -- the thread
    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.scrape_once()
            next_at += self.period_s
            wait = next_at - time.monotonic()
            if wait < 0:  # a slow pass: skip, do not burst
                next_at, wait = time.monotonic(), 0
            self._stop.wait(wait)

    def _scrape(self, url: str) -> dict[str, float | None]:
        request = urllib.request.Request(url, headers={"Accept": ACCEPT, "User-Agent": "driver"})
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                body = response.read(MAX_BODY + 1)
                ctype = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raise _Failed("http", f"HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                raise _Failed("timeout", f"no answer within {self.timeout_s:g}s") from None
            raise _Failed("connect", f"cannot scrape: {getattr(reason, 'strerror', None) or reason}") from None
        if len(body) > MAX_BODY:
            raise _Failed("size", f"the metrics text is over {MAX_BODY // 2**20} MiB")
        if "json" in ctype or body[:1] in (b"{", b"["):
            return self._keep_json(url, body)
        try:
            samples = parse(body.decode("utf-8"), openmetrics=True if "openmetrics" in ctype else None)
        except (ExpositionError, UnicodeDecodeError) as exc:
            raise _Failed("format", f"not Prometheus text ({exc})") from None
        return self._keep(url, samples)

    def _keep_json(self, url: str, body: bytes) -> dict[str, float | None]:
        """The `json:PATH` selectors' numbers in a JSON answer (not numbers: left out)."""
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise _Failed("format", f"not JSON ({exc})") from None
        out: dict[str, float | None] = {}
        for sel in self.selectors:
            if sel.json_path is None:
                continue
            value = json_path(doc, sel.json_path, None)
            if isinstance(value, bool):
                value = float(value)
            if isinstance(value, (int, float)):
                self._matched.add(sel.text)
                out[sel.text + self._suffix(url)] = finite_or_none(float(value))
        return out

    def _suffix(self, url: str) -> str:
        return f" @{urlsplit(url).netloc.rpartition('@')[2]}" if len(self.urls) > 1 else ""

    def _keep(self, url: str, samples) -> dict[str, float | None]:
        suffix = self._suffix(url)
        out: dict[str, float | None] = {}
        for sample in samples:
            for sel in self.selectors:
                if sel.json_path is None and sel.matches(sample):
                    self._matched.add(sel.text)
                    out[series_name(sample) + suffix] = finite_or_none(sample.value)
                    break
        if len(out) > MAX_SERIES:
            self._note(("many", url), f"{METRICS_URL_FLAG} {mask_url(url)}: the --metric names match {len(out)} series; "
                                      f"the first {MAX_SERIES} are kept (name them more narrowly)")
            out = dict(list(out.items())[:MAX_SERIES])
        return out

    def _note(self, key: tuple[str, str], text: str) -> None:
        with self._lock:
            if key not in self._noted:
                self._noted.add(key)
                self.notes.append(text)


class _Failed(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
