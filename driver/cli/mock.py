"""`driver mock PLATFORM`: a mock platform API on its own."""
from __future__ import annotations

import click

from driver.cli.app import _fail, cli

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
