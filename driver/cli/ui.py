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
    from driver.cli.app import execute
    from driver.reports.output import check_writable
    from driver.ui import make_server

    check_writable(plan.output.dir or DEFAULT_OUTPUT)
    server = make_server("127.0.0.1", port, ".", plan.output.dir or DEFAULT_OUTPUT).start()
    try:
        click.echo(f"driver web UI: {server.url}", err=True)
        live = server.manager.attach(plan)

        def before_save(result):
            if live.stop_asked:
                result.notes.append("stopped from the web UI")

        code = execute(plan, quiet, prometheus=prometheus, checkpoint=checkpoint,
                       on_window=lambda window: server.manager.on_window(live, window), steering=live.steering,
                       before_save=before_save, after_save=lambda result, saved: server.manager.finished(
                           live, result, saved))
        if sys.stdin is not None and sys.stdin.isatty():
            click.echo(f"the web UI stays at {server.url} for the reports: press Ctrl-C to close it", err=True)
            try:
                while True:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
        return code
    finally:
        server.close()
