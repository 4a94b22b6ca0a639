"""The open-loop floor: the least a Python/uvloop client does per request at a fixed rate.

The open-loop sibling of bare_client.py, with the discipline driver's open loop has:
a timer that wakes every millisecond (the event loop's timer resolution) and sends
the arrivals that fell due since the last wake-up, each on an idle keep-alive
connection, or on a new one (up to -c) when none is idle; arrivals that find neither
wait in a count and go out as connections come free. Responses are framed by
Content-Length only; nothing is recorded but a count. run_http.py runs it at the
rate of `driver-open`: the gap between the two is driver's own open-loop cost, the
gap between this and bare_client.py is what sending at a rate (a wake-up per
tick, fewer requests per wake-up) costs any client.

    python benchmarks/bare_open_client.py http://127.0.0.1:8080/ -r 20000 -d 10 --body-file benchmarks/body.json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

import uvloop

TICK_S = 0.001  # a shorter delay rounds to 0 in the loop's millisecond timer and spins


class Conn(asyncio.Protocol):
    __slots__ = ("client", "transport", "buf", "need")

    def __init__(self, client: "OpenClient"):
        self.client = client
        self.transport = None
        self.buf = b""
        self.need = -1  # bytes of the current response still to come once the head is parsed

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.client.request)  # opened for an arrival: send it at once

    def data_received(self, data: bytes):
        buf = self.buf + data if self.buf else data
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                i = buf.find(b"ontent-Length:", 0, end)
                if i < 0:
                    i = buf.find(b"ontent-length:", 0, end)
                length = 0
                if i >= 0:
                    j = buf.find(b"\r\n", i, end + 2)
                    length = int(buf[i + 14 : j])
                self.need = end + 4 + length
            if len(buf) < self.need:
                break
            buf = buf[self.need :]
            self.need = -1
            self.client.done(self)
        self.buf = buf

    def connection_lost(self, exc):
        self.client.lost(self, exc)


class OpenClient:
    def __init__(self, host: str, port: int, request: bytes, rate: float, duration: float, cap: int):
        self.loop = asyncio.get_running_loop()
        self.host, self.port, self.request = host, port, request
        self.rate, self.duration, self.cap = rate, duration, cap
        self.idle: list[Conn] = []
        self.conns = 0  # open or opening
        self.waiting = 0  # arrivals due that found no connection
        self.sent = self.responses = self.errors = self.in_flight = 0
        self.t0 = time.perf_counter()
        self.finished = self.loop.create_future()

    def tick(self) -> None:
        elapsed = time.perf_counter() - self.t0
        due = int(min(elapsed, self.duration) * self.rate) - self.sent - self.waiting
        for _ in range(due):
            self.arrive()
        if elapsed < self.duration:
            self.loop.call_later(TICK_S, self.tick)
        elif not self.in_flight and not self.finished.done():
            self.finished.set_result(None)

    def _all_sent(self) -> bool:
        """The schedule is over and every arrival of it went out (a response coming in
        between the last tick and the end must not end the run before the last arrivals)."""
        return (time.perf_counter() - self.t0 >= self.duration
                and self.sent + self.waiting >= int(self.duration * self.rate))

    def arrive(self) -> None:
        if self.idle:
            self.sent += 1
            self.in_flight += 1
            self.idle.pop().transport.write(self.request)
        elif self.conns < self.cap:
            self.sent += 1
            self.in_flight += 1
            self.conns += 1
            self.loop.create_task(self.open())
        else:
            self.waiting += 1

    async def open(self) -> None:
        try:
            await self.loop.create_connection(lambda: Conn(self), self.host, self.port)
        except OSError:
            self.conns -= 1
            self.in_flight -= 1
            self.errors += 1

    def done(self, conn: Conn) -> None:
        self.responses += 1
        if self.waiting:
            self.waiting -= 1
            self.sent += 1
            conn.transport.write(self.request)
            return
        self.in_flight -= 1
        self.idle.append(conn)
        if self.in_flight == 0 and self._all_sent() and not self.finished.done():
            self.finished.set_result(None)

    def lost(self, conn: Conn, exc) -> None:
        self.conns -= 1
        if conn in self.idle:
            self.idle.remove(conn)
        else:  # lost with a request on it
            self.in_flight -= 1
            self.errors += 1
        if self.in_flight <= 0 and self._all_sent() and not self.finished.done():
            self.finished.set_result(None)


async def main_async(url: str, rate: float, duration: float, body: bytes, content_type: str, cap: int) -> dict:
    u = urlsplit(url)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    client = OpenClient(u.hostname, u.port or 80, request, rate, duration, cap)
    client.tick()
    try:  # the schedule, then up to 5 s for the answers still on their way
        await asyncio.wait_for(asyncio.shield(client.finished), duration + 5)
    except asyncio.TimeoutError:
        pass
    elapsed = time.perf_counter() - client.t0
    for conn in client.idle:
        conn.transport.close()
    return {
        "requests": client.responses,
        "errors": client.errors,
        "sent": client.sent,
        "never_sent": client.waiting,
        "connections": client.conns,
        "seconds": round(elapsed, 3),
        "rps": round(client.responses / elapsed, 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("-r", "--rate", type=float, required=True, help="arrivals per second")
    ap.add_argument("-d", "--duration", type=float, default=10.0, help="seconds")
    ap.add_argument("-c", "--connections", type=int, default=1000, help="most connections (default 1000)")
    ap.add_argument("--body-file", required=True)
    ap.add_argument("--content-type", default="application/json")
    a = ap.parse_args(argv)
    with open(a.body_file, "rb") as f:
        body = f.read()
    res = uvloop.run(main_async(a.url, a.rate, a.duration, body, a.content_type, a.connections))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
