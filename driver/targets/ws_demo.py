"""The demo WebSocket target: echo, broadcast and server push, with faults for tests.

Routes (every WebSocket route answers pings; text stays text, binary stays binary):

- `GET /echo` — every message comes back to its sender.
- `GET /broadcast` — a message from one client goes to every connected `/broadcast`
  client, the sender included (so a sender sees its own fan-out).
- `GET /push` — the server sends `{"seq": n, "ts_ns": time.time_ns()}` (n = 1, 2, ...)
  to each client every `push_interval_ms` (`?interval_ms=X` per connection); the
  wall-clock timestamp lets a client on the same machine measure push latency. The
  schedule is fixed from the connection's start, so a late tick does not shift the
  ones after it. Messages from the client are read and ignored.
- `GET /headers` — an authenticated echo: the upgrade is refused (401) without an
  `Authorization` header; every message is answered with `{"headers": {name: value}}`,
  the handshake's request headers (names lowercased), so a client can see what its
  handshake carried.
- `GET /health` — JSON counters: connections open and accepted, messages in and out.

Faults, each on every Nth WebSocket connection (connections are numbered 1, 2, ...
across all routes in the order they are accepted; N = 1 hits every connection):

- `close_every=N, close_after=K` — after K messages (echoes or broadcasts answered,
  pushes sent) the server closes the connection with 1011 (internal error);
  K = 0 closes it right after the handshake.
- `drop_every=N, drop_after=K` — after K messages the server cuts the TCP connection
  without a close frame (the client sees an abnormal closure, 1006).
- `stall_every=N, stall_after=K` — after K messages the server stops answering and
  pushing; it keeps reading (and discarding) so the connection stays open and pings
  are still answered: an application that hangs behind a live socket.
- `garbage_every=N` — right after the handshake the server writes bytes that are no
  WebSocket frame (RSV bits set, a reserved opcode) and then only waits for the
  client to go.

`max_message` bounds an incoming message (aiohttp closes with 1009 above it).
Run it with `python -m driver.targets.ws_demo --port 8765`; the tests use
`driver.targets.process.WsDemoTargetProcess` for one in its own process.
"""
from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from driver.targets.serving import LISTENING_PREFIX, serve_app

__all__ = ["GARBAGE", "LISTENING_PREFIX", "Faults", "main", "make_app", "parser", "serve"]

# FIN + RSV1-3 + opcode 0xF (reserved), then bytes that no frame header explains.
GARBAGE = b"\xff\xff\x00garbage, not a websocket frame\r\n\x00\x01\x02"
CLOSE_CODE = 1011  # "internal error": what a crashing server sends
GARBAGE_WAIT_S = 30.0  # how long a garbage connection waits for the client to leave


@dataclass(frozen=True)
class Faults:
    """Which connections misbehave and how (0 = never); see the module docstring."""

    close_every: int = 0
    close_after: int = 0
    drop_every: int = 0
    drop_after: int = 0
    stall_every: int = 0
    stall_after: int = 0
    garbage_every: int = 0

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


class _Conn:
    """One connection's fault plan: `limit` messages, then `action` (None: no fault)."""

    __slots__ = ("ws", "transport", "sent", "limit", "action")

    def __init__(self, ws: web.WebSocketResponse, transport: Any, number: int, faults: Faults) -> None:
        self.ws = ws
        self.transport = transport
        self.sent = 0
        self.limit, self.action = -1, None
        if faults.close_every and number % faults.close_every == 0:
            self.limit, self.action = faults.close_after, "close"
        elif faults.drop_every and number % faults.drop_every == 0:
            self.limit, self.action = faults.drop_after, "drop"
        elif faults.stall_every and number % faults.stall_every == 0:
            self.limit, self.action = faults.stall_after, "stall"

    @property
    def due(self) -> bool:
        """True once the fault's message count is reached."""
        return self.action is not None and self.sent >= self.limit


class _State:
    def __init__(self, faults: Faults, push_interval_ms: float, max_message: int) -> None:
        self.faults = faults
        self.push_interval_ms = push_interval_ms
        self.max_message = max_message
        self.accepted = 0
        self.open = 0
        self.received = 0
        self.sent = 0
        self.subscribers: set[_Conn] = set()  # /broadcast connections still answering


