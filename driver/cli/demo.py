"""`driver demo` (a built-in target loaded for a few seconds: the bot, or with --ws the
WebSocket server, with --jobs the job API, with --calls the call API) and `driver target`
(a built-in target on its own)."""
from __future__ import annotations

import dataclasses
import sys

import click

from driver.cli.app import DEFAULT_OUTPUT, _fail, cli, execute
from driver.planning import make_plan
from driver.planning.make import parse_thresholds, with_mock

DEMO_DURATION = "5s"
DEMO_USERS = 50  # the bot's; each variant has its own (VARIANT_USERS)
VARIANT_USERS = {"ws": 20, "jobs": 4, "calls": 8}
CALLS_DURATION = "10s"  # the demo's calls last 3 s: a few seconds more than one


def demo_chaos():
    """The demo's chaos timeline: an API outage (the breaker's trip and recovery), then a
    malformed-update battery."""
    from driver.chaos.timeline import parse_timeline

    return parse_timeline([({"at": "8s", "duration": "8s", "fault": "outage", "mode": "refuse"}, "--chaos"),
                           ({"at": "18s", "duration": "4s", "fault": "malformed", "rate": 5}, "--chaos")])


@cli.command("demo")
@click.option("-u", "--users", type=int, help=f"Virtual users (default {DEMO_USERS}; --ws {VARIANT_USERS['ws']}, "
                                               f"--jobs {VARIANT_USERS['jobs']}, --calls {VARIANT_USERS['calls']}).")
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
@click.option("--ws", "variant", flag_value="ws",
              help="The demo WebSocket server instead: JSON round trips on /echo matched by id, pushes "
                   "from /push timed from their timestamp (push:feed), pings.")
@click.option("--jobs", "variant", flag_value="jobs",
              help="The demo job API instead: batches of jobs submitted and polled to their end, the "
                   "queue depth scraped from its /metrics every second and charted.")
@click.option("--calls", "variant", flag_value="calls",
              help="The demo call API instead: calls set up, 20 ms audio frames streamed at real-time "
                   "pace over a WebSocket, status polled, hung up (10s unless -d).")
def demo_cmd(users, duration, workers, output, quiet, via_api, chaos, variant):
    """Start the built-in Telegram-style bot and load it for a few seconds.

    Every virtual user is a synthetic Telegram user (free, premium or admin) who sends
    the bot's 22 commands by weight; each reply is checked against the tier rules.
    --ws, --jobs and --calls load the demo WebSocket server, job API or call API instead.
    """
    from driver.plan import available_cpus
    from driver.targets.process import DemoTargetProcess

    workers = workers or available_cpus()
    if variant is not None:
        if via_api or chaos:
            _fail(f"--{variant} cannot be combined with --api or --chaos (they are the bot's)")
        sys.exit(VARIANTS[variant](users or VARIANT_USERS[variant], duration, workers, output, quiet))
    users = users or DEMO_USERS

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
                         duration=duration, workers=workers, output=output)
        if via_api:
            plan = with_mock(plan, f"telegram:{mock_port}")
        if chaos:
            plan = dataclasses.replace(
                plan, chaos=demo_chaos(), replies=dataclasses.replace(plan.replies, timeout_s=3.0),
                thresholds=plan.thresholds + tuple(
                parse_thresholds(("recovery<15s", "breaker_trip<5s"), "--chaos")))
        code = execute(plan, quiet)
    sys.exit(code)


def ws_demo(users: int, duration, workers: int, output, quiet: bool) -> int:
    """`driver demo --ws`: the demo WebSocket server (driver.targets.ws_demo) on a free
    loopback port, loaded by driver.scenario.wsdemo:WsDemo; the exit code."""
    from driver.targets.process import WsDemoTargetProcess

    with WsDemoTargetProcess() as target:
        click.echo(f"demo WebSocket server at {target.url} (/echo, /push, /broadcast)")
        plan = make_plan(target.url.replace("ws://", "http://", 1), scenario="driver.scenario.wsdemo:WsDemo",
                         users=users, duration=duration, workers=workers, output=output)
        return execute(plan, quiet)


def jobs_demo(users: int, duration, workers: int, output, quiet: bool) -> int:
    """`driver demo --jobs`: the demo job API (driver.targets.jobs_demo) on a free loopback
    port, loaded by driver.scenario.wsdemo:JobsDemo, its queue depth scraped from /metrics
    (the --metrics-url path) and charted beside throughput; the exit code."""
    from driver.runner.metrics import with_metrics
    from driver.targets.process import JobsDemoTargetProcess

    with JobsDemoTargetProcess(workers=4, processing_ms=50, distribution="exponential", fail_share=0.02) as target:
        click.echo(f"demo job API at {target.url} (POST /jobs, GET /jobs/{{id}}, /jobs/{{id}}/events, /metrics)")
        plan = make_plan(target.url, scenario="driver.scenario.wsdemo:JobsDemo", users=users, duration=duration,
                         workers=workers, output=output)
        plan = with_metrics(plan, [target.url + "/metrics"], ["queue_depth", "jobs_running"])
        return execute(plan, quiet)


def calls_demo(users: int, duration, workers: int, output, quiet: bool) -> int:
    """`driver demo --calls`: the demo call API (driver.targets.calls_demo) on a free loopback
    port, called by driver.scenario.calls:DemoCaller (3 s calls of 20 ms frames); the exit code."""
    from driver.targets.process import CallsDemoTargetProcess

    with CallsDemoTargetProcess() as target:
        click.echo(f"demo call API at {target.url} (POST /calls, WS /calls/{{id}}/media, GET /calls/{{id}}, "
                   f"DELETE /calls/{{id}})")
        plan = make_plan(target.url, scenario="driver.scenario.calls:DemoCaller", users=users,
                         duration=CALLS_DURATION if duration == DEMO_DURATION else duration, workers=workers,
                         output=output)
        return execute(plan, quiet)


# `driver demo --NAME`: each variant starts its demo target and runs its scenario
VARIANTS = {"ws": ws_demo, "jobs": jobs_demo, "calls": calls_demo}


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
