"""WebSocket load (driver.engine.ws) against real servers on loopback, through the CLI.

Every run checks the accounting that makes a WebSocket result trustworthy: on each
endpoint, sent == count + the errors that end a sent round trip (unaccounted == 0),
so a server that closes, stalls or sends garbage can never make messages vanish.
"""
import asyncio
import base64
import contextlib
import errno
import hashlib
import ssl
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from picows import WSInvalidStatusError

import driver
from driver.engine.ws import _error_kind
from driver.layout import C_ERR_CONNECT_REFUSED, C_SENT
from driver.plan import WS_CONNECT
from driver.runner.supervisor import run
from tests.servers import _stream_server, aiohttp_server, refused_port, stall_server, tls_server

ROOT = Path(__file__).resolve().parents[1]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's handshake constant


def ws_app():
    """/echo echoes; /kind answers "TEXT" or "BINARY" (the frame type it got); /closing
    closes every third connection with 1011 on its fifth message; /stall never answers."""
    from aiohttp import web

    seen = {"connections": 0}

    async def handler(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        seen["connections"] += 1
        mine, messages = seen["connections"], 0
        route = request.match_info["route"]
        async for msg in ws:
            messages += 1
            if route == "stall":
                continue
            if route == "closing" and mine % 3 == 0 and messages == 5:
                await ws.close(code=1011, message=b"internal error")
                break
            if route == "kind":
                await ws.send_str("BINARY" if msg.type == web.WSMsgType.BINARY else "TEXT")
            elif msg.type == web.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            else:
                await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/{route}", handler)
    return app


def plain_app():
    """An HTTP server that is not a WebSocket server: 200 to everything."""
    from aiohttp import web

    async def ok(request):
        return web.Response(text="not a websocket")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    return app


@contextlib.contextmanager
def raw_ws_server(answer: bytes, push: bytes = b""):
    """A WebSocket server written by hand: completes the handshake (with `push` right
    after its 101, in the same write), then answers every message with the raw bytes
    `answer` — frames of its choosing, valid or not."""

    async def handler(reader, writer, info):
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + push)
        while True:
            first, second = await reader.readexactly(2)  # a client frame: masked, short here
            await reader.readexactly(4 + (second & 0x7F))
            if first & 0x0F == 0x8:  # the client's close
                return
            writer.write(answer)
            await writer.drain()

    with _stream_server(handler, "127.0.0.1", "raw_ws_server") as info:
        yield info


def ws_url(info, path: str, scheme: str = "ws") -> str:
    return f"{scheme}://{info.host}:{info.port}{path}"


def run_cli(tmp_path, *args, timeout=90):
    proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", *args, "-q", "-o", str(tmp_path)],
                          cwd=ROOT, capture_output=True, timeout=timeout)
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    results = list(tmp_path.glob("*/result.json"))
    data = orjson.loads(results[0].read_bytes()) if results else None
    return proc, data


def endpoint(data, name):
    return next(e for e in data["endpoints"] if e["name"] == name)


def accounted(ep) -> bool:
    """sent == count + the errors that end a sent round trip (or handshake)."""
    kinds = ep["errors_by_kind"]
    ended = sum(kinds[k] for k in ("request_timeout", "connection_reset", "protocol_error", "unfinished"))
    return ep["sent"] == ep["count"] + ended


def test_closed_loop_ping_pong_counts_every_round_trip(tmp_path):
    with aiohttp_server(ws_app) as srv:
        proc, data = run_cli(tmp_path, ws_url(srv, "/echo"), "-u", "4", "-n", "2000", "-w", "2", "--body", "hello")
    assert proc.returncode == 0, proc.stderr.decode()
    rt, hs = endpoint(data, "WS /echo"), endpoint(data, WS_CONNECT)
    assert rt["count"] == rt["sent"] == 2000 and rt["errors"] == 0  # -n is exact over the workers
    assert rt["bytes_out"] == rt["bytes_in"] == 2000 * len("hello")  # every message came back whole
    assert 0 < rt["latency"]["p50_ns"] <= rt["latency"]["max_ns"]
    assert rt["service"]["count"] == 0  # closed loop: latency is from the send
    # one connection per user, each one handshake answered 101
    assert hs["count"] == hs["counters"]["connects"] == 4 and hs["status"]["1xx"] == 4 and hs["errors"] == 0
    assert hs["latency"]["count"] == 4 and data["plan"]["ws"] == {"binary": False}
    assert data["checks"] == []


def test_open_loop_sends_the_schedule_from_the_intended_time(tmp_path):
    with aiohttp_server(ws_app) as srv:
        proc, data = run_cli(tmp_path, ws_url(srv, "/echo"), "-r", "200", "-d", "2s", "-w", "1",
                             "--max-in-flight", "8", "--body", "x")
    # exit 4 only when the machine itself fell behind the schedule (the run is not valid)
    assert proc.returncode == 0 or (proc.returncode == 4 and "started more than" in proc.stderr.decode()), \
        proc.stderr.decode()
    rt = endpoint(data, "WS /echo")
    assert data["plan"]["mode"] == "open"
    assert rt["sent"] + rt["counters"]["dropped"] == 400  # 200/s for 2 s: the schedule, not more
    assert rt["count"] == 400 and accounted(rt)
    assert rt["service"]["count"] == 400  # open loop: the service time beside the latency
    assert rt["latency"]["p50_ns"] >= rt["service"]["p50_ns"]
    assert 1 <= endpoint(data, WS_CONNECT)["count"] <= 8  # the cap bounds the connections


