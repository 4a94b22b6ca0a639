"""The scenario WebSocket client: what `self.ws` is inside a virtual user.

    conn = await self.ws.connect("/chat", headers={"Authorization": "Bearer ..."},
                                 subprotocols=["chat.v1"], ts_path="ts_ns")
    await conn.send_json({"op": "join"})
    answer = await conn.request({"op": "get", "id": 7}, id_path="id", name="get")
    push = await conn.next_push(timeout=5)
    rtt_ns = await conn.ping()
    await conn.close()

The framing is picows's, as for `driver run ws://` (driver.engine.ws, whose connect
error kinds and close rules this module shares). A connection is
driver.scenario.wsconn.WsConnection, a message driver.scenario.wsmessage.WsMessage. The URL is the target's host and port
(`ws://` for an http:// target, `wss://` for https://) and its base path, or a full
`ws://`/`wss://` URL. Transport errors never raise: a failed connect gives a connection
with `.error` set (and `.open` False), a request or receive that got nothing gives a
WsMessage with `.error` set; each was counted where it belongs.

What is recorded, in the worker's block (through the ScenarioContext):
- `ws:connect` (an aggregate endpoint, as for `driver run ws://`): handshakes (latency:
  TCP, TLS and the upgrade), failures by kind, `connects`, and `reconnects` (a
  connection opened under the name of one the server ended). Each connection's end is
  a check there, failed with its reason when the server ended it abnormally (`server
  closed 1011`, `closed without a close frame`, `bad frame from the server (1002)`) and
  then also an error of the run (connection_reset, protocol_error); a subprotocol the
  server chose but the client did not offer is a failed check.
- the connection's endpoint (`name=`, default `WS /path`): messages out (`sent`,
  `bytes_out`) and in (`messages`, `bytes_in`) that are not request–response round
  trips; a receive that timed out is a failed check there (`no message within Ns`).
- a request's endpoint (`name=`, default `WS /path request`): sent, answered (latency
  from the send), request_timeout, connection_reset or protocol_error when the
  connection ended first, unfinished at the end of the run (or when the user closed).
- `WS /path ping` (or `name=`): ping to pong round trips.
- `push:NAME` (NAME: the connection's): with `ts_path`, each message that answers no
  request and carries a number at that JSON path is a push timed from that wall-clock
  timestamp to its arrival. The unit is told by size: below 1e11 seconds, below 1e14
  milliseconds, below 1e17 microseconds, else nanoseconds (today's wall clock is
  about 1.8e9 s); a negative latency (clocks apart) counts as 0.
"""
from __future__ import annotations

import asyncio

from picows import ws_connect

from driver._speedups import now_ns
from driver.engine.ws import _COUNTERS, HANDSHAKE_OK, MAX_FRAME_BYTES, _error_kind, _quiet_logger, _reap
from driver.layout import C_CONNECTS, C_FLOWS, C_RECONNECTS, C_SENT, SENT_ERRORS, ST_FD_ERRORS
from driver.plan import WS_CONNECT
from driver.scenario.wsconn import WsConnection
from driver.scenario.wsmessage import WsMessage, wall_ns_of

__all__ = ["WsClient", "WsConnection", "WsMessage", "wall_ns_of"]


