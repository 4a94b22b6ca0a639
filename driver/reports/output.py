"""Where a run's files go, checked before the load and never lost after it.

`check_writable(base)` runs before the load starts: a `-o` that is a file, lies below
a file, or is read-only is a one-line error then, not after an hour of load.
`save_run(result, base, formats)` writes result.json first — always, whatever the
formats asked, because `report`, `compare` and `merge` read it — then every other
format, each on its own (one that fails does not take the others with it). If the
base became unwritable during the run, everything goes to a fallback directory in
the system's temporary directory, and the caller is told where.
"""
from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from driver.errors import DriverError, PlanError
from driver.reports import parse_formats, write_reports


class Saved:
    """What was written: the directory, the files, and any format that failed."""

    def __init__(self, directory: Path, paths: list[Path], failed: list[str], fallback_from: str | None):
        self.directory = directory
        self.paths = paths
        self.failed = failed
        self.fallback_from = fallback_from  # the base that could not be written, when a fallback was used


def check_writable(base: str | Path, flag: str = "--output") -> Path:
    """The base directory for results, created if needed and proven writable; PlanError
    naming it otherwise (a file, below a file, read-only, not creatable)."""
    base = Path(base)
    for parent in [base, *base.parents]:
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == base else f"is below the file {parent}"
            raise PlanError(f"{flag} {base}: cannot write results there: it {where}", flag=flag)
    try:
        base.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".driver-probe-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PlanError(f"{flag} {base}: cannot write results there: {exc.strerror or exc}", flag=flag) from None
    return base


def new_run_dir(base: str | Path) -> Path:
    """A new directory for one run under `base`, never one an earlier run wrote."""
    base = Path(base)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = base / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise DriverError(f"cannot create a new run directory under {base}")


def save_run(result, base: str | Path, formats, directory: Path | None = None) -> Saved:
    """Write result.json and the reports of one run under `base` (or a fallback); in
    `directory` when the run's directory was made before the run (new_run_dir)."""
    formats = ("json",) + tuple(f for f in parse_formats(formats) if f != "json")
    fallback_from = None
    try:
        directory = directory if directory is not None else new_run_dir(base)
        result.save(directory / "result.json")
    except OSError:
        fallback_from = str(base)
        directory = new_run_dir(Path(tempfile.gettempdir()) / "driver-results")
        result.save(directory / "result.json")
    paths = [directory / "result.json"]
    failed = []
    for fmt in formats[1:]:
        try:
            paths.extend(write_reports(result, directory, (fmt,)))
        except Exception as exc:  # a report that fails must not cost the others or the result
            failed.append(f"{fmt}: {type(exc).__name__}: {exc}")
    return Saved(directory, paths, failed, fallback_from)


def report_dir(output: str | Path | None, result_file: str | Path) -> Path:
    """Where `driver report` writes: `-o DIR` (checked), else beside the result file."""
    if output is None:
        return Path(result_file).parent
    return check_writable(output)
