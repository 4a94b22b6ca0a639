"""`driver ui`: the web UI (driver.ui) — start, watch and steer runs from a browser; and
`execute_with_ui`, what `driver run --ui` does: the run of `execute` with the page beside it."""
from __future__ import annotations

import sys
import time

import click

from driver.cli.app import DEFAULT_OUTPUT, cli

DEFAULT_PORT = 8089


@cli.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any address but loopback needs the token printed at start-up.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("-o", "--output", default=DEFAULT_OUTPUT, show_default=True,
              help="Directory of the runs (results and reports); past runs are listed from it.")
def ui_cmd(host, port, output):
    """Serve the web UI: start runs, watch them live, steer them, download and compare reports."""
    from driver.reports.output import check_writable
    from driver.ui import make_server

    check_writable(output)
    server = make_server(host, port, ".", output).start()
    click.echo(f"driver web UI: {server.url}" + ("  (the token is shown once: keep this URL)" if server.token else ""))
    click.echo("press Ctrl-C to stop it")
    try:
        while server.thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        manager = server.manager
        if manager.busy():  # a run going on ends as if stopped from the page
            manager.stop()
            run = manager.current
            if run is not None and run.thread is not None:
                run.thread.join(run.plan.grace_s + 30)
        server.close()


def execute_with_ui(plan, quiet: bool, port: int, *, prometheus: str | None = None,
                    checkpoint: str | float | None = None) -> int:
    """`driver run --ui PORT`: `execute` (driver.cli.app) with the web UI on loopback beside
    it: the page shows the run's windows and steers or stops it; the terminal view, the
    Prometheus exporter, checkpoints and the interval log go on as without it. When stdin is
    a terminal, the page stays up after the run (for its reports) until Ctrl-C."""
    from driver.cli.app import DEFAULT_FORMATS, _Observers
    from driver.reports.live import make_progress
    from driver.reports.output import check_writable, new_run_dir, save_run
    from driver.runner.checkpoint import RunSoFar, checkpoint_interval
    from driver.runner.supervisor import run as run_plan
    from driver.stats import thresholds
    from driver.ui import make_server

    output = plan.output.dir or DEFAULT_OUTPUT
    formats = plan.output.formats or DEFAULT_FORMATS
    check_writable(output)
    every_s = checkpoint_interval(plan, checkpoint)
    server = make_server("127.0.0.1", port, ".", output).start()
    try:
        click.echo(f"driver web UI: {server.url}", err=True)
        live = server.manager.attach(plan)
        with _Observers(plan, RunSoFar(plan), prometheus) as observers:
            directory = new_run_dir(output) if (every_s or plan.output.hlog) else None
            observers.open_files(directory, every_s)
            with make_progress(plan, plan.thresholds, quiet=quiet) as progress:
                if observers.exporter is not None and not quiet:
                    click.echo(f"prometheus: {observers.exporter.url}", err=True)

                def on_progress(window):
                    progress.update(window)
                    return server.manager.on_window(live, window)

                try:
                    result = run_plan(plan, on_progress=observers.chain(on_progress), steering=live.steering)
                finally:
                    observers.close_files(directory)
        if live.stop_asked:
            result.notes.append("stopped from the web UI")
        saved = save_run(result, output, formats, directory=directory)
        if observers.checkpointer is not None and saved.directory == directory:
            observers.checkpointer.discard()  # the final result replaces the checkpoint
        server.manager.finished(live, result, saved)
        _print(result, saved)
        if sys.stdin is not None and sys.stdin.isatty():
            click.echo(f"the web UI stays at {server.url} for the reports: press Ctrl-C to close it", err=True)
            try:
                while True:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
        return thresholds.exit_code(result)
    finally:
        server.close()


def _print(result, saved) -> None:
    """What `execute` prints after a run: the summary, the verdicts, where the files are."""
    from driver.reports.summary import render
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
