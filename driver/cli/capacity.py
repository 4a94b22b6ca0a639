"""`driver find-capacity`: raise the load step by step until a threshold breaks."""
from __future__ import annotations

import sys

import click

from driver.cli.app import DEFAULT_FORMATS, DEFAULT_OUTPUT, cli, warnings_shown
from driver.config import load_config
from driver.errors import PlanError
from driver.planning import make_plan
from driver.reports.summary import render

@cli.command("find-capacity")
@click.argument("url", required=False)
@click.option("-c", "--config", "config_file", help="A YAML config file (its target, scenario and thresholds).")
@click.option("-u", "--users", "users_spec", metavar="START:MAX:STEP",
              help="Climb virtual users (closed loop): e.g. 10:500:+10 (add 10) or 10:500:x2 (double).")
@click.option("-r", "--rate", "rate_spec", metavar="START:MAX:STEP",
              help="Climb arrivals per second (open loop): e.g. 100:5000:x1.5 or 100:1000:+100.")
@click.option("--step", default="20s", show_default=True, help="How long each level is held.")
@click.option("--settle", help="The first part of each step not judged (default a quarter of the step, >= 1s).")
@click.option("--search", "search", type=click.Choice(["climb", "bisect"]), default="climb", show_default=True,
              help="climb: the steps only. bisect: then halve the bracket between the highest passing and the "
                   "first failing level (a run of one step per level) down to --resolution.")
@click.option("--resolution", type=float,
              help="With --search bisect: stop when the bracket is this narrow, in users or req/s "
                   "(default an eighth of the climb's bracket).")
@click.option("-t", "--threshold", "threshold_list", multiple=True,
              help="What a passing step is, repeatable: 'p99<500ms', 'error_rate<1%', '/api:p95<200ms'.")
@click.option("-s", "--scenario", help="A Python scenario: file.py, file.py:Class or module:Class.")
@click.option("-w", "--workers", type=int, help="Worker processes (default: the CPUs this process may use).")
@click.option("-m", "--method", help="HTTP method of a URL run (default GET).")
@click.option("-H", "--header", "headers", multiple=True, help="'Name: value', repeatable.")
@click.option("--body", help="Request body (a JSON body gets Content-Type: application/json).")
@click.option("--body-file", type=str, help="Read the request body from this file.")
@click.option("--timeout", help="Request timeout (default 30s).")
@click.option("--think", help="Think time between a user's requests (closed loop).")
@click.option("--max-in-flight", type=int, help="With --rate: cap on requests in flight (default 1000).")
@click.option("-k", "--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option("--name", help="Endpoint name for the stats (default: METHOD /path).")
@click.option("-o", "--output", help="Directory for results (default ./driver-results).")
@click.option("--report", "formats", help="Report formats besides result.json: html,md,csv,junit (default json,html).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the final report.")
def find_capacity_cmd(url, config_file, users_spec, rate_spec, step, settle, search, resolution, threshold_list,
                      scenario, workers,
                      method, headers, body, body_file, timeout, think, max_in_flight, insecure, name, output,
                      formats, quiet):
    """Raise the load step by step until a threshold breaks; report the highest level that passed.

    Exit 0: a level passed; 1: the first step failed; 4: the load generator could not
    drive the first step; 3: the run did not finish."""
    from driver.planning.capacity import capacity_thresholds, for_capacity, search_plan, step_plan, stepped_settings
    from driver.reports import parse_formats

    steps = step_plan(users_spec, rate_spec, step, settle)
    how = search_plan(search, resolution)
    settings = {**stepped_settings(steps), "workers": workers, "max_in_flight": max_in_flight, "think": think,
                "timeout": timeout, "insecure": insecure, "output": output,
                "report": parse_formats(formats) if formats is not None else None}
    with warnings_shown():
        if config_file:
            given = [flag for flag, v in (("URL", url), ("-s", scenario), ("-m", method), ("-H", headers),
                                          ("--body", body), ("--body-file", body_file), ("--name", name)) if v]
            if given:
                raise PlanError(f"{', '.join(given)} cannot be combined with -c: put them in the config file",
                                flag=given[0])
            plan = load_config(config_file, {**settings, "thresholds": threshold_list})
        elif not url:
            raise PlanError("give a URL to load, or a config file with -c FILE", flag="URL")
        else:
            plan = make_plan(url, scenario=scenario, method=method, headers=headers, body=body, body_file=body_file,
                             name=name, thresholds=threshold_list, **settings)
        thresholds = capacity_thresholds(plan.thresholds)
        plan = for_capacity(plan, steps)
    sys.exit(execute_capacity(plan, steps, thresholds, quiet, how))


def execute_capacity(plan, steps, thresholds, quiet: bool, search=None) -> int:
    """execute() for a capacity search: the live view, the files, the report; the exit code."""
    from driver.reports.live import make_progress
    from driver.reports.output import check_writable, save_run
    from driver.planning.capacity import Search
    from driver.runner.capacity import find_capacity
    from driver.stats.capacity import capacity_exit_code

    output = plan.output.dir or DEFAULT_OUTPUT
    check_writable(output)
    with make_progress(plan, thresholds, quiet=quiet) as progress:
        result = find_capacity(plan, steps, thresholds, on_progress=progress.update, search=search or Search())
    saved = save_run(result, output, plan.output.formats or DEFAULT_FORMATS)
    try:
        click.echo(render(result))
    except Exception as exc:  # the files are written: a summary that fails must not hide that
        click.echo(f"driver: error: the summary could not be shown ({type(exc).__name__}: {exc}); "
                   f"the result is saved", err=True)
    if not result.validity.get("valid", True):
        click.echo("\nNOT VALID (the whole run): " + "; ".join(result.validity["reasons"]), err=True)
    for failure in saved.failed:
        click.echo(f"driver: warning: report not written: {failure}", err=True)
    click.echo(f"\nresults: {saved.directory} ({', '.join(p.name for p in saved.paths)})")
    return capacity_exit_code(result)
