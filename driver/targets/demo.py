"""The built-in demo target: a webhook server that behaves like a Telegram bot and
a WhatsApp Cloud API bot.

`POST /webhook/telegram` takes a Bot API `Update` and answers the way a webhook bot
does: 200 with a Bot API method call as the body (`{"method": "sendMessage", ...}`),
which Telegram would execute on the bot's behalf. The bot implements the command
catalog of `driver.payloads.catalog` with user tiers (`telegram_bot`).

`GET /webhook/whatsapp` answers the Cloud API's verification handshake and
`POST /webhook/whatsapp` takes notifications, answering each with the bot's reply and
the conversation state as JSON (`whatsapp_bot`). `GET /health` reports how many
webhook deliveries (updates and notifications) it handled.

Options: a Telegram secret token, a WhatsApp verify token and app secret
(X-Hub-Signature-256), a simulated processing time, and a per-chat rate limit (a token
bucket; over it: 429, `Retry-After: 1`, a Bot API-style error body).

It exists so that `driver` has something realistic to load out of the box and so
that the tests have a real bot-shaped server on loopback. Handlers are cheap on
purpose (orjson, no I/O, no sleeps unless `delay_ms` asks for a simulated
processing time): the target should not be the bottleneck of a demo.

Run it standalone with `python -m driver.targets.demo --port 8080`; the CLI's
`driver target demo` calls `serve`; tests use `make_app` in-process, or
`driver.targets.process.DemoTargetProcess` for a target in its own process.
"""
from __future__ import annotations

import argparse
import asyncio
import hmac
import signal
import time
from typing import Any, Callable

import orjson
from aiohttp import web

from driver.targets.telegram_bot import BadUpdate, chat_key, handle_update
from driver.targets.whatsapp_bot import (
    DEFAULT_MAX_CONVERSATIONS,
    DEFAULT_VERIFY_TOKEN,
    LRU,
    SIGNATURE_HEADER,
    WHATSAPP_PATH,
    BadNotification,
    WhatsAppBot,
    senders,
    signature_ok,
    subscription_challenge,
)

__all__ = [
    "SAMPLE_UPDATE",
    "WEBHOOK_PATH",
    "WHATSAPP_PATH",
    "HEALTH_PATH",
    "SECRET_HEADER",
    "SIGNATURE_HEADER",
    "DEFAULT_VERIFY_TOKEN",
    "BadUpdate",
    "handle_update",
    "RateLimiter",
    "make_app",
    "serve",
    "main",
]
# the demo target in a process of its own: driver.targets.process

WEBHOOK_PATH = "/webhook/telegram"
HEALTH_PATH = "/health"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: The line `serve` prints once bound; `DemoTargetProcess` parses it.
LISTENING_PREFIX = "demo target listening on "

# What the demo load posts: a realistic private-chat /start message (~300 bytes),
# as Telegram sends it (compact JSON, fields in Telegram's order).
SAMPLE_UPDATE: bytes = orjson.dumps(
    {
        "update_id": 910253401,
        "message": {
            "message_id": 4821,
            "from": {
                "id": 528143976,
                "is_bot": False,
                "first_name": "Ada",
                "username": "ada_l",
                "language_code": "en",
            },
            "chat": {
                "id": 528143976,
                "first_name": "Ada",
                "username": "ada_l",
                "type": "private",
            },
            "date": 1717000000,
            "text": "/start",
            "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
        },
    }
)

_JSON = "application/json"


class _Stats:
    """Mutable per-app counters (the app itself is frozen once started)."""

    __slots__ = ("updates",)

    def __init__(self) -> None:
        self.updates = 0


