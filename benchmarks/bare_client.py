"""The floor: the least a Python/uvloop client can do per request.

N keep-alive connections (asyncio.Protocol on uvloop), each sending the same
pre-built POST as soon as the previous response is complete. Responses are framed
by Content-Length only (no chunked, no header parsing beyond that); nothing is
recorded but a count. run_http.py runs it beside driver so the table shows how
far driver's per-request cost is above what the event loop itself costs.

    python benchmarks/bare_client.py http://127.0.0.1:8080/ -c 64 -d 10 --body-file benchmarks/body.json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

import uvloop


class Conn(asyncio.Protocol):
    __slots__ = ("request", "state", "transport", "buf", "need")

    def __init__(self, request: bytes, state: dict):
        self.request = request
        self.state = state
        self.transport = None
        self.buf = b""
        self.need = -1  # bytes of the current response still to come once the head is parsed

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes):
        buf = self.buf + data if self.buf else data
        state = self.state
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
            state["responses"] += 1
            if state["stop"]:
                self.transport.close()
                buf = b""
                break
            self.transport.write(self.request)
        self.buf = buf

    def connection_lost(self, exc):
        self.state["open"] -= 1
        if exc is not None:
            self.state["errors"] += 1
        if self.state["open"] == 0 and not self.state["done"].done():
            self.state["done"].set_result(None)


async def main_async(url: str, connections: int, duration: float, body: bytes, content_type: str) -> dict:
    u = urlsplit(url)
    host, port = u.hostname, u.port or 80
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    loop = asyncio.get_running_loop()
    state = {"responses": 0, "errors": 0, "stop": False, "open": 0, "done": loop.create_future()}
    t0 = time.perf_counter()
    for _ in range(connections):
        await loop.create_connection(lambda: Conn(request, state), host, port)
        state["open"] += 1
    await asyncio.sleep(duration - (time.perf_counter() - t0))
    state["stop"] = True
    try:  # let in-flight requests finish (each connection closes after its next response)
        await asyncio.wait_for(asyncio.shield(state["done"]), 5)
    except asyncio.TimeoutError:
        pass
    elapsed = time.perf_counter() - t0
    return {
        "requests": state["responses"],
        "errors": state["errors"],
        "seconds": round(elapsed, 3),
        "rps": round(state["responses"] / elapsed, 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("-c", "--connections", type=int, default=64)
    ap.add_argument("-d", "--duration", type=float, default=10.0, help="seconds")
    ap.add_argument("--body-file", required=True)
    ap.add_argument("--content-type", default="application/json")
    a = ap.parse_args(argv)
    with open(a.body_file, "rb") as f:
        body = f.read()
    res = uvloop.run(main_async(a.url, a.connections, a.duration, body, a.content_type))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
