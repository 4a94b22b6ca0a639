"""The aiohttp plumbing every mock platform API shares: call log, faults and how they
are applied, the `/_driver/` control endpoints, and serving until SIGTERM.

A platform mock (`driver.mock.telegram`, `driver.mock.whatsapp`) subclasses `MockState`
for its state, answers its API in its platform's own shapes, and passes the shapes of
its refusal (an outage's 503) and of its control endpoints' errors in here.
"""
from __future__ import annotations

import asyncio
import random
import signal
import socket
import struct
from typing import Any, Callable

import orjson
from aiohttp import web

from driver.mock.calllog import DEFAULT_MAXLEN, CallLog
from driver.mock.faults import Faults

__all__ = ["MockState", "json_response", "reset", "draw_fault", "add_control_routes", "run",
           "CALLS_PATH", "FAULTS_PATH"]

CALLS_PATH = "/_driver/calls"
FAULTS_PATH = "/_driver/faults"
_JSON = "application/json"


class MockState:
    """Call log, fault draws (seeded), the current faults (swapped whole), hung calls."""

    def __init__(self, faults: Faults | None = None, *, log_size: int = DEFAULT_MAXLEN,
                 seed: int | None = None) -> None:
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


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type=_JSON,
                        headers=headers)


def reset(request: web.Request) -> None:
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


async def draw_fault(request: web.Request, mock: MockState, refused: Callable[[], web.Response],
                     log: Callable[[int], None]) -> tuple[str, web.StreamResponse | None]:
    """Draw this call's fault; an outage answers (or never does) here, and is logged by
    `log(status)` (0: no HTTP answer); any other call waits out the added latency first.
    (decision, the outage's answer or None). `refused`: the platform's 503."""
    faults = mock.faults
    decision = faults.decide(mock.rng)
    if decision == "outage":
        outage = faults.outage
        log(503 if outage == "refuse" else 0)
        if outage == "refuse":
            return decision, refused()
        if outage == "hang":
            # no answer while it lasts; when it is lifted the connection closes unanswered
            await mock.hang(request)
        reset(request)
        # never sent: the transport is closed, aiohttp drops the write quietly
        return decision, web.Response(status=503)
    delay = faults.delay_s(mock.rng)
    if delay > 0:
        await asyncio.sleep(delay)
    return decision, None


def add_control_routes(app: web.Application, key: web.AppKey,
                       error: Callable[[int, str], dict[str, Any]]) -> None:
    """`/_driver/calls` (GET, DELETE) and `/_driver/faults` (GET, POST) for the mock at
    `app[key]`; `error(status, message)` is the body of their 400s."""

    async def calls(request: web.Request) -> web.Response:
        mock = request.app[key]
        if request.method == "DELETE":
            mock.log.clear()
            return json_response(200, {"ok": True})
        limit = request.query.get("limit")
        if limit is not None and not limit.isdigit():
            return json_response(400, error(400, f"limit must be a whole number, got {limit!r}"))
        return json_response(200, {**mock.log.snapshot(int(limit) if limit is not None else None),
                                   "hanging": mock.hanging})

    async def faults(request: web.Request) -> web.Response:
        mock = request.app[key]
        if request.method == "POST":
            try:
                mock.set_faults(Faults.from_dict(orjson.loads(await request.read())))
            except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
                return json_response(400, error(400, str(exc)))
        return json_response(200, mock.faults.to_dict())

    app.router.add_route("GET", CALLS_PATH, calls)
    app.router.add_route("DELETE", CALLS_PATH, calls)
    app.router.add_route("GET", FAULTS_PATH, faults)
    app.router.add_route("POST", FAULTS_PATH, faults)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(app: web.Application, host: str, port: int, prefix: str) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=1024).start()
        print(prefix + _url(host, runner.addresses[0][1]), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def run(make: Callable[[], web.Application], host: str, port: int, prefix: str) -> None:
    """Serve the app `make()` builds (on uvloop's loop) until SIGTERM/SIGINT, blocking;
    prints `prefix` + the base URL (flushed) once bound."""
    import uvloop

    async def main() -> None:
        await _serve(make(), host, port, prefix)  # the app's events belong to this loop

    uvloop.run(main())
