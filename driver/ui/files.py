"""The files the web UI may show: configs and scenarios under the working directory,
past runs and their reports under the output directory. Nothing else.

Every path the page sends is relative and checked here: an absolute path, `..`, or a
symbolic link that leads out of the directory is refused (UiError 403), so the file
chooser cannot leave the working directory and a download cannot leave a run's
directory. A run is a direct child of the output directory holding a result.json;
its downloads are the report files driver writes, by their fixed names; a report not
written at the end of the run is written on demand from result.json.
"""
from __future__ import annotations

import re
from pathlib import Path

import orjson

from driver.errors import DriverError

__all__ = ["UiError", "inside", "list_dir", "past_runs", "run_dir", "report_path", "REPORT_FILES", "load_result"]

MAX_ENTRIES = 500  # entries of one directory listing
MAX_RUNS = 200  # past runs listed, newest first
CHOOSABLE = (".yaml", ".yml", ".py")  # configs and Python scenarios
# file name -> the format that writes it (driver.reports.write_reports)
REPORT_FILES = {
    "result.json": "json",
    "report.html": "html",
    "summary.md": "md",
    "stats.csv": "csv",
    "stats_history.csv": "csv",
    "failures.csv": "csv",
    "junit.xml": "junit",
}
_RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class UiError(DriverError):
    """A request the UI refuses: `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


def inside(root: Path, rel: str, what: str = "path") -> Path:
    """`rel` resolved under `root`; UiError 403 when it is absolute or leads out of it."""
    text = str(rel or "").strip()
    if "\0" in text:
        raise UiError(f"{what}: not a file name", 400, what)
    candidate = Path(text)
    if candidate.is_absolute() or text.startswith(("~", "\\")):
        raise UiError(f"{what}: give a path relative to the working directory", 403, what)
    base = root.resolve()
    full = (base / candidate).resolve()
    if full != base and base not in full.parents:
        raise UiError(f"{what}: outside the working directory", 403, what)
    return full


def list_dir(root: Path, rel: str = "") -> dict:
    """{"path", "parent", "entries": [{"name", "path", "dir"}]}: the subdirectories and the
    config/scenario files of one directory under `root` (hidden entries left out)."""
    base = root.resolve()
    here = inside(root, rel, "dir")
    if not here.is_dir():
        raise UiError("dir: not a directory", 404, "dir")
    entries = []
    for child in sorted(here.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower())):
        if child.name.startswith(".") or child.name == "__pycache__":
            continue
        try:
            real = child.resolve()
        except OSError:
            continue
        if real != base and base not in real.parents:  # a link out of the working directory
            continue
        is_dir = real.is_dir()
        if not is_dir and child.suffix.lower() not in CHOOSABLE:
            continue
        entries.append({"name": child.name, "path": child.relative_to(base).as_posix(), "dir": is_dir})
        if len(entries) >= MAX_ENTRIES:
            break
    path = "" if here == base else here.relative_to(base).as_posix()
    parent = None if here == base else ("" if here.parent == base else here.parent.relative_to(base).as_posix())
    return {"path": path, "parent": parent, "entries": entries}


def run_dir(output: Path, name: str) -> Path:
    """The directory of the past run `name` (a direct child of `output` with a result.json)."""
    if not isinstance(name, str) or not _RUN_NAME.match(name) or ".." in name:
        raise UiError("run: not a run name", 403, "run")
    path = output / name
    if path.resolve().parent != output.resolve() or not (path / "result.json").is_file():
        raise UiError(f"run {name}: no such run in the output directory", 404, "run")
    return path


def load_result(output: Path, name: str):
    from driver.stats.result import Result

    return Result.load(run_dir(output, name) / "result.json")


def report_path(output: Path, name: str, filename: str) -> Path:
    """The report file `filename` of run `name`, written from result.json if missing."""
    directory = run_dir(output, name)
    if filename not in REPORT_FILES:
        raise UiError(f"{filename!r}: not a report file ({', '.join(REPORT_FILES)})", 403, "file")
    path = directory / filename
    if not path.is_file():
        from driver.reports import write_reports

        write_reports(load_result(output, name), directory, (REPORT_FILES[filename],))
    if not path.is_file():
        raise UiError(f"{filename}: this run has none", 404, "file")
    return path


def past_runs(output: Path) -> list[dict]:
    """The runs under `output`, newest first: a few figures of each from its result.json."""
    if not output.is_dir():
        return []
    dirs = [d for d in output.iterdir() if d.is_dir() and _RUN_NAME.match(d.name) and (d / "result.json").is_file()]
    dirs.sort(key=lambda d: d.name, reverse=True)
    return [_summary(d) for d in dirs[:MAX_RUNS]]


def _summary(directory: Path) -> dict:
    out = {"name": directory.name,
           "files": sorted(f for f in REPORT_FILES if (directory / f).is_file())}
    try:
        data = orjson.loads((directory / "result.json").read_bytes())
        totals, plan = data.get("totals") or {}, data.get("plan") or {}
        latency = totals.get("latency") or {}
        out.update({
            "started_at": data.get("started_at"),
            "duration_s": data.get("duration_s"),
            "target": (plan.get("target") or {}).get("url") if isinstance(plan.get("target"), dict)
            else plan.get("target"),
            "mode": plan.get("mode"),
            "requests": totals.get("requests"),
            "rps": totals.get("rps"),
            "p99_ns": latency.get("p99_ns"),
            "error_rate": totals.get("error_rate"),
            "complete": data.get("complete"),
            "valid": (data.get("validity") or {}).get("valid"),
            "passed": all(v.get("passed") for v in data.get("verdicts") or []),
        })
    except (OSError, orjson.JSONDecodeError, AttributeError) as exc:
        out["error"] = f"unreadable result.json ({type(exc).__name__})"
    return out
