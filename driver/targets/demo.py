"""The built-in demo target: a webhook server that behaves like a Telegram bot.

`POST /webhook/telegram` takes a Bot API `Update` and answers the way a webhook bot
does: 200 with a Bot API method call as the body (`{"method": "sendMessage", ...}`),
which Telegram would execute on the bot's behalf. `GET /health` reports how many
updates it handled.

It exists so that `driver` has something realistic to load out of the box and so
that the tests have a real bot-shaped server on loopback. Handlers are cheap on
purpose (orjson, no I/O, no sleeps unless `delay_ms` asks for a simulated
processing time): the target should not be the bottleneck of a demo.

Run it standalone with `python -m driver.targets.demo --port 8080`; the CLI's
`driver target demo` calls `serve`; tests use `make_app` in-process or
`DemoTargetProcess` for a target in its own process.
"""
from __future__ import annotations

import argparse
import asyncio
import hmac
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import orjson
from aiohttp import web

__all__ = [
    "SAMPLE_UPDATE",
    "WEBHOOK_PATH",
    "HEALTH_PATH",
    "SECRET_HEADER",
    "BadUpdate",
    "handle_update",
    "make_app",
    "serve",
    "main",
    "DemoTargetProcess",
    "TargetStartError",
]

WEBHOOK_PATH = "/webhook/telegram"
HEALTH_PATH = "/health"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
BOT_USERNAME = "driver_demo_bot"
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

# Update kinds that carry a Message object, and the other kinds a bot may be sent.
_MESSAGE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post")
_JSON = "application/json"

HELP_TEXT = (
    "I am the driver demo bot.\n"
    "/start - greeting\n"
    "/help - this text\n"
    "/echo <text> - repeat <text>\n"
    "/menu - buttons to press\n"
    "/ping - pong"
)
MENU_MARKUP = {
    "inline_keyboard": [
        [
            {"text": "Red", "callback_data": "color:red"},
            {"text": "Blue", "callback_data": "color:blue"},
        ]
    ]
}


class _Stats:
    """Mutable per-app counters (the app itself is frozen once started)."""

    __slots__ = ("updates",)

    def __init__(self) -> None:
        self.updates = 0


_STATS = web.AppKey("demo_stats", _Stats)
_SECRET = web.AppKey("demo_secret", object)  # bytes or None
_DELAY_S = web.AppKey("demo_delay_s", float)


class BadUpdate(ValueError):
    """The body parsed as JSON but is not a Bot API Update."""


# --- pure bot logic: Update dict -> reply dict ------------------------------------


def _send(chat_id: Any, text: str, **extra: Any) -> dict[str, Any]:
    return {"method": "sendMessage", "chat_id": chat_id, "text": text, **extra}


def _command(text: str) -> tuple[str, str] | None:
    """`/echo@driver_demo_bot a b` -> ("echo", "a b"); None when not a command."""
    if not text.startswith("/"):
        return None
    head, _, args = text.partition(" ")
    name, _, username = head[1:].partition("@")
    if username and username.lower() != BOT_USERNAME:
        return None  # a command meant for another bot in a group
    return name.lower(), args.strip()


def _reply_to_text(message: dict[str, Any], chat_id: Any, text: str) -> dict[str, Any]:
    command = _command(text)
    if command is None:
        return _send(chat_id, text, reply_to_message_id=message.get("message_id"))
    name, args = command
    if name == "start":
        sender = message.get("from") or {}
        first_name = sender.get("first_name") or "there"
        return _send(chat_id, f"Hello, {first_name}! I am the driver demo bot. Try /help.")
    if name == "help":
        return _send(chat_id, HELP_TEXT)
    if name == "echo":
        return _send(chat_id, args or "Usage: /echo <text>")
    if name == "menu":
        return _send(chat_id, "Pick a colour:", reply_markup=MENU_MARKUP)
    if name == "ping":
        return _send(chat_id, "pong")
    return _send(chat_id, f"Unknown command /{name}. Try /help.")


def _message_chat_id(message: Any, kind: str) -> Any:
    if not isinstance(message, dict):
        raise BadUpdate(f"{kind} must be an object")
    chat = message.get("chat")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        raise BadUpdate(f"{kind}.chat.id must be an integer")
    return chat["id"]


def handle_update(update: Any) -> dict[str, Any]:
    """Answer one Update as a webhook bot does: a Bot API method call, or `{}`.

    Raises BadUpdate when `update` is not an Update. Update kinds the bot has no
    answer for (inline queries, polls, ...) get `{}`, which Telegram ignores.
    """
    if not isinstance(update, dict):
        raise BadUpdate("an Update must be a JSON object")
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise BadUpdate("update_id must be an integer")
    for kind in _MESSAGE_KINDS:
        if kind in update:
            message = update[kind]
            chat_id = _message_chat_id(message, kind)
            if "channel" in kind:
                return {}  # bots do not answer channel posts
            text = message.get("text")
            if not isinstance(text, str):
                return _send(chat_id, "I can only read text messages.")
            if kind == "edited_message":
                return _send(
                    chat_id, f"You edited your message to: {text}",
                    reply_to_message_id=message.get("message_id"),
                )
            return _reply_to_text(message, chat_id, text)
    query = update.get("callback_query")
    if query is not None:
        if not isinstance(query, dict) or not isinstance(query.get("id"), str):
            raise BadUpdate("callback_query.id must be a string")
        data = query.get("data") or ""
        choice = data.partition(":")[2] or data
        return {
            "method": "answerCallbackQuery",
            "callback_query_id": query["id"],
            "text": f"You chose {choice}" if choice else "Done",
        }
    return {}


