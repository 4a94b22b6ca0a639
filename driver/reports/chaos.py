"""The Chaos section of the reports: per fault window, baseline vs during vs after,
the recovery time and the breaker's figures; what the bot answered to malformed
input; the health endpoint's record.

Reads Result.chaos (driver.chaos.analysis.chaos_results) and the "chaos:..." endpoints
the chaos runner records under. Three renderings of the same rows: plain text for the
terminal, Markdown, HTML (escaped by the caller's `esc`).
"""
from __future__ import annotations

from driver.chaos.analysis import malformed_answers
from driver.durations import format_ns

__all__ = ["has_chaos", "event_rows", "malformed_rows", "health_line", "chaos_lines", "chaos_markdown",
           "chaos_html", "chaos_windows"]

HEALTH = "chaos:health"
FIGURES = (("reply/s", "reply_rate"), ("success", "success_rate"), ("errors", "error_rate"), ("p99", "p99_ns"))


def has_chaos(result) -> bool:
    return bool(result.chaos) or any(ep.name.startswith("chaos:") for ep in result.endpoints)


def _figure(key: str, value) -> str:
    if value is None:
        return "–"
    if key == "p99_ns":
        return format_ns(value)
    if key == "reply_rate":
        return f"{value:,.1f}"
    return f"{value * 100:.1f}%"


def _seconds(value) -> str:
    return "–" if value is None else f"{value:g}s"


def _breaker(b: dict | None) -> str:
    if not b:
        return ""
    if b.get("baseline_calls_s") is None:
        return b.get("note", "")
    parts = [f"trip {_seconds(b.get('time_to_trip_s'))}" if b.get("tripped") else "never tripped"]
    if b.get("tripped"):
        parts.append(f"{b.get('calls_while_open', 0):,} calls while open")
        if b.get("probe_interval_s") is not None:
            parts.append(f"probe every {_seconds(b['probe_interval_s'])}")
    parts.append(f"recover {_seconds(b.get('time_to_recover_s'))}" if b.get("recovered") else "never recovered")
    return ", ".join(parts)


def event_rows(result) -> list[dict]:
    """One row per event: fault, window, the figures (baseline/during/after), recovery, breaker."""
    rows = []
    for e in result.chaos:
        params = ", ".join(f"{k} {','.join(map(str, v)) if isinstance(v, list) else v}"
                           for k, v in (e.get("params") or {}).items())
        recovery = (_seconds(e["recovery_s"]) if e.get("recovery_s") is not None
                    else f"never ({e.get('recovery_note') or 'not within the run'})")
        rows.append({
            "fault": e.get("fault", "?") + (f" ({params})" if params else ""),
            "window": f"{e.get('at_s', 0):g}s–{e.get('end_s', 0):g}s",
            "figures": [(label, *[_figure(key, (e.get(part) or {}).get(key)) for part in ("baseline", "during",
                                                                                             "after")])
                        for label, key in FIGURES],
            "recovery": recovery, "recovered": e.get("recovery_s") is not None,
            "breaker": _breaker(e.get("breaker")), "basis": e.get("basis", ""),
        })
    return rows


def malformed_rows(result) -> list[list[str]]:
    """[kind, sent, answers, errors, failed checks] per malformed kind sent."""
    return [[m["kind"], f"{m['sent']:,}", " ".join(f"{k}:{n}" for k, n in m["status"].items()) or "–",
             f"{m['errors']:,}", f"{m['failed']:,}"] for m in malformed_answers(result.endpoints)]


def health_line(result) -> str:
    ep = next((e for e in result.endpoints if e.name == HEALTH), None)
    if ep is None:
        return ""
    return (f"health endpoint: polled {ep.attempts:,} times, {ep.check_failures:,} failed "
            f"(not 2xx or no answer), p99 {format_ns(ep.percentile(99))}")


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths)))
    return [fmt(headers), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)]


