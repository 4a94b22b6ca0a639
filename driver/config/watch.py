"""The `watch:` section of a config: what to watch on the target during the run, the
file's counterpart of --watch-pid, --metrics-url and --metric.

    watch:
      pids: [4242, 4243]                       # or one: pids: 4242
      metrics_url: http://127.0.0.1:9100/metrics   # or a list of URLs
      metrics: [queue_depth, 'pool_in_use{pool="db"}']

Each value is checked on its line: a pid that is not a whole number > 0, a URL that is
not http(s), a metric selector that does not parse (driver.stats.exposition), URLs
without metrics (or metrics without a URL), an unknown key. Whether the pids are
running is checked when the run starts (driver.runner.watch), not when the file is read
(`driver validate` may run elsewhere). The flags add to what the file gives.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from yaml.nodes import Node, SequenceNode

from driver.config.schema import Doc, join
from driver.masking import mask_url
from driver.stats.exposition import parse_selector

__all__ = ["read_watch", "WATCH_KEYS"]

WATCH_KEYS = ("pids", "metrics_url", "metrics")


def _items(doc: Doc, node: Node, where: str) -> list[tuple[Node, str]]:
    """(node, where) of a list's items, or of one scalar given alone."""
    if isinstance(node, SequenceNode):
        return [(item, join(where, i)) for i, item in enumerate(doc.seq(node, where))]
    return [(node, where)]


def read_watch(doc: Doc, node: Node) -> dict:
    """{"watch_pids", "metrics_urls", "metric_names"}: the plan fields, each a tuple."""
    got = doc.fields(node, "watch", WATCH_KEYS)
    pids, urls, names = [], [], []
    for item, at in _items(doc, got["pids"], "watch.pids") if "pids" in got else ():
        pids.append(doc.integer(item, at))
    for item, at in _items(doc, got["metrics_url"], "watch.metrics_url") if "metrics_url" in got else ():
        url = doc.string(item, at)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise doc.error(item, f"{at} must be an http(s) URL like http://127.0.0.1:9100/metrics, "
                                  f"got {mask_url(url)!r}")
        urls.append(url)
    for item, at in _items(doc, got["metrics"], "watch.metrics") if "metrics" in got else ():
        name = doc.string(item, at)
        try:
            parse_selector(name)
        except ValueError as exc:
            raise doc.error(item, f"{at}: {exc}") from None
        names.append(name)
    if urls and not names:
        raise doc.error(got["metrics_url"], "watch.metrics_url needs watch.metrics: the series to keep "
                                            "(a metric family, or NAME{label=\"value\"})")
    if names and not urls:
        raise doc.error(got["metrics"], "watch.metrics needs watch.metrics_url: the endpoint to scrape")
    return {"watch_pids": tuple(dict.fromkeys(pids)), "metrics_urls": tuple(dict.fromkeys(urls)),
            "metric_names": tuple(dict.fromkeys(names))}
