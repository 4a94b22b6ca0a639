"""A bare client on the `websockets` library (its asyncio API), for comparison in run_ws.py.

N connections, each a task in a closed loop: `send`, then `recv` the echo; nothing is
recorded but a count of round trips. After D seconds each task stops after its current
round trip and closes its connection.

    python benchmarks/ws_bare_websockets.py ws://127.0.0.1:8765/ -c 64 -d 10 --body hello
"""
from __future__ import annotations

import asyncio
import json
import sys
import time

import uvloop
from websockets.asyncio.client import connect

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from ws_bare_common import parse_args  # noqa: E402


async def main_async(url: str, connections: int, duration: float, body: str) -> dict:
    counts = {"round_trips": 0, "errors": 0}
    stop = False

    async def one(ws) -> None:
        while not stop:
            await ws.send(body)
            await ws.recv()
            counts["round_trips"] += 1
        await ws.close()

    t0 = time.perf_counter()
    # no compression (the echo server offers none) and no keepalive pings: a bare loop
    sockets = [await connect(url, compression=None, ping_interval=None, max_size=None)
               for _ in range(connections)]
    tasks = [asyncio.ensure_future(one(ws)) for ws in sockets]
    await asyncio.sleep(max(0.0, duration - (time.perf_counter() - t0)))
    stop = True
    done, pending = await asyncio.wait(tasks, timeout=5)
    counts["errors"] += len(pending) + sum(1 for t in done if t.exception() is not None)
    for t in pending:
        t.cancel()
    elapsed = time.perf_counter() - t0
    return {**counts, "seconds": round(elapsed, 3), "rps": round(counts["round_trips"] / elapsed, 1)}


def main(argv=None) -> int:
    a = parse_args(__doc__, argv)
    print(json.dumps(uvloop.run(main_async(a.url, a.connections, a.duration, a.body))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
