"""A bare picows client: the floor run_ws.py holds driver's WebSocket unit against.

N connections, each in a closed loop: send the text message, and on its echo send it
again; nothing is recorded but a count of round trips. After D seconds every
connection stops sending and closes after its next echo.

    python benchmarks/ws_bare_picows.py ws://127.0.0.1:8765/ -c 64 -d 10 --body hello
    {"round_trips": ..., "errors": 0, "seconds": 10.0, "rps": ...}
"""
from __future__ import annotations

import asyncio
import json
import sys
import time

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from ws_bare_common import parse_args  # noqa: E402


class State:
    round_trips = 0
    errors = 0
    stop = False


class PingPong(WSListener):
    def __init__(self, body: bytes) -> None:
        self.body = body

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, self.body)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            State.round_trips += 1
            if State.stop:
                transport.send_close()
                transport.disconnect()
            else:
                transport.send(WSMsgType.TEXT, self.body)
        elif frame.msg_type is WSMsgType.CLOSE:
            State.errors += 1  # the server closed first
            transport.disconnect()


async def main_async(url: str, connections: int, duration: float, body: bytes) -> dict:
    t0 = time.perf_counter()
    transports = [(await ws_connect(lambda: PingPong(body), url))[0] for _ in range(connections)]
    await asyncio.sleep(max(0.0, duration - (time.perf_counter() - t0)))
    State.stop = True
    try:  # in-flight echoes finish; each connection closes after its next one
        await asyncio.wait_for(asyncio.gather(*(t.wait_disconnected() for t in transports)), 5)
    except asyncio.TimeoutError:
        State.errors += sum(not t.is_disconnected for t in transports)
    elapsed = time.perf_counter() - t0
    return {"round_trips": State.round_trips, "errors": State.errors, "seconds": round(elapsed, 3),
            "rps": round(State.round_trips / elapsed, 1)}


def main(argv=None) -> int:
    a = parse_args(__doc__, argv)
    print(json.dumps(uvloop.run(main_async(a.url, a.connections, a.duration, a.body.encode()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
