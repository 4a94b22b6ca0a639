"""The fast HTTP/1.1 path: one keep-alive connection, one request in flight at a time.

This is the hot path. Per request it does: write pre-encoded bytes, feed the
chunks uvloop hands over to the compiled parser, read the clock once, and make one
call into the compiled recorder. No future, task or per-request object is made.

A connection is driven by its owner (a unit of the engine: the fast path's
connection unit, or a scenario user's session), which gets two callbacks:
`on_response(conn, now_ns)` when a response is complete (the connection can take
the next request if `conn.alive`), `on_closed(conn)` when the connection is gone
(closed by the peer, a protocol error, a timeout), and it calls
`conn.send(intended_ns)` to send.

Every request sent ends in exactly one of: a response (C_REQUESTS), a request
timeout, a reset, a protocol error, or — still unanswered when the run ends —
`abandon()`, which counts it C_UNFINISHED and records its age as its latency. So
per endpoint: sent == responses + those errors (layout.SENT_ERRORS).

Timestamps, both monotonic ns: `intended_ns` is when the schedule said the request
should start (open loop) — latency counts from there — and `sent_ns` is when it was
written; in closed loop they are the same instant.
"""
from __future__ import annotations

import asyncio
import errno
import socket
import ssl

from driver._speedups import ResponseParser, now_ns
from driver.layout import (
    C_CONNECTS,
    C_ERR_CONN_RESET,
    C_ERR_CONNECT_REFUSED,
    C_ERR_CONNECT_TIMEOUT,
    C_ERR_OTHER,
    C_ERR_PROTOCOL,
    C_ERR_REQUEST_TIMEOUT,
    C_ERR_TLS,
    C_BYTES_OUT,
    C_SENT,
    C_UNFINISHED,
    H_LATENCY,
    ST_FD_ERRORS,
)


class Connection(asyncio.Protocol):
    __slots__ = (
        "owner", "rec", "ep", "request", "head", "parser", "transport",
        "busy", "intended_ns", "sent_ns", "open_loop", "alive", "error",
    )

    def __init__(self, owner, rec, ep: int, request: bytes, head: bool, open_loop: bool,
                 keep_body: bool = False):
        self.owner = owner
        self.rec = rec
        self.ep = ep
        self.request = request
        self.head = head
        self.open_loop = open_loop
        self.parser = ResponseParser(keep_body)
        self.error = None  # the kind of the last transport error on this connection
        self.transport = None
        self.busy = False  # a request is in flight
        self.alive = False
        self.intended_ns = 0
        self.sent_ns = 0

    # -- asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport
        self.alive = True
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def send(self, intended_ns: int) -> None:
        """Write the request; latency will count from `intended_ns`."""
        self.parser.start(self.head)
        self.busy = True
        sent = self.sent_ns = now_ns()
        # from the intended start; never from a later one (an open-loop arrival sent a
        # little ahead of its due time): latency is never less than the service time
        self.intended_ns = intended_ns if 0 < intended_ns < sent else sent
        rec = self.rec
        rec.count(self.ep, C_SENT, 1)
        rec.count(self.ep, C_BYTES_OUT, len(self.request))
        self.transport.write(self.request)

    def send_request(self, ep: int, request: bytes, head: bool, intended_ns: int) -> None:
        """Send another request on this connection, recorded under endpoint slot `ep`
        (the scenario path: each request of a user may be a different one)."""
        self.ep = ep
        self.request = request
        self.head = head
        self.error = None
        self.send(intended_ns)

    def data_received(self, data: bytes) -> None:
        result = self.parser.feed(data)
        if result == 0:
            return
        if result == 1 and self.busy:
            now = now_ns()
            parser = self.parser
            self.busy = False
            self.rec.response(
                self.ep, parser.status, parser.nbytes,
                now - self.intended_ns,
                now - self.sent_ns if self.open_loop else -1,
            )
            if parser.pending or not parser.keep_alive:
                if parser.pending:  # bytes nobody asked for: the stream is out of step
                    self.rec.count(self.ep, C_ERR_PROTOCOL, 1)
                    self.error = "protocol_error"
                self.alive = False  # owners see a response on a connection that is going away
                self.owner.on_response(self, now)
                self.close()
                return
            self.owner.on_response(self, now)
            return
        # -1, or data nobody asked for
        self.busy = False
        self.rec.count(self.ep, C_ERR_PROTOCOL, 1)
        self.error = "protocol_error"
        self.close()

    def eof_received(self):
        return False  # let the transport close; connection_lost does the accounting

    def connection_lost(self, exc) -> None:
        self.alive = False
        if self.busy:
            self.busy = False
            if self.parser.feed_eof() == 1:  # a response framed by the close itself
                now = now_ns()
                self.rec.response(
                    self.ep, self.parser.status, self.parser.nbytes,
                    now - self.intended_ns,
                    now - self.sent_ns if self.open_loop else -1,
                )
                self.owner.on_response(self, now)
            else:
                self.rec.count(self.ep, C_ERR_CONN_RESET, 1)
                self.error = "connection_reset"
        self.owner.on_closed(self)

    # -- control
    def timed_out(self) -> None:
        """The request in flight passed its timeout: count it and drop the connection."""
        if self.busy:
            self.busy = False
            self.rec.count(self.ep, C_ERR_REQUEST_TIMEOUT, 1)
            self.error = "request_timeout"
        if self.transport is not None:
            self.transport.abort()

    def abandon(self, now: int) -> None:
        """The run ended with this request unanswered: count it unfinished, with its age
        (from the intended start) as its latency, and drop the connection."""
        if self.busy:
            self.busy = False
            self.rec.count(self.ep, C_UNFINISHED, 1)
            self.rec.record(self.ep, H_LATENCY, now - self.intended_ns)
            self.error = "unfinished"
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def make_ssl_context(insecure: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def connect(loop, factory, address: str, port: int, *, ssl_ctx, server_hostname, timeout_s: float,
                  rec, ep: int):
    """Open one connection: (protocol, None), or (None, error kind) after counting the error."""
    try:
        _, proto = await asyncio.wait_for(
            loop.create_connection(
                factory, address, port, ssl=ssl_ctx,
                server_hostname=server_hostname if ssl_ctx else None,
            ),
            timeout_s,
        )
    except ssl.SSLError:  # before OSError, its base: a bad certificate or handshake
        rec.count(ep, C_ERR_TLS, 1)
        return None, "tls"
    except asyncio.TimeoutError:
        rec.count(ep, C_ERR_CONNECT_TIMEOUT, 1)
        return None, "connect_timeout"
    except ConnectionRefusedError:
        rec.count(ep, C_ERR_CONNECT_REFUSED, 1)
        return None, "connect_refused"
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        rec.count(ep, C_ERR_CONN_RESET, 1)
        return None, "connection_reset"
    except OSError as exc:
        rec.count(ep, C_ERR_OTHER, 1)
        if exc.errno in (errno.EMFILE, errno.ENFILE):  # the open-file limit, not the target
            rec.add_status(ST_FD_ERRORS, 1)
            return None, "fd_limit"
        return None, "other"
    except ValueError:
        rec.count(ep, C_ERR_OTHER, 1)
        return None, "other"
    rec.count(ep, C_CONNECTS, 1)
    return proto, None