def test_binary_frames_with_handshake_headers(tmp_path):
    with aiohttp_server(ws_app) as srv:
        proc, data = run_cli(tmp_path, ws_url(srv, "/kind"), "-u", "2", "-n", "50", "-w", "1", "--binary",
                             "--body", "\x7f\x01", "-H", "X-Client: driver", "--name", "kind")
    assert proc.returncode == 0, proc.stderr.decode()
    rt = endpoint(data, "kind")
    assert rt["count"] == 50 and rt["bytes_in"] == 50 * len("BINARY")  # the server got binary frames
    assert data["plan"]["ws"] == {"binary": True}


def test_stages_ramp_connections_up_and_down(tmp_path):
    with aiohttp_server(ws_app) as srv:
        proc, data = run_cli(tmp_path, ws_url(srv, "/echo"), "--stage", "0.5s:6", "--stage", "1s:6",
                             "--stage", "0.5s:1", "-w", "1")
    assert proc.returncode == 0, proc.stderr.decode()
    rt, hs = endpoint(data, "WS /echo"), endpoint(data, WS_CONNECT)
    assert rt["count"] > 0 and rt["errors"] == 0 and accounted(rt)
    assert hs["count"] >= 6 and hs["counters"]["reconnects"] == 0  # the ramp-down closed them, none dropped
    assert data["checks"] == []  # connections closed by driver (1000) are no failure
    assert max(p.get("active_users", 0) for p in data["series"]) >= 5


def test_server_closing_connections_with_1011_is_counted_and_reconnected(tmp_path):
    with aiohttp_server(ws_app) as srv:
        proc, data = run_cli(tmp_path, ws_url(srv, "/closing"), "-u", "3", "-d", "1.5s", "-w", "1")
    rt, hs = endpoint(data, "WS /closing"), endpoint(data, WS_CONNECT)
    closes = rt["errors_by_kind"]["connection_reset"]
    assert closes > 0 and rt["count"] > closes and accounted(rt)  # each close failed the message in flight
    # every closed connection was replaced, but for those closed as the run ended (one per user at most)
    assert closes - 3 <= hs["counters"]["reconnects"] <= closes
    reasons = {c["reason"]: c["failures"] for c in data["checks"] if c["endpoint"] == "WS /closing"}
    assert reasons == {"server closed 1011": closes}  # the code and how often, in the report
    assert proc.returncode == 1  # failed checks fail the run (as for HTTP)


def test_stalled_server_times_out_then_is_unfinished(tmp_path):
    with aiohttp_server(ws_app) as srv:
        proc, data = run_cli(tmp_path / "a", ws_url(srv, "/stall"), "-u", "2", "-d", "1s", "-w", "1",
                             "--timeout", "0.3s")
        rt = endpoint(data, "WS /stall")
        assert rt["count"] == 0 and rt["errors_by_kind"]["request_timeout"] >= 4 and accounted(rt)
        proc, data = run_cli(tmp_path / "b", ws_url(srv, "/stall"), "-u", "2", "-d", "0.5s", "-w", "1",
                             "--timeout", "5s")
    rt = endpoint(data, "WS /stall")
    # still unanswered at the end (after the grace): unfinished, their age as latency
    assert rt["errors_by_kind"]["unfinished"] == 2 and rt["latency"]["count"] == 2 and accounted(rt)
    assert data["complete"]


def test_bad_frame_is_a_protocol_error_not_a_crash(tmp_path):
    with raw_ws_server(b"\x8f\x00garbage") as srv:  # a reserved opcode (0xF): not WebSocket
        proc, data = run_cli(tmp_path, ws_url(srv, "/"), "-u", "2", "-d", "1s", "-w", "1")
    rt = endpoint(data, "WS /")
    assert data["complete"] and rt["errors_by_kind"]["protocol_error"] > 0 and accounted(rt)
    assert rt["count"] == 0
    reasons = {c["reason"] for c in data["checks"]}
    assert reasons == {"bad frame from the server (1002)"}
    err = proc.stderr.decode()
    assert "WS parser" not in err and "picows" not in err, err  # picows's own logging stays out of the way


def test_fragmented_answers_and_server_pushes(tmp_path):
    # each answer in two fragments (TEXT "abc" not final, then CONTINUATION "de" final);
    # a push right after the handshake answers nothing sent
    with raw_ws_server(b"\x01\x03abc\x80\x02de", push=b"\x81\x04push") as srv:
        proc, data = run_cli(tmp_path, ws_url(srv, "/"), "-u", "2", "-n", "40", "-w", "1")
    assert proc.returncode == 0, proc.stderr.decode()
    rt = endpoint(data, "WS /")
    assert rt["count"] == rt["sent"] == 40 and rt["bytes_in"] == 40 * 5  # one answer per message, whole
    assert rt["counters"]["messages"] == 2  # the pushes, one per connection