# --- HTTP ------------------------------------------------------------------------


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type=_JSON)


def _error(status: int, description: str) -> web.Response:
    # The shape of a Bot API error, so clients can parse both the same way.
    return _json(status, {"ok": False, "error_code": status, "description": description})


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
    try:
        reply = handle_update(update)
    except BadUpdate as exc:
        return _error(400, f"Bad Request: not an Update: {exc}")
    delay_s = app[_DELAY_S]
    if delay_s > 0:
        await asyncio.sleep(delay_s)  # simulated processing time, off by default
    app[_STATS].updates += 1
    return _json(200, reply)


async def _health(request: web.Request) -> web.Response:
    return _json(200, {"status": "ok", "updates": request.app[_STATS].updates})


def make_app(secret: str | None = None, delay_ms: float = 0) -> web.Application:
    """The demo bot as an aiohttp application.

    secret: when set, webhook requests must carry it in X-Telegram-Bot-Api-Secret-Token
    (401 otherwise), as Telegram does after `setWebhook(secret_token=...)`.
    delay_ms: simulated processing time per update, in milliseconds (default none).
    """
    if delay_ms < 0:
        raise ValueError(f"delay_ms must be >= 0, got {delay_ms}")
    app = web.Application()
    app[_STATS] = _Stats()
    app[_SECRET] = secret.encode() if secret else None
    app[_DELAY_S] = delay_ms / 1000.0
    app.router.add_post(WEBHOOK_PATH, _webhook)
    app.router.add_get(HEALTH_PATH, _health)
    return app


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(host: str, port: int, secret: str | None, delay_ms: float,
                 backlog: int) -> None:
    runner = web.AppRunner(make_app(secret, delay_ms), access_log=None, handle_signals=False)
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
          delay_ms: float = 0, backlog: int = 1024) -> None:
    """Run the demo target on uvloop until SIGTERM/SIGINT (blocking).

    Prints `demo target listening on http://HOST:PORT` (flushed) once bound; with
    port=0 the OS picks the port and the line is the way to learn it.
    """
    import uvloop

    uvloop.run(_serve(host, port, secret, delay_ms, backlog))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m driver.targets.demo",
        description="Telegram-style webhook bot to point driver at.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--secret", default=None,
                        help=f"require this {SECRET_HEADER} header")
    parser.add_argument("--delay-ms", type=float, default=0,
                        help="simulated processing time per update")
    args = parser.parse_args(argv)
    if args.delay_ms < 0:
        parser.error("--delay-ms must be >= 0")
    serve(args.host, args.port, secret=args.secret, delay_ms=args.delay_ms)


# --- a target in its own process ---------------------------------------------------


class TargetStartError(RuntimeError):
    """The demo target process did not come up (it exited, or never said it listens)."""


def _package_root() -> str:
    # The directory holding the `driver` package, so the child imports this same copy
    # even when the package is not installed (tests run from a checkout).
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class DemoTargetProcess:
    """The demo target in a subprocess, for tests and demos.

        with DemoTargetProcess() as target:
            ...  # target.url == "http://127.0.0.1:PORT"

    Starts `python -m driver.targets.demo --port 0`, reads the bound port from its
    first stdout line (TargetStartError after `startup_timeout` seconds or when the
    child exits first, with its stderr), and on exit sends SIGTERM, then SIGKILL
    after `stop_timeout` seconds.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 secret: str | None = None, delay_ms: float = 0,
                 startup_timeout: float = 15.0, stop_timeout: float = 3.0) -> None:
        self.host = host
        self.requested_port = port
        self.secret = secret
        self.delay_ms = delay_ms
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.port: int | None = None
        self.url: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "driver.targets.demo",
               "--host", self.host, "--port", str(self.requested_port)]
        if self.secret is not None:
            cmd += ["--secret", self.secret]
        if self.delay_ms:
            cmd += ["--delay-ms", str(self.delay_ms)]
        return cmd

    def start(self) -> "DemoTargetProcess":
        if self.proc is not None:
            raise RuntimeError("DemoTargetProcess already started")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_package_root(), env.get("PYTHONPATH")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._stderr, env=env,
        )
        try:
            line = self._read_listening_line()
            self.url = line[len(LISTENING_PREFIX):].strip()
            self.port = int(self.url.rsplit(":", 1)[1])
        except BaseException:
            self.stop()
            raise
        return self

    def _read_listening_line(self) -> str:
        """The `demo target listening on ...` line (other lines before it are skipped)."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + self.startup_timeout
        buf = b""
        while True:
            for line in buf.split(b"\n")[:-1]:
                if line.startswith(LISTENING_PREFIX.encode()):
                    return line.decode("utf-8", "replace")
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._start_error(
                    f"did not report listening within {self.startup_timeout:g} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                try:
                    self.proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    raise self._start_error("closed its stdout before listening") from None
                raise self._start_error(f"exited with code {self.proc.returncode}")
            buf += chunk

    def _start_error(self, what: str) -> TargetStartError:
        stderr = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            stderr = self._stderr.read()[-4000:].decode("utf-8", "replace").strip()
        msg = f"demo target ({' '.join(self._command()[1:])}) {what}"
        return TargetStartError(msg + (f"; its stderr:\n{stderr}" if stderr else ""))

    def stop(self) -> None:
        """Terminate the target (SIGTERM, then SIGKILL) and reap it; idempotent."""
        proc = self.proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    def __enter__(self) -> "DemoTargetProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"DemoTargetProcess(url={self.url!r}, pid={self.pid})"


if __name__ == "__main__":
    main()
