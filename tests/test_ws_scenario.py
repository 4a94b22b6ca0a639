"""WebSocket in scenarios (driver.scenario.ws, `self.ws`; YAML `ws:` steps) against the
demo WebSocket server and aiohttp servers on loopback: request–response by id with
pushes in between, push latency, ping, server faults (1011 closes, drops, stalls,
garbage) counted where they belong, and the recipes (connect storm, stability, error
battery) run bounded."""
import base64
import contextlib
import hashlib
import textwrap
from pathlib import Path

import orjson
import pytest

import driver
from driver.layout import C_MESSAGES
from driver.cli import build_plan
from driver.config.loader import load_config
from driver.errors import PlanError
from driver.layout import C_CONNECTS, C_RECONNECTS
from driver.engine.ws import lifetime_name
from driver.scenario.ws import wall_ns_of
from driver.targets.process import WsDemoTargetProcess
from tests.servers import _stream_server, aiohttp_server

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


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
    return {c["reason"]: c["failures"] for c in result.checks if c["endpoint"] == endpoint}


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


def test_demo_pushes_are_timed_and_ping_answered(tmp_path):
    path = _scenario(tmp_path, """
        class Feed(User):
            wait = constant(0.05)

            async def on_start(self):
                self.conn = await self.ws.connect("/push?interval_ms=10", name="feed", ts_path="ts_ns")

            @task
            async def read(self):
                push = await self.conn.next_push(timeout=2)
                push.expect(json={"seq": push.json().get("seq")})
                await self.conn.send_text("hello")
                rtt = await self.conn.ping(timeout=2)
                push.check(rtt is not None and rtt > 0, "pong")
    """)
    with WsDemoTargetProcess() as target:
        result = _run(target.url, path, users=2, requests=40)
    feed = result.endpoint("feed")
    assert feed.sent == 40 and feed.check_failures == 0
    pushes = result.endpoint("push:feed")
    assert pushes.requests >= 40 and pushes.errors == 0  # the demo's ts_ns, read as nanoseconds
    assert pushes.latency()["max_ns"] < 60e9
    ping = result.endpoint("feed ping")
    assert ping.sent == ping.requests == 40


@pytest.mark.parametrize("faults, reason, kind", [
    # the server closes with 1011 after 3 messages on every connection
    ({"close_every": 1, "close_after": 3}, "server closed 1011", "connection_reset"),
    # the server cuts TCP after 3 messages, without a close frame
    ({"drop_every": 1, "drop_after": 3}, "closed without a close frame", "connection_reset"),
    # the server writes bytes that are no WebSocket frame right after the handshake
    ({"garbage_every": 1}, "bad frame from the server (1002)", "protocol_error"),
])
def test_server_faults_are_counted_with_their_reasons_and_users_reconnect(tmp_path, faults, reason, kind):
    path = _scenario(tmp_path, """
        class Echo(User):
            async def on_start(self):
                self.conn = None

            @task
            async def echo(self):
                if self.conn is None or not self.conn.open:
                    self.conn = await self.ws.connect("/echo", name="echo", timeout=2)
                answer = await self.conn.request("ping", name="echo rt", timeout=2)
                if answer.error:
                    raise CheckFailed(answer.error)
    """)
    with WsDemoTargetProcess(**faults) as target:
        result = _run(target.url, path, users=2, requests=60)
    rt, handshakes = result.endpoint("echo rt"), result.endpoint("ws:connect")
    assert rt.sent == rt.requests + sum(rt.errors_by_kind.values())  # every round trip accounted for
    assert handshakes.errors_by_kind[kind] > 0
    assert reasons(result, "ws:connect").get(reason, 0) == handshakes.errors_by_kind[kind]
    assert handshakes.counters[C_RECONNECTS] > 0  # the users opened "echo" again after the server ended it


