"""A simulated call's media socket (driver.scenario.calls): a picows connection that
carries audio frames out and counts what the server sends back, and says why it ended.

Unlike `self.ws`'s connections (driver.scenario.wsconn), it records nothing on
`ws:connect`: a call's handshake is part of its setup, and a socket the server ends
early is a dropped call, counted once, on `call:NAME` (driver.scenario.calls).
"""
from __future__ import annotations

import asyncio

from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

from driver.engine.ws import MAX_FRAME_BYTES, NO_CODE, _error_kind, _quiet_logger, _reap, why_closed
from driver.layout import C_BYTES_IN, C_MESSAGES

__all__ = ["MediaSocket", "connect_media", "media_url"]

BINARY, TEXT, CLOSE = WSMsgType.BINARY, WSMsgType.TEXT, WSMsgType.CLOSE
CLOSE_WAIT_S = 1.0  # how long close() waits for the server's close frame


class MediaSocket(WSListener):
    """One call's media WebSocket: `send(frame)`, `open`, `why` (None, or the reason the
    server ended it), `close()`, `abandon()`. Server messages are counted on `slot`."""

    __slots__ = ("rec", "slot", "transport", "open", "closing", "close_sent", "close_code", "why", "messages",
                 "_ended")

    def __init__(self, rec, slot: int, loop) -> None:
        self.rec, self.slot = rec, slot
        self.transport = None
        self.open = False
        self.closing = False  # driver ends it (the call is over, or the run)
        self.close_sent = False
        self.close_code = -1  # the server's close frame's code; -1: none came
        self.why: str | None = None
        self.messages = 0
        self._ended = loop.create_future()

    def on_ws_connected(self, transport) -> None:
        self.transport = transport
        self.open = True

    def on_ws_frame(self, transport, frame) -> None:
        kind = frame.msg_type
        if kind is TEXT or kind is BINARY:  # events, transcripts: counted (fragments count each)
            self.messages += 1
            self.rec.count(self.slot, C_MESSAGES, 1)
            self.rec.count(self.slot, C_BYTES_IN, frame.payload_size)
        elif kind is CLOSE:
            payload = frame.get_payload_as_bytes()
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else NO_CODE
            self.open = False
            if not self.closing:  # known now, before the disconnect's callback: the frames stop here
                self.why = f"server closed {self.close_code}"
            if not self.close_sent:  # the server's close: answer it (RFC 6455 5.5.1), then let go
                self.close_sent = True
                transport.send_close(WSCloseCode.OK)
            transport.disconnect()

    def on_ws_disconnected(self, transport) -> None:
        self.open = False
        self.why = why_closed(self.close_code, self.closing, transport)[0]
        if self.why is None and self.close_code >= 0 and not self.closing:
            self.why = f"server closed {self.close_code}"  # even 1000: before the call was over
        if not self._ended.done():
            self._ended.set_result(None)

    def send(self, frame) -> bool:
        if not self.open:
            return False
        self.transport.send(BINARY, frame)
        return True

    async def close(self) -> None:
        """The call is over: a close frame, then wait (up to 1 s) for the server's; a server
        that closed first (after the hangup) is fine."""
        if self.transport is None or self.close_sent or self._ended.done():
            return
        self.closing = self.close_sent = True
        self.open = False
        self.transport.send_close(WSCloseCode.OK)
        try:
            await asyncio.wait_for(asyncio.shield(self._ended), CLOSE_WAIT_S)
        except asyncio.TimeoutError:
            self.transport.disconnect()

    def hung_up(self) -> None:
        """The hangup was answered: a close the server sends now is the call's end, not a drop."""
        self.closing = True

    def abandon(self) -> None:
        if self.transport is not None and not self._ended.done():
            self.closing = True
            self.open = False
            self.transport.disconnect()


def media_url(ctx, path: str) -> str:
    """ws:// (wss:// for an https:// target) at the target's resolved address and base path,
    or a full ws:// or wss:// URL as it is."""
    if path.startswith(("ws://", "wss://")):
        return path
    target = ctx.plan.target
    host = f"[{ctx.address}]" if ":" in ctx.address else ctx.address
    return f"{'wss' if target.tls else 'ws'}://{host}:{target.port}{ctx.base_path}/{path.lstrip('/')}"


async def connect_media(ctx, path: str, slot: int, headers: tuple) -> tuple[MediaSocket | None, str | None]:
    """(the open socket, None) or (None, the error kind of the failed connect)."""
    plan = ctx.plan
    sock = MediaSocket(ctx.rec, slot, ctx.loop)
    own = path.startswith(("ws://", "wss://"))
    extra = ([] if own else [("Host", plan.target.host_header)]) + list(headers)
    options = {"server_hostname": plan.target.host} if plan.target.tls and not own else {}
    ssl_ctx = ctx.ssl_ctx if not own else None
    if own and path.startswith("wss:"):
        from driver.engine.client import make_ssl_context

        ssl_ctx = make_ssl_context(plan.insecure)
    timeout = plan.connect_timeout_s
    try:
        transport, listener = await asyncio.wait_for(ws_connect(
            lambda *_: sock, media_url(ctx, path), ssl_context=ssl_ctx, websocket_handshake_timeout=timeout,
            logger_name=_quiet_logger(), max_frame_size=MAX_FRAME_BYTES, extra_headers=extra, max_redirects=0,
            **options), timeout)
    except Exception as exc:  # noqa: BLE001 - whatever connecting raises is counted, never fatal
        kind = _error_kind(exc)
        return None, "other" if kind == "fd_limit" else kind
    if listener is not sock or not sock.open:
        transport.disconnect(False)
        return None, "connection_reset"
    task = ctx.loop.create_task(_reap(transport))
    ctx.shared.setdefault("call_media_reaping", set()).add(task)
    task.add_done_callback(ctx.shared["call_media_reaping"].discard)
    return sock, None
