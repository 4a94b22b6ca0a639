"""The fast echo server run_ws.py measures every client against: picows on uvloop.

Every text or binary message is sent straight back (from picows's receive buffer, no
copy into a Python object); pings are answered by picows; a close is answered and the
connection dropped. With `--stats-file PATH` the server keeps two counters in that
file, as two little-endian uint64 at offsets 0 and 8: messages echoed so far and
connections open now, written every 20 ms by a timer (not per message, so counting
costs the server almost nothing). The harness reads them as its common denominator
for every client, as the HTTP benchmarks read nginx's stub_status.

    python benchmarks/ws_echo_server.py --port 0 --stats-file /tmp/echo.stats
    ws echo server listening on ws://127.0.0.1:PORT
"""
from __future__ import annotations

import argparse
import asyncio
import mmap
import signal
import struct

import uvloop
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

PREFIX = "ws echo server listening on "
STATS = struct.Struct("<QQ")  # messages echoed, connections open
FLUSH_S = 0.02


class Counters:
    echoed = 0
    open = 0


class Echo(WSListener):
    def on_ws_connected(self, transport: WSTransport) -> None:
        Counters.open += 1

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        t = frame.msg_type
        if t is WSMsgType.TEXT or t is WSMsgType.BINARY or t is WSMsgType.CONTINUATION:
            transport.send(t, frame.get_payload_as_memoryview(), frame.fin)
            if frame.fin:
                Counters.echoed += 1
        elif t is WSMsgType.CLOSE:
            code = frame.get_close_code()
            transport.send_close(code if code is not WSCloseCode.NO_INFO else WSCloseCode.OK)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        Counters.open -= 1


def open_stats(path: str) -> mmap.mmap:
    with open(path, "wb+") as f:
        f.write(b"\0" * STATS.size)
        f.flush()
        return mmap.mmap(f.fileno(), STATS.size)


async def main_async(host: str, port: int, stats_path: str | None) -> None:
    server = await ws_create_server(lambda request: Echo(), host, port, backlog=1024,
                                    websocket_handshake_timeout=10)
    mm = open_stats(stats_path) if stats_path else None  # before the line: readers may open it then
    bound = server.sockets[0].getsockname()[1]
    print(f"{PREFIX}ws://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    try:
        while not stop.is_set():
            if mm is not None:
                STATS.pack_into(mm, 0, Counters.echoed, Counters.open)
            try:
                await asyncio.wait_for(stop.wait(), FLUSH_S)
            except asyncio.TimeoutError:
                pass
    finally:
        server.close()
        if mm is not None:
            STATS.pack_into(mm, 0, Counters.echoed, Counters.open)
            mm.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--stats-file", default=None)
    a = ap.parse_args(argv)
    uvloop.run(main_async(a.host, a.port, a.stats_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
