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

import time
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from driver.mock.botapi import DEFAULT_BOT_USERNAME, BotApi, BotApiError, Upload, decode_params
from driver.mock.calllog import DEFAULT_MAXLEN
from driver.mock.faults import Faults
from driver.mock.server import (CALLS_PATH, FAULTS_PATH, MockState, add_control_routes, draw_fault,
                                json_response, run)

__all__ = ["MockTelegram", "make_app", "mock_of", "serve", "LISTENING_PREFIX", "CALLS_PATH", "FAULTS_PATH"]

#: The line `serve` prints once bound (with the base URL after it).
LISTENING_PREFIX = "mock telegram listening on "
#: Telegram takes uploads of up to 50 MB from bots.
MAX_BODY = 50 << 20
_DOWNLOAD = "download"  # the call log's name for file downloads


class MockTelegram(MockState):
    """The state of one mock: Bot API state, call log, faults (swapped whole)."""

    def __init__(self, faults: Faults | None = None, *, username: str = DEFAULT_BOT_USERNAME,
                 log_size: int = DEFAULT_MAXLEN, seed: int | None = None) -> None:
        super().__init__(faults, log_size=log_size, seed=seed)
        self.api = BotApi(username=username)


_MOCK = web.AppKey("mock_telegram", MockTelegram)


def _error(exc: BotApiError, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(exc.code, exc.body(), headers)


def _bad_request(status: int, message: str) -> dict[str, Any]:
    return {"ok": False, "error_code": status, "description": f"Bad Request: {message}"}


def _refused() -> web.Response:
    return json_response(503, {"ok": False, "error_code": 503, "description": "Service Unavailable"})


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


async def _before(request: web.Request, mock: MockTelegram, method: str, received_ns: int
                  ) -> tuple[str, web.StreamResponse | None]:
    """This call's fault draw (`driver.mock.server.draw_fault`), outages logged as `method`."""
    return await draw_fault(request, mock, _refused,
                            lambda status: mock.log.record(method, status, received_ns, None))


def _fault_answer(decision: str, faults: Faults) -> web.Response | None:
    """The answer an 'error' or 'rate_limit' draw gives instead of the real one."""
    if decision == "error":
        status = faults.error_status
        return json_response(status, {"ok": False, "error_code": status,
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
    return json_response(200, {"ok": True, "result": result})


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


def make_app(faults: Faults | None = None, *, username: str = DEFAULT_BOT_USERNAME,
             log_size: int = DEFAULT_MAXLEN, seed: int | None = None) -> web.Application:
    """The mock as an aiohttp application; `faults` apply from the first call, `seed`
    makes the fault draws repeatable, `log_size` bounds the calls kept."""
    app = web.Application(client_max_size=MAX_BODY)
    app[_MOCK] = MockTelegram(faults, username=username, log_size=log_size, seed=seed)
    add_control_routes(app, _MOCK, _bad_request)
    app.router.add_route("GET", "/file/bot{token}/{path:.+}", _download)
    app.router.add_route("GET", "/bot{token}/{method}", _api)
    app.router.add_route("POST", "/bot{token}/{method}", _api)
    return app


def mock_of(app: web.Application) -> MockTelegram:
    """The state behind an app made by `make_app` (for in-process use)."""
    return app[_MOCK]


def serve(host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None, *,
          username: str = DEFAULT_BOT_USERNAME, seed: int | None = None) -> None:
    """Run the mock on uvloop until SIGTERM/SIGINT (blocking). Prints
    `mock telegram listening on http://HOST:PORT` (flushed) once bound."""
    run(lambda: make_app(faults, username=username, seed=seed), host, port, LISTENING_PREFIX)
