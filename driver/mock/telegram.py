"""A mock Telegram Bot API server that real bot frameworks talk to unmodified.

`POST` (or `GET`) `/bot<token>/<method>` with a JSON, form-urlencoded or multipart
body (or query parameters) answers in the Bot API envelope, `{"ok": true, "result":
...}`, or Telegram's error shape `{"ok": false, "error_code": ..., "description": ...}`;
the methods themselves are `driver.mock.botapi`. `GET /file/bot<token>/<path>` serves
the files getFile points at. Any token is accepted.

Beside the Bot API, under `/_driver/` (a prefix no Bot API path uses):
- `GET /_driver/calls[?limit=N]`: the call log (`driver.mock.calllog`) as JSON, and
  `hanging`, the calls a hang outage holds now; `DELETE /_driver/calls` clears the log.
- `GET /_driver/faults`, `POST /_driver/faults` (a JSON `Faults` object, the whole
  config: `{}` clears every fault): programmable faults (`driver.mock.faults`), applied
  to every Bot API call and file download.

A method the mock does not implement answers `{"ok": true, "result": true}`: most Bot
API methods not implemented here return True (setMyCommands, pinChatMessage, ...), and
frameworks call some of them at start-up; Telegram's own answer, 404, is what
python-telegram-bot reads as `InvalidToken`, which would stop a bot that is fine.

Run it with `driver mock telegram --port P`, or `serve`; tests use `make_app`.
"""
from __future__ import annotations

import asyncio
import random
import signal
import socket
import struct
import time
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from driver.mock.botapi import DEFAULT_BOT_USERNAME, BotApi, BotApiError, Upload, decode_params
from driver.mock.calllog import DEFAULT_MAXLEN, CallLog
from driver.mock.faults import Faults

__all__ = ["MockTelegram", "make_app", "mock_of", "serve", "LISTENING_PREFIX", "CALLS_PATH", "FAULTS_PATH"]

#: The line `serve` prints once bound (with the base URL after it).
LISTENING_PREFIX = "mock telegram listening on "
CALLS_PATH = "/_driver/calls"
FAULTS_PATH = "/_driver/faults"
#: Telegram takes uploads of up to 50 MB from bots.
MAX_BODY = 50 << 20
_JSON = "application/json"
_DOWNLOAD = "download"  # the call log's name for file downloads


class MockTelegram:
    """The state of one mock: Bot API state, call log, faults (swapped whole)."""

    def __init__(self, faults: Faults | None = None, *, username: str = DEFAULT_BOT_USERNAME,
                 log_size: int = DEFAULT_MAXLEN, seed: int | None = None) -> None:
        self.api = BotApi(username=username)
        self.log = CallLog(log_size)
        self.rng = random.Random(seed)
        self.faults = faults or Faults()
        self.hanging = 0  # calls held unanswered by a hang outage now
        self._changed = asyncio.Event()

    def set_faults(self, faults: Faults) -> None:
        """Swap the fault config (from the server's loop); wakes calls hung in an outage."""
        self.faults = faults
        self._changed.set()
        self._changed = asyncio.Event()

    async def hang(self, request: web.Request) -> None:
        """Wait while the outage is a hang and the client is still connected (checked
        each second: aiohttp does not cancel a handler whose client left)."""
        self.hanging += 1
        try:
            while self.faults.outage == "hang":
                transport = request.transport
                if transport is None or transport.is_closing():
                    return
                try:
                    await asyncio.wait_for(self._changed.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass
        finally:
            self.hanging -= 1


_MOCK = web.AppKey("mock_telegram", MockTelegram)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type=_JSON,
                        headers=headers)


def _error(exc: BotApiError, headers: dict[str, str] | None = None) -> web.Response:
    return _json(exc.code, exc.body(), headers)


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Query parameters, then the body's (JSON, form or multipart) over them."""
    raw: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return raw
    ctype = request.content_type
    try:
        if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    value = Upload(value.filename, value.content_type, value.file.read())
                raw[key] = value
            return raw
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BotApiError(413, "Request Entity Too Large") from None
    except (ValueError, HttpProcessingError):  # a malformed multipart or form body
        raise BotApiError(400, f"Bad Request: can't parse {ctype} body") from None
    if body.strip():
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BotApiError(400, "Bad Request: can't parse JSON object") from None
        if not isinstance(data, dict):
            raise BotApiError(400, "Bad Request: the JSON body must be an object")
        raw.update(data)
    return raw


