"""WebSocket in scenarios (driver.scenario.ws, `self.ws`; YAML `ws:` steps) against the
demo WebSocket server and aiohttp servers on loopback: request–response by id with
pushes in between, push latency, ping, server faults (1011 closes, drops, stalls,
garbage) counted where they belong, and the recipes (connect storm, stability, error
battery) run bounded."""
import asyncio
import textwrap

import orjson
import pytest

import driver
from driver.cli import build_plan
from driver.layout import C_CONNECTS, C_MESSAGES, C_RECONNECTS
from driver.scenario.ws import wall_ns_of
from driver.targets.process import WsDemoTargetProcess
from tests.servers import aiohttp_server


def rpc_app():
    """/rpc: answers {"id", "op"} with {"id", "result"} after pushing {"push": n, "ts": ms}
    first (so every answer has a push before it); /stall answers nothing; /proto picks
    "b.v2" when offered; /auth: 403 without `Authorization: Bearer ok`."""
    from aiohttp import web
    import time

    async def rpc(request):
        if request.path == "/auth" and request.headers.get("Authorization") != "Bearer ok":
            return web.Response(status=403)
        ws = web.WebSocketResponse(protocols=("b.v2",))
        await ws.prepare(request)
        pushes = 0
        async for msg in ws:
            if request.path == "/stall":
                continue
            doc = orjson.loads(msg.data)
            pushes += 1
            await ws.send_bytes(orjson.dumps({"push": pushes, "ts": time.time_ns() // 1_000_000}))
            await ws.send_str(orjson.dumps({"id": doc.get("id"), "result": doc.get("op")}).decode())
        return ws

    app = web.Application()
    app.router.add_get("/{route}", rpc)
    return app


def _scenario(tmp_path, body: str):
    path = tmp_path / "scenario.py"
    path.write_text("from driver.scenario import User, task, constant, CheckFailed\n" + textwrap.dedent(body))
    return str(path)


def _run(url, scenario, **load):
    load.setdefault("workers", 1)
    return driver.run(build_plan(url.replace("ws://", "http://"), load, scenario))


def reasons(result, endpoint):
    return {c["reason"]: c["count"] for c in result.checks if c["endpoint"] == endpoint}


def test_request_by_id_with_pushes_in_between(tmp_path):
    path = _scenario(tmp_path, """
        class Rpc(User):
            async def on_start(self):
                self.conn = await self.ws.connect("/rpc", name="rpc", ts_path="ts")

            @task
            async def call(self):
                answer = await self.conn.request({"op": "sum"}, name="sum")
                answer.expect(json={"result": "sum"})
                answer.check(answer.json()["id"] >= 1, "an id was put in")
    """)
    with aiohttp_server(rpc_app) as srv:
        result = _run(srv.url, path, users=3, requests=300)
    call = result.endpoint("sum")
    assert call.sent == call.requests == 300 and call.errors == 0
    assert call.checks == 600 and call.check_failures == 0
    push = result.endpoint("push:rpc")
    assert push.requests == 300  # every push timed (from its millisecond timestamp), none taken for an answer
    assert push.latency()["max_ns"] < 60e9  # a timestamp read in the wrong unit would be years off
    handshakes = result.endpoint("ws:connect")
    assert handshakes.flows == 3 and handshakes.counters[C_CONNECTS] == 3
    assert handshakes.checks == 3 and handshakes.check_failures == 0  # each connection closed by its user
