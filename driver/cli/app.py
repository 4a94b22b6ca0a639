"""The `driver` command: parse flags, call the library, render. Nothing else.

This module holds the group, the entry point and what every command shares; each
command group is a module of its own in this package (run, capacity, demo, mock, tools).

User errors end as one line on stderr and exit code 2 (see driver.errors for all
exit codes); no traceback reaches the user for anything they can cause.
"""
from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager

import click

from driver import __version__
from driver.errors import EXIT_INTERRUPTED, EXIT_USAGE, DriverError, PlanWarning
from driver.reports.summary import render

DEFAULT_OUTPUT = "driver-results"
DEFAULT_FORMATS = ("json", "html")

def _fail(message: str, code: int = EXIT_USAGE):
    from driver.masking import mask_url

    # URL credentials are masked where each message is made; this is the net under them
    click.echo(f"driver: error: {mask_url(message)}", err=True)
    sys.exit(code)


def execute(plan, quiet: bool, *, prometheus: str | None = None, checkpoint: str | float | None = None,
            ray: str | None = None, ray_nodes: int | None = None, on_window=None, steering=None,
            before_save=None, after_save=None) -> int:
    """Run a plan with the live view, save the result files, print the report; the exit code.

    The output is checked before the load starts, and saved before anything is
    printed: everything measured is written, also when the run was interrupted,
    aborted, lost a worker, or the summary cannot be shown. With an interval log
    (plan.output.hlog) or checkpoints (`checkpoint`: seconds or a duration, 0 off, None:
    on for runs of 5 minutes or more) the run's directory is made before the load, and
    they are written there during it; `prometheus` ("[HOST:]PORT") serves /metrics while
    the run lasts (driver.runner.exporter). `ray` ("auto", "local[:N]" or an address)
    runs the plan on a Ray cluster, one supervisor per node (driver.runner.cluster).

    The web UI (`driver run --ui`, driver.cli.ui) rides on the same path: `on_window(window)`
    sees each second after the live view (its STOP_RUN ends the run), `steering` is handed
    to the supervisor, `before_save(result)` and `after_save(result, saved)` run around the
    files being written.
    """
    from driver.stats import thresholds
    from driver.reports.live import make_progress
    from driver.reports.output import check_writable, new_run_dir, save_run
    from driver.runner.checkpoint import RunSoFar, checkpoint_interval
    from driver.runner.supervisor import run

    output = plan.output.dir or DEFAULT_OUTPUT
    formats = plan.output.formats or DEFAULT_FORMATS
    check_writable(output)
    every_s = checkpoint_interval(plan, checkpoint)
    so_far = RunSoFar(plan)
    with _Observers(plan, so_far, prometheus) as observers:
        directory = new_run_dir(output) if (every_s or plan.output.hlog) else None
        observers.open_files(directory, every_s)
        with make_progress(plan, plan.thresholds, quiet=quiet) as progress:
            if observers.exporter is not None and not quiet:
                click.echo(f"prometheus: {observers.exporter.url}", err=True)
            update = progress.update if on_window is None else _then(progress.update, on_window)
            try:
                if ray is not None:
                    from driver.runner.cluster import run_on_ray

                    result = run_on_ray(plan, ray, on_progress=observers.chain(update), nodes=ray_nodes)
                else:
                    result = run(plan, on_progress=observers.chain(update),
                                 **({"steering": steering} if steering is not None else {}))
            finally:
                observers.close_files(directory)
    if before_save is not None:
        before_save(result)
    saved = save_run(result, output, formats, directory=directory)
    if observers.checkpointer is not None and saved.directory == directory:
        observers.checkpointer.discard()  # the final result replaces the checkpoint
    if after_save is not None:
        after_save(result, saved)
    print_run(result, saved)
    return thresholds.exit_code(result)


def _then(first, second):
    """A progress callback calling `first`, then `second`, whose answer (STOP_RUN) it keeps."""
    def both(window):
        first(window)
        return second(window)
    return both


def print_run(result, saved) -> None:
    """What a run prints once its files are written: the summary, the verdicts, validity,
    where the files are."""
    from driver.stats import thresholds

    try:
        click.echo(render(result))
        if result.verdicts:
            click.echo("\n" + thresholds.render(result.verdicts))
    except Exception as exc:  # the files are written: a summary that fails must not hide that
        click.echo(f"driver: error: the summary could not be shown ({type(exc).__name__}: {exc}); "
                   f"the result is saved", err=True)
    if not result.validity.get("valid", True):
        click.echo("\nNOT VALID: " + "; ".join(result.validity["reasons"]), err=True)
    if saved.fallback_from:
        click.echo(f"driver: warning: {saved.fallback_from} could not be written any more; "
                   f"the results are in {saved.directory}", err=True)
    for failure in saved.failed:
        click.echo(f"driver: warning: report not written: {failure}", err=True)
    click.echo(f"\nresults: {saved.directory} ({', '.join(p.name for p in saved.paths)})")


class _Observers:
    """What watches a run beside the live view, each fed every second from the supervisor's
    progress: the run so far, the Prometheus exporter, checkpoints, the interval log."""

    def __init__(self, plan, so_far, prometheus: str | None):
        from driver.runner.exporter import Exporter, parse_address

        self.so_far = so_far
        self.exporter = None if prometheus is None else Exporter(plan, *parse_address(prometheus), so_far=so_far)
        self.checkpointer = None
        self.hlog = None
        self.plan = plan

    def __enter__(self):
        if self.exporter is not None:
            self.exporter.start()  # a busy port ends here, before any load
        return self

    def open_files(self, directory, every_s: float) -> None:
        from driver.reports.hlog import HlogWriter
        from driver.runner.checkpoint import Checkpointer

        if directory is None:
            return
        if every_s:
            self.checkpointer = Checkpointer(self.plan, directory, every_s, so_far=self.so_far)
        if self.plan.output.hlog:
            self.hlog = HlogWriter(directory / "latency.hlog")

    def chain(self, update):
        """`update` (the live view's) after every observer; its answer (STOP_RUN) is kept."""
        if self.exporter is None and self.checkpointer is None and self.hlog is None:
            return update

        def on_progress(win):
            self.so_far.add(win)
            for observer in (self.hlog and self.hlog.write, self.checkpointer and self.checkpointer.update,
                             self.exporter and self.exporter.update):
                if observer:
                    observer(win)
            return update(win)
        return on_progress

    def close_files(self, directory) -> None:
        if self.hlog is not None:
            self.hlog.close()
        if directory is not None and not any(directory.iterdir()):
            directory.rmdir()  # the run never started (no second came): no empty run directory

    def __exit__(self, *exc) -> None:
        if self.exporter is not None:
            self.exporter.stop()


@contextmanager
def warnings_shown():
    """Print each PlanWarning raised inside as one `driver: warning:` line on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PlanWarning)
        try:
            yield
        finally:
            for w in caught:
                if issubclass(w.category, PlanWarning):
                    click.echo(f"driver: warning: {w.message}", err=True)
                else:  # not ours: as Python would have shown it
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="driver")
def cli():
    """A multi-process load driver for webhook bots, REST APIs and job queues."""


def main(argv=None) -> None:
    """Entry point: click parsing with one-line usage errors and exit codes."""
    try:
        cli.main(args=argv, prog_name="driver", standalone_mode=False)
    except click.exceptions.UsageError as exc:
        _fail(exc.format_message().replace("\n", " "))
    except click.exceptions.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message())
    except DriverError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


