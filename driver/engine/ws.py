"""WebSocket load as a unit kind: one connection per unit, one round trip per piece of work.

A unit (WsUnit) holds one WebSocket connection. Its piece of work is one request–response
round trip: send the plan's message (a text frame, or binary), wait for the next whole
message from the server (its echo or answer), record the latency — from the intended
send in open loop (so a stalled server's backlog is in the numbers), from the send in
closed loop — through the recorder into the round trip's endpoint, exactly as the HTTP
fast path does (H_LATENCY, and H_SERVICE in open loop). Closed loop is N connections in
ping-pong, open loop R messages/s spread over the connections; stages, quotas, timeouts
and end-of-run accounting are the scheduler's (driver.engine.scheduler), untouched.

Framing is picows's (a Cython WebSocket implementation, well kept, the fastest Python
client). The goal of the WebSocket load is a CPU cost per round trip of at most 1.3x
a bare picows client's with every message recorded: building on picows, the only cost
over the bare client is this module's bookkeeping (two counter increments per send, one
recorder call per answer), with no Python object made per message beyond the frame
picows hands over. Writing our own framing in the compiled extension was the
alternative not taken: more code to keep correct (masking, fragments, control frames,
the handshake) for no cost advantage over a framer already written in Cython.

What is counted where (per worker, into its shared-memory block):
- the round trip's endpoint (default `WS /path`): sent (messages out), count (answers
  in), bytes both ways, latency; a round trip in flight when its connection ends is
  an error — protocol_error when the server sent something that is not WebSocket (a bad
  frame: picows closes with 1002), connection_reset otherwise (a close frame or a drop);
  request_timeout when no answer came in time; unfinished at the end. So, as for HTTP,
  sent = count + those errors. Each connection that the server ends abnormally is also
  a failed check with its reason ("server closed 1011", "closed without a close frame",
  "bad frame from the server (1002)"), so the report shows the codes and their counts.
  Messages that answer nothing (server pushes) count as `messages` there.
- `ws:connect` (layout: the plan's second endpoint): one attempt per connection opened,
  its latency the handshake time (TCP, TLS and the upgrade), its failures by kind:
  connect_refused, connect_timeout (also a server that never answers the upgrade), tls,
  protocol_error (not a 101 answer, a bad upgrade), connection_reset; `connects` and
  `reconnects` (a connection opened to replace one that ended).
- `ws:lifetime` (layout: the plan's third endpoint, when the plan lists it): each
  connection's time from its handshake's end to its close, whoever closed it (the
  server, a timeout, a retired unit, the end of the run); its count (`flows`) is the
  connections closed. An aggregate endpoint (driver.stats.endpoint.is_aggregate): a
  lifetime is not a round trip, and stays out of the total.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import ssl

from picows import WSCloseCode, WSError, WSHandshakeError, WSListener, WSMsgType, ws_connect

from driver._speedups import now_ns
from driver.engine.client import make_ssl_context
from driver.engine.http import HttpUnit
from driver.engine.unit import UnitKind
from driver.layout import (
    C_BYTES_OUT,
    C_CHECK_FAILED,
    C_CONNECTS,
    C_FLOWS,
    C_ERR_CONN_RESET,
    C_ERR_OTHER,
    C_ERR_PROTOCOL,
    C_ERR_REQUEST_TIMEOUT,
    C_MESSAGES,
    C_SENT,
    C_UNFINISHED,
    ERROR_COUNTERS,
    H_LATENCY,
    SENT_ERRORS,
    ST_FD_ERRORS,
)
from driver.plan import OPEN, Plan
from driver.stats import endpoint as endpoint_rules

TEXT, BINARY, CONTINUATION, CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE
ANSWERED = 200  # the status class an answered round trip counts in (the layout's classes are HTTP's)
HANDSHAKE_OK = 101  # Switching Protocols: the status a completed handshake counts in
NORMAL_CLOSES = (1000, 1001)  # normal closure, going away: a server that ends a session, not a failure
NO_CODE = 1005  # a close frame without a status code (RFC 6455 7.4.1)
MAX_FRAME_BYTES = 64 * 2**20  # a larger answer is refused (picows closes with 1009)
_COUNTERS = {**ERROR_COUNTERS, "fd_limit": C_ERR_OTHER}  # the open-file limit counts as other
WS_LIFETIME = "ws:lifetime"  # connections' lifetimes: the unit's; self.ws's are `ws:lifetime:NAME`


def lifetime_name(name: str | None = None) -> str | None:
    """The endpoint of connection lifetimes (`ws:lifetime`, or `ws:lifetime:NAME` for a
    named connection of a scenario), or None where this build's stats would count it as
    a request endpoint (its lifetimes would then weigh on the total's latency): lifetimes
    are recorded only on an aggregate endpoint."""
    full = WS_LIFETIME if name is None else f"{WS_LIFETIME}:{name}"
    return full if endpoint_rules.is_aggregate(full) else None


def record_lifetime(rec, slot: int, opened_ns: int, now: int) -> None:
    """One connection's lifetime on `slot` (an aggregate endpoint: its count is `flows`; the
    latency counters give its exact mean and max)."""
    rec.response(slot, ANSWERED, 0, now - opened_ns)
    rec.count(slot, C_FLOWS, 1)


def _quiet_logger() -> logging.Logger:
    """picows logs protocol errors and disconnects; here they are counted instead, and a
    worker's stderr is for its own failures."""
    logger = logging.getLogger("driver.engine.ws.picows")
    # picows logs through a child of it per connection: a level above every record
    # silences the children too (they inherit it), and nothing goes up to the root
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False
    return logger


