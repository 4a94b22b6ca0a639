"""The `driver` command: parse flags, call the library, render. Nothing else.

User errors end as one line on stderr and exit code 2 (see driver.errors for all
exit codes); no traceback reaches the user for anything they can cause.
"""
from __future__ import annotations

import dataclasses
import sys
import warnings
from contextlib import contextmanager

import click

from driver import __version__
from driver.config import list_profiles, load_config, validate_config
from driver.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, DriverError, PlanError, PlanWarning
from driver.planning import make_plan
from driver.planning.make import parse_thresholds, with_mock, with_watch_pids
from driver.runner.metrics import with_metrics
from driver.stats.result import Result
from driver.reports.summary import render

DEFAULT_OUTPUT = "driver-results"
DEFAULT_FORMATS = ("json", "html")


def _fail(message: str, code: int = EXIT_USAGE):
    from driver.masking import mask_url

    # URL credentials are masked where each message is made; this is the net under them
    click.echo(f"driver: error: {mask_url(message)}", err=True)
    sys.exit(code)


def execute(plan, quiet: bool) -> int:
    """Run a plan with the live view, save the result files, print the report; the exit code.

    The output is checked before the load starts, and saved before anything is
    printed: everything measured is written, also when the run was interrupted,
    aborted, lost a worker, or the summary cannot be shown.
    """
    from driver.stats import thresholds
    from driver.reports.live import make_progress
    from driver.reports.output import check_writable, save_run
    from driver.runner.supervisor import run

    output = plan.output.dir or DEFAULT_OUTPUT
    formats = plan.output.formats or DEFAULT_FORMATS
    check_writable(output)
    with make_progress(plan, plan.thresholds, quiet=quiet) as progress:
        result = run(plan, on_progress=progress.update)
    saved = save_run(result, output, formats)
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
    return thresholds.exit_code(result)


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


@cli.command("run")
@click.argument("url", required=False)
@click.option("-c", "--config", "config_file", help="A YAML config file (see README); flags override it.")
@click.option("-s", "--scenario", help="A Python scenario: file.py, file.py:Class or module:Class.")
@click.option("--profile", help="A named load profile (driver profiles lists them).")
@click.option("-u", "--users", type=int, help="Virtual users (closed loop); with --rate: cap on requests in flight.")
@click.option("-r", "--rate", type=float, help="Arrivals per second (open loop, latency from the intended start).")
@click.option("-d", "--duration", help="How long: 30, 30s, 2m, 1h (default 10s unless --requests).")
@click.option("-n", "--requests", "max_requests", type=int, help="Stop after this many requests in all.")
@click.option("--ramp-up", help="Ramp users (or the rate) up from 0 over this time.")
@click.option("--stage", "stages", multiple=True, help="DURATION:TARGET, repeatable: k6-style stages.")
@click.option("-w", "--workers", type=int, help="Worker processes (default: the CPUs this process may use).")
@click.option("-m", "--method", help="HTTP method of a URL run (default GET).")
@click.option("-H", "--header", "headers", multiple=True, help="'Name: value', repeatable.")
@click.option("--body", help="Request body (a JSON body gets Content-Type: application/json); "
              "for ws:// and wss://, the message sent each round trip.")
