"""report.html's memory section: RSS over time per watched process and driver's own, and
the leak verdicts (driver.stats.leak) beside it.

The chart is an inline SVG drawn here (no script needed): one polyline per process,
in MB (10**6 bytes), over the seconds of the run.
"""
from __future__ import annotations

import html

from driver.stats.result import Result

__all__ = ["memory_data", "memory_section", "leak_lines"]

COLORS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#0a7ea4", "#d1242f", "#57606a")
WIDTH, HEIGHT, PAD_L, PAD_B, PAD_T, PAD_R = 720, 240, 56, 28, 10, 12
MB = 1e6


def memory_data(result: Result) -> dict:
    """{"t": [s...], "series": [{"name", "mb": [MB or None...]}]}: the watched processes
    ("pid N"), then driver's ("driver parent", "driver worker N"); empty without samples."""
    pts = result.series or []
    names: dict[str, tuple[str, str]] = {}  # label -> (kind, key)
    for p in pts:
        for pid in p.get("watch") or {}:
            names.setdefault(f"pid {pid}", ("watch", pid))
    for p in pts:
        for name in p.get("driver_rss") or {}:
            names.setdefault(f"driver {name}", ("driver_rss", name))
    series = []
    for label, (kind, key) in names.items():
        mb = []
        for p in pts:
            v = (p.get(kind) or {}).get(key)
            v = v.get("rss_bytes") if isinstance(v, dict) else v
            mb.append(None if v is None else round(v / MB, 3))
        series.append({"name": label, "mb": mb})
    return {"t": [float(p.get("t", 0.0)) for p in pts], "series": series}


def leak_lines(result: Result) -> list[str]:
    """One line per process with a leak verdict: `pid 123: +36.1 MB/h (95% 30.2 .. 41.0), 240 points`."""
    leak = result.leak or {}
    out = []
    for label, group in (("pid", "targets"), ("driver", "driver")):
        for name, v in (leak.get(group) or {}).items():
            out.append(f"{label} {name}: {v['slope_mb_h']:+.1f} MB/h (95% {v['low_mb_h']:+.1f} .. "
                       f"{v['high_mb_h']:+.1f}) after {v['warmup_s']:g}s warm-up, {v['points']} points")
    return out


def _svg(data: dict) -> str:
    t = data["t"]
    values = [v for s in data["series"] for v in s["mb"] if v is not None]
    if not t or not values:
        return ""
    t0, t1 = 0.0, max(t[-1], 1e-9)
    top = max(values) * 1.05 or 1.0
    w, h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def x(s):
        return PAD_L + w * (s - t0) / (t1 - t0)

    def y(mb):
        return PAD_T + h * (1 - mb / top)

    parts = [f'<svg class="memory" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
             f'aria-label="resident memory over time">',
             f'<line x1="{PAD_L}" y1="{PAD_T + h}" x2="{PAD_L + w}" y2="{PAD_T + h}" stroke="#8c959f"/>',
             f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{PAD_T + h}" stroke="#8c959f"/>']
    for frac in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{PAD_L - 4}" y="{y(top * frac) + 4:.1f}" text-anchor="end" font-size="11">'
                     f'{top * frac:.0f} MB</text>')
        parts.append(f'<text x="{x(t1 * frac):.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="11">'
                     f'{t1 * frac:.0f}s</text>')
    for i, s in enumerate(data["series"]):
        color = COLORS[i % len(COLORS)]
        pts = " ".join(f"{x(a):.1f},{y(v):.1f}" for a, v in zip(t, s["mb"]) if v is not None)
        if pts:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}">'
                         f'<title>{html.escape(s["name"])}</title></polyline>')
    parts.append("</svg>")
    legend = "".join(f'<span style="color:{COLORS[i % len(COLORS)]}">&#9632;</span> {html.escape(s["name"])} '
                     for i, s in enumerate(data["series"]))
    return "".join(parts) + f'<p class="hint">{legend}</p>'


def memory_section(result: Result) -> str:
    """The section (RSS chart and leak verdicts), or '' when the run sampled no memory.

    The result's notes (a watched process that exited, the mock's address, a metrics
    endpoint that failed) are not memory figures: report.html lists them under Notes."""
    data = memory_data(result)
    chart = _svg(data)
    lines = leak_lines(result)
    if not chart and not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return ('<section id="memory"><h2>Memory (RSS)</h2><p class="hint">resident memory per second of the '
            'watched processes (--watch-pid) and of driver; the slope is a Theil–Sen fit after the warm-up</p>'
            + chart + (f"<ul>{items}</ul>" if items else "") + "</section>")