class WsConnection(WSListener):
    """One WebSocket connection of a unit: sends its message, times the answer.

    The owner (a WsUnit) gets `on_response(conn, now_ns)` for each answer and
    `on_closed(conn)` when the connection ended, and calls `send(intended_ns)`,
    `timed_out()`, `abandon(now)` and `close()`, as with the HTTP connection.
    """

    __slots__ = ("owner", "kind", "rec", "ep", "message", "msg_type", "size", "open_loop", "transport",
                 "alive", "busy", "intended_ns", "sent_ns", "partial", "closing", "close_code", "opened_ns")

    def __init__(self, owner, kind: "WsKind"):
        self.owner = owner
        self.kind = kind
        self.rec = kind.rec
        self.ep = kind.round_trip_slot
        self.message = kind.message
        self.msg_type = kind.msg_type
        self.size = len(kind.message)
        self.open_loop = kind.open_loop
        self.transport = None
        self.alive = False
        self.busy = False  # a message is out and its answer has not come
        self.intended_ns = 0
        self.sent_ns = 0
        self.partial = 0  # bytes of a fragmented answer so far
        self.closing = False  # driver ends the connection (retire, timeout, the end)
        self.close_code = -1  # the code of the server's close frame; -1: none came
        self.opened_ns = 0  # when its handshake ended; 0: not open, or its lifetime recorded

    # -- picows callbacks
    def on_ws_connected(self, transport) -> None:
        self.transport = transport
        self.alive = True
        self.opened_ns = now_ns()

    def _lived(self) -> None:
        """Record the connection's lifetime, once, when it ends (whoever ended it)."""
        if self.opened_ns and self.kind.lifetime_slot >= 0:
            record_lifetime(self.rec, self.kind.lifetime_slot, self.opened_ns, now_ns())
        self.opened_ns = 0

    def send(self, intended_ns: int) -> None:
        """Send the message; latency will count from `intended_ns`."""
        self.busy = True
        sent = self.sent_ns = now_ns()
        # from the intended start, never from a later one (an open-loop arrival sent a
        # little ahead of its due time): latency is never less than the service time
        self.intended_ns = intended_ns if 0 < intended_ns < sent else sent
        rec = self.rec
        rec.count(self.ep, C_SENT, 1)
        rec.count(self.ep, C_BYTES_OUT, self.size)
        self.transport.send(self.msg_type, self.message)

    def on_ws_frame(self, transport, frame) -> None:
        kind = frame.msg_type
        if kind is TEXT or kind is BINARY or kind is CONTINUATION:
            if not frame.fin:  # a fragment: the answer is complete with its last one
                self.partial += frame.payload_size
                return
            nbytes = frame.payload_size
            if self.partial:
                nbytes += self.partial
                self.partial = 0
            if self.busy:
                now = now_ns()
                self.busy = False
                self.rec.response(self.ep, ANSWERED, nbytes, now - self.intended_ns,
                                  now - self.sent_ns if self.open_loop else -1)
                self.owner.on_response(self, now)
            else:  # a message that answers nothing sent: a server push
                self.rec.count(self.ep, C_MESSAGES, 1)
        elif kind is CLOSE:
            payload = frame.get_payload_as_bytes()
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else NO_CODE
            self.alive = False
            if not self.closing:  # the server's close: answer it (RFC 6455 5.5.1), then let go
                self.closing = True
                transport.send_close(WSCloseCode.OK)
            transport.disconnect()
        # PONG: an answer to a ping nobody here sent; PINGs are answered by picows

    def on_ws_disconnected(self, transport) -> None:
        self.alive = False
        self._lived()
        reason, protocol = self._why_closed(transport)
        if reason is not None:
            self.rec.count(self.ep, C_CHECK_FAILED, 1)
            self.kind.registry.check_failed(self.ep, reason)
        if self.busy:  # the round trip in flight failed with its connection
            self.busy = False
            self.rec.count(self.ep, C_ERR_PROTOCOL if protocol else C_ERR_CONN_RESET, 1)
        self.owner.on_closed(self)

    def _why_closed(self, transport) -> tuple[str | None, bool]:
        return why_closed(self.close_code, self.closing, transport)

    # -- the owner's calls
    def timed_out(self) -> None:
        """The round trip in flight passed its timeout: count it and drop the connection."""
        if self.busy:
            self.busy = False
            self.rec.count(self.ep, C_ERR_REQUEST_TIMEOUT, 1)
        self._drop()

    def abandon(self, now: int) -> None:
        """The run ended with this round trip unanswered: count it unfinished, with its age
        (from the intended send) as its latency, and drop the connection."""
        if self.busy:
            self.busy = False
            self.rec.count(self.ep, C_UNFINISHED, 1)
            self.rec.record(self.ep, H_LATENCY, now - self.intended_ns)
        self._drop()

    def close(self) -> None:
        """Close as a client should: a close frame (1000), then the connection."""
        if self.transport is not None and not self.closing:
            self.closing = True
            self.alive = False
            self._lived()
            self.transport.send_close(WSCloseCode.OK)
            self.transport.disconnect()

    def _drop(self) -> None:
        self.closing = True
        self.alive = False
        self._lived()
        if self.transport is not None:
            self.transport.disconnect(False)