def _reset(request: web.Request) -> None:
    """Reset the connection: SO_LINGER 0 makes the close send a TCP RST."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass  # the peer is gone already
    transport.abort()


async def _outage(request: web.Request, mock: MockTelegram) -> web.StreamResponse:
    outage = mock.faults.outage
    if outage == "refuse":
        return _json(503, {"ok": False, "error_code": 503, "description": "Service Unavailable"})
    if outage == "hang":
        # no answer while it lasts; when it is lifted the connection closes unanswered
        await mock.hang(request)
    _reset(request)
    # never sent: the transport is closed, aiohttp drops the write quietly
    return web.Response(status=503)


async def _before(request: web.Request, mock: MockTelegram, method: str, received_ns: int
                  ) -> tuple[str, web.StreamResponse | None]:
    """Draw this call's fault; an outage answers (or never does) here, any other call
    waits out the added latency first. (decision, the outage's answer or None)."""
    faults = mock.faults
    decision = faults.decide(mock.rng)
    if decision == "outage":
        status = 503 if faults.outage == "refuse" else 0  # 0: no HTTP answer
        mock.log.record(method, status, received_ns, None)
        return decision, await _outage(request, mock)
    delay = faults.delay_s(mock.rng)
    if delay > 0:
        await asyncio.sleep(delay)
    return decision, None


def _fault_answer(decision: str, faults: Faults) -> web.Response | None:
    """The answer an 'error' or 'rate_limit' draw gives instead of the real one."""
    if decision == "error":
        status = faults.error_status
        return _json(status, {"ok": False, "error_code": status,
                              "description": "Internal Server Error"})
    if decision == "rate_limit":
        n = faults.retry_after
        return _error(BotApiError(429, f"Too Many Requests: retry after {n}", {"retry_after": n}),
                      {"Retry-After": str(n)})
    return None


async def _api(request: web.Request) -> web.StreamResponse:
    received_ns = time.monotonic_ns()
    mock = request.app[_MOCK]
    method = request.match_info["method"]
    faults = mock.faults
    decision, answer = await _before(request, mock, method, received_ns)
    if answer is not None:
        return answer
    params: dict[str, Any] | None = None
    try:
        params, uploads = decode_params(await _read_params(request))
        answer = _fault_answer(decision, faults)
        if answer is not None:  # faulted calls are logged with what they asked for
            mock.log.record(method, answer.status, received_ns, params)
            return answer
        result = mock.api.call(method, params, uploads)
    except BotApiError as exc:
        mock.log.record(method, exc.code, received_ns, params)
        return _error(exc)
    mock.log.record(method, 200, received_ns, params)
    return _json(200, {"ok": True, "result": result})


async def _download(request: web.Request) -> web.StreamResponse:
    received_ns = time.monotonic_ns()
    mock = request.app[_MOCK]
    faults = mock.faults
    decision, answer = await _before(request, mock, _DOWNLOAD, received_ns)
    if answer is None:
        answer = _fault_answer(decision, faults)
    if answer is None:
        data = mock.api.download(request.match_info["path"])
        answer = (_error(BotApiError(404, "Not Found")) if data is None
                  else web.Response(body=data, content_type="application/octet-stream"))
    if decision != "outage":
        mock.log.record(_DOWNLOAD, answer.status, received_ns, None)
    return answer


async def _calls(request: web.Request) -> web.Response:
    log = request.app[_MOCK].log
    if request.method == "DELETE":
        log.clear()
        return _json(200, {"ok": True})
    limit = request.query.get("limit")
    if limit is not None and not limit.isdigit():
        return _json(400, {"ok": False, "error_code": 400,
                           "description": f"Bad Request: limit must be a whole number, got {limit!r}"})
    return _json(200, {**log.snapshot(int(limit) if limit is not None else None),
                       "hanging": request.app[_MOCK].hanging})


async def _faults(request: web.Request) -> web.Response:
    mock = request.app[_MOCK]
    if request.method == "POST":
        try:
            mock.set_faults(Faults.from_dict(orjson.loads(await request.read())))
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            return _json(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
    return _json(200, mock.faults.to_dict())


def make_app(faults: Faults | None = None, *, username: str = DEFAULT_BOT_USERNAME,
             log_size: int = DEFAULT_MAXLEN, seed: int | None = None) -> web.Application:
    """The mock as an aiohttp application; `faults` apply from the first call, `seed`
    makes the fault draws repeatable, `log_size` bounds the calls kept."""
    app = web.Application(client_max_size=MAX_BODY)
    app[_MOCK] = MockTelegram(faults, username=username, log_size=log_size, seed=seed)
    app.router.add_route("GET", CALLS_PATH, _calls)
    app.router.add_route("DELETE", CALLS_PATH, _calls)
    app.router.add_route("GET", FAULTS_PATH, _faults)
    app.router.add_route("POST", FAULTS_PATH, _faults)
    app.router.add_route("GET", "/file/bot{token}/{path:.+}", _download)
    app.router.add_route("GET", "/bot{token}/{method}", _api)
    app.router.add_route("POST", "/bot{token}/{method}", _api)
    return app


def mock_of(app: web.Application) -> MockTelegram:
    """The state behind an app made by `make_app` (for in-process use)."""
    return app[_MOCK]


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(host: str, port: int, app: web.Application) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=1024).start()
        print(LISTENING_PREFIX + _url(host, runner.addresses[0][1]), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None, *,
          username: str = DEFAULT_BOT_USERNAME, seed: int | None = None) -> None:
    """Run the mock on uvloop until SIGTERM/SIGINT (blocking). Prints
    `mock telegram listening on http://HOST:PORT` (flushed) once bound."""
    import uvloop

    uvloop.run(_serve(host, port, make_app(faults, username=username, seed=seed)))
