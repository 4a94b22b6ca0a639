"""report.html's "Target metrics" section: the series scraped from the target's
Prometheus endpoints (--metrics-url, --metric; driver.runner.metrics), one small chart
each, beside the memory of the watched processes.

Each series gets its own inline SVG (no script needed) and its own scale: a queue depth
of 5 and a pool of 10**9 bytes do not share an axis. A second where the series had no
value (the endpoint failed, the value was NaN) is a gap in its line. The run's own
throughput (responses per second) comes first, drawn the same way on the same time
axis, so that a queue depth is read beside the load that made it.
"""
from __future__ import annotations

import html

from driver.stats.result import Result

__all__ = ["metrics_data", "metrics_section", "MAX_CHARTS"]

MAX_CHARTS = 24
WIDTH, HEIGHT, PAD_L, PAD_B, PAD_T, PAD_R = 360, 150, 60, 24, 8, 10
COLOR = "#0969da"
THROUGHPUT_COLOR = "#1a7f37"
THROUGHPUT = "throughput (req/s)"


def metrics_data(result: Result) -> dict:
    """{"t": [s...], "series": [{"name", "values": [float or None...]}]}, series in the
    order first met; empty without scraped metrics."""
    pts = result.series or []
    names: dict[str, None] = {}
    for p in pts:
        names.update(dict.fromkeys(p.get("metrics") or {}))
    series = [{"name": name, "values": [(p.get("metrics") or {}).get(name) for p in pts]} for name in names]
    return {"t": [float(p.get("t", 0.0)) for p in pts], "series": series}


def _number(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.3e}"


def _svg(name: str, t: list, values: list, color: str = COLOR) -> str:
    known = [v for v in values if v is not None]
    if not t or not known:
        return ""
    lo, hi = min(known), max(known)
    if lo == hi:
        lo, hi = lo - 1, hi + 1  # a flat line in the middle
    t1 = max(t[-1], 1e-9)
    w, h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def x(s):
        return PAD_L + w * s / t1

    def y(v):
        return PAD_T + h * (1 - (v - lo) / (hi - lo))

    parts = [f'<svg class="target-metric" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" role="img" '
             f'aria-label="{html.escape(name)} over time">',
             f'<line x1="{PAD_L}" y1="{PAD_T + h}" x2="{PAD_L + w}" y2="{PAD_T + h}" stroke="#8c959f"/>',
             f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{PAD_T + h}" stroke="#8c959f"/>']
    for v in (lo, hi):
        parts.append(f'<text x="{PAD_L - 4}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11">{_number(v)}</text>')
    for frac in (0.0, 1.0):
        parts.append(f'<text x="{x(t1 * frac):.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="11">'
                     f'{t1 * frac:.0f}s</text>')
    run: list[str] = []  # the points of one unbroken stretch
    for s, v in [*zip(t, values), (None, None)]:
        if v is None:
            if run:
                shape = (f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{" ".join(run)}"/>'
                         if len(run) > 1 else
                         f'<circle r="2" fill="{color}" cx="{run[0].split(",")[0]}" cy="{run[0].split(",")[1]}"/>')
                parts.append(shape)
            run = []
            continue
        run.append(f"{x(s):.1f},{y(v):.1f}")
    parts.append("</svg>")
    return "".join(parts)


def metrics_section(result: Result) -> str:
    """The section, or '' when the run scraped no metrics."""
    data = metrics_data(result)
    boxes = []
    for s in data["series"][:MAX_CHARTS]:
        svg = _svg(s["name"], data["t"], s["values"])
        if svg:
            last = next((v for v in reversed(s["values"]) if v is not None), None)
            boxes.append(f'<div class="chart-box"><h3><code>{html.escape(s["name"])}</code></h3>'
                         f'<p class="hint">last {_number(last)}</p>{svg}</div>')
    if not boxes:
        return ""
    pts = result.series or []
    rps = [float(p["rps"]) if p.get("rps") is not None else None for p in pts]
    svg = _svg(THROUGHPUT, data["t"], rps, THROUGHPUT_COLOR) if any("rps" in p for p in pts) else ""
    if svg:  # the run's own load, first: each series above is read beside it
        boxes.insert(0, f'<div class="chart-box"><h3>{THROUGHPUT}</h3><p class="hint">driver\'s responses per '
                        f'second, on the same time axis</p>{svg}</div>')
    more = len(data["series"]) - MAX_CHARTS
    extra = f'<p class="hint">and {more} more series in result.json</p>' if more > 0 else ""
    urls = ", ".join(result.plan.get("metrics_urls") or [])
    return ('<section id="target-metrics"><h2>Target metrics</h2>'
            f'<p class="hint">scraped every second from {html.escape(urls)} (--metrics-url)</p>'
            f'<div class="charts">{"".join(boxes)}</div>{extra}</section>')
