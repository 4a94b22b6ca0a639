"""The web UI's HTTP server (aiohttp): the page, its static files, the JSON API behind
it and the live event stream (server-sent events).

    GET  /                         the page          GET /static/NAME, /vendor/NAME
    GET  /api/state                the run going on (or last ended), ?since=N: its windows from N
    GET  /api/events               server-sent events: run, window, end (a snapshot first)
    POST /api/runs                 start a run (the form, JSON: driver.ui.form)
    POST /api/run/steer            {"users"} or {"rate"}, and/or {"paused"}
    POST /api/run/stop
    GET  /api/files?dir=REL        configs and scenarios under the working directory
    GET  /api/results              past runs in the output directory
    GET  /api/results/NAME/FILE    a report of a past run (a download)
    GET  /api/compare?base=A&new=B two past runs side by side (driver.stats.compare)

Safe by default: bound to loopback, requests must name a loopback host (a web page
elsewhere cannot reach the UI through DNS rebinding); bound to any other address, every
request needs the token printed at start-up (`?token=` once, then a cookie, or an
`X-Driver-Token` header). A POST must be JSON (a cross-site form cannot send that
without the browser asking first). The page sets every user-provided string as text,
never as HTML, and its Content-Security-Policy allows scripts from the server only.
"""
from __future__ import annotations

import asyncio
import ipaddress
import secrets
from pathlib import Path

import orjson
from aiohttp import web

from driver.ui.files import UiError, list_dir, load_result, past_runs, report_path
from driver.ui.form import plan_from_form
from driver.ui.manager import RunManager

__all__ = ["make_app", "is_loopback", "new_token", "TOKEN_COOKIE"]

STATIC = Path(__file__).resolve().parent / "static"
VENDOR = Path(__file__).resolve().parent.parent / "reports" / "vendor"
STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css"}
VENDOR_FILES = {"uPlot.iife.min.js": "text/javascript", "uPlot.min.css": "text/css"}
TOKEN_COOKIE = "driver_ui_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
KEEPALIVE_S = 15.0  # a comment on an idle event stream, so proxies and browsers keep it open
MANAGER = web.AppKey("manager", RunManager)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _dumps(data) -> str:
    """JSON for the page: numpy numbers as numbers, NaN and infinities as null."""
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode()


def _json(data, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _host_of(header: str) -> str:
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _guard(token: str | None):
    @web.middleware
    async def guard(request: web.Request, handler):
        if token is None:  # loopback: only loopback host names (no DNS rebinding)
            if not is_loopback(_host_of(request.host or "")):
                return _json({"error": "this UI answers loopback host names only"}, 403)
        else:
            given = request.query.get("token") or request.headers.get("X-Driver-Token") or \
                request.cookies.get(TOKEN_COOKIE) or ""
            if not secrets.compare_digest(given.encode(), token.encode()):
                return _json({"error": "a token is needed: open the URL printed when the UI started"}, 401)
        if request.method == "POST" and request.content_type != "application/json":
            return _json({"error": "send JSON (Content-Type: application/json)"}, 415)
        try:
            response = await handler(request)
        except UiError as exc:
            response = _json({"error": str(exc), "field": exc.field}, exc.status)
        if token is not None and request.query.get("token") == token:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response
    return guard


async def _body(request: web.Request) -> dict:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise UiError("the body is not JSON", 400) from None
    if not isinstance(data, dict):
        raise UiError("expected a JSON object", 400)
    return data


# -- the page
async def index(request):
    return web.FileResponse(STATIC / "index.html", headers={"Content-Type": "text/html; charset=utf-8"})


async def static(request):
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers={"Content-Type": STATIC_FILES[name] + "; charset=utf-8"})


async def vendor(request):
    name = request.match_info["name"]
    if name not in VENDOR_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(VENDOR / name, headers={"Content-Type": VENDOR_FILES[name] + "; charset=utf-8"})


