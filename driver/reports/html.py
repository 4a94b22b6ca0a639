"""report.html: one self-contained page that works offline.

Tables and verdicts are rendered here, as escaped HTML, so the page reads without
JavaScript; the charts are drawn by uPlot (vendored, MIT, see vendor/) from a JSON
document embedded in a `<script type="application/json">` tag. The page references
nothing outside itself: no fonts, no CDNs, and a Content-Security-Policy that
forbids loading anything.

The charts' data is driver.reports.charts.chart_data.
"""
from __future__ import annotations

import functools
import html
from importlib import resources
from pathlib import Path

import orjson

from driver.stats.result import Result
from driver.durations import format_ns
from driver.reports import write_text
from driver.reports.charts import TOP_ENDPOINTS, chart_data
from driver.reports.capacity import capacity_html, capacity_script
from driver.reports.chaos import chaos_html, chaos_windows
from driver.reports.memory import memory_section
from driver.reports.target_metrics import metrics_section
from driver.reports.common import (
    checks_message,
    endpoint_rows,
    group_rows,
    error_kinds,
    format_limit,
    measured_text,
    outcome,
    rate_text,
    settings_items,
    totals,
    validity_figures,
    verdict_message,
)

MAX_CHECKS = 200
_HEADLINE = {
    "passed": ("All thresholds passed", "ok"),
    "done": ("Run complete", "ok"),
    "failed": ("Thresholds failed", "bad"),
    "checks failed": ("Checks failed", "bad"),
    "not valid": ("Not valid: the load generator was the bottleneck", "warn"),
    "incomplete": ("Run incomplete", "warn"),
}


def esc(value) -> str:
    return html.escape(str(value), quote=True)