_STATE = web.AppKey("ws_demo_state", _State)


async def _send(conn: _Conn, state: _State, msg_type: WSMsgType, data: Any) -> bool:
    """Send one message; False when the peer is gone (the caller stops using it)."""
    try:
        if msg_type is WSMsgType.BINARY:
            await conn.ws.send_bytes(data)
        else:
            await conn.ws.send_str(data)
    except (ConnectionError, RuntimeError):
        return False
    conn.sent += 1
    state.sent += 1
    return True


async def _apply_fault(conn: _Conn) -> bool:
    """Act on a due fault: close with 1011 or cut the connection (True: the handler
    ends), or stall (False: the caller stops answering)."""
    if conn.action == "close":
        await conn.ws.close(code=CLOSE_CODE, message=b"demo fault: close after messages")
        return True
    if conn.action == "drop":
        if conn.transport is not None:
            conn.transport.abort()  # RST, no close frame
        return True
    return False


async def _drain(ws: web.WebSocketResponse, state: _State) -> None:
    """Read (and count) messages until the client closes; nothing is answered."""
    while True:
        msg = await ws.receive()
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return
        state.received += 1


async def _echo(conn: _Conn, state: _State, answer: str | None = None) -> None:
    """Answer every message with itself, or with `answer` (a text message) when given."""
    ws = conn.ws
    while True:
        if conn.due:
            if await _apply_fault(conn):
                return
            return await _drain(ws, state)
        msg = await ws.receive()
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return
        state.received += 1
        if not await (_send(conn, state, msg.type, msg.data) if answer is None
                      else _send(conn, state, WSMsgType.TEXT, answer)):
            return


async def _broadcast(conn: _Conn, state: _State) -> None:
    ws = conn.ws
    state.subscribers.add(conn)
    try:
        while True:
            if conn.due:
                state.subscribers.discard(conn)
                if await _apply_fault(conn):
                    return
                return await _drain(ws, state)
            msg = await ws.receive()
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return
            state.received += 1
            conn.sent += 1  # the sender's fault counts the messages it sent to be relayed
            for other in list(state.subscribers):
                sent_before = other.sent
                if not await _send(other, state, msg.type, msg.data):
                    state.subscribers.discard(other)
                other.sent = sent_before  # relayed messages do not count toward its fault
    finally:
        state.subscribers.discard(conn)


async def _push(conn: _Conn, state: _State, interval_s: float) -> None:
    ws = conn.ws
    reader = asyncio.ensure_future(_drain(ws, state))
    loop = asyncio.get_running_loop()
    start, seq = loop.time(), 0
    try:
        while not reader.done():
            if conn.due:
                if await _apply_fault(conn):
                    return
                await reader  # stalled: no more pushes, wait for the client to go
                return
            seq += 1
            due = start + seq * interval_s
            await asyncio.wait([reader], timeout=max(0.0, due - loop.time()))
            if reader.done():
                return
            body = orjson.dumps({"seq": seq, "ts_ns": time.time_ns()}).decode()
            if not await _send(conn, state, WSMsgType.TEXT, body):
                return
    finally:
        reader.cancel()


async def _garbage(request: web.Request, ws: web.WebSocketResponse, state: _State) -> None:
    transport = request.transport
    if transport is None:
        return
    transport.write(GARBAGE)
    try:
        await asyncio.wait_for(_drain(ws, state), GARBAGE_WAIT_S)
    except asyncio.TimeoutError:
        pass
    transport.close()


