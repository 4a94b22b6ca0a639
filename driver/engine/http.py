"""The fast path as a unit kind: one keep-alive connection per unit, one pre-encoded
request on every connection.

A unit's piece of work is one request: `start(intended_ns)` sends it on the unit's
connection (opening one first when it has none; a failed connect is reported to the
scheduler as not sent, and the unit backs off before its next try). The response
callback hands the unit back to the scheduler, which starts its next request
(closed loop) or gives it the next arrival (open loop). Nothing per request is
allocated here: the connection does the sending, framing and recording.
"""
from __future__ import annotations

import asyncio

from driver._speedups import now_ns
from driver.engine.client import Connection, connect, make_ssl_context
from driver.engine.unit import Unit, UnitKind
from driver.layout import C_RECONNECTS
from driver.plan import OPEN, Plan

BACKOFF_MIN_S = 0.01  # after a failed connect; doubles per failure up to BACKOFF_MAX_S
BACKOFF_MAX_S = 1.0


def backoff_s(fails: int) -> float:
    """The pause after `fails` failed connects in a row (0 when none)."""
    if fails <= 0:
        return 0.0
    return min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** min(fails, 10))


class HttpKind(UnitKind):
    """Per worker: where to connect, the encoded request, the endpoint slot."""

    arrival_slot = 0

    def __init__(self, plan: Plan, rec, address: str):
        spec = plan.requests[0]
        self.plan = plan
        self.rec = rec
        self.address = address
        self.loop = asyncio.get_running_loop()
        self.ep = 0
        self.request = spec.encode(plan.target)
        self.head = spec.is_head
        self.open_loop = plan.mode == OPEN
        self.think_s = plan.think_s
        self.pauses = plan.think_s > 0
        self.ssl_ctx = make_ssl_context(plan.insecure) if plan.target.tls else None
        self.tasks: set[asyncio.Task] = set()

    def new_unit(self, sched) -> "HttpUnit":
        return HttpUnit(self, sched)

    def spawn(self, coro) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def connect(self, owner) -> Connection | None:
        plan = self.plan
        proto, _ = await connect(
            self.loop, lambda: Connection(owner, self.rec, self.ep, self.request, self.head, self.open_loop),
            self.address, plan.target.port, ssl_ctx=self.ssl_ctx, server_hostname=plan.target.host,
            timeout_s=plan.connect_timeout_s, rec=self.rec, ep=self.ep,
        )
        return proto

    def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()


class HttpUnit(Unit):
    __slots__ = ("kind", "conn", "fails", "connected_once")

    def __init__(self, kind: HttpKind, sched):
        super().__init__(sched)
        self.kind = kind
        self.conn: Connection | None = None
        self.fails = 0  # failed connects in a row
        self.connected_once = False

    @property
    def connections(self) -> int:
        return 1 if self.conn is not None and self.conn.alive else 0

    def start(self, intended_ns: int) -> None:
        self.busy = True
        conn = self.conn
        if conn is not None and conn.alive:
            conn.send(intended_ns)
        else:
            self.conn = None
            self.kind.spawn(self._connect_and_send(intended_ns))

    async def _connect_and_send(self, intended_ns: int) -> None:
        conn = await self.kind.connect(self)
        if conn is None:
            self.fails += 1
            self._lost()
            self._done(now_ns(), sent=False)
            return
        if self.connected_once:
            self.kind.rec.count(self.kind.ep, C_RECONNECTS, 1)
        else:
            self.sched.warmed(self)
        self.connected_once = True
        self.fails = 0
        self.conn = conn
        if self.retired:
            self._done(now_ns(), sent=False)
            return
        self._send(conn, intended_ns)

    def _send(self, conn: Connection, intended_ns: int) -> None:
        """Send this unit's request on a connection just opened (kinds that vary the
        request per piece of work override this and `start`)."""
        conn.send(intended_ns)

    def _lost(self) -> None:
        """The piece of work in flight failed without a response (its error is counted by
        the connection); kinds that judge pieces (checks) count it here."""

    def _done(self, now: int, sent: bool = True) -> None:
        self.busy = False
        self.sched.done(self, now, sent)
        if self.retired and not self.busy and self.conn is not None:
            self.conn.close()

    # -- callbacks of client.Connection
    def on_response(self, conn: Connection, now: int) -> None:
        if conn is self.conn and self.busy:  # _done written out: this is the hot path
            self.busy = False
            self.sched.done(self, now)
            if self.retired and not self.busy and self.conn is not None:
                self.conn.close()

    def on_closed(self, conn: Connection) -> None:
        if conn is not self.conn:
            return
        self.conn = None
        if self.busy:  # the request in flight failed with its connection (counted by it)
            self._lost()
            self._done(now_ns())

    # -- the scheduler's calls
    def pause_s(self) -> float:
        return backoff_s(self.fails) if self.fails else self.kind.think_s

    def retire(self) -> None:
        self.retired = True
        if not self.busy and self.conn is not None:
            self.conn.close()

    def sweep(self, now: int, limit_ns: int) -> None:
        conn = self.conn
        if conn is not None and conn.busy and now - conn.sent_ns > limit_ns:
            conn.timed_out()

    def abandon(self, now: int) -> None:
        self.retired = True
        self.busy = False
        if self.conn is not None:
            self.conn.abandon(now)