def chaos_lines(result) -> list[str]:
    """The terminal's Chaos section ([] without chaos)."""
    if not has_chaos(result):
        return []
    out = ["", "chaos:"]
    for r in event_rows(result):
        out += ["", f"  {r['fault']}, {r['window']}: recovery {r['recovery']}"
                + (f"; breaker: {r['breaker']}" if r["breaker"] else "")]
        out += ["    " + line for line in _table([r["basis"] or "figures", "baseline", "during", "after"],
                                                  [list(f) for f in r["figures"]])]
    rows = malformed_rows(result)
    if rows:
        out += ["", "  malformed input (expected 4xx; an unknown update kind may be 2xx):"]
        out += ["    " + line for line in _table(["kind", "sent", "answers", "no answer", "failed"], rows)]
    health = health_line(result)
    if health:
        out += ["", f"  {health}"]
    return out


def chaos_markdown(result, escape) -> list[str]:
    """The Markdown section ([] without chaos); `escape` makes user text inert."""
    if not has_chaos(result):
        return []
    lines = ["### Chaos", ""]
    rows = event_rows(result)
    if rows:
        lines += ["| fault | window | figure | baseline | during | after | recovery | breaker |",
                  "| :--- | :--- | :--- | ---: | ---: | ---: | :--- | :--- |"]
        for r in rows:
            for i, (label, base, during, after) in enumerate(r["figures"]):
                head = [escape(r["fault"]), escape(r["window"])] if i == 0 else ["", ""]
                tail = [("✅ " if r["recovered"] else "❌ ") + escape(r["recovery"]), escape(r["breaker"])] \
                    if i == 0 else ["", ""]
                lines.append("| " + " | ".join([*head, label, escape(base), escape(during), escape(after), *tail])
                             + " |")
    mal = malformed_rows(result)
    if mal:
        lines += ["", "| malformed kind | sent | answers | no answer | failed checks |",
                  "| :--- | ---: | :--- | ---: | ---: |"]
        lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in mal]
    health = health_line(result)
    if health:
        lines += ["", escape(health)]
    return lines


def chaos_html(result, esc) -> str:
    """The HTML section ('' without chaos); `esc` escapes text for HTML."""
    if not has_chaos(result):
        return ""
    parts = ['<section id="chaos"><h2>Chaos<span class="note">baseline: the seconds before the first fault; '
             "recovery: from the end of the window until reply success and p99 are back within tolerance"
             "</span></h2>"]
    for r in event_rows(result):
        body = "".join(f'<tr><td class="text">{esc(label)}</td><td>{esc(b)}</td><td>{esc(d)}</td><td>{esc(a)}</td>'
                       "</tr>" for label, b, d, a in r["figures"])
        parts.append(f'<h3>{esc(r["fault"])}, {esc(r["window"])}</h3><p>recovery '
                     f'<b class="{"" if r["recovered"] else "bad"}">{esc(r["recovery"])}</b>'
                     + (f" · breaker: {esc(r['breaker'])}" if r["breaker"] else "") + "</p>"
                     '<div class="table-wrap"><table><thead><tr><th class="text">' + esc(r["basis"] or "figure")
                     + "</th><th>baseline</th><th>during</th><th>after</th></tr></thead><tbody>" + body
                     + "</tbody></table></div>")
    mal = malformed_rows(result)
    if mal:
        body = "".join("<tr>" + "".join(f'<td{" class=text" if i in (0, 2) else ""}>{esc(c)}</td>'
                                        for i, c in enumerate(row)) + "</tr>" for row in mal)
        parts.append('<h3>Malformed input</h3><p class="muted">expected 4xx (an unknown update kind may be 2xx); '
                     'a 5xx or no answer fails</p><div class="table-wrap"><table><thead><tr><th class="text">kind'
                     '</th><th>sent</th><th class="text">answers</th><th>no answer</th><th>failed checks</th></tr>'
                     f"</thead><tbody>{body}</tbody></table></div>")
    health = health_line(result)
    if health:
        parts.append(f"<p>{esc(health)}</p>")
    return "".join(parts) + "</section>"


def chaos_windows(result) -> list[list]:
    """[start_s, end_s, fault] of each event, for shading the charts."""
    return [[e.get("at_s", 0), e.get("end_s", 0), e.get("fault", "")] for e in result.chaos]