@click.option("--binary", is_flag=True, help="ws:// and wss://: send the message as a binary frame (default text).")
@click.option("--body-file", type=str, help="Read the request body from this file.")
@click.option("--timeout", help="Request timeout (default 30s).")
@click.option("--connect-timeout", help="Connect timeout (default 5s or --timeout if lower).")
@click.option("--think", help="Think time between a user's requests (closed loop).")
@click.option("--max-in-flight", type=int, help="Open loop: cap on requests in flight (default 1000).")
@click.option("-k", "--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option("--name", help="Endpoint name for the stats (default: METHOD /path).")
@click.option("-o", "--output", help="Directory for results (default ./driver-results, or the config's "
              "output.dir); each run gets its own timestamped directory.")
@click.option("-t", "--threshold", "threshold_list", multiple=True,
              help="An SLO, repeatable: 'p99<5s', '/start:p95<1s', 'error_rate<1%', 'rps>100', 'p99<2s abort'.")
@click.option("--report", "formats", help="Report formats besides result.json: html,md,csv,junit (default json,html).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the final report.")
@click.option("--watch-pid", "watch_pids", type=int, multiple=True,
              help="A target process to sample every second (RSS, CPU, fds, threads; leak verdict), repeatable.")
@click.option("--mock", "mock", metavar="PLATFORM[:PORT]",
              help="Start a mock platform API (telegram, whatsapp) with the run, in its own process; "
                   "the bot's replies to it are matched to the updates (reply:<name> endpoints).")
@click.option("--metrics-url", "metrics_urls", multiple=True,
              help="The target's Prometheus endpoint, scraped every second for the --metric series, repeatable.")
@click.option("--metric", "metric_names", multiple=True,
              help="A series to keep from --metrics-url: a family name or NAME{label=\"value\"}, repeatable.")
def run_cmd(url, config_file, scenario, profile, users, rate, duration, max_requests, ramp_up, stages, workers,
            method, headers, body, binary, body_file, timeout, connect_timeout, think, max_in_flight, insecure, name,
            output, threshold_list, formats, quiet, watch_pids, metrics_urls, metric_names, mock):
    """Load URL (or the target of a config file) and report latency, throughput and errors."""
    from driver.reports import parse_formats

    settings = {"users": users, "rate": rate, "duration": duration, "requests": max_requests, "ramp_up": ramp_up,
                "stages": stages, "workers": workers, "max_in_flight": max_in_flight, "think": think,
                "timeout": timeout, "connect_timeout": connect_timeout, "insecure": insecure, "output": output,
                "report": parse_formats(formats) if formats is not None else None}
    with warnings_shown():
        if config_file:
            given = [flag for flag, v in (("URL", url), ("-s", scenario), ("-m", method), ("-H", headers),
                                          ("--body", body), ("--binary", binary), ("--body-file", body_file),
                                          ("--name", name)) if v]
            if given:
                raise PlanError(f"{', '.join(given)} cannot be combined with -c: put them in the config file",
                                flag=given[0])
            plan = with_watch_pids(load_config(config_file, {**settings, "profile": profile,
                                                             "thresholds": threshold_list}), watch_pids)
        elif not url:
            raise PlanError("give a URL to load, or a config file with -c FILE", flag="URL")
        else:
            plan = make_plan(url, profile=profile, scenario=scenario, method=method, headers=headers, body=body,
                             body_file=body_file, binary=binary, name=name, thresholds=threshold_list, watch_pids=watch_pids,
                             **settings)
        plan = with_metrics(plan, metrics_urls, metric_names)
        plan = with_mock(plan, mock)
    sys.exit(execute(plan, quiet))


@cli.command("find-capacity")
@click.argument("url", required=False)
@click.option("-c", "--config", "config_file", help="A YAML config file (its target, scenario and thresholds).")
@click.option("-u", "--users", "users_spec", metavar="START:MAX:STEP",
              help="Climb virtual users (closed loop): e.g. 10:500:+10 (add 10) or 10:500:x2 (double).")
@click.option("-r", "--rate", "rate_spec", metavar="START:MAX:STEP",
              help="Climb arrivals per second (open loop): e.g. 100:5000:x1.5 or 100:1000:+100.")
@click.option("--step", default="20s", show_default=True, help="How long each level is held.")
@click.option("--settle", help="The first part of each step not judged (default a quarter of the step, >= 1s).")
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
def find_capacity_cmd(url, config_file, users_spec, rate_spec, step, settle, threshold_list, scenario, workers,
                      method, headers, body, body_file, timeout, think, max_in_flight, insecure, name, output,
                      formats, quiet):
    """Raise the load step by step until a threshold breaks; report the highest level that passed.

    Exit 0: a level passed; 1: the first step failed; 4: the load generator could not
    drive the first step; 3: the run did not finish."""
    from driver.planning.capacity import capacity_thresholds, for_capacity, step_plan, stepped_settings
    from driver.reports import parse_formats

    steps = step_plan(users_spec, rate_spec, step, settle)
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
    sys.exit(execute_capacity(plan, steps, thresholds, quiet))


def execute_capacity(plan, steps, thresholds, quiet: bool) -> int:
    """execute() for a capacity search: the live view, the files, the report; the exit code."""
    from driver.reports.live import make_progress
    from driver.reports.output import check_writable, save_run
    from driver.runner.capacity import find_capacity
    from driver.stats.capacity import capacity_exit_code

    output = plan.output.dir or DEFAULT_OUTPUT
    check_writable(output)
    with make_progress(plan, thresholds, quiet=quiet) as progress:
        result = find_capacity(plan, steps, thresholds, on_progress=progress.update)
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


def build_plan(url: str, load: dict, scenario: str | None, **request):
    """`make_plan(url, scenario=scenario, **load, **request)`: the shape tests/test_scenario.py
    calls; everything else calls driver.make_plan."""
    return make_plan(url, scenario=scenario, **load, **request)


DEMO_DURATION = "5s"


def demo_chaos():
    """The demo's chaos timeline: an API outage (the breaker's trip and recovery), then a
    malformed-update battery."""
    from driver.chaos.timeline import parse_timeline

    return parse_timeline([({"at": "8s", "duration": "8s", "fault": "outage", "mode": "refuse"}, "--chaos"),
                           ({"at": "18s", "duration": "4s", "fault": "malformed", "rate": 5}, "--chaos")])


@cli.command("demo")
@click.option("-u", "--users", type=int, default=50, show_default=True)
@click.option("-d", "--duration", default=DEMO_DURATION, show_default=True)
@click.option("-w", "--workers", type=int, help="Worker processes (default: the CPUs this process may use).")
@click.option("-o", "--output", default=DEFAULT_OUTPUT, show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--api", "via_api", is_flag=True,
              help="The bot replies as real bots do: 200 at once, then a sendMessage call to a mock "
                   "Telegram API the run starts; each reply is matched to its update (reply:<command>).")
@click.option("--chaos", is_flag=True,
              help="With --api, over 30s (unless -d): a Telegram API outage from 8s to 16s (the bot's "
                   "circuit breaker trips, probes, recovers) and malformed updates from 18s to 22s; "
                   "the report shows recovery times and the breaker.")
def demo_cmd(users, duration, workers, output, quiet, via_api, chaos):
    """Start the built-in Telegram-style bot and load it for a few seconds.

    Every virtual user is a synthetic Telegram user (free, premium or admin) who sends
    the bot's 22 commands by weight; each reply is checked against the tier rules.
    """
    from driver.plan import available_cpus
    from driver.targets.process import DemoTargetProcess

    via_api = via_api or chaos
    if chaos and duration == DEMO_DURATION:
        duration = "30s"
    mock_port = _free_port() if via_api else None
    api_url = f"http://127.0.0.1:{mock_port}" if via_api else None
    breaker = {"breaker_failures": 5, "breaker_reset_s": 2.0} if chaos else {}
    with DemoTargetProcess(api_url=api_url, **breaker) as target:
        click.echo(f"demo target at {target.url} (POST /webhook/telegram, GET /health)"
                   + (f", replying through the mock Telegram API at {api_url}" if via_api else ""))
        plan = make_plan(target.url, scenario="driver.scenario.telegram:CatalogBot", users=users,
                         duration=duration, workers=workers or available_cpus(), output=output)
        if via_api:
            plan = with_mock(plan, f"telegram:{mock_port}")
        if chaos:
            plan = dataclasses.replace(
                plan, chaos=demo_chaos(), replies=dataclasses.replace(plan.replies, timeout_s=3.0),
                thresholds=plan.thresholds + tuple(
                parse_thresholds(("recovery<15s", "breaker_trip<5s"), "--chaos")))
        code = execute(plan, quiet)
    sys.exit(code)


def _free_port() -> int:
    """A loopback port free now (for a mock the demo bot must know before the run)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@cli.group("target")
def target_group():
    """Run a built-in target on its own."""


@target_group.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
def target_demo_cmd(host, port):
    """The demo webhook target (Ctrl-C stops it)."""
    from driver.targets.demo import serve

    try:
        serve(host=host, port=port)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        pass


@cli.group("mock")
def mock_group():
    """Run a mock platform API for bots to call (a call log and faults under /_driver/)."""


def _mock_command(platform: str, port: int, doc: str, rate_limited: str):
    """`driver mock PLATFORM`: the same fault flags for every mock platform API."""
    @mock_group.command(platform, help=doc)
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", type=int, default=port, show_default=True, help="0 picks a free port.")
    @click.option("--error-rate", type=float, default=0.0, help="Share of calls answered 500 (0..1).")
    @click.option("--429-rate", "rate_limit_rate", type=float, default=0.0, help=rate_limited)
    @click.option("--retry-after", type=int, default=1, show_default=True, help="Seconds, in the 429 answers.")
    @click.option("--latency-ms", type=float, default=0.0,
                  help="Added latency per call (the low end with --latency-max-ms).")
    @click.option("--latency-max-ms", type=float, help="Added latency uniform in [--latency-ms, this].")
    @click.option("--outage", type=click.Choice(["refuse", "reset", "hang"]), help="Start in an outage.")
    @click.option("--seed", type=int, help="Seed of the fault draws (repeatable runs).")
    def command(host, port, error_rate, rate_limit_rate, retry_after, latency_ms, latency_max_ms, outage, seed):
        import importlib

        from driver.mock import Faults

        serve = importlib.import_module(f"driver.mock.{platform}").serve
        try:
            faults = Faults(error_rate=error_rate, rate_limit_rate=rate_limit_rate, retry_after=retry_after,
                            latency_ms=latency_ms, latency_max_ms=latency_max_ms, outage=outage)
        except ValueError as exc:
            flag = str(exc).split(" ", 1)[0].replace("rate_limit_rate", "429_rate").replace("_", "-")
            _fail(f"--{flag}: {exc}")
        try:
            serve(host=host, port=port, faults=faults, seed=seed)
        except OSError as exc:
            _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        except KeyboardInterrupt:
            pass
    return command


mock_telegram_cmd = _mock_command(
    "telegram", 8081, "A mock Telegram Bot API at http://HOST:PORT (point the bot's base URL there; "
    "Ctrl-C stops it).", "Share of calls answered 429 with retry_after (0..1).")
mock_whatsapp_cmd = _mock_command(
    "whatsapp", 8082, "A mock WhatsApp Cloud API (Graph API) at http://HOST:PORT (Ctrl-C stops it).",
    "Share of calls answered 429, Graph code 130429 with Retry-After (0..1).")


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
def merge_cmd(results, output):
    """Merge result files (e.g. from several boxes) into one, and print it."""
    merged = Result.load(results[0])
    for path in results[1:]:
        merged = merged.merge(Result.load(path))
    merged.save(output)
    click.echo(render(merged))


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


if __name__ == "__main__":
    main()