def _route(kind: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        state = request.app[_STATE]
        interval_s = state.push_interval_ms / 1000.0
        if kind == "push" and "interval_ms" in request.query:
            try:
                interval_s = float(request.query["interval_ms"]) / 1000.0
            except ValueError:
                interval_s = -1.0
            if not 0 < interval_s < float("inf"):
                raise web.HTTPBadRequest(text="interval_ms must be a positive number\n")
        if kind == "headers" and "Authorization" not in request.headers:
            raise web.HTTPUnauthorized(text="an Authorization header is needed\n")
        ws = web.WebSocketResponse(max_msg_size=state.max_message)
        await ws.prepare(request)
        state.accepted += 1
        state.open += 1
        number = state.accepted
        try:
            faults = state.faults
            if faults.garbage_every and number % faults.garbage_every == 0:
                await _garbage(request, ws, state)
                return ws
            conn = _Conn(ws, request.transport, number, faults)
            if kind == "echo":
                await _echo(conn, state)
            elif kind == "headers":
                seen = {k.lower(): v for k, v in request.headers.items()}
                await _echo(conn, state, orjson.dumps({"headers": seen}).decode())
            elif kind == "broadcast":
                await _broadcast(conn, state)
            else:
                await _push(conn, state, interval_s)
            if not ws.closed and not (conn.action == "drop" and conn.due):
                await ws.close()
        finally:
            state.open -= 1
        return ws

    return handler


async def _health(request: web.Request) -> web.Response:
    s = request.app[_STATE]
    body = {"status": "ok", "connections": s.open, "accepted": s.accepted,
            "received": s.received, "sent": s.sent}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def make_app(*, push_interval_ms: float = 100.0, max_message: int = 4 * 1024 * 1024,
             faults: Faults | None = None) -> web.Application:
    """The aiohttp application (ValueError for a bad setting)."""
    if not 0 < push_interval_ms < float("inf"):
        raise ValueError(f"push_interval_ms must be a positive number, got {push_interval_ms!r}")
    if max_message < 1:
        raise ValueError(f"max_message must be >= 1, got {max_message!r}")
    app = web.Application()
    app[_STATE] = _State(faults or Faults(), push_interval_ms, max_message)
    for kind in ("echo", "broadcast", "push", "headers"):
        app.router.add_get(f"/{kind}", _route(kind))
    app.router.add_get("/health", _health)
    return app


def serve(host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
    """Run on uvloop until SIGTERM/SIGINT; prints `demo target listening on ws://HOST:PORT`
    once bound. `options`: `make_app`'s keywords (checked before anything binds)."""
    import uvloop

    app = make_app(**options)
    uvloop.run(serve_app(host, port, app, scheme="ws"))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m driver.targets.ws_demo",
                                description="WebSocket echo, broadcast and push server to point driver at.")
    add = p.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8765, help="0 picks a free port")
    add("--push-interval-ms", type=float, default=100.0, metavar="MS",
        help="time between two pushes on /push (per connection: ?interval_ms=)")
    add("--max-message", type=int, default=4 * 1024 * 1024, metavar="BYTES",
        help="largest incoming message (closed with 1009 above it)")
    f = p.add_argument_group("faults", "each on every Nth connection (1 = all, 0 = none)")
    f.add_argument("--close-every", type=int, default=0, metavar="N",
                   help="close these connections with 1011 after --close-after messages")
    f.add_argument("--close-after", type=int, default=0, metavar="K")
    f.add_argument("--drop-every", type=int, default=0, metavar="N",
                   help="cut these connections (no close frame) after --drop-after messages")
    f.add_argument("--drop-after", type=int, default=0, metavar="K")
    f.add_argument("--stall-every", type=int, default=0, metavar="N",
                   help="stop answering on these connections after --stall-after messages")
    f.add_argument("--stall-after", type=int, default=0, metavar="K")
    f.add_argument("--garbage-every", type=int, default=0, metavar="N",
                   help="answer these connections with garbage bytes after the handshake")
    return p


def parse(argv: list[str] | None = None) -> dict[str, Any]:
    """Flags -> `serve`'s keywords; a bad value exits 2 with one error line."""
    p = parser()
    a = p.parse_args(argv)
    try:
        faults = Faults(a.close_every, a.close_after, a.drop_every, a.drop_after, a.stall_every,
                        a.stall_after, a.garbage_every)
        make_app(push_interval_ms=a.push_interval_ms, max_message=a.max_message, faults=faults)
    except ValueError as e:
        p.error("--" + str(e).replace("_", "-"))
    return {"host": a.host, "port": a.port, "push_interval_ms": a.push_interval_ms,
            "max_message": a.max_message, "faults": faults}


def main(argv: list[str] | None = None) -> None:
    """`python -m driver.targets.ws_demo [flags]`."""
    serve(**parse(argv))


if __name__ == "__main__":
    main()
