"""The capacity search (Result.capacity, driver.stats.capacity) in every report: text lines,
Markdown, and report.html's section — a per-step table, and a chart of throughput and
p99 against the level (uPlot, drawn by assets/capacity.js from the JSON in
#driver-capacity) with the highest passing level, the first failing one and the knee
marked. Empty output for a result without a search.
"""
from __future__ import annotations

import html

from driver.durations import format_ns
from driver.reports.common import ms, rate_text
from driver.stats.result import Result

__all__ = ["capacity_lines", "capacity_markdown", "capacity_html", "capacity_data", "capacity_script"]

_STATUS_CSS = {"passed": "ok", "failed": "bad", "not valid": "warn"}


def _level(cap: dict, level) -> str:
    return "-" if level is None else f"{level:g} {cap.get('unit', '')}".strip()


def _rows(cap: dict) -> list[list[str]]:
    """One row per judged step: step (`b1`, `b2`... the bisection's), level, status, req/s, error
    rate, p50, p99, generator CPU, why."""
    out = []
    climbed = sum(1 for s in cap.get("steps", []) if s.get("search") != "bisect")
    for s in cap.get("steps", []):
        label = f"b{s['index'] - climbed + 1}" if s.get("search") == "bisect" else str(s["index"] + 1)
        out.append([label, _level(cap, s["level"]), s["status"],
                    "-" if s.get("throughput") is None else f"{s['throughput']:.1f}", rate_text(s.get("error_rate")),
                    format_ns(s.get("p50_ns")), format_ns(s.get("p99_ns")),
                    "-" if s.get("cpu_max") is None else f"{s['cpu_max']:.0%}", "; ".join(s.get("reasons") or [])])
    return out


_HEADS = ["step", "level", "verdict", "req/s", "error rate", "p50", "p99", "driver CPU", "why"]


def _search_text(cap: dict) -> str:
    """How the bisection narrowed the answer, or '' for a climb."""
    found = cap.get("answer") or {}
    if cap.get("search") != "bisect":
        return ""
    if not found.get("bisected"):
        return "bisection: nothing to bisect (no level passed before one failed, or the bracket was already narrow)"
    lo, hi = found["bracket"]
    return (f"bisection: the capacity lies between {_level(cap, lo)} (passed) and {_level(cap, hi)} (failed); "
            f"levels tried {', '.join(f'{lv:g}' for lv in found['bisected'])}")


def _knee_text(cap: dict) -> str:
    knee = (cap.get("answer") or {}).get("knee")
    if not knee:
        return "knee: not reached in the levels run (throughput per unit of latency still rising)"
    return (f"knee: {_level(cap, knee['level'])} (the most throughput per unit of latency; at "
            f"{_level(cap, knee['drop_level'])} latency rose faster than throughput)")


def capacity_lines(result: Result) -> list[str]:
    """The plain-text block for the end-of-run summary."""
    cap = result.capacity or {}
    if not cap:
        return []
    rows = _rows(cap)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(_HEADS)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    found = cap.get("answer") or {}
    return ["", f"capacity search: {cap.get('kind')} {', '.join(f'{lv:g}' for lv in cap.get('levels', []))}; "
                f"{cap.get('step_s', 0):g}s steps ({cap.get('settle_s', 0):g}s settle); "
                f"thresholds {', '.join(cap.get('thresholds', []))}",
            fmt(_HEADS), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows), "",
            f"CAPACITY: {found.get('summary', '')}", _knee_text(cap), *filter(None, [_search_text(cap)])]


def capacity_markdown(result: Result, escape) -> list[str]:
    cap = result.capacity or {}
    if not cap:
        return []
    found = cap.get("answer") or {}
    lines = ["### Capacity", "", f"**{escape(found.get('summary', ''))}**", "", escape(_knee_text(cap)), "",
             *([escape(_search_text(cap)), ""] if _search_text(cap) else []),
             "| " + " | ".join(_HEADS) + " |", "|" + "---|" * len(_HEADS)]
    lines += ["| " + " | ".join(escape(c) for c in r) + " |" for r in _rows(cap)]
    return lines


def capacity_data(result: Result) -> dict:
    """The chart's data: per judged step its level, throughput (req/s) and p99 (ms), by level
    (a bisection's steps fall between the climb's); the marks."""
    cap = result.capacity or {}
    steps = sorted(cap.get("steps", []), key=lambda s: s["level"])
    found = cap.get("answer") or {}
    return {
        "unit": cap.get("unit", ""),
        "level": [s["level"] for s in steps],
        "rps": [None if s.get("throughput") is None else round(s["throughput"], 2) for s in steps],
        "p99": [None if s.get("p99_ns") is None else round(ms(s["p99_ns"]), 4) for s in steps],
        "highest": found.get("highest_passing"),
        "failing": (found.get("first_failing") or {}).get("level"),
        "knee": (found.get("knee") or {}).get("level"),
    }


def capacity_html(result: Result, json_for_script) -> str:
    """report.html's Capacity section ('' without a search), its chart's data in #driver-capacity
    (`json_for_script`: report.html's safe JSON for a script tag)."""
    cap = result.capacity or {}
    if not cap:
        return ""
    esc = html.escape
    found = cap.get("answer") or {}
    kind = "ok" if found.get("highest_passing") is not None else "bad"
    body = []
    for r, s in zip(_rows(cap), cap.get("steps", [])):
        css = _STATUS_CSS.get(s["status"], "")
        cells = [f'<td class="text">{esc(r[0])}</td>', f'<td class="text">{esc(r[1])}</td>',
                 f'<td class="text"><span class="pill {css}">{esc(r[2])}</span></td>',
                 *(f"<td>{esc(c)}</td>" for c in r[3:8]), f'<td class="text">{esc(r[8])}</td>']
        body.append("<tr>" + "".join(cells) + "</tr>")
    heads = "".join(f'<th class="{"text" if i in (0, 1, 2, 8) else ""}">{esc(h)}</th>' for i, h in enumerate(_HEADS))
    return (f'<section id="capacity"><h2>Capacity</h2><p><span class="pill {kind}">{esc(found.get("status", ""))}'
            f'</span> <b>{esc(found.get("summary", ""))}</b></p><p>{esc(_knee_text(cap))}</p>'
            + (f'<p>{esc(_search_text(cap))}</p>' if _search_text(cap) else "") +
            f'<p class="hint">{esc(cap.get("kind", ""))} {esc(", ".join(f"{lv:g}" for lv in cap.get("levels", [])))}'
            f'; each held {cap.get("step_s", 0):g}s, judged after {cap.get("settle_s", 0):g}s; thresholds '
            f'{esc(", ".join(cap.get("thresholds", [])))}</p>'
            '<div class="chart-box wide"><h3>Throughput and p99 by level</h3><p class="hint">each judged step\'s '
            'steady part; lines mark the highest passing level, the first failing one and the knee</p>'
            '<div class="chart" id="chart-capacity"></div></div>'
            f'<div class="table-wrap"><table><thead><tr>{heads}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            "</div></section>"
            f'<script type="application/json" id="driver-capacity">{json_for_script(capacity_data(result))}</script>')


def capacity_script(result: Result, asset) -> str:
    """The script that draws the chart (after uPlot's); '' without a search. `asset(folder, name)`
    reads a report asset (report.html's inliner)."""
    if not result.capacity:
        return ""
    return f"<script>{asset('assets', 'capacity.js')}</script>"