class RateLimiter:
    """A token bucket per key: `rate` requests per second, bursts of up to
    max(1, rate). Buckets live in an LRU of `max_keys`; `clock` is in seconds."""

    __slots__ = ("rate", "capacity", "_clock", "_buckets")

    def __init__(self, rate: float, max_keys: int = DEFAULT_MAX_CONVERSATIONS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0 \
                or rate == float("inf"):
            raise ValueError(f"rate_limit must be a positive number, got {rate!r}")
        self.rate = float(rate)
        self.capacity = max(1.0, self.rate)
        self._clock = clock
        self._buckets: LRU[Any, list[float]] = LRU(max_keys)  # key -> [tokens, at]

    def allow(self, key: Any) -> bool:
        """Take a token for `key`; False (nothing taken) when its bucket is empty."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = [self.capacity, now]
            self._buckets.put(key, bucket)
        tokens = min(self.capacity, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True


_STATS = web.AppKey("demo_stats", _Stats)
_SECRET = web.AppKey("demo_secret", object)  # bytes or None
_DELAY_S = web.AppKey("demo_delay_s", float)
_LIMITER = web.AppKey("demo_limiter", object)  # RateLimiter or None
_VERIFY_TOKEN = web.AppKey("demo_verify_token", str)
_APP_SECRET = web.AppKey("demo_app_secret", object)  # bytes or None
_WHATSAPP = web.AppKey("demo_whatsapp", WhatsAppBot)


# --- HTTP ------------------------------------------------------------------------


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None
          ) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type=_JSON,
                        headers=headers)


def _error(status: int, description: str) -> web.Response:
    # The shape of a Bot API error, so clients can parse both the same way.
    return _json(status, {"ok": False, "error_code": status, "description": description})


def _graph_error(status: int, message: str) -> web.Response:
    # The shape of a Graph API error, for the WhatsApp endpoint.
    return _json(status, {"error": {"message": message, "code": status}})


# Over the rate limit, on either webhook: Telegram's own 429 answer.
_TOO_MANY = orjson.dumps({"ok": False, "error_code": 429,
                          "description": "Too Many Requests: retry after 1",
                          "parameters": {"retry_after": 1}})


def _too_many() -> web.Response:
    return web.Response(status=429, body=_TOO_MANY, content_type=_JSON,
                        headers={"Retry-After": "1"})


async def _handled(app: web.Application, reply: dict[str, Any]) -> web.Response:
    delay_s = app[_DELAY_S]
    if delay_s > 0:
        await asyncio.sleep(delay_s)  # simulated processing time, off by default
    app[_STATS].updates += 1
    return _json(200, reply)


async def _webhook(request: web.Request) -> web.Response:
    app = request.app
    secret = app[_SECRET]
    if secret is not None:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, secret):
            return _error(401, "Unauthorized: bad or missing " + SECRET_HEADER)
    body = await request.read()
    try:
        update = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _error(400, "Bad Request: body is not valid JSON")
    limiter = app[_LIMITER]
    if limiter is not None:
        key = chat_key(update)
        if key is not None and not limiter.allow(("telegram", key)):
            return _too_many()
    try:
        reply = handle_update(update)
    except BadUpdate as exc:
        return _error(400, f"Bad Request: not an Update: {exc}")
    return await _handled(app, reply)


async def _whatsapp_verify(request: web.Request) -> web.Response:
    challenge = subscription_challenge(request.query, request.app[_VERIFY_TOKEN])
    if challenge is None:
        return _graph_error(403, "Forbidden: hub.mode must be subscribe and "
                                 "hub.verify_token must match")
    return web.Response(text=challenge, content_type="text/plain")


async def _whatsapp(request: web.Request) -> web.Response:
    app = request.app
    body = await request.read()
    app_secret = app[_APP_SECRET]
    if app_secret is not None and not signature_ok(
            body, request.headers.get(SIGNATURE_HEADER), app_secret):
        return _graph_error(401, f"Unauthorized: bad or missing {SIGNATURE_HEADER}")
    try:
        notification = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _graph_error(400, "Bad Request: body is not valid JSON")
    limiter = app[_LIMITER]
    if limiter is not None:
        for wa_id in set(senders(notification)):
            if not limiter.allow(("whatsapp", wa_id)):
                return _too_many()
    try:
        reply = app[_WHATSAPP].handle(notification)
    except BadNotification as exc:
        return _graph_error(400, f"Bad Request: not a notification: {exc}")
    return await _handled(app, reply)


async def _health(request: web.Request) -> web.Response:
    return _json(200, {"status": "ok", "updates": request.app[_STATS].updates})


def make_app(secret: str | None = None, delay_ms: float = 0, *,
             rate_limit: float | None = None,
             verify_token: str = DEFAULT_VERIFY_TOKEN,
             app_secret: str | None = None,
             max_conversations: int = DEFAULT_MAX_CONVERSATIONS) -> web.Application:
    """The demo bot as an aiohttp application.

    secret: when set, Telegram webhook requests must carry it in
    X-Telegram-Bot-Api-Secret-Token (401 otherwise), as Telegram does after
    `setWebhook(secret_token=...)`.
    delay_ms: simulated processing time per update, in milliseconds (default none).
    rate_limit: requests per second per chat (Telegram chat.id, WhatsApp wa_id),
    token bucket; over it: 429 with Retry-After: 1. None (default): no limit.
    verify_token: the token `GET /webhook/whatsapp` verification must present.
    app_secret: when set, WhatsApp POSTs must carry a valid X-Hub-Signature-256.
    max_conversations: bound on WhatsApp conversations (and orders) kept, LRU.
    """
    if delay_ms < 0:
        raise ValueError(f"delay_ms must be >= 0, got {delay_ms}")
    if not verify_token:
        raise ValueError("verify_token must not be empty")
    app = web.Application()
    app[_STATS] = _Stats()
    app[_SECRET] = secret.encode() if secret else None
    app[_DELAY_S] = delay_ms / 1000.0
    app[_LIMITER] = (None if rate_limit is None
                     else RateLimiter(rate_limit, max_keys=max_conversations))
    app[_VERIFY_TOKEN] = verify_token
    app[_APP_SECRET] = app_secret.encode() if app_secret else None
    app[_WHATSAPP] = WhatsAppBot(max_conversations)
    app.router.add_post(WEBHOOK_PATH, _webhook)
    app.router.add_get(WHATSAPP_PATH, _whatsapp_verify)
    app.router.add_post(WHATSAPP_PATH, _whatsapp)
    app.router.add_get(HEALTH_PATH, _health)
    return app


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(host: str, port: int, backlog: int, app: web.Application) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=backlog)
        await site.start()
        bound_port = runner.addresses[0][1]
        print(LISTENING_PREFIX + _url(host, bound_port), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (ValueError, RuntimeError, NotImplementedError):
                pass  # not the main thread, or no signals here: run until cancelled
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(host: str = "127.0.0.1", port: int = 0, *, secret: str | None = None,
          delay_ms: float = 0, backlog: int = 1024, rate_limit: float | None = None,
          verify_token: str = DEFAULT_VERIFY_TOKEN, app_secret: str | None = None,
          max_conversations: int = DEFAULT_MAX_CONVERSATIONS) -> None:
    """Run the demo target on uvloop until SIGTERM/SIGINT (blocking).

    Prints `demo target listening on http://HOST:PORT` (flushed) once bound; with
    port=0 the OS picks the port and the line is the way to learn it. The keyword
    options are `make_app`'s (validated before anything binds).
    """
    import uvloop

    app = make_app(secret, delay_ms, rate_limit=rate_limit, verify_token=verify_token,
                   app_secret=app_secret, max_conversations=max_conversations)
    uvloop.run(_serve(host, port, backlog, app))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m driver.targets.demo",
        description="Telegram- and WhatsApp-style webhook bot to point driver at.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--secret", default=None,
                        help=f"require this {SECRET_HEADER} header")
    parser.add_argument("--delay-ms", type=float, default=0,
                        help="simulated processing time per update")
    parser.add_argument("--rate-limit", type=float, default=None, metavar="N",
                        help="at most N requests per second per chat/wa_id (429 over it)")
    parser.add_argument("--verify-token", default=DEFAULT_VERIFY_TOKEN,
                        help="the WhatsApp webhook verify token (GET hub.verify_token)")
    parser.add_argument("--app-secret", default=None,
                        help=f"require a valid {SIGNATURE_HEADER} on WhatsApp POSTs")
    parser.add_argument("--max-conversations", type=int, default=DEFAULT_MAX_CONVERSATIONS,
                        help="WhatsApp conversations kept in memory (LRU)")
    args = parser.parse_args(argv)
    if args.delay_ms < 0:
        parser.error("--delay-ms must be >= 0")
    if args.rate_limit is not None and not 0 < args.rate_limit < float("inf"):
        parser.error("--rate-limit must be a positive number")
    if not args.verify_token:
        parser.error("--verify-token must not be empty")
    if args.max_conversations < 1:
        parser.error("--max-conversations must be >= 1")
    serve(args.host, args.port, secret=args.secret, delay_ms=args.delay_ms,
          rate_limit=args.rate_limit, verify_token=args.verify_token,
          app_secret=args.app_secret, max_conversations=args.max_conversations)


# --- a target in its own process ---------------------------------------------------


if __name__ == "__main__":
    main()
