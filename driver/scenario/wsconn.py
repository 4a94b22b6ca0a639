"""One WebSocket connection of a virtual user (driver.scenario.ws): picows's listener,
with the requests in flight by id, the pings by payload, the unread messages, and how
its end is counted (the rules of driver.engine.ws.WsConnection)."""
from __future__ import annotations

import asyncio
from collections import deque
from time import time_ns as wall_ns

import orjson
from picows import WSCloseCode, WSListener, WSMsgType

from driver._speedups import now_ns
from driver.engine.ws import ANSWERED, NO_CODE, lifetime_name, record_lifetime, why_closed
from driver.layout import (
    C_BYTES_IN,
    C_BYTES_OUT,
    C_ERR_CONN_RESET,
    C_ERR_PROTOCOL,
    C_ERR_REQUEST_TIMEOUT,
    C_FLOWS,
    C_MESSAGES,
    C_SENT,
    C_UNFINISHED,
    H_LATENCY,
)
from driver.scenario.session import json_path
from driver.scenario.wsmessage import MISSING, NOT_JSON, WsMessage, wall_ns_of, with_id

__all__ = ["WsConnection"]

TEXT, BINARY, CONTINUATION = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION
CLOSE, PONG = WSMsgType.CLOSE, WSMsgType.PONG
QUEUE_MAX = 1000  # unread messages kept per connection (the oldest go first)
CLOSE_WAIT_S = 1.0  # how long close() waits for the server's close frame


