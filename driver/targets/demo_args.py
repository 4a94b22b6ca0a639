"""The demo target's command line (`python -m driver.targets.demo --help`): flags ->
`serve`'s keywords. API mode: `--api-url` (Telegram Bot API base) and
`--whatsapp-api-url` (Graph API base), one per platform because each platform's mock
is a server of its own; the breaker settings apply to both platforms' breakers."""
from __future__ import annotations

import argparse
from typing import Any

from driver.targets.api_mode import DEFAULT_BOT_TOKEN, DEFAULT_WHATSAPP_TOKEN
from driver.targets.telegram_bot import SECRET_HEADER
from driver.targets.whatsapp_bot import (
    DEFAULT_MAX_CONVERSATIONS,
    DEFAULT_VERIFY_TOKEN,
    SIGNATURE_HEADER,
)

__all__ = ["parser", "parse"]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m driver.targets.demo",
        description="Telegram- and WhatsApp-style webhook bot to point driver at.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8080, help="0 picks a free port")
    add("--secret", default=None, help=f"require this {SECRET_HEADER} header")
    add("--delay-ms", type=float, default=0, help="simulated processing time per update")
    add("--rate-limit", type=float, default=None, metavar="N",
        help="at most N requests per second per chat/wa_id (429 over it)")
    add("--verify-token", default=DEFAULT_VERIFY_TOKEN,
        help="the WhatsApp webhook verify token (GET hub.verify_token)")
    add("--app-secret", default=None,
        help=f"require a valid {SIGNATURE_HEADER} on WhatsApp POSTs")
    add("--max-conversations", type=int, default=DEFAULT_MAX_CONVERSATIONS,
        help="WhatsApp conversations kept in memory (LRU)")
    api = parser.add_argument_group(
        "API mode", "reply through the platform APIs (200 {} to the webhook at once)")
    api.add_argument("--api-url", default=None, metavar="URL",
                     help="Telegram Bot API base URL, e.g. a `driver mock telegram`")
    api.add_argument("--bot-token", default=DEFAULT_BOT_TOKEN,
                     help="the token in Bot API paths (/bot<token>/sendMessage)")
    api.add_argument("--whatsapp-api-url", default=None, metavar="URL",
                     help="WhatsApp Cloud API (Graph) base URL")
    api.add_argument("--whatsapp-token", default=DEFAULT_WHATSAPP_TOKEN,
                     help="the Cloud API bearer token")
    api.add_argument("--breaker-failures", type=int, default=5, metavar="N",
                     help="consecutive failed API calls that open the circuit breaker")
    api.add_argument("--breaker-reset", type=float, default=5.0, metavar="S",
                     help="seconds the breaker stays open before a probe")
    api.add_argument("--api-timeout", type=float, default=5.0, metavar="S",
                     help="seconds per API call")
    api.add_argument("--max-replies-in-flight", type=int, default=10_000, metavar="N",
                     help="answers being sent at once; more are dropped (counted)")
    return parser


def parse(argv: list[str] | None = None) -> dict[str, Any]:
    """The flags -> `serve`'s keywords (host, port and `make_app`'s), checked: a bad
    value exits 2 with argparse's usage line and one error line."""
    from driver.targets.demo import make_app  # the one check of the API settings

    p = parser()
    args = p.parse_args(argv)
    bad = p.error
    if args.delay_ms < 0:
        bad("--delay-ms must be >= 0")
    if args.rate_limit is not None and not 0 < args.rate_limit < float("inf"):
        bad("--rate-limit must be a positive number")
    if not args.verify_token:
        bad("--verify-token must not be empty")
    if args.max_conversations < 1:
        bad("--max-conversations must be >= 1")
    if args.breaker_failures < 1:
        bad("--breaker-failures must be >= 1")
    if not 0 < args.breaker_reset < float("inf"):
        bad("--breaker-reset must be a positive number of seconds")
    if not 0 < args.api_timeout < float("inf"):
        bad("--api-timeout must be a positive number of seconds")
    if args.max_replies_in_flight < 1:
        bad("--max-replies-in-flight must be >= 1")
    options = dict(
        secret=args.secret, delay_ms=args.delay_ms, rate_limit=args.rate_limit,
        verify_token=args.verify_token, app_secret=args.app_secret,
        max_conversations=args.max_conversations, api_url=args.api_url,
        bot_token=args.bot_token, whatsapp_api_url=args.whatsapp_api_url,
        whatsapp_token=args.whatsapp_token, breaker_failures=args.breaker_failures,
        breaker_reset_s=args.breaker_reset, api_timeout_s=args.api_timeout,
        max_replies_in_flight=args.max_replies_in_flight)
    try:
        make_app(**options)  # every check, before anything binds
    except ValueError as exc:
        bad(str(exc))
    return {"host": args.host, "port": args.port, **options}