@functools.lru_cache(maxsize=None)
def _asset(folder: str, name: str) -> str:
    text = (resources.files("driver.reports") / folder / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():  # would end the inline element early
        raise ValueError(f"{folder}/{name} cannot be inlined: it contains a closing tag")
    return text


def _json_for_script(data) -> str:
    # "<" only occurs inside JSON strings, where \u003c means the same: nothing can close the tag
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode().replace("<", "\\u003c")


# -- HTML pieces ----------------------------------------------------------------------


def _pill(text: str, kind: str) -> str:
    return f'<span class="pill {kind}">{esc(text)}</span>'


def _verdict_section(result: Result, out: dict) -> str:
    headline, kind = _HEADLINE[out["status"]]
    items = []
    for v in out["verdicts"]:
        items.append(_pill("pass", "ok") if v.get("passed") else _pill("fail", "bad"))
        items.append(f"<span>{esc(v.get('threshold', '?'))} — {esc(verdict_message(v))}"
                     f"{' (abort)' if v.get('abort') else ''}</span>")
    if not out["verdicts"]:
        items += [_pill("none", "none"), "<span>no thresholds</span>"]
    if out["checks_failed"]:
        items += [_pill("fail", "bad"), f"<span>{esc(checks_message(out['checks_failed']))}</span>"]
    if out["valid"] is None:
        items += [_pill("n/a", "none"), "<span>load generator validity: not assessed</span>"]
    elif out["valid"]:
        items += [_pill("valid", "ok"), "<span>the load generator was not the bottleneck</span>"]
    else:
        items += [_pill("not valid", "bad"), "<span>" + esc("; ".join(out["validity_reasons"])) + "</span>"]
    if out["notices"]:
        for notice in out["notices"]:
            items += [_pill(notice.split()[0].rstrip(":"), "warn"), f"<span>{esc(notice)}</span>"]
    else:
        items += [_pill("complete", "ok"), "<span>the run finished as planned</span>"]
    cls = out["status"].replace(" ", "-")
    mark = {"ok": "✔", "bad": "✘", "warn": "⚠"}[kind]
    return (f'<section class="verdict {cls}" id="verdict"><div><p class="headline {kind}">{mark} {esc(headline)}</p>'
            f'<div class="checks-list">{"".join(items)}</div></div></section>')


def _alerts(result: Result, out: dict) -> str:
    parts = []
    if out["valid"] is False:
        figures = validity_figures(result.validity)
        table = _kv_rows(figures) if figures else ""
        parts.append('<div class="alert bad" id="validity-alert"><h2>Not valid: these numbers measure the load '
                     "generator, not the target</h2><ul>"
                     + "".join(f"<li>{esc(r)}</li>" for r in out["validity_reasons"]) + "</ul>"
                     + (f'<table class="kv">{table}</table>' if table else "") + "</div>")
    if out["notices"]:
        parts.append('<div class="alert warn" id="run-alert"><h2>The run did not cover the whole plan</h2><ul>'
                     + "".join(f"<li>{esc(n)}</li>" for n in out["notices"]) + "</ul></div>")
    return "".join(parts)


def _cards(result: Result, rows: list[dict]) -> str:
    tot = next((r for r in rows if r["is_total"]), rows[0] if rows else None)
    if tot is None:
        return ""
    lat = tot["latency"]
    rate = tot["error_rate"]
    peak = max((p.get("active_users", 0) for p in result.series), default=None)
    cards = [
        ("requests", f"{tot['count']:,}", False),
        ("throughput", f"{tot['rps']:,.1f}/s", False),
        ("error rate", rate_text(rate), bool(rate)),
        ("p50", format_ns(lat["p50_ns"]), False),
        ("p99", format_ns(lat["p99_ns"]), False),
        ("max", format_ns(lat["max_ns"]), False),
        ("peak users", f"{peak:,}" if peak is not None else "–", False),
        ("duration", f"{result.duration_s:,.1f}s", False),
    ]
    for label, n in (("unanswered at the end", tot["errors_by_kind"]["unfinished"]),
                     ("arrivals dropped", tot["errors_by_kind"]["dropped"])):
        if n:  # requests the target never answered, or never got: errors, shown where they are seen
            cards.append((label, f"{n:,}", True))
    return '<section class="cards">' + "".join(
        f'<div class="card"><div class="label">{esc(label)}</div>'
        f'<div class="value{" bad" if bad else ""}">{esc(value)}</div></div>' for label, value, bad in cards
    ) + "</section>"


def _thresholds(out: dict) -> str:
    if not out["verdicts"]:
        return '<section id="thresholds"><h2>Thresholds</h2><p class="muted">No thresholds.</p></section>'
    rows = []
    for v in out["verdicts"]:
        unit = v.get("unit", "")
        rows.append(
            "<tr>"
            f'<td class="text">{_pill("pass", "ok") if v.get("passed") else _pill("fail", "bad")}</td>'
            f'<td class="text"><code>{esc(v.get("threshold", "?"))}</code></td>'
            f'<td class="name">{esc(_verdict_scope(v))}</td>'
            f'<td class="{"" if v.get("passed") else "bad"}">{esc(measured_text(v))}</td>'
            f'<td class="text">{esc(v.get("op", ""))} {esc(format_limit(v.get("limit"), unit))}</td>'
            f'<td class="text">{"aborts the run" if v.get("abort") else ""}</td></tr>')
    return ('<section id="thresholds"><h2>Thresholds</h2><div class="table-wrap"><table><thead><tr>'
            '<th class="text">result</th><th class="text">threshold</th><th class="text">endpoint</th>'
            '<th>measured</th><th class="text">limit</th><th class="text"></th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div></section>")


def _verdict_scope(v: dict) -> str:
    """What a threshold judges: an endpoint, all requests, or (a grouped run) a group's."""
    what = v.get("endpoint") or "all requests"
    return f"{v['group']} › {what}" if v.get("group") else what


def _charts(result: Result) -> str:
    boxes = []
    if result.series:
        boxes += [
            ("chart-throughput", "Throughput and errors", "requests per second; errors and throttled per second "
                                                          "on the right axis"),
            ("chart-latency", "Latency over time", "percentiles of each second's responses"),
            ("chart-users", "Users and requests in flight", "per second"),
            ("chart-generator", "Load generator", "the busiest worker's CPU share and the worst event-loop lag"),
        ]
        if result.groups:
            boxes += [("chart-groups-rps", "Throughput by scenario", "each group's requests per second"),
                      ("chart-groups-p99", "p99 by scenario", "each group's p99 latency, per second")]
    boxes.append(("chart-percentiles", "Latency distribution",
                  f"percentile plot (HdrHistogram style) of the {TOP_ENDPOINTS} busiest endpoints and the total"))
    toggle = ('<label class="toggle"><input type="checkbox" id="pct-log"> logarithmic latency axis</label>')
    body = "".join(f'<div class="chart-box{" wide" if cid == "chart-percentiles" else ""}"><h3>{esc(title)}</h3>'
                   f'<p class="hint">{esc(hint)}{toggle if cid == "chart-percentiles" else ""}</p>'
                   f'<div class="chart" id="{cid}"></div></div>' for cid, title, hint in boxes)
    note = "" if result.series else '<p class="muted">This result has no per-second series (a merged result).</p>'
    return f'<section id="charts"><h2>Charts</h2>{note}<div class="charts">{body}</div></section>'


def _num_td(value, text: str, bad: bool = False) -> str:
    return f'<td data-v="{esc(value)}"{" class=bad" if bad else ""}>{esc(text)}</td>'


def _endpoints(rows: list[dict], section: str = 'id="endpoints"', title: str = "Endpoints") -> str:
    heads = ["endpoint", "requests", "req/s", "errors", "error rate", "throttled", "checks failed",
             "p50", "p90", "p95", "p99", "p99.9", "max", "mean"]
    body = []
    for r in rows:
        lat = r["latency"]
        rate = r["error_rate"]
        cells = [f'<td class="name">{esc("total" if r["is_total"] else r["name"])}</td>',
                 _num_td(r["count"], f"{r['count']:,}"), _num_td(r["rps"], f"{r['rps']:,.1f}"),
                 _num_td(r["failures"], f"{r['failures']:,}", r["failures"] > 0),
                 _num_td(-1 if rate is None else rate, rate_text(rate), bool(rate)),
                 _num_td(r["throttled"], f"{r['throttled']:,}"),
                 _num_td(r["check_failures"], f"{r['check_failures']:,} / {r['checks']:,}" if r["checks"] else "–",
                         r["check_failures"] > 0)]
        for key in ("p50_ns", "p90_ns", "p95_ns", "p99_ns", "p99_9_ns", "max_ns", "mean_ns"):
            cells.append(_num_td(lat[key] if lat[key] is not None else -1, format_ns(lat[key])))
        body.append(f'<tr{" class=total" if r["is_total"] else ""}>{"".join(cells)}</tr>')
    head = "".join(f'<th{" class=text" if i == 0 else ""}>{esc(h)}</th>' for i, h in enumerate(heads))
    return (f'<section {section}><h2>{esc(title)}<span class="note">flows and iterations count whole ones; '
            'errors: transport (unanswered and dropped included) + HTTP 4xx/5xx not throttled; click a column '
            'to sort</span></h2><div class="table-wrap"><table class="sortable"><thead><tr>' + head
            + "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div></section>")


def _groups(result: Result) -> str:
    """A grouped run: a table of the groups, then each group's endpoints in a section of its own."""
    heads = ["scenario", "settings", "requests", "req/s", "errors", "error rate", "users", "p50", "p99", "thresholds"]
    body = []
    for r in group_rows(result):
        lat, rate = r["latency"], r["error_rate"]
        verdict = ("–", "") if r["passed"] is None else ("passed", "ok") if r["passed"] else ("FAILED", "bad")
        body.append(
            f'<tr><td class="name">{esc(r["name"])}</td><td class="name">{esc(r["description"])}</td>'
            + _num_td(r["count"], f"{r['count']:,}") + _num_td(r["rps"], f"{r['rps']:,.1f}")
            + _num_td(r["failures"], f"{r['failures']:,}", r["failures"] > 0)
            + _num_td(-1 if rate is None else rate, rate_text(rate), bool(rate))
            + _num_td(r["users"], f"{r['users']:,}")
            + "".join(_num_td(lat[k] if lat[k] is not None else -1, format_ns(lat[k])) for k in ("p50_ns", "p99_ns"))
            + f'<td class="{verdict[1]}">{verdict[0]}</td></tr>')
    head = "".join(f'<th{" class=text" if i < 2 else ""}>{esc(h)}</th>' for i, h in enumerate(heads))
    parts = ['<section id="scenarios"><h2>Scenarios<span class="note">each group over its own span; '
             'thresholds: its own</span></h2><div class="table-wrap"><table class="sortable"><thead><tr>' + head
             + "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div></section>"]
    for i, (name, sub) in enumerate(result.groups.items()):
        parts.append(_endpoints(endpoint_rows(sub), f'id="scenario-{i}" class="scenario"', f"Scenario {name}"))
    return "".join(parts)


def _notes(result: Result) -> str:
    """What happened beside the load (result.notes): '' when nothing did."""
    if not result.notes:
        return ""
    return ('<section id="notes"><h2>Notes</h2><ul>' + "".join(f"<li>{esc(n)}</li>" for n in result.notes)
            + "</ul></section>")


def _bars(items: list[tuple[str, int]], css=lambda label: "") -> str:
    top = max((n for _, n in items), default=0) or 1
    return '<div class="bars">' + "".join(
        f'<div>{esc(label)}</div><div><div class="bar {css(label)}" style="width:{max(0.3, 100 * n / top):.1f}%">'
        f'</div></div><div class="n">{n:,}</div>' for label, n in items) + "</div>"


def _kind_css(label: str) -> str:
    return "throttled" if label.startswith("throttled") else "checks" if label.startswith("checks") else ""


def _errors(result: Result, rows: list[dict]) -> str:
    kinds = error_kinds(result)
    status = totals(result).status
    responses = _bars([(f"HTTP {k}", n) for k, n in status.items() if n],
                      lambda label: "ok" if label.startswith("HTTP 2") else "")
    if kinds:
        by_kind = _bars(kinds, _kind_css)
    else:
        by_kind = '<p class="muted">No errors.</p>'
    bad = [r for r in rows if not r["is_total"] and (r["failures"] or r["throttled"] or r["check_failures"])]
    table = ""
    if bad:
        kinds_seen = [k for k in bad[0]["errors_by_kind"] if any(r["errors_by_kind"][k] for r in bad)]
        heads = ["endpoint", *[k.replace("_", " ") for k in kinds_seen], "HTTP 4xx", "HTTP 5xx", "throttled",
                 "checks failed"]
        body = "".join(
            "<tr>" + f'<td class="name">{esc(r["name"])}</td>'
            + "".join(f"<td>{r['errors_by_kind'][k]:,}</td>" for k in kinds_seen)
            + "".join(f"<td>{n:,}</td>" for n in r["http_errors_by_class"].values()) + f"<td>{r['throttled']:,}</td>"
            + f"<td>{r['check_failures']:,}</td></tr>" for r in bad)
        table = ('<h3>By endpoint</h3><div class="table-wrap"><table><thead><tr>'
                 + "".join(f'<th{" class=text" if i == 0 else ""}>{esc(h)}</th>' for i, h in enumerate(heads))
                 + f"</tr></thead><tbody>{body}</tbody></table></div>")
    return (f'<section id="errors"><h2>Errors and responses</h2><div class="grid2"><div><h3>Errors by kind</h3>'
            f"{by_kind}</div><div><h3>Responses by status</h3>{responses or '<p class=muted>No responses.</p>'}"
            f"</div></div>{table}</section>")


def _checks(result: Result) -> str:
    if not result.checks:
        return ""
    shown = result.checks[:MAX_CHECKS]
    more = len(result.checks) - len(shown)
    body = "".join(f"<tr><td>{int(c.get('failures', 0)):,}</td><td class=\"name\">{esc(c.get('endpoint', ''))}</td>"
                   f"<td class=\"reason\">{esc(c.get('reason', ''))}</td></tr>" for c in shown)
    return ('<section id="checks"><h2>Failed checks</h2><div class="table-wrap"><table><thead><tr>'
            '<th>failures</th><th class="text">endpoint</th><th class="text">reason</th></tr></thead><tbody>'
            + body + "</tbody></table></div>"
            + (f'<p class="muted">… and {more:,} more in result.json</p>' if more > 0 else "") + "</section>")


def _value(v, key: str = "") -> str:
    if v is None:
        return '<span class="muted">–</span>'
    if key == "shape" and isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 for p in v):
        return esc(" → ".join(f"{p[1]:g} at {p[0]:g}s" for p in v))
    if isinstance(v, float):
        return esc(f"{v:,.3f}".rstrip("0").rstrip("."))
    if isinstance(v, dict):
        return f'<table class="kv">{_kv_rows(v.items())}</table>' if v else '<span class="muted">–</span>'
    if isinstance(v, (list, tuple)):
        if not v:
            return '<span class="muted">–</span>'
        if all(not isinstance(x, (dict, list, tuple)) for x in v):
            return esc(", ".join(str(x) for x in v))
        text = orjson.dumps(v).decode()
        return f"<code>{esc(text[:4000])}{'…' if len(text) > 4000 else ''}</code>"
    return esc(v)


def _kv_rows(items) -> str:
    return "".join(f"<tr><th>{esc(k)}</th><td>{_value(v, k)}</td></tr>" for k, v in items)


def _workers(result: Result) -> str:
    if not result.workers:
        return ""
    keys = list(dict.fromkeys(k for w in result.workers for k in w))
    body = "".join("<tr>" + "".join(f"<td>{_value(w.get(k))}</td>" for k in keys) + "</tr>" for w in result.workers)
    return ('<h3>Workers</h3><div class="table-wrap"><table><thead><tr>'
            + "".join(f"<th>{esc(k.replace('_', ' '))}</th>" for k in keys) + f"</tr></thead><tbody>{body}"
            "</tbody></table></div>")


def _settings(result: Result) -> str:
    return ('<section id="settings"><h2>Settings and environment</h2><div class="grid2">'
            f'<div><h3>Plan</h3><table class="kv">{_kv_rows((result.plan or {}).items())}</table></div>'
            f'<div><h3>Environment</h3><table class="kv">{_kv_rows((result.environment or {}).items())}</table>'
            f"</div></div>{_workers(result)}</section>")


# -- the page -----------------------------------------------------------------------


def render_html(result: Result) -> str:
    """The whole page as a str."""
    out = outcome(result)
    rows = endpoint_rows(result)
    settings = dict(settings_items(result))
    subtitle = " · ".join(f"{esc(k)} <b>{esc(v)}</b>" for k, v in settings.items() if k != "target")
    title = f"driver report — {settings.get('target', '')} — {result.started_at}"
    csp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
    env = result.environment or {}
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="driver {esc(env.get("driver", ""))}">',
        f"<title>{esc(title)}</title>",
        f"<style>{_asset('vendor', 'uPlot.min.css')}\n{_asset('assets', 'report.css')}</style></head><body>",
        f'<header class="top"><h1>Load test report: {esc(settings.get("target", ""))}</h1>'
        f'<div class="sub">{subtitle}</div></header><main>',
        _alerts(result, out),
        _verdict_section(result, out),
        _cards(result, rows),
        _thresholds(out),
        capacity_html(result, _json_for_script),
        _charts(result),
        chaos_html(result, esc),
        memory_section(result),
        metrics_section(result),
        _notes(result),
        _groups(result) if result.groups else _endpoints(rows),
        _errors(result, rows),
        _checks(result),
        _settings(result),
        "</main><footer>Generated by driver"
        f"{esc(' ' + env['driver']) if env.get('driver') else ''} · charts by uPlot (MIT)</footer>",
        f'<script type="application/json" id="driver-data">'
        f'{_json_for_script({**chart_data(result), "chaos": chaos_windows(result)})}</script>',
        f"<script>{_asset('vendor', 'uPlot.iife.min.js')}</script>",
        capacity_script(result, _asset),
        f"<script>{_asset('assets', 'report.js')}</script>",
        "</body></html>\n",
    ])


def write_html(result: Result, path: Path) -> Path:
    return write_text(Path(path), render_html(result))
