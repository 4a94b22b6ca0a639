"""A mock WhatsApp Cloud API (Graph API) server that real WhatsApp frameworks talk to
unmodified: the twin of `driver.mock.telegram`.

Graph API paths, any version (`/v17.0/...` to `/v23.0/...`, or none):
- `POST /vNN.0/{phone_number_id}/messages`: send a message (text, interactive, media
  by id or link, location, contacts, template, reaction) or mark one as read;
- `POST /vNN.0/{phone_number_id}/media`: upload media (multipart), answers `{"id"}`;
- `GET /vNN.0/{media_id}`: the media's url, mime_type, sha256, file_size, id;
  `GET` that url serves the bytes; `DELETE /vNN.0/{media_id}` drops them;
- `POST` to any other edge answers `{"success": true}` (register, subscribed_apps,
  whatsapp_business_profile ... answer that), a `GET` of anything else Graph's
  "Unsupported get request" (400, code 100, subcode 33).
Answers and errors are Graph's shapes (`driver.mock.graphapi`); any bearer token (or
`access_token` query parameter) is accepted, none at all answers 401 code 190.

The `/_driver/` control endpoints, faults and call log are the Telegram mock's
(`driver.mock.server`): an error draw answers Graph's transient 5xx (code 2), a 429
draw Graph's throughput limit (code 130429) with `Retry-After`, a refuse outage 503.

Run it with `driver mock whatsapp --port P`, or `serve`; tests use `make_app`.
"""
from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from driver.mock.calllog import DEFAULT_MAXLEN
from driver.mock.faults import Faults
from driver.mock.graphapi import MEDIA_PATH, GraphApi, GraphApiError, describe, invalid
from driver.mock.server import (CALLS_PATH, FAULTS_PATH, MockState, add_control_routes, draw_fault,
                                json_response, run)

__all__ = ["MockWhatsApp", "make_app", "mock_of", "serve", "LISTENING_PREFIX", "CALLS_PATH",
           "FAULTS_PATH"]

#: The line `serve` prints once bound (with the base URL after it).
LISTENING_PREFIX = "mock whatsapp listening on "
#: Cloud API media are at most 100 MB (documents); a little more for the multipart framing.
MAX_BODY = (100 << 20) + (1 << 20)
_VERSIONED = "/v{version:[0-9]+[.][0-9]+}"


class MockWhatsApp(MockState):
    """The state of one mock: Graph API state, call log, faults (swapped whole)."""

    def __init__(self, faults: Faults | None = None, *, log_size: int = DEFAULT_MAXLEN,
                 seed: int | None = None) -> None:
        super().__init__(faults, log_size=log_size, seed=seed)
        self.api = GraphApi()


_MOCK = web.AppKey("mock_whatsapp", MockWhatsApp)


def _error(mock: MockWhatsApp, exc: GraphApiError, headers: dict[str, str] | None = None
           ) -> web.Response:
    return json_response(exc.status, exc.body(mock.api.fbtrace_id()), headers)


def _fault_answer(mock: MockWhatsApp, decision: str) -> web.Response | None:
    """The answer an 'error' or 'rate_limit' draw gives instead of the real one."""
    if decision == "error":
        return _error(mock, GraphApiError(
            mock.faults.error_status, 2, "An unexpected error has occurred. Please retry your "
            "request later.", transient=True))
    if decision == "rate_limit":
        n = mock.faults.retry_after
        return _error(mock, GraphApiError(
            429, 130429, "(#130429) Rate limit hit",
            details=f"Cloud API message throughput has been reached. Retry after {n} seconds."),
            {"Retry-After": str(n)})
    return None


def _unauthorized(request: web.Request) -> GraphApiError | None:
    """Graph's 401 for a call with no access token (any token is accepted)."""
    auth = request.headers.get("Authorization")
    if auth is None and not request.query.get("access_token"):
        return GraphApiError(401, 190, "An access token is required to request this resource.")
    if auth is not None and (not auth.lower().startswith(("bearer ", "oauth "))
                             or not auth.split(" ", 1)[1].strip()):
        return GraphApiError(401, 190, "Invalid OAuth access token - Cannot parse access token")
    return None


async def _json_body(request: web.Request) -> dict[str, Any]:
    """Query parameters, then the body's (JSON, or a form whose values may be JSON text)."""
    params: dict[str, Any] = {k: v for k, v in request.query.items() if k != "access_token"}
    if not request.body_exists:
        return params
    try:
        if request.content_type == "application/x-www-form-urlencoded":
            for key, value in (await request.post()).items():
                if isinstance(value, str) and value[:1] in ("{", "["):
                    try:
                        value = orjson.loads(value)
                    except orjson.JSONDecodeError:
                        raise invalid(f"Param {key} must be a JSON object.") from None
                params[key] = value
            return params
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise GraphApiError(413, 100, "(#100) Request body too large") from None
    except (ValueError, HttpProcessingError):
        raise invalid(f"Cannot parse the {request.content_type} body.") from None
    if body.strip():
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise invalid("Cannot parse the JSON body.") from None
        if not isinstance(data, dict):
            raise invalid("The JSON body must be an object.")
        params.update(data)
    return params


async def _multipart(request: web.Request) -> tuple[dict[str, Any], tuple[str | None, str | None, bytes] | None]:
    """The plain fields and the `file` part of an upload."""
    if request.content_type != "multipart/form-data":
        raise invalid("The parameter file is required (a multipart/form-data body).")
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise GraphApiError(413, 100, "(#100) Request body too large") from None
    except (ValueError, HttpProcessingError):
        raise invalid("Cannot parse the multipart/form-data body.") from None
    fields: dict[str, Any] = {}
    file = None
    for key, value in form.items():
        if isinstance(value, web.FileField):
            if key == "file":
                file = (value.filename, value.content_type, value.file.read())
        else:
            fields[key] = value
    return fields, file


