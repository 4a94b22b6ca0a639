"""Report writers: one module per format, each a function of a Result and a directory.

    from driver.reports import parse_formats, write_reports
    paths = write_reports(result, Path("out/20250101-120000"), parse_formats("html,md"))

| format | files                                                  | for                                   |
|--------|--------------------------------------------------------|---------------------------------------|
| json   | result.json                                            | merging, comparing, re-rendering      |
| html   | report.html (one file, works offline)                  | people: charts, tables, the verdicts  |
| md     | summary.md                                             | a PR comment, $GITHUB_STEP_SUMMARY    |
| csv    | stats.csv, stats_history.csv, failures.csv (Locust's)  | spreadsheets, tools that read Locust  |
| junit  | junit.xml                                              | CI test reports: one test a threshold |
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from driver.errors import PlanError

__all__ = ["FORMATS", "parse_formats", "write_reports"]

FORMATS = ("json", "html", "md", "csv", "junit")
_ALIASES = {"markdown": "md", "xml": "junit", "htm": "html"}


def parse_formats(text: str | Iterable[str]) -> tuple[str, ...]:
    """("html", "md") from "html,md" (or a list of names); "all" means every format.

    Order is kept, repeats dropped. An unknown name raises PlanError naming it and
    the formats there are.
    """
    parts = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for part in parts:
        name = str(part).strip().lower()
        if not name:
            continue
        if name == "all":
            names = list(FORMATS)
        else:
            name = _ALIASES.get(name, name)
            if name not in FORMATS:
                raise PlanError(f"unknown report format {str(part).strip()!r}: use one or more of "
                                f"{', '.join(FORMATS)} (comma-separated), or all")
            names = [name]
        out.extend(n for n in names if n not in out)
    return tuple(out)


def write_reports(result, directory: Path, formats: Iterable[str]) -> list[Path]:
    """Write `result` in each format into `directory` (created if needed); the paths written.

    Each file is written whole or not at all (a temporary file renamed into place).
    """
    formats = parse_formats(formats)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for fmt in formats:
        if fmt == "json":
            paths.append(result.save(directory / "result.json"))
        elif fmt == "html":
            from driver.reports.html import write_html

            paths.append(write_html(result, directory / "report.html"))
        elif fmt == "md":
            from driver.reports.markdown import write_markdown

            paths.append(write_markdown(result, directory / "summary.md"))
        elif fmt == "csv":
            from driver.reports.csv import write_csv

            paths.extend(write_csv(result, directory))
        elif fmt == "junit":
            from driver.reports.junit import write_junit

            paths.append(write_junit(result, directory / "junit.xml"))
    return paths


def write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically: never a half-written report."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    tmp.replace(path)
    return path
