"""The WebSocket error battery: a built-in scenario that checks how a server answers
what a client should never send.

    driver run http://127.0.0.1:8765 -s driver.scenario.wsbattery:ErrorBattery -u 2 -n 60

Each iteration runs one probe (each task below is one, equally weighted) on its own
raw connection, written by hand here because a WebSocket client library will not send
these bytes:

- `bad_version`: an upgrade with `Sec-WebSocket-Version: 99` — a 4xx (426 or 400) is right;
- `bad_key`: an upgrade whose `Sec-WebSocket-Key` is not 16 base64 bytes — a 4xx;
- `oversized`: after the handshake, one text message of `oversize_bytes` — the server
  should close with 1009 (too big) or 1008 (policy);
- `bad_frame`: after the handshake, a frame with reserved bits and a reserved opcode —
  the server should close with 1002 (protocol error);
- `abrupt_close`: after the handshake, half a frame and then a TCP reset; the server
  must then still complete a new handshake and echo a message.

Each probe is one round trip on the endpoint `battery:NAME`: sent, answered when the
server reacted in time (its latency: from the probe's first byte to the reaction), a
request_timeout when it did not; and one check, failed with what the server did wrong
("answered 101", "closed with 1000, not 1009", "closed without a close frame",
"answered 500", "closed without an HTTP answer"). Subclass it to point elsewhere or change the sizes:

    class MyBattery(ErrorBattery):
        path = "/ws/v2"
        oversize_bytes = 16 * 2**20
"""
from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct

from driver._speedups import now_ns
from driver.layout import C_ERR_REQUEST_TIMEOUT, C_SENT
from driver.scenario.api import User, task

__all__ = ["ErrorBattery"]

GOOD_VERSION = "13"
CLOSE_OPCODE = 0x8
ANSWERED = 200  # a reaction in time (right or wrong: the check says which)


class ErrorBattery(User):
    path = "/echo"  # the WebSocket route to probe (under the target's base path)
    oversize_bytes = 2 * 2**20  # larger than the server should take in one message
    probe_timeout_s = 5.0

    @task
    async def bad_version(self):
        await self._probe("bad_version", self._handshake_probe({"Sec-WebSocket-Version": "99"}))

    @task
    async def bad_key(self):
        await self._probe("bad_key", self._handshake_probe({"Sec-WebSocket-Key": "not-a-key"}))

    @task
    async def oversized(self):
        frame = _frame(0x1, b"x" * self.oversize_bytes)
        await self._probe("oversized", self._frame_probe(frame, (1009, 1008)))

    @task
    async def bad_frame(self):
        frame = _frame(0x3, b"reserved", rsv=0x70)  # RSV1-3 set, opcode 3 (reserved)
        await self._probe("bad_frame", self._frame_probe(frame, (1002,)))

    @task
    async def abrupt_close(self):
        await self._probe("abrupt_close", self._abrupt_probe())

    # -- the probes: each returns the reason it failed, or None
    async def _probe(self, name: str, probe) -> None:
        ctx = self.http.context
        slot = ctx.slot("battery:" + name)
        ctx.count(slot, C_SENT, 1)
        start = now_ns()
        try:
            reason = await asyncio.wait_for(probe, self.probe_timeout_s)
        except asyncio.TimeoutError:
            ctx.count(slot, C_ERR_REQUEST_TIMEOUT, 1)
            ctx.checks(slot, 1, (f"no answer within {self.probe_timeout_s:g}s",))
            return
        except OSError as exc:  # the server was not there to probe
            ctx.count(slot, C_ERR_REQUEST_TIMEOUT, 1)
            ctx.checks(slot, 1, (f"could not connect: {type(exc).__name__}",))
            return
        ctx.rec.response(slot, ANSWERED, 0, now_ns() - start)
        ctx.checks(slot, 1, () if reason is None else (reason,))

    async def _handshake_probe(self, override: dict) -> str | None:
        reader, writer = await self._open()
        try:
            status = await _upgrade(reader, writer, self._head(override))
        finally:
            writer.close()
        if status == 0:
            return "closed without an HTTP answer"
        if status == 101:
            return "answered 101 (accepted a bad handshake)"
        if not 400 <= status < 500:
            return f"answered {status}, not a 4xx"
        return None

    async def _frame_probe(self, frame: bytes, codes: tuple) -> str | None:
        reader, writer = await self._open()
        try:
            status = await _upgrade(reader, writer, self._head({}))
            if status != 101:
                return f"answered {status} to a good handshake"
            writer.write(frame)
            code = await _close_code(reader)
        finally:
            writer.close()
        if code is None:
            return "closed without a close frame"
        if code not in codes:
            return f"closed with {code}, not {' or '.join(map(str, codes))}"
        return None

    async def _abrupt_probe(self) -> str | None:
        reader, writer = await self._open()
        status = await _upgrade(reader, writer, self._head({}))
        if status != 101:
            writer.close()
            return f"answered {status} to a good handshake"
        writer.write(_frame(0x1, b"half a frame")[:8])
        sock = writer.get_extra_info("socket")
        if sock is not None:  # a reset, not a FIN: SO_LINGER with a zero timeout
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        reader, writer = await self._open()
        try:
            if await _upgrade(reader, writer, self._head({})) != 101:
                return "refused a handshake after an abrupt close"
            writer.write(_frame(0x1, b"still there?"))
            try:
                opcode, payload = await _read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                opcode, payload = 0, b""
            if opcode != 0x1 or payload != b"still there?":
                return "did not echo after an abrupt close"
        finally:
            writer.close()
        return None

    # -- raw connections
    async def _open(self):
        ctx = self.http.context
        target = ctx.plan.target
        return await asyncio.open_connection(
            ctx.address, target.port, ssl=ctx.ssl_ctx,
            server_hostname=target.host if ctx.ssl_ctx is not None else None)

    def _head(self, override: dict) -> bytes:
        ctx = self.http.context
        headers = {
            "Host": ctx.plan.target.host_header, "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(), "Sec-WebSocket-Version": GOOD_VERSION,
            **self.http.headers, **override,
        }
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return f"GET {ctx.base_path}/{self.path.lstrip('/')} HTTP/1.1\r\n{lines}\r\n".encode("latin-1")


def _frame(opcode: int, payload: bytes, rsv: int = 0) -> bytes:
    """A client frame: FIN, `rsv` bits, opcode, masked payload (RFC 6455 5.2)."""
    n = len(payload)
    head = bytes([0x80 | rsv | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big") if n else b""
    return head + mask + masked


async def _upgrade(reader, writer, head: bytes) -> int:
    """Send an upgrade request; the status of the answer (its head read whole)."""
    writer.write(head)
    try:
        answer = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return 0  # closed without an answer
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


async def _read_frame(reader) -> tuple[int, bytes]:
    """One frame from the server (unmasked): (opcode, payload)."""
    first, second = await reader.readexactly(2)
    n = second & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return first & 0x0F, await reader.readexactly(n)


async def _close_code(reader) -> int | None:
    """Read until the server's close frame: its code (1005 without one), None when the
    connection ended without one."""
    try:
        while True:
            opcode, payload = await _read_frame(reader)
            if opcode == CLOSE_OPCODE:
                return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