# -- runs
async def state(request):
    manager = request.app[MANAGER]
    try:
        since = int(request.query.get("since", "0"))
    except ValueError:
        raise UiError("since: a whole number", 400, "since") from None
    from driver.planning.profiles import PROFILES

    return _json({**manager.snapshot(since), "workdir": str(manager.workdir), "output": str(manager.output),
                  "profiles": list(PROFILES)})


async def events(request):
    manager = request.app[MANAGER]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"})
    await response.prepare(request)
    loop, queue = asyncio.get_running_loop(), asyncio.Queue()
    manager.listen(loop, queue)
    try:
        await _send(response, "snapshot", manager.snapshot())
        while True:
            try:
                event, data = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            await _send(response, event, data)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        manager.unlisten(loop, queue)
    return response


async def _send(response, event: str, data) -> None:
    text = _dumps(data)
    await response.write(f"event: {event}\ndata: {text}\n\n".encode())


async def start_run(request):
    manager = request.app[MANAGER]
    form = await _body(request)
    loop = asyncio.get_running_loop()
    plan = await loop.run_in_executor(None, plan_from_form, form, manager.workdir, manager.output)
    run = manager.start(plan)
    return _json(run.meta(), 201)


async def steer(request):
    manager = request.app[MANAGER]
    body = await _body(request)
    unknown = sorted(set(body) - {"users", "rate", "paused"})
    if unknown:
        raise UiError(f"unknown field {unknown[0]!r}: steer users, rate or paused", 400, unknown[0])
    users, rate, paused = body.get("users"), body.get("rate"), body.get("paused")
    if users is not None and (isinstance(users, bool) or not isinstance(users, (int, float))):
        raise UiError("users: a whole number", 400, "users")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))):
        raise UiError("rate: a number of arrivals per second", 400, "rate")
    if paused is not None and not isinstance(paused, bool):
        raise UiError("paused: true or false", 400, "paused")
    done = await asyncio.get_running_loop().run_in_executor(None, lambda: manager.steer(users, rate, paused))
    return _json(done)


async def stop_run(request):
    return _json(request.app[MANAGER].stop())


# -- files and past runs
async def files(request):
    manager = request.app[MANAGER]
    return _json(list_dir(manager.workdir, request.query.get("dir", "")))


async def results(request):
    manager = request.app[MANAGER]
    return _json({"output": str(manager.output), "runs": past_runs(manager.output)})


async def download(request):
    manager = request.app[MANAGER]
    name, filename = request.match_info["name"], request.match_info["file"]
    path = await asyncio.get_running_loop().run_in_executor(None, report_path, manager.output, name, filename)
    kind = {".html": "text/html", ".json": "application/json", ".md": "text/markdown",
            ".csv": "text/csv", ".xml": "application/xml"}[path.suffix]
    inline = request.query.get("view") == "1" and path.suffix == ".html"
    disposition = "inline" if inline else f'attachment; filename="{name}-{filename}"'
    return web.FileResponse(path, headers={"Content-Type": kind + "; charset=utf-8",
                                           "Content-Disposition": disposition})


async def compare_runs(request):
    from driver.stats.compare import compare, render

    manager = request.app[MANAGER]
    base, new = request.query.get("base", ""), request.query.get("new", "")

    def both():
        a, b = load_result(manager.output, base), load_result(manager.output, new)
        rows = compare(a, b)
        return {"base": base, "new": new, "rows": rows, "text": render(rows)}

    return _json(await asyncio.get_running_loop().run_in_executor(None, both))


def make_app(manager: RunManager, token: str | None = None) -> web.Application:
    """The UI's application; `token`: required on every request (None: loopback only)."""
    app = web.Application(middlewares=[_guard(token)], client_max_size=64 * 1024)
    app[MANAGER] = manager
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/vendor/{name}", vendor)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/events", events)
    app.router.add_post("/api/runs", start_run)
    app.router.add_post("/api/run/steer", steer)
    app.router.add_post("/api/run/stop", stop_run)
    app.router.add_get("/api/files", files)
    app.router.add_get("/api/results", results)
    app.router.add_get("/api/results/{name}/{file}", download)
    app.router.add_get("/api/compare", compare_runs)
    return app
