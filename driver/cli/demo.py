"""`driver demo` (the built-in bot loaded for a few seconds) and `driver target` (a built-in
target on its own)."""
from __future__ import annotations

import dataclasses
import sys

import click

from driver.cli.app import DEFAULT_OUTPUT, _fail, cli, execute
from driver.planning import make_plan
from driver.planning.make import parse_thresholds, with_mock

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
