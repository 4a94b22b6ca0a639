"""Connection faults on raw sockets: a request reset mid-body, slowloris, an idle flood.

Each runs until its `deadline` (time.monotonic_ns) or until the context is stopping,
and closes every socket it opened before it returns, whatever happened. Counts are
bounded by the timeline's limits (driver.chaos.timeline); header bytes a slowloris
connection drips are bounded too (MAX_DRIP_BYTES).
"""
from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import time
from urllib.parse import urlsplit

from driver.chaos.errors import error_kind

__all__ = ["reset_mid_body", "slowloris", "idle_flood", "Origin"]

CONNECT_TIMEOUT_S = 5.0
OPEN_AT_ONCE = 64  # connections being opened at the same time
DRIP_INTERVAL_S = 1.0  # one header line per connection per interval
MAX_DRIP_BYTES = 16 * 1024  # then the connection is only held
TICK_S = 0.1  # how often a waiting fault looks at stopping()


class Origin:
    """Where raw connections go: host, port, TLS, and the Host header."""

    def __init__(self, target_url: str):
        parts = urlsplit(target_url)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 80)
        self.host_header = parts.netloc.rpartition("@")[2]

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        context = ssl.create_default_context() if self.tls else None
        return await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=context,
                                    server_hostname=self.host if self.tls else None),
            CONNECT_TIMEOUT_S)


async def wait_until(ctx, deadline_ns: int) -> bool:
    """Sleep until `deadline_ns`; False when the context began stopping first."""
    while not ctx.stopping():
        left = (deadline_ns - time.monotonic_ns()) / 1e9
        if left <= 0:
            return True
        await asyncio.sleep(min(TICK_S, left))
    return False


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST: SO_LINGER on, 0 seconds, then close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.transport.abort()
    except Exception:  # noqa: BLE001 - a socket already gone is closed
        pass


async def reset_mid_body(ctx, origin: Origin, path: str, rate: float, deadline_ns: int) -> None:
    """`rate` times a second: a POST whose headers promise the whole body, half of it
    sent, then a TCP RST. Recorded as "reset_mid_body" (error when it could not connect)."""
    interval_ns = int(1e9 / rate)
    due = time.monotonic_ns()
    while due < deadline_ns and await wait_until(ctx, due):
        due += interval_ns
        body = ctx.update_body()
        head = (f"POST {path} HTTP/1.1\r\nHost: {origin.host_header}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        start = time.monotonic_ns()
        try:
            _, writer = await origin.connect()
        except Exception as exc:  # noqa: BLE001 - recorded, the fault goes on
            ctx.record("reset_mid_body", error=error_kind(exc), latency_ns=time.monotonic_ns() - start)
            continue
        try:
            writer.write(head + body[: len(body) // 2])
            await asyncio.wait_for(writer.drain(), CONNECT_TIMEOUT_S)
            await asyncio.sleep(0.01)  # let the server start reading the body
            ctx.record("reset_mid_body", latency_ns=time.monotonic_ns() - start)
        except Exception as exc:  # noqa: BLE001
            ctx.record("reset_mid_body", error=error_kind(exc), latency_ns=time.monotonic_ns() - start)
        finally:
            _abort(writer)


async def _open_all(ctx, origin: Origin, name: str, count: int, deadline_ns: int) -> list:
    """Up to `count` open connections, OPEN_AT_ONCE being opened at a time; each failure recorded."""
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    opened: list = []

    async def one() -> None:
        async with gate:
            if ctx.stopping() or time.monotonic_ns() >= deadline_ns:
                return
            start = time.monotonic_ns()
            try:
                pair = await origin.connect()
            except Exception as exc:  # noqa: BLE001
                ctx.record(name, error=error_kind(exc), latency_ns=time.monotonic_ns() - start)
                return
            opened.append((pair, start))

    tasks = [asyncio.ensure_future(one()) for _ in range(count)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        for (_, writer), _ in opened:
            _close(writer)
        raise
    return opened


def _finish(ctx, name: str, opened: list) -> None:
    """Close every connection, one record each (latency: how long it was held open)."""
    now = time.monotonic_ns()
    for (_, writer), start in opened:
        ctx.record(name, latency_ns=now - start)
        _close(writer)


async def _hold(ctx, name: str, origin: Origin, count: int, deadline_ns: int, drip_path: str | None) -> None:
    opened = await _open_all(ctx, origin, name, count, deadline_ns)
    try:
        if drip_path is not None:
            head = f"POST {drip_path} HTTP/1.1\r\nHost: {origin.host_header}\r\n".encode()
            for (_, writer), _ in opened:
                writer.write(head)
            sent, line = len(head), 0
            while await wait_until(ctx, min(deadline_ns, time.monotonic_ns() + int(DRIP_INTERVAL_S * 1e9))):
                if time.monotonic_ns() >= deadline_ns:
                    break
                if sent < MAX_DRIP_BYTES:
                    chunk = f"X-Driver-Slow-{line}: {'a' * 16}\r\n".encode()
                    for (_, writer), _ in opened:
                        if not writer.is_closing():
                            writer.write(chunk)
                    sent, line = sent + len(chunk), line + 1
        else:
            await wait_until(ctx, deadline_ns)
    finally:
        _finish(ctx, name, opened)


async def slowloris(ctx, origin: Origin, path: str, connections: int, deadline_ns: int) -> None:
    """`connections` connections, each sending a request's headers one line a second,
    never ending them; all closed at the deadline."""
    await _hold(ctx, "slowloris", origin, connections, deadline_ns, path)


async def idle_flood(ctx, origin: Origin, connections: int, deadline_ns: int) -> None:
    """`connections` connections opened and left idle; all closed at the deadline."""
    await _hold(ctx, "idle_flood", origin, connections, deadline_ns, None)