class WsConnection(WSListener):
    """One WebSocket connection of a virtual user (what it records: driver.scenario.ws)."""

    def __init__(self, client, name: str, path: str, ts_path: str | None):
        ctx = client.context
        self.client = client
        self.context = ctx
        self.rec = ctx.rec
        self.loop = ctx.loop
        self.name = name
        self.path = path
        self.slot = ctx.slot(name)
        self.ts_path = ts_path
        self.push_slot = ctx.slot("push:" + name) if ts_path else -1
        life = lifetime_name(name)
        self.life_slot = ctx.slot(life) if life is not None else -1  # `ws:lifetime:NAME`
        self.opened_ns = 0  # when its handshake ended; 0: not open, or its lifetime recorded
        self.transport = None
        self.error: str | None = None  # the connect's error kind
        self.open = False
        self.closing = False  # the user (or the end of the run) ends it
        self.close_code = -1  # the server's close frame's code; -1: none came
        self.subprotocol: str | None = None
        self.queue: deque[WsMessage] = deque(maxlen=QUEUE_MAX)
        self._waiter: asyncio.Future | None = None  # a receive() waiting
        self._on_push = None
        self._next: tuple | None = None  # a request answered by the next message: (future, slot, sent_ns)
        self._pending: dict = {}  # request id -> (future, slot, sent_ns)
        self._id_paths: list[str] = []
        self._pings: dict[bytes, tuple] = {}
        self._parts: list[bytes] = []
        self._binary = False
        self._ids = 0
        self._ended = self.loop.create_future()
        self.counted = False  # the connection's end was counted

    # -- picows callbacks
    def on_ws_connected(self, transport) -> None:
        self.transport = transport
        self.open = True
        self.opened_ns = now_ns()

    def _lived(self) -> None:
        """Record the connection's lifetime, once, when it ends (whoever ended it)."""
        if self.opened_ns and self.life_slot >= 0:
            record_lifetime(self.rec, self.life_slot, self.opened_ns, now_ns())
        self.opened_ns = 0

    def on_ws_frame(self, transport, frame) -> None:
        kind = frame.msg_type
        if kind is TEXT or kind is BINARY or kind is CONTINUATION:
            data = frame.get_payload_as_bytes()
            if not frame.fin:  # a fragment: the message is whole with its last one
                if kind is not CONTINUATION:
                    self._binary = kind is BINARY
                self._parts.append(data)
                return
            binary = kind is BINARY
            if self._parts:
                data, binary = b"".join(self._parts) + data, self._binary
                self._parts.clear()
            self._message(data, binary)
        elif kind is PONG:
            waiter = self._pings.pop(frame.get_payload_as_bytes(), None)
            if waiter is not None:
                fut, slot, sent_ns, handle = waiter
                handle.cancel()
                elapsed = now_ns() - sent_ns
                self.rec.response(slot, ANSWERED, 0, elapsed)
                _settle(fut, elapsed)
        elif kind is CLOSE:
            payload = frame.get_payload_as_bytes()
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else NO_CODE
            self.open = False
            if not self.closing:  # the server's close: answer it (RFC 6455 5.5.1), then let go
                self.closing = True
                transport.send_close(WSCloseCode.OK)
            transport.disconnect()

    def _message(self, data: bytes, binary: bool) -> None:
        now = now_ns()
        rec = self.rec
        doc = MISSING
        answer = self._next
        if answer is not None:  # a request that takes the next message as its answer
            self._next = None
            self._answer(answer, data, binary, now, doc)
            return
        if self._pending:
            try:
                doc = orjson.loads(data)
            except orjson.JSONDecodeError:
                doc = NOT_JSON
            if doc is not NOT_JSON:
                for path in self._id_paths:
                    key = json_path(doc, path, MISSING)
                    try:
                        answer = self._pending.pop(key, None)
                    except TypeError:  # an unhashable id (a list, an object): answers nothing
                        answer = None
                    if answer is not None:
                        self._answer(answer, data, binary, now, doc)
                        return
        rec.count(self.slot, C_MESSAGES, 1)
        rec.count(self.slot, C_BYTES_IN, len(data))
        msg = WsMessage(self.context, self.slot, data, binary, doc=doc)
        if self.ts_path is not None:
            self._time_push(msg, len(data))
        if self._on_push is not None:
            try:
                self._on_push(msg)
            except Exception as exc:  # noqa: BLE001 - user code: counted, the connection lives on
                self.context.user_error(exc)
            return
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(msg)
        else:
            self.queue.append(msg)

    def _answer(self, answer: tuple, data: bytes, binary: bool, now: int, doc) -> None:
        fut, slot, sent_ns = answer
        elapsed = now - sent_ns
        self.rec.response(slot, ANSWERED, len(data), elapsed)
        if not fut.done():
            fut.set_result(WsMessage(self.context, slot, data, binary, elapsed_ns=elapsed, doc=doc))

    def _time_push(self, msg: WsMessage, nbytes: int) -> None:
        doc = msg._json_or_none()
        ts = json_path(doc, self.ts_path) if doc is not NOT_JSON else None
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            self.rec.response(self.push_slot, ANSWERED, nbytes, max(0, wall_ns() - wall_ns_of(ts)))
            self.rec.count(self.push_slot, C_FLOWS, 1)  # push:NAME is an aggregate: its count is pushes timed

    def on_ws_disconnected(self, transport) -> None:
        self.open = False
        self._lived()
        reason, protocol = self._why_closed(transport)
        self._ended_as(reason, protocol)
        failed = C_ERR_PROTOCOL if protocol else C_ERR_CONN_RESET
        for fut, slot, _ in self._take_pending():
            self.rec.count(slot, failed, 1)
            _settle(fut, WsMessage(self.context, slot, error="protocol_error" if protocol else "connection_reset"))
        for fut, slot, _, handle in self._pings.values():
            handle.cancel()
            self.rec.count(slot, failed, 1)
            _settle(fut, None)
        self._pings.clear()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(WsMessage(self.context, self.slot, error="closed"))
        if not self._ended.done():
            self._ended.set_result(None)

    def _ended_as(self, reason: str | None, protocol: bool = False) -> None:
        """Count the connection's end once, on `ws:connect`: a check, failed with its reason
        and counted as an error of its kind when the server ended it abnormally."""
        if self.counted:
            return
        self.counted = True
        client = self.client
        if reason is None:
            self.context.checks(client.connect_slot, 1, ())
            return
        client.lost.add(self.name)
        self.rec.count(client.connect_slot, C_ERR_PROTOCOL if protocol else C_ERR_CONN_RESET, 1)
        self.context.checks(client.connect_slot, 1, (reason,))

    def _why_closed(self, transport) -> tuple[str | None, bool]:
        return why_closed(self.close_code, self.closing, transport)  # the unit's rules

    def _take_pending(self) -> list[tuple]:
        """The requests in flight (none answered, none timed out: each is still to be
        counted, even when its waiter was cancelled), forgotten."""
        out = list(self._pending.values())
        self._pending.clear()
        if self._next is not None:
            out.append(self._next)
            self._next = None
        return out

    # -- sending
    def _send(self, kind, data: bytes) -> bool:
        if not self.open:
            return False
        rec = self.rec
        rec.count(self.slot, C_SENT, 1)
        rec.count(self.slot, C_BYTES_OUT, len(data))
        self.transport.send(kind, data)
        return True

    async def send_text(self, text: str) -> bool:
        """Send a text message; False (nothing sent) when the connection is closed."""
        return self._send(TEXT, text.encode())

    async def send_bytes(self, data: bytes) -> bool:
        return self._send(BINARY, bytes(data))

    async def send_json(self, obj) -> bool:
        return self._send(TEXT, orjson.dumps(obj))

    # -- receiving
    def on_push(self, callback=None, *, ts_path: str | None = None) -> None:
        """Hand every message that answers no request to `callback(msg)` (a plain function,
        called in the frame's callback) instead of queueing it for receive(); `ts_path`
        times pushes (see the module's docstring). `callback=None` queues again."""
        self._on_push = callback
        if ts_path is not None:
            self.ts_path = ts_path
            self.push_slot = self.context.slot("push:" + self.name)

    async def receive(self, timeout: float | None = None, name: str | None = None) -> WsMessage:
        """The next message that answers no request (queued ones first). Nothing within
        `timeout` (default: the plan's request timeout) is a failed check on the
        connection's endpoint (or `name`'s) and a message with error "timeout"."""
        slot = self.slot if name is None else self.context.slot(name)
        if self.queue:
            msg = self.queue.popleft()
            msg.slot = slot
            return msg
        if not self.open:
            return WsMessage(self.context, slot, error="closed")
        timeout = self.context.plan.request_timeout_s if timeout is None else timeout
        fut = self._waiter = self.loop.create_future()
        handle = self.loop.call_later(timeout, _settle, fut, None)
        msg = await fut
        handle.cancel()
        if msg is None:
            self._waiter = None
            self.context.checks(slot, 1, (f"no message within {timeout:g}s",))
            return WsMessage(self.context, slot, error="timeout")
        msg.slot = slot
        return msg

    next_push = receive  # pushes are the messages that answer no request

    async def request(self, message, *, id_path: str | None = "id", name: str | None = None,
                      timeout: float | None = None, expect: dict | None = None) -> WsMessage:
        """Send `message` and wait for its answer, timed on `name` (default `NAME request`).

        A dict is sent as JSON and answered by the message whose `id_path` holds the same
        id (a fresh one is put there when it has none); other messages meanwhile are
        pushes. With `id_path=None`, or a str (text) or bytes (binary) message, the next
        message is the answer. `expect`: checks (WsMessage.expect) on the answer."""
        ctx = self.context
        slot = ctx.slot(name or self.name + " request")
        if not self.open:
            return WsMessage(ctx, slot, error="closed")
        kind = BINARY if isinstance(message, (bytes, bytearray, memoryview)) else TEXT
        key = MISSING
        if isinstance(message, dict):
            if id_path is not None:
                key = json_path(message, id_path, MISSING)
                if key is MISSING:
                    self._ids += 1
                    key = self._ids
                    message = with_id(message, id_path, key)
            data = orjson.dumps(message)
        else:
            data = message.encode() if isinstance(message, str) else bytes(message)
        if key is MISSING and self._next is not None:
            raise RuntimeError(f"{self.name}: a request answered by the next message is already waiting")
        fut = self.loop.create_future()
        sent = now_ns()
        answer = (fut, slot, sent)
        if key is MISSING:
            self._next = answer
        else:
            self._pending[key] = answer
            if id_path not in self._id_paths:
                self._id_paths.append(id_path)
        rec = self.rec
        rec.count(slot, C_SENT, 1)
        rec.count(slot, C_BYTES_OUT, len(data))
        self.transport.send(kind, data)
        timeout = ctx.plan.request_timeout_s if timeout is None else timeout
        handle = self.loop.call_later(timeout, self._timed_out, key, answer)
        try:
            msg = await fut
        finally:
            handle.cancel()
        if expect:
            msg.expect(**expect)
        return msg

    def _timed_out(self, key, answer: tuple) -> None:
        if key is MISSING:
            if self._next is not answer:  # answered, or counted when the connection ended
                return
            self._next = None
        else:
            if self._pending.get(key) is not answer:
                return
            del self._pending[key]
        fut, slot, _ = answer
        self.rec.count(slot, C_ERR_REQUEST_TIMEOUT, 1)
        _settle(fut, WsMessage(self.context, slot, error="request_timeout"))

    async def ping(self, timeout: float | None = None, name: str | None = None) -> int | None:
        """A ping frame; the round trip to its pong in ns (recorded on `NAME ping`), None
        when no pong came in time (request_timeout) or the connection ended."""
        slot = self.context.slot(name or self.name + " ping")
        if not self.open:
            return None
        self._ids += 1
        payload = self._ids.to_bytes(8, "big")
        fut = self.loop.create_future()
        timeout = self.context.plan.request_timeout_s if timeout is None else timeout
        handle = self.loop.call_later(timeout, self._ping_timed_out, payload)
        self._pings[payload] = (fut, slot, now_ns(), handle)
        self.rec.count(slot, C_SENT, 1)
        self.transport.send_ping(payload)
        return await fut

    def _ping_timed_out(self, payload: bytes) -> None:
        waiter = self._pings.pop(payload, None)
        if waiter is not None:
            self.rec.count(waiter[1], C_ERR_REQUEST_TIMEOUT, 1)
            _settle(waiter[0], None)

    # -- ending
    async def close(self, code: int = 1000) -> None:
        """Close as a client should: a close frame, then wait (up to 1 s) for the server's."""
        if self.transport is None or self.closing:
            return
        self._give_up(now_ns())
        self.closing = True
        self.open = False
        self._lived()
        self._ended_as(None)
        self.transport.send_close(WSCloseCode(code))
        try:
            await asyncio.wait_for(asyncio.shield(self._ended), CLOSE_WAIT_S)
        except asyncio.TimeoutError:
            self.transport.disconnect()

    def abandon(self, now: int) -> None:
        """The run (or the user) ends: what is in flight counts unfinished, with its age as
        its latency; the connection is closed at once."""
        self._give_up(now)
        if self.transport is not None and not self.closing:
            self.closing = True
            self.open = False
            self._lived()
            self._ended_as(None)
            self.transport.send_close(WSCloseCode.OK)
            self.transport.disconnect()

    def _give_up(self, now: int) -> None:
        rec = self.rec
        for fut, slot, sent_ns in self._take_pending():
            rec.count(slot, C_UNFINISHED, 1)
            rec.record(slot, H_LATENCY, now - sent_ns)
            _settle(fut, WsMessage(self.context, slot, error="unfinished"))
        for fut, slot, sent_ns, handle in self._pings.values():
            handle.cancel()
            rec.count(slot, C_UNFINISHED, 1)
            rec.record(slot, H_LATENCY, now - sent_ns)
            _settle(fut, None)
        self._pings.clear()


def _settle(fut: asyncio.Future, value) -> None:
    if not fut.done():
        fut.set_result(value)