class WsKind(UnitKind):
    """Per worker: the URL to connect to, the message, the two endpoint slots."""

    arrival_slot = 0  # the round trips' endpoint: where open-loop arrivals count
    round_trip_slot = 0
    ep = 1  # `ws:connect`: handshakes, connects and reconnects (HttpUnit counts its reconnects on `ep`)
    lifetime_slot = -1  # `ws:lifetime` when the plan lists it (third), else not recorded

    def __init__(self, plan: Plan, rec, registry, address: str):
        spec = plan.requests[0]
        target = plan.target
        self.plan = plan
        self.rec = rec
        self.registry = registry
        self.loop = asyncio.get_running_loop()
        self.message = spec.body
        self.msg_type = BINARY if plan.ws.binary else TEXT
        self.open_loop = plan.mode == OPEN
        self.think_s = plan.think_s
        self.pauses = plan.think_s > 0
        host = f"[{address}]" if ":" in address else address
        # connect to the address resolved once for the run; the Host header and the TLS
        # server name stay the target's
        self.url = f"{target.scheme}://{host}:{target.port}{spec.path}"
        self.headers = [("Host", target.host_header), *spec.headers]
        self.options = {"server_hostname": target.host} if target.tls else {}
        self.ssl_ctx = make_ssl_context(plan.insecure) if target.tls else None
        self.logger = _quiet_logger()
        self.tasks: set[asyncio.Task] = set()
        names = plan.endpoints
        if len(names) > 2 and names[2] == WS_LIFETIME and lifetime_name() is not None:
            self.lifetime_slot = 2

    def new_unit(self, sched) -> "WsUnit":
        return WsUnit(self, sched)

    def spawn(self, coro) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def connect(self, owner) -> WsConnection | None:
        """Open one connection and complete its handshake, counted on `ws:connect`; None
        after counting the failure."""
        conn = WsConnection(owner, self)
        timeout = self.plan.connect_timeout_s
        start = now_ns()
        try:
            transport, listener = await asyncio.wait_for(ws_connect(
                lambda *_: conn, self.url, ssl_context=self.ssl_ctx, websocket_handshake_timeout=timeout,
                logger_name=self.logger, max_frame_size=MAX_FRAME_BYTES, extra_headers=self.headers,
                max_redirects=0, **self.options), timeout)
            error = None if listener is conn else "connection_reset"  # closed before its 101
        except Exception as exc:  # noqa: BLE001 - whatever connecting raises is counted, never fatal
            transport, error = None, _error_kind(exc)
        rec, ep = self.rec, self.ep
        if error in SENT_ERRORS or error is None:  # the upgrade request went out
            rec.count(ep, C_SENT, 1)
        if error is not None:
            rec.count(ep, _COUNTERS[error], 1)
            if error == "fd_limit":
                rec.add_status(ST_FD_ERRORS, 1)
            if transport is not None:
                transport.disconnect(False)
            return None
        rec.response(ep, HANDSHAKE_OK, 0, now_ns() - start)
        rec.count(ep, C_CONNECTS, 1)
        rec.count(ep, C_FLOWS, 1)  # an aggregate endpoint's count: handshakes completed
        self.spawn(_reap(transport))
        return conn

    def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()