def test_stalled_server_times_requests_and_receives_out(tmp_path):
    path = _scenario(tmp_path, """
        class Stalled(User):
            async def on_start(self):
                self.conn = await self.ws.connect("/echo", name="echo")

            @task
            async def echo(self):
                answer = await self.conn.request({"op": "x"}, name="rt", timeout=0.2)
                answer.expect(json={"op": "x"})
                await self.conn.receive(timeout=0.1)
    """)
    with WsDemoTargetProcess(stall_every=1, stall_after=2) as target:
        result = _run(target.url, path, users=2, requests=10)
    rt = result.endpoint("rt")
    assert rt.requests == 4 and rt.errors_by_kind["request_timeout"] == 6  # two answered per connection
    assert rt.check_failures == 6  # a missing answer fails its checks
    assert reasons(result, "echo")["no message within 0.1s"] == 10


def test_yaml_example_flows_against_the_demo():
    with WsDemoTargetProcess() as target:
        plan = load_config(EXAMPLES / "websocket.yaml", {"users": 3, "requests": 40, "workers": 1},
                           env={"TARGET_URL": target.url.replace("ws://", "http://")})
        result = driver.run(plan)
    chat, feed = result.endpoint("flow:chat"), result.endpoint("flow:feed")
    assert chat.flows + feed.flows == 40 and chat.check_failures == feed.check_failures == 0
    hello, echo, ping = result.endpoint("hello"), result.endpoint("echo"), result.endpoint("ping")
    assert hello.sent == hello.requests == chat.flows and hello.check_failures == 0  # answered by its n
    assert echo.checks == chat.flows and echo.check_failures == 0  # the text, with the captured user id, came back
    assert ping.requests == chat.flows
    assert result.endpoint("chat").sent == chat.flows  # the text messages out
    handshakes = result.endpoint("ws:connect")
    assert handshakes.flows <= 6  # each user opened chat and feed once and kept them (reuse)
    assert not any(c["failures"] for c in result.checks)
    pushes = result.endpoint("push:feed")  # known to the plan: its own slot, timed from ts_ns
    assert pushes is not None and pushes.flows > 0 and pushes.latency()["p50_ns"] is not None
    assert result.endpoint("feed").counters[C_MESSAGES] > 0


def _flow_config(tmp_path, steps: str, base_url: str = "http://127.0.0.1:8765/api") -> Path:
    body = textwrap.indent(textwrap.dedent(steps).strip("\n"), " " * 8)
    path = tmp_path / "ws.yaml"
    path.write_text(f"target:\n  base_url: {base_url}\n  headers: {{X-A: target}}\n"
                    "scenario:\n  flows:\n    - name: f\n      steps:\n" + body + "\n")
    return path


def test_yaml_ws_steps_normalised(tmp_path):
    path = _flow_config(tmp_path, """
        - ws: {connect: "/chat?room={{user.id}}", headers: {X-B: own}, subprotocols: [a.v1], ts_path: meta.ts}
        - ws: {send: {json: {op: join}}, id: meta.id, expect: {json: {ok: true}}, timeout: 2s}
        - ws: {send: {text: hi}}
        - ws: {receive: true}
          capture: {n: {regex: "n=(\\\\d+)"}}
        - ws: {close: true}
    """)
    connect, join_, text, receive, close = load_config(path, env={}).scenario.flows[0]["steps"]
    life = lifetime_name("WS /api/chat")  # the connection's lifetimes, where the stats keep them apart
    assert connect["name"] == "ws:connect" and connect["also"] == ("WS /api/chat", "push:WS /api/chat") + (
        (life,) if life else ())
    assert connect["ws"]["path"] == "/api/chat?room={{user.id}}"  # under the target's base path
    assert connect["ws"]["headers"] == {"X-A": "target", "X-B": "own"} and connect["ws"]["subprotocols"] == ("a.v1",)
    assert join_["name"] == "f:step 2" and join_["ws"]["id"] == "meta.id" and join_["ws"]["timeout"] == 2.0
    assert text["name"] == close["name"] == "WS /api/chat"  # counted on the connection's endpoint
    assert receive["name"] == "f:step 4" and receive["capture"] == {"n": {"regex": "n=(\\d+)"}}