Work = Callable[[MockWhatsApp, dict[str, Any]], Awaitable[Callable[[], Any]]]


async def _handle(request: web.Request, method: str, work: Work) -> web.StreamResponse:
    """One Graph call: the fault draw, the token, `work` reads the request (and fills in
    the log fields), then a faulted call gets its fault's answer and any other the
    answer of the `act` that `work` returned (the only step that changes state).
    Every call is logged once, with what it asked for when that was readable."""
    received_ns = time.monotonic_ns()
    mock = request.app[_MOCK]
    logged: dict[str, Any] = {}

    def log(status: int, name: str = method) -> None:
        mock.log.add(name, status, received_ns, **logged)

    decision, answer = await draw_fault(
        request, mock, lambda: _error(mock, GraphApiError(503, 2, "Service temporarily unavailable",
                                                          transient=True)), log)
    if answer is not None:
        return answer
    try:
        denied = _unauthorized(request)
        if denied is not None:
            raise denied
        act = await work(mock, logged)
        answer = _fault_answer(mock, decision)
        if answer is not None:  # faulted calls are logged with what they asked for
            log(answer.status, logged.pop("name", method))
            return answer
        result = act()
    except GraphApiError as exc:
        log(exc.status, logged.pop("name", method))
        return _error(mock, exc)
    log(200, logged.pop("name", method))
    return result if isinstance(result, web.StreamResponse) else json_response(200, result)


async def _messages(request: web.Request) -> web.StreamResponse:
    phone_id = request.match_info["node"]

    async def work(mock: MockWhatsApp, logged: dict[str, Any]) -> Callable[[], Any]:
        body = await _json_body(request)
        logged.update(describe(body))
        if body.get("status") == "read":
            logged["name"] = "messages.read"
        return lambda: mock.api.messages(phone_id, body)

    return await _handle(request, "messages", work)


async def _upload(request: web.Request) -> web.StreamResponse:
    phone_id = request.match_info["node"]

    async def work(mock: MockWhatsApp, logged: dict[str, Any]) -> Callable[[], Any]:
        fields, file = await _multipart(request)
        return lambda: mock.api.upload(phone_id, fields, file)

    return await _handle(request, "media.upload", work)


async def _node(request: web.Request) -> web.StreamResponse:
    """GET or DELETE of one object: media are the only objects the mock holds."""
    media_id = request.match_info["node"]
    deleting = request.method == "DELETE"

    async def work(mock: MockWhatsApp, logged: dict[str, Any]) -> Callable[[], Any]:
        if deleting:
            return lambda: mock.api.delete_media(media_id)
        return lambda: mock.api.media_info(media_id, str(request.url.origin()))

    return await _handle(request, "media.delete" if deleting else "media.get", work)


async def _download(request: web.Request) -> web.StreamResponse:
    async def work(mock: MockWhatsApp, logged: dict[str, Any]) -> Callable[[], Any]:
        def act() -> web.Response:
            held = mock.api.download(request.query.get("mid", ""))
            if held is None:
                raise GraphApiError(404, 100, "(#100) Media not found or expired", subcode=33)
            return web.Response(body=held[1], content_type=held[0])
        return act

    return await _handle(request, "media.download", work)


async def _edge(request: web.Request) -> web.StreamResponse:
    """Any other POST edge answers success; any other GET, Graph's unsupported request."""
    edge = request.match_info["edge"].rsplit("/", 1)[-1]

    async def work(mock: MockWhatsApp, logged: dict[str, Any]) -> Callable[[], Any]:
        if request.method == "POST":
            await request.read()
            return lambda: {"success": True}
        raise GraphApiError(400, 100, f"Unsupported {request.method.lower()} request. Object with "
                            f"path '{request.path}' does not exist, cannot be loaded due to missing "
                            "permissions, or does not support this operation.", subcode=33,
                            type_="GraphMethodException")

    return await _handle(request, edge, work)


def _graph_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": f"(#100) {message}", "type": "OAuthException", "code": 100}}


def make_app(faults: Faults | None = None, *, log_size: int = DEFAULT_MAXLEN,
             seed: int | None = None) -> web.Application:
    """The mock as an aiohttp application; `faults` apply from the first call, `seed`
    makes the fault draws repeatable, `log_size` bounds the calls kept."""
    app = web.Application(client_max_size=MAX_BODY)
    app[_MOCK] = MockWhatsApp(faults, log_size=log_size, seed=seed)
    add_control_routes(app, _MOCK, _graph_error)
    app.router.add_route("GET", MEDIA_PATH, _download)
    for prefix in (_VERSIONED, ""):
        app.router.add_route("POST", prefix + "/{node}/messages", _messages)
        app.router.add_route("POST", prefix + "/{node}/media", _upload)
        app.router.add_route("GET", prefix + "/{node}", _node)
        app.router.add_route("DELETE", prefix + "/{node}", _node)
    app.router.add_route("*", "/{edge:.+}", _edge)
    return app


def mock_of(app: web.Application) -> MockWhatsApp:
    """The state behind an app made by `make_app` (for in-process use)."""
    return app[_MOCK]


def serve(host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None, *,
          seed: int | None = None) -> None:
    """Run the mock on uvloop until SIGTERM/SIGINT (blocking). Prints
    `mock whatsapp listening on http://HOST:PORT` (flushed) once bound."""
    run(lambda: make_app(faults, seed=seed), host, port, LISTENING_PREFIX)