def _error_kind(exc: BaseException) -> str:
    """The error kind (layout.ERROR_COUNTERS) of a failed connect and handshake."""
    if isinstance(exc, ssl.SSLError):  # before OSError, its base
        return "tls"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "connect_timeout"
    if isinstance(exc, (WSHandshakeError, WSError)):  # not a 101, a bad upgrade answer
        return "protocol_error"
    if isinstance(exc, ConnectionRefusedError):
        return "connect_refused"
    if isinstance(exc, (ConnectionError, EOFError)):
        return "connection_reset"
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        return "fd_limit"
    return "other"


async def _reap(transport) -> None:
    """Wait for a connection's end, taking the error picows keeps when it closed on a bad
    frame (unread, asyncio would print it when the future is collected)."""
    try:
        await transport.wait_disconnected()
    except Exception:  # noqa: BLE001 - counted in on_ws_disconnected
        pass


class WsUnit(HttpUnit):
    """The HTTP fast path's unit over a WebSocket connection: the same life (connect with
    backoff, send, answer or failure, retire, sweep, abandon), the connection's protocol
    aside."""

    __slots__ = ()

    def _send(self, conn: WsConnection, intended_ns: int) -> None:
        if conn.alive:
            conn.send(intended_ns)
            return
        # the server closed between its 101 and the first message: nothing was sent, and
        # the unit backs off before its next connection, as after a failed connect
        self.fails += 1
        self.conn = None
        self._done(now_ns(), sent=False)


def why_closed(close_code: int, closing: bool, transport) -> tuple[str | None, bool]:
    """(the reason a connection ended abnormally or None, whether the server broke the
    protocol): `close_code` the server's close frame's code (NO_CODE: none came),
    `closing` whether driver ended it. Shared by the unit and driver.scenario.wsconn."""
    if close_code >= 0:  # the server sent a close frame
        return (None if close_code in NORMAL_CLOSES else f"server closed {close_code}"), False
    if closing:  # driver ended it
        return None, False
    handshake = transport.close_handshake
    if handshake is not None and handshake.sent is not None:  # picows closed: a bad frame
        return f"bad frame from the server ({int(handshake.sent.code)})", True
    return "closed without a close frame", False