@pytest.mark.parametrize("steps, line, needle", [
    # two things in one step
    ("- ws: {connect: /a, close: true}", 8, "takes exactly one of connect, send, receive, ping, close, got connect, close"),
    # a key the kind of step does not take
    ("- ws: {ping: true}\n- ws: {send: {text: x}, reuse: true}", 9, "unknown key 'reuse'"),
    # an id needs a JSON object to put it in and find it again
    ("- ws: {send: {text: x}, id: id}", 8, "needs a JSON object"),
    # a URL of another scheme
    ("- ws: {connect: 'http://h/x'}", 8, "must be a path like /chat"),
    # capture from a message that is never waited for
    ("- ws: {send: {text: x}}\n  capture: {a: {json: a}}", 9, "only a step that gets a message"),
    # a capture used before any step captures it
    ("- ws: {send: {text: '{{captured.a}}'}}", 8, "no earlier step captures 'a'"),
    ("- ws: {receive: false}", 8, "must be true"),
    ("- ws: {receive: true, timeout: soon}", 8, "must be a duration"),
])
def test_yaml_ws_step_errors_name_file_and_line(tmp_path, steps, line, needle):
    path = _flow_config(tmp_path, steps)
    with pytest.raises(PlanError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ") and needle in message, message


def test_error_battery_passes_a_careful_server(tmp_path):
    with WsDemoTargetProcess(max_message=65536) as target:
        plan = build_plan(target.url.replace("ws://", "http://"), {"users": 2, "requests": 25, "workers": 1},
                          "driver.scenario.wsbattery:ErrorBattery")
        result = driver.run(plan)
    probes = [result.endpoint("battery:" + p) for p in ("bad_version", "bad_key", "oversized", "bad_frame",
                                                         "abrupt_close")]
    assert sum(p.sent for p in probes) == 25
    for probe in probes:
        assert probe.sent == probe.requests == probe.checks, probe.name
    assert not [c for c in result.checks if c["endpoint"].startswith("battery:")], result.checks


@contextlib.contextmanager
def lax_ws_server():
    """A careless WebSocket server written by hand: 101 to any upgrade (whatever its key or
    version), and on any frame it cannot read it just hangs up, without a close frame."""

    async def handler(reader, writer, info):
        head = await reader.readuntil(b"\r\n\r\n")
        key = next((line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")), b"")
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        await reader.read(1)  # the first byte of a frame: then it is gone
        writer.close()

    with _stream_server(handler, "127.0.0.1", "lax_ws_server") as info:
        yield info


def test_error_battery_finds_what_a_careless_server_does_wrong():
    with lax_ws_server() as srv:
        plan = build_plan(f"http://{srv.host}:{srv.port}", {"users": 3, "requests": 45, "workers": 1},
                          "driver.scenario.wsbattery:ErrorBattery")
        result = driver.run(plan)
    found = {(c["endpoint"], c["reason"]) for c in result.checks}
    assert ("battery:bad_version", "answered 101 (accepted a bad handshake)") in found
    assert ("battery:bad_key", "answered 101 (accepted a bad handshake)") in found
    assert ("battery:oversized", "closed without a close frame") in found
    assert ("battery:bad_frame", "closed without a close frame") in found
    assert ("battery:abrupt_close", "did not echo after an abrupt close") in found
    assert not [e.name for e in result.endpoints if e.name.startswith("error:")]  # the probes never raise


def _recipe(name, target, **load):
    load.setdefault("workers", 1)
    plan = load_config(EXAMPLES / name, load, env={"TARGET_URL": target.url.replace("ws://", "http://")})
    return driver.run(plan)


def test_connect_storm_recipe_opens_connections_at_the_rate():
    with WsDemoTargetProcess() as target:
        result = _recipe("websocket_storm.yaml", target, rate=100, requests=150, duration=10)
    storm, handshakes = result.endpoint("flow:storm"), result.endpoint("ws:connect")
    assert storm.flows == 150 and storm.check_failures == 0
    assert handshakes.flows == handshakes.counters[C_CONNECTS] == 150 and handshakes.errors == 0
    assert handshakes.checks == 150 and handshakes.check_failures == 0  # each closed by the client, cleanly


def test_stability_recipe_holds_connections_and_reconnects_dropped_ones():
    # every second connection is cut (no close frame) after its first echo
    with WsDemoTargetProcess(drop_every=2, drop_after=1) as target:
        result = _recipe("websocket_stability.yaml", target, users=4, ramp_up=0, duration=4)
    handshakes, heartbeat = result.endpoint("ws:connect"), result.endpoint("heartbeat")
    assert heartbeat.requests > 0 and heartbeat.sent == heartbeat.requests + sum(heartbeat.errors_by_kind.values())
    dropped = reasons(result, "ws:connect").get("closed without a close frame", 0)
    assert dropped > 0 and handshakes.errors_by_kind["connection_reset"] == dropped
    assert handshakes.counters[C_RECONNECTS] > 0  # dropped connections were opened again
    held = handshakes.flows - handshakes.counters[C_RECONNECTS]
    assert held == 4  # otherwise each user kept its one connection for the whole run


def test_auth_headers_subprotocols_and_push_callbacks(tmp_path):
    path = _scenario(tmp_path, """
        class Client(User):
            @task
            async def go(self):
                refused = await self.ws.connect("/auth", name="no auth")
                conn = await self.ws.connect("/auth", headers={"Authorization": "Bearer ok"},
                                             subprotocols=["a.v1", "b.v2"], name="authed")
                got = []
                conn.on_push(got.append)
                answer = await conn.request({"op": "x"}, name="call")
                answer.check(refused.error == "protocol_error" and conn.subprotocol == "b.v2", "auth and protocol")
                answer.check(len(got) == 1 and got[0].json()["push"] == 1, "push handed to the callback")
                await conn.close()
                sent = await conn.send_text("after the close")
                answer.check(not conn.open and sent is False, "nothing sent once closed")
    """)
    with aiohttp_server(rpc_app) as srv:
        result = _run(srv.url, path, users=1, requests=5)
    call, handshakes = result.endpoint("call"), result.endpoint("ws:connect")
    assert call.requests == 5 and call.checks == 15 and call.check_failures == 0
    assert handshakes.errors_by_kind["protocol_error"] == 5 and handshakes.flows == 5  # 403, then 101
    assert handshakes.checks == 10 and handshakes.check_failures == 0  # offered subprotocol, clean closes


def test_requests_in_flight_at_the_end_are_unfinished(tmp_path):
    path = _scenario(tmp_path, """
        class Waiting(User):
            async def on_start(self):
                self.conn = await self.ws.connect("/echo", name="echo")

            @task
            async def echo(self):
                await self.conn.request({"op": "x"}, name="rt", timeout=60)
    """)
    with WsDemoTargetProcess(stall_every=1, stall_after=2) as target:
        result = _run(target.url, path, users=2, duration=1)
    rt = result.endpoint("rt")
    assert rt.requests == 4  # two answered per connection, then the server stalled
    assert rt.errors_by_kind["unfinished"] == 2 and rt.sent == 6  # one in flight per user when the run ended


def test_yaml_step_without_a_connection_fails_its_flow(tmp_path):
    with WsDemoTargetProcess() as target:
        path = _flow_config(tmp_path, """
            - name: early
              ws: {send: {text: hi}, expect: {contains: hi}}
            - ws: {connect: /echo}
        """, base_url=target.url.replace("ws://", "http://"))
        result = driver.run(load_config(path, {"users": 1, "requests": 3, "workers": 1}, env={}))
    assert reasons(result, "early") == {"no open WebSocket connection": 3}
    assert reasons(result, "flow:f") == {"step early failed": 3}
    assert result.endpoint("ws:connect").sent == 0  # a failed step ends its flow: no connect after it


@pytest.mark.parametrize("ts, ns", [
    (1_764_500_000, 1_764_500_000_000_000_000),  # seconds
    (1_764_500_000.25, 1_764_500_000_250_000_000),  # seconds with a fraction
    (1_764_500_000_123, 1_764_500_000_123_000_000),  # milliseconds
    (1_764_500_000_123_456, 1_764_500_000_123_456_000),  # microseconds
    (1_764_500_000_123_456_789, 1_764_500_000_123_456_789),  # nanoseconds
])
def test_push_timestamps_in_any_unit(ts, ns):
    assert abs(wall_ns_of(ts) - ns) < 1000  # a float's rounding, far below a microsecond
