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

import asyncio
import hmac
from typing import Any

import orjson
from aiohttp import web

from driver.targets.serving import serve_app

from driver.targets import demo_args
from driver.targets.api_mode import (
    DEFAULT_BOT_TOKEN,
    DEFAULT_WHATSAPP_TOKEN,
    ApiMode,
    ApiSettings,
)
from driver.targets.ratelimit import RateLimiter
from driver.targets.telegram_bot import SECRET_HEADER, BadUpdate, chat_key, handle_update
from driver.targets.whatsapp_bot import (
    DEFAULT_MAX_CONVERSATIONS,
    DEFAULT_VERIFY_TOKEN,
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
    "ApiSettings",
    "make_app",
    "serve",
    "main",
]
# the demo target in a process of its own: driver.targets.process

WEBHOOK_PATH = "/webhook/telegram"
HEALTH_PATH = "/health"
#: The line `serve` prints once bound; `DemoTargetProcess` parses it.

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


_STATS = web.AppKey("demo_stats", _Stats)
_SECRET = web.AppKey("demo_secret", object)  # bytes or None
_DELAY_S = web.AppKey("demo_delay_s", float)
_LIMITER = web.AppKey("demo_limiter", object)  # RateLimiter or None
_VERIFY_TOKEN = web.AppKey("demo_verify_token", str)
_APP_SECRET = web.AppKey("demo_app_secret", object)  # bytes or None
_WHATSAPP = web.AppKey("demo_whatsapp", WhatsAppBot)
_API = web.AppKey("demo_api", ApiMode)


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


def _accepted(app: web.Application, answers: list, replier: Any) -> web.Response:
    """API mode: 200 `{}` now; each answer (a list of calls) sent in the background
    (the simulated processing time, if any, is spent there, before the first call)."""
    app[_STATS].updates += 1
    for calls in answers:
        replier.submit(calls)
    return _json(200, {})


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
    api = app[_API]
    try:
        if api.telegram is not None:
            return _accepted(app, [api.telegram_calls(update)], api.telegram)
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
    api = app[_API]
    try:
        if api.whatsapp is not None:
            calls = api.whatsapp_calls(app[_WHATSAPP], notification)
            return _accepted(app, [[call] for call in calls], api.whatsapp)
        reply = app[_WHATSAPP].handle(notification)
    except BadNotification as exc:
        return _graph_error(400, f"Bad Request: not a notification: {exc}")
    return await _handled(app, reply)


async def _health(request: web.Request) -> web.Response:
    body: dict[str, Any] = {"status": "ok", "updates": request.app[_STATS].updates}
    replies = request.app[_API].snapshot()
    if replies:
        body["replies"] = replies  # API mode: per platform, with its breaker
    return _json(200, body)


async def _api_context(app: web.Application):
    # the repliers' sessions live as long as the app (one connection pool each)
    api = app[_API]
    await api.start()
    yield
    await api.close()


def make_app(secret: str | None = None, delay_ms: float = 0, *,
             rate_limit: float | None = None,
             verify_token: str = DEFAULT_VERIFY_TOKEN,
             app_secret: str | None = None,
             max_conversations: int = DEFAULT_MAX_CONVERSATIONS,
             api_url: str | None = None, bot_token: str = DEFAULT_BOT_TOKEN,
             whatsapp_api_url: str | None = None,
             whatsapp_token: str = DEFAULT_WHATSAPP_TOKEN,
             breaker_failures: int = 5, breaker_reset_s: float = 5.0,
             api_timeout_s: float = 5.0, max_replies_in_flight: int = 10_000,
             retry_after_cap_s: float = 10.0) -> web.Application:
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

    API mode (`driver.targets.api_mode`), per platform: api_url (the Bot API base,
    e.g. a mock's `http://127.0.0.1:8081`) with bot_token, whatsapp_api_url (the Graph
    API base) with whatsapp_token (the bearer token). Set, that webhook answers 200
    `{}` and the replies go to the API in the background, through a circuit breaker
    (breaker_failures consecutive failures trip it, it probes after breaker_reset_s),
    api_timeout_s per call, at most max_replies_in_flight answers in progress, a 429
    retried once after its retry_after when that is <= retry_after_cap_s.
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
    app[_API] = ApiMode(ApiSettings(
        api_url, bot_token, whatsapp_api_url, whatsapp_token, breaker_failures,
        breaker_reset_s, api_timeout_s, max_replies_in_flight, retry_after_cap_s),
        delay_s=delay_ms / 1000.0)
    app.cleanup_ctx.append(_api_context)
    app.router.add_post(WEBHOOK_PATH, _webhook)
    app.router.add_get(WHATSAPP_PATH, _whatsapp_verify)
    app.router.add_post(WHATSAPP_PATH, _whatsapp)
    app.router.add_get(HEALTH_PATH, _health)
    return app


def serve(host: str = "127.0.0.1", port: int = 0, *, backlog: int = 1024,
          **options: Any) -> None:
    """Run the demo target on uvloop until SIGTERM/SIGINT (blocking).

    Prints `demo target listening on http://HOST:PORT` (flushed) once bound; with
    port=0 the OS picks the port and the line is the way to learn it. `options` are
    `make_app`'s keywords (validated before anything binds: ValueError).
    """
    import uvloop

    app = make_app(**options)
    uvloop.run(serve_app(host, port, app, backlog=backlog))


def main(argv: list[str] | None = None) -> None:
    """`python -m driver.targets.demo [flags]` (the flags: `driver.targets.demo_args`)."""
    serve(**demo_args.parse(argv))


if __name__ == "__main__":
    main()