def test_not_a_websocket_server_fails_the_handshake(tmp_path):
    with aiohttp_server(plain_app) as srv:
        proc, data = run_cli(tmp_path, ws_url(srv, "/"), "-u", "2", "-d", "0.5s", "-w", "1")
    rt, hs = endpoint(data, "WS /"), endpoint(data, WS_CONNECT)
    assert rt["sent"] == 0  # no message goes out without a connection
    assert hs["count"] == 0 and hs["errors_by_kind"]["protocol_error"] > 0 and accounted(hs)
    assert hs["errors"] == hs["errors_by_kind"]["protocol_error"]


def test_server_that_never_answers_the_upgrade_is_a_connect_timeout(tmp_path):
    with stall_server() as srv:
        proc, data = run_cli(tmp_path, ws_url(srv, "/"), "-u", "1", "-d", "1s", "-w", "1",
                             "--connect-timeout", "0.3s")
    hs = endpoint(data, WS_CONNECT)
    assert hs["errors_by_kind"]["connect_timeout"] >= 1 and hs["count"] == 0
    assert endpoint(data, "WS /")["sent"] == 0


def test_refused_port_counts_refused_handshakes_and_backs_off():
    with refused_port() as port:
        plan = driver.make_plan(ws_url(port, "/"), users=2, duration="1s", workers=1)
        result = run(plan, check_target=False)  # past the pre-flight check, which would stop it
    hs = next(e for e in result.endpoints if e.name == WS_CONNECT)
    refused = hs.counters[C_ERR_CONNECT_REFUSED]
    # two users, each backing off 20 ms, 40 ms, ... up to 1 s: a handful each, not a spin
    assert 2 <= refused <= 40 and hs.counters[C_SENT] == 0
    assert result.totals().requests == 0


def test_refused_target_stops_before_the_run(tmp_path):
    with refused_port() as port:
        proc, data = run_cli(tmp_path, ws_url(port, "/"), "-d", "5s")
    assert proc.returncode == 3 and "refused" in proc.stderr.decode()


def test_wss_with_insecure_and_without(tmp_path):
    with tls_server(ws_app) as srv:
        proc, data = run_cli(tmp_path / "k", ws_url(srv, "/echo", "wss"), "-k", "-u", "2", "-n", "100", "-w", "1")
        assert proc.returncode == 0, proc.stderr.decode()
        assert endpoint(data, "WS /echo")["count"] == 100
        proc, data = run_cli(tmp_path / "v", ws_url(srv, "/echo", "wss"), "-u", "2", "-n", "100", "-w", "1")
    assert proc.returncode == 3 and "certificate" in proc.stderr.decode()  # the pre-flight check


@pytest.mark.parametrize("args, needle", [
    (["http://127.0.0.1:1/", "--binary"], "--binary is for ws:// and wss:// URLs"),
    (["ws://127.0.0.1:1/", "-m", "POST"], "--method is for http:// and https:// URLs"),
    (["ws://127.0.0.1:1/", "-s", "x.py"], "unsupported URL scheme 'ws'"),
    (["wss://127.0.0.1:99999/"], "malformed URL"),
])
def test_bad_websocket_flags_are_one_line(tmp_path, args, needle):
    proc, _ = run_cli(tmp_path, *args)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and needle in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("exc, kind", [
    (ssl.SSLCertVerificationError("bad certificate"), "tls"),  # an OSError too: TLS comes first
    (asyncio.TimeoutError(), "connect_timeout"),  # connect or the upgrade took too long
    (WSInvalidStatusError("200, not 101", b"", b"", None), "protocol_error"),  # not a WebSocket server
    (ConnectionRefusedError(), "connect_refused"),
    (ConnectionResetError(), "connection_reset"),
    (OSError(errno.EMFILE, "too many open files"), "fd_limit"),  # the generator's limit, counted apart
    (OSError(errno.EHOSTUNREACH, "no route"), "other"),
    (ValueError("anything else"), "other"),  # never fatal to the worker
])
def test_connect_failures_by_kind(exc, kind):
    assert _error_kind(exc) == kind


def test_plan_of_a_ws_url():
    plan = driver.make_plan("wss://example.test/feed?x=1", users=3, body='{"op":"ping"}', binary=True)
    # round trips, handshakes, and connection lifetimes where the plan lists them (driver.engine.ws)
    assert plan.endpoints[:2] == ("WS /feed", WS_CONNECT) and plan.endpoint_slots == len(plan.endpoints)
    assert plan.endpoints[2:] in ((), ("ws:lifetime",))
    assert plan.target.tls and plan.target.port == 443 and plan.requests[0].path == "/feed?x=1"
    assert plan.requests[0].body == b'{"op":"ping"}' and plan.ws.binary
    assert plan.requests[0].headers == ()  # no Content-Type: a message is not an HTTP body
