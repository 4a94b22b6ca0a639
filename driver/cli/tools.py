"""`driver profiles`, `validate`, `report`, `compare` and `merge`: the commands around runs."""
from __future__ import annotations

import sys

import click

from driver.cli.app import cli, warnings_shown
from driver.config import list_profiles, validate_config
from driver.errors import EXIT_OK
from driver.reports.summary import render
from driver.stats.result import Result

@cli.command("profiles")
@click.option("-c", "--config", "config_file", help="Also list the profiles a config file defines.")
def profiles_cmd(config_file):
    """List the named load profiles (open loop: `rate` arrivals/s, at most `users` in flight)."""
    rows = list_profiles(config_file)
    click.echo(f"{'profile':<10} {'users':>6} {'rate/s':>7} {'duration':>9}  description")
    for name, p in rows.items():
        rate = p.get("rate")
        rate = f"{rate:g}" if isinstance(rate, (int, float)) else "-"
        duration = p.get("duration", "-")
        if "stages" in p and "duration" not in p:  # stages set their own length
            duration = f"{sum(d for d, _ in p['stages']):g}s"
        click.echo(f"{name:<10} {p.get('users', '-'):>6} {rate:>7} {str(duration):>9}  {p.get('description', '')}")


@cli.command("validate")
@click.argument("config_file")
def validate_cmd(config_file):
    """Check a config file without running it."""
    with warnings_shown():
        plan = validate_config(config_file)
    if plan.groups:
        groups = ", ".join(f"{g.name} ({g.plan.mode} loop)" for g in plan.groups)
        click.echo(f"{config_file}: ok — {len(plan.groups)} scenarios: {groups}")
        return
    what = (f"scenario {plan.scenario.python}" if plan.scenario and plan.scenario.python
            else f"{len(plan.endpoints)} endpoints")
    click.echo(f"{config_file}: ok — {plan.mode} loop, {what}, target {plan.target.base_url}")


@cli.command("report")
@click.argument("result_file")
@click.option("--report", "formats", default="html", show_default=True, help="Formats: json,html,md,csv,junit.")
@click.option("-o", "--output", help="Directory to write into (default: the result file's directory).")
def report_cmd(result_file, formats, output):
    """Render reports again from a saved result.json."""
    from driver.reports import parse_formats, write_reports
    from driver.reports.output import report_dir

    fmts = parse_formats(formats)
    result = Result.load(result_file)
    directory = report_dir(output, result_file)
    for path in write_reports(result, directory, fmts):
        click.echo(str(path))


@cli.command("compare")
@click.argument("base")
@click.argument("new")
@click.option("--fail-on", "rules", multiple=True,
              help="A regression rule, repeatable: 'p99>+10%', 'rps<-5%', '/start:p95>+50ms', 'error_rate>+0.5%'.")
def compare_cmd(base, new, rules):
    """Per-endpoint deltas between two results; exit 1 when a --fail-on rule is broken."""
    from driver.stats.compare import check_rules, compare, parse_rule
    from driver.stats.compare import render as render_compare
    from driver.errors import EXIT_THRESHOLD

    parsed = [parse_rule(r) for r in rules]
    rows = compare(Result.load(base), Result.load(new))
    results = check_rules(rows, parsed)
    click.echo(render_compare(rows, results))
    sys.exit(EXIT_THRESHOLD if any(not r["passed"] for r in results) else EXIT_OK)


@cli.command("merge")
@click.argument("results", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Where to write the merged result.json.")
@click.option("--force", is_flag=True, help="Merge shards that do not make one plan exactly (marked incomplete).")
def merge_cmd(results, output, force):
    """Merge result files (e.g. the shards of one plan, from several boxes) into one, and print it.

    Shards (driver run --shard i/N) must come from one plan (its fingerprint), each
    shard once and none missing; --force merges them anyway, with a warning.
    """
    from driver.planning.shard import merge_results

    merged, problems = merge_results([Result.load(path) for path in results], force=force)
    for problem in problems:
        click.echo(f"driver: warning: merged anyway (--force): {problem}", err=True)
    merged.save(output)
    click.echo(render(merged))
