"""`driver run`: load a URL or a config file."""
from __future__ import annotations

import dataclasses
import sys

import click

from driver.cli.app import cli, execute, warnings_shown
from driver.config import load_config
from driver.errors import PlanError
from driver.planning import make_plan
from driver.planning.make import with_mock, with_watch_pids
from driver.planning.shard import with_shard
from driver.runner.metrics import with_metrics

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
@click.option("--hlog", is_flag=True, default=None,
              help="Write latency.hlog in the run's directory: HdrHistogram interval logs, one per second per endpoint.")
@click.option("--prometheus", metavar="[HOST:]PORT",
              help="Serve Prometheus metrics at http://HOST:PORT/metrics while the run lasts (host 127.0.0.1).")
@click.option("--checkpoint", metavar="INTERVAL",
              help="Write checkpoint.json (the result so far) this often, as 60s; 0: never "
                   "(default: every minute for runs of 5 minutes or more).")
@click.option("--shard", metavar="I/N", help="Run slice I of N of the plan (one box of N); merge with driver merge.")
@click.option("--start-at", "start_at", metavar="TIME",
              help="Start the load at this wall-clock time: ISO 8601 (UTC unless an offset) or unix seconds.")
@click.option("--ray", "ray", metavar="auto|local[:N]|ADDRESS",
              help="Run on a Ray cluster: one driver per node, results merged (pip install 'driver[ray]').")
@click.option("--ray-nodes", "ray_nodes", type=int, help="With --ray: use this many nodes (default: all alive).")
@click.option("--ui", "ui_port", type=click.IntRange(0, 65535), is_flag=False, flag_value=8089, default=None,
              metavar="[PORT]", help="Serve the web UI on 127.0.0.1:PORT (default 8089) beside the run: "
              "watch it, steer it, stop it, download its reports. Put it after the URL.")
def run_cmd(url, config_file, scenario, profile, users, rate, duration, max_requests, ramp_up, stages, workers,
            method, headers, body, binary, body_file, timeout, connect_timeout, think, max_in_flight, insecure, name,
            output, threshold_list, formats, quiet, watch_pids, metrics_urls, metric_names, mock,
            hlog=None, prometheus=None, checkpoint=None, shard=None, start_at=None, ray=None, ray_nodes=None,
            ui_port=None):
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
        plan = with_shard(plan, shard, start_at)
        if hlog:
            plan = dataclasses.replace(plan, output=dataclasses.replace(plan.output, hlog=True))
    watchers = {k: v for k, v in (("prometheus", prometheus), ("checkpoint", checkpoint), ("ray", ray),
                                  ("ray_nodes", ray_nodes)) if v is not None}
    if ray_nodes is not None and ray is None:
        raise PlanError("--ray-nodes needs --ray", flag="--ray-nodes")
    if ray is not None:
        from driver.runner.cluster import check_ray_plan, parse_ray_address

        parse_ray_address(ray)
        check_ray_plan(plan, ray_nodes)
    if ui_port is not None:
        from driver.cli.ui import execute_with_ui

        if ray is not None:
            raise PlanError("--ui cannot be combined with --ray: the page steers the workers of this box",
                            flag="--ui")
        sys.exit(execute_with_ui(plan, quiet, ui_port, **watchers))
    sys.exit(execute(plan, quiet, **watchers))


def build_plan(url: str, load: dict, scenario: str | None, **request):
    """`make_plan(url, scenario=scenario, **load, **request)`: the shape tests/test_scenario.py
    calls; everything else calls driver.make_plan."""
    return make_plan(url, scenario=scenario, **load, **request)
