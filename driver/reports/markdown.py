"""A Markdown summary for a pull-request comment or $GITHUB_STEP_SUMMARY.

Verdicts first (each threshold ✅/❌, the load generator's validity, completeness),
then the per-endpoint table, failed checks, and one line of settings. User data
(endpoint names, check reasons) is escaped so it cannot break the table or inject
markup: GitHub renders HTML inside Markdown.
"""
from __future__ import annotations

from pathlib import Path

from driver.stats.result import Result
from driver.durations import format_ns
from driver.reports import write_text
from driver.reports.capacity import capacity_markdown
from driver.reports.chaos import chaos_markdown
from driver.reports.common import (
    checks_message, endpoint_rows, error_kinds, format_limit, group_rows, measured_text, outcome, rate_text,
    settings_items, verdict_name,
)

MAX_ENDPOINTS = 50  # GitHub caps a step summary at 1 MiB; a table this long is unread anyway
MAX_CHECKS = 20
_HEADLINE = {
    "passed": "✅ driver: all thresholds passed",
    "done": "✅ driver: run complete",
    "failed": "❌ driver: thresholds failed",
    "checks failed": "❌ driver: checks failed",
    "not valid": "⚠️ driver: the load generator was the bottleneck: results not valid",
    "incomplete": "⚠️ driver: run incomplete",
}
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|~"})


def md_escape(text) -> str:
    """User text made inert inside a Markdown table cell: no markup, no HTML, one line."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.translate(_MD_SPECIAL)


def _verdicts(result: Result) -> list[str]:
    out = outcome(result)
    lines = [f"## {_HEADLINE[out['status']]}", ""]
    if out["verdicts"]:
        lines += ["| | threshold | measured | limit |", "| :-: | :--- | ---: | :--- |"]
        for v in out["verdicts"]:
            mark = "✅" if v.get("passed") else "❌"
            name = md_escape(verdict_name(v)) + (" *(abort)*" if v.get("abort") else "")
            unit = v.get("unit", "")
            measured = measured_text(v)
            limit = f"{v.get('op', '?')} {format_limit(v.get('limit'), unit)}"
            lines.append(f"| {mark} | {name} | {md_escape(measured)} | {md_escape(limit)} |")
        lines.append("")
    else:
        lines.append("- ➖ no thresholds")
    if out["checks_failed"]:
        lines.append(f"- ❌ **{md_escape(checks_message(out['checks_failed']))}**")
    if out["valid"] is None:
        lines.append("- ➖ validity: not assessed")
    elif out["valid"]:
        lines.append("- ✅ load generator valid: it was not the bottleneck")
    else:
        lines.append("- ❌ **not valid**: " + "; ".join(md_escape(r) for r in out["validity_reasons"]))
    lines += [f"- ⚠️ **{md_escape(notice)}**" for notice in out["notices"]] or ["- ✅ run complete"]
    return lines


def _groups(result: Result) -> list[str]:
    """A grouped run: one row per group, then a section of its endpoints each."""
    if not result.groups:
        return []
    heads = ["scenario", "settings", "requests", "req/s", "errors", "users", "p50", "p99", "thresholds"]
    lines = ["### Scenarios", "", "| " + " | ".join(heads) + " |", "| :--- | :--- |" + " ---: |" * 6 + " :-: |"]
    for r in group_rows(result):
        lat = r["latency"]
        errors = f"{r['failures']:,}" + (f" ({rate_text(r['error_rate'])})" if r["failures"] else "")
        verdict = "➖" if r["passed"] is None else "✅" if r["passed"] else "❌"
        lines.append(f"| {md_escape(r['name'])} | {md_escape(r['description'])} | {r['count']:,} | "
                     f"{r['rps']:,.1f} | {errors} | {r['users']:,} | {format_ns(lat['p50_ns'])} | "
                     f"{format_ns(lat['p99_ns'])} | {verdict} |")
    for name, sub in result.groups.items():
        lines += ["", *_endpoints(sub, f"### Scenario {md_escape(name)}")]
    return lines


def _endpoints(result: Result, title: str = "### Endpoints") -> list[str]:
    rows = endpoint_rows(result)
    heads = ["endpoint", "requests", "req/s", "errors", "throttled", "checks failed", "p50", "p90", "p95", "p99",
             "p99.9", "max"]
    lines = [title, "", "| " + " | ".join(heads) + " |", "| :--- |" + " ---: |" * (len(heads) - 1)]
    shown = [r for r in rows if not r["is_total"]][:MAX_ENDPOINTS] + [r for r in rows if r["is_total"]]
    for r in shown:
        lat = r["latency"]
        name = "**total**" if r["is_total"] else md_escape(r["name"])
        checks = f"{r['check_failures']:,} / {r['checks']:,}" if r["checks"] else "–"
        errors = f"{r['failures']:,}" + (f" ({rate_text(r['error_rate'])})" if r["failures"] else "")
        lines.append(f"| {name} | {r['count']:,} | {r['rps']:,.1f} | {errors} | {r['throttled']:,} | {checks} | "
                     + " | ".join(format_ns(lat[k]) for k in ("p50_ns", "p90_ns", "p95_ns", "p99_ns", "p99_9_ns",
                                                              "max_ns")) + " |")
    hidden = len(rows) - len(shown)
    if hidden > 0:
        lines += ["", f"*… and {hidden} more endpoints in result.json*"]
    kinds = error_kinds(result)
    if kinds:
        lines += ["", "Errors: " + ", ".join(f"{md_escape(k)} {n:,}" for k, n in kinds)]
    return lines


def _checks(result: Result) -> list[str]:
    if not result.checks:
        return []
    lines = ["### Failed checks", "", "| failures | endpoint | reason |", "| ---: | :--- | :--- |"]
    for c in result.checks[:MAX_CHECKS]:
        lines.append(f"| {int(c.get('failures', 0)):,} | {md_escape(c.get('endpoint', ''))} | "
                     f"{md_escape(c.get('reason', ''))} |")
    if len(result.checks) > MAX_CHECKS:
        lines += ["", f"*… and {len(result.checks) - MAX_CHECKS} more in result.json*"]
    return lines


def _notes(result: Result) -> list[str]:
    if not result.notes:
        return []
    return ["### Notes", "", *(f"- {md_escape(note)}" for note in result.notes)]


def render_markdown(result: Result) -> str:
    sections = [_verdicts(result), capacity_markdown(result, md_escape),
                _groups(result) or _endpoints(result),
                chaos_markdown(result, md_escape), _checks(result),
                _notes(result),
                ["<sub>" + " · ".join(f"{k} {md_escape(v)}" for k, v in settings_items(result)) + "</sub>"]]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"


def write_markdown(result: Result, path: Path) -> Path:
    return write_text(Path(path), render_markdown(result))