class WsClient:
    """Per virtual user: its WebSocket connections (`self.ws`)."""

    def __init__(self, context):
        self.context = context
        self.connections: list[WsConnection] = []
        self.current: WsConnection | None = None  # the last one opened (YAML steps use it)
        self.lost: set[str] = set()  # names whose last connection the server ended abnormally
        self._reaping: set[asyncio.Task] = set()
        self.connect_slot = context.slot(WS_CONNECT)

    def url(self, path: str) -> str:
        """The URL to connect to: the target's resolved address, ws:// or wss://."""
        if path.startswith(("ws://", "wss://")):
            return path
        ctx = self.context
        target = ctx.plan.target
        host = f"[{ctx.address}]" if ":" in ctx.address else ctx.address
        scheme = "wss" if target.tls else "ws"
        return f"{scheme}://{host}:{target.port}{ctx.base_path}/{path.lstrip('/')}"

    async def connect(self, path: str, *, headers: dict | None = None, subprotocols=None, name: str | None = None,
                      ts_path: str | None = None, timeout: float | None = None) -> WsConnection:
        """Open a connection (see the module's docstring); its `.error` says when it failed."""
        ctx = self.context
        plan = ctx.plan
        name = name or self.default_name(path)
        conn = WsConnection(self, name, path, ts_path)
        own = path.startswith(("ws://", "wss://"))
        extra = [] if own else [("Host", plan.target.host_header)]
        extra += list((headers or {}).items())
        if subprotocols:
            extra.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
        options = {"server_hostname": plan.target.host} if plan.target.tls and not own else {}
        timeout = plan.connect_timeout_s if timeout is None else timeout
        rec, slot = ctx.rec, self.connect_slot
        start = now_ns()
        try:
            transport, listener = await asyncio.wait_for(ws_connect(
                lambda *_: conn, self.url(path), ssl_context=_tls(plan) if own and path.startswith("wss:") else ctx.ssl_ctx if not own else None,
                websocket_handshake_timeout=timeout, logger_name=_quiet_logger(), max_frame_size=MAX_FRAME_BYTES,
                extra_headers=extra, max_redirects=0, **options), timeout)
            error = None if listener is conn and conn.open else "connection_reset"
        except Exception as exc:  # noqa: BLE001 - whatever connecting raises is counted, never fatal
            transport, error = None, _error_kind(exc)
        if error in SENT_ERRORS or error is None:
            rec.count(slot, C_SENT, 1)
        if error is not None:
            rec.count(slot, _COUNTERS[error], 1)
            if error == "fd_limit":
                rec.add_status(ST_FD_ERRORS, 1)
            if transport is not None:
                transport.disconnect(False)
            conn.error = error
            conn.open = False
            conn.counted = True  # a connection that never was: its failure is counted above
            return conn
        rec.response(slot, HANDSHAKE_OK, 0, now_ns() - start)
        rec.count(slot, C_CONNECTS, 1)
        rec.count(slot, C_FLOWS, 1)
        if name in self.lost:
            self.lost.discard(name)
            rec.count(slot, C_RECONNECTS, 1)
        if subprotocols:
            chosen = _header(transport, "Sec-WebSocket-Protocol")
            conn.subprotocol = chosen
            ctx.checks(slot, 1, () if chosen is None or chosen in subprotocols
                       else (f"server chose subprotocol {chosen!r}, not offered",))
        task = ctx.loop.create_task(_reap(transport))
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)
        self.connections = [c for c in self.connections if c.open]
        self.connections.append(conn)
        self.current = conn
        return conn

    @staticmethod
    def default_name(path: str) -> str:
        """`WS /path` (without the query): a connection's endpoint when it is not named."""
        path = path.split("?", 1)[0]
        return "WS " + (path if path.startswith(("/", "ws:", "wss:")) else "/" + path)

    def find(self, name: str) -> WsConnection | None:
        """The user's open connection of that name, if any."""
        return next((c for c in reversed(self.connections) if c.open and c.name == name), None)

    def close(self) -> None:
        """The user stops: every connection closed (anything in flight counts unfinished)."""
        self.abandon(now_ns())

    def abandon(self, now: int) -> None:
        for conn in self.connections:
            conn.abandon(now)
        self.connections = []


def _tls(plan):
    from driver.engine.client import make_ssl_context

    return make_ssl_context(plan.insecure)


def _header(transport, name: str) -> str | None:
    try:
        value = transport.response.headers.get(name)
    except AttributeError:
        return None
    return value.strip() if isinstance(value, str) else None
