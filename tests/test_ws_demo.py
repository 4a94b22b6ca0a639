"""The demo WebSocket target in its own process, driven by aiohttp's WebSocket client:
each route (echo, broadcast, push, health) and each fault (close 1011, stall, garbage,
oversized message)."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import aiohttp
import pytest

from driver.targets.process import WsDemoTargetProcess
from driver.targets.ws_demo import CLOSE_CODE, Faults, make_app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET_S = 0.5  # how long "no answer" is waited for: a bound on the test, not a measurement


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def health(url: str) -> dict:
    async with aiohttp.ClientSession() as s:
        async with s.get(url.replace("ws://", "http://") + "/health") as r:
            assert r.status == 200
            return await r.json()


async def echo_n(ws, n: int, prefix: str = "m") -> list[str]:
    got = []
    for i in range(n):
        await ws.send_str(f"{prefix}{i}")
        msg = await ws.receive()
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        got.append(msg.data)
    return got


@pytest.fixture(scope="module")
def target():
    with WsDemoTargetProcess(push_interval_ms=20) as t:
        yield t


def test_echo_returns_text_as_text_and_binary_as_binary(target):
    async def go():
        async with aiohttp.ClientSession() as s, s.ws_connect(target.url + "/echo") as ws:
            assert await echo_n(ws, 20) == [f"m{i}" for i in range(20)]
            await ws.send_bytes(b"\x00\x01\xff")
            msg = await ws.receive()
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.BINARY, b"\x00\x01\xff")
            await ws.send_json({"id": 7})
            assert await ws.receive_json() == {"id": 7}
    run(go())


def test_broadcast_reaches_every_client_the_sender_included(target):
    async def go():
        async with aiohttp.ClientSession() as s:
            clients = [await s.ws_connect(target.url + "/broadcast") for _ in range(3)]
            before = await health(target.url)
            assert before["connections"] >= 3
            await clients[1].send_str("hello all")
            for ws in clients:
                assert await ws.receive_str() == "hello all"
            await clients[0].send_bytes(b"bin")
            for ws in clients:
                assert await ws.receive_bytes() == b"bin"
            after = await health(target.url)
            assert after["received"] - before["received"] == 2
            assert after["sent"] - before["sent"] == 6
            for ws in clients:
                await ws.close()
    run(go())


def test_push_sends_increasing_seq_with_a_wall_clock_timestamp(target):
    async def go():
        async with aiohttp.ClientSession() as s:
            t0 = time.time_ns()
            async with s.ws_connect(target.url + "/push?interval_ms=10") as ws:
                pushes = [await ws.receive_json() for _ in range(5)]
                t1 = time.time_ns()
        assert [p["seq"] for p in pushes] == [1, 2, 3, 4, 5]
        stamps = [p["ts_ns"] for p in pushes]
        assert stamps == sorted(stamps)
        assert t0 <= stamps[0] and stamps[-1] <= t1
    run(go())


def test_push_rejects_a_bad_interval_in_the_handshake(target):
    async def go():
        async with aiohttp.ClientSession() as s:
            for bad in ("0", "x", "-5"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                    await s.ws_connect(target.url + f"/push?interval_ms={bad}")
                assert e.value.status == 400
    run(go())


def test_health_counts_connections(target):
    async def go():
        before = await health(target.url)
        async with aiohttp.ClientSession() as s, s.ws_connect(target.url + "/echo") as ws:
            await echo_n(ws, 3)
            during = await health(target.url)
        assert during["accepted"] == before["accepted"] + 1
        assert during["connections"] == before["connections"] + 1
        assert during["received"] - before["received"] == 3
        assert during["sent"] - before["sent"] == 3
    run(go())


def test_every_nth_connection_is_closed_with_1011_after_k_messages():
    async def go(url):
        async with aiohttp.ClientSession() as s:
            first = await s.ws_connect(url + "/echo")  # connection 1: untouched
            assert len(await echo_n(first, 10)) == 10
            second = await s.ws_connect(url + "/echo")  # connection 2: closed after 3
            assert await echo_n(second, 3) == ["m0", "m1", "m2"]
            await second.send_str("one more")
            msg = await second.receive()
            assert msg.type is aiohttp.WSMsgType.CLOSE
            assert second.close_code == CLOSE_CODE == 1011
            assert len(await echo_n(first, 2)) == 2  # the other connection lives on
            await first.close()
    with WsDemoTargetProcess(close_every=2, close_after=3) as t:
        run(go(t.url))


def test_close_after_zero_closes_right_after_the_handshake_and_push_counts_pushes():
    async def go(url):
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(url + "/echo")
            assert (await ws.receive()).type is aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 1011
    with WsDemoTargetProcess(close_every=1, close_after=0) as t:
        run(go(t.url))

    async def pushes(url):
        async with aiohttp.ClientSession() as s, s.ws_connect(url + "/push?interval_ms=5") as ws:
            got = [await ws.receive_json() for _ in range(2)]
            assert (await ws.receive()).type is aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 1011
            return got
    with WsDemoTargetProcess(close_every=1, close_after=2) as t:
        assert [p["seq"] for p in run(pushes(t.url))] == [1, 2]


def test_a_dropped_connection_ends_without_a_close_frame():
    async def go(url):
        async with aiohttp.ClientSession() as s:
            first = await s.ws_connect(url + "/echo")  # connection 1: a normal one
            dropped = await s.ws_connect(url + "/echo")  # connection 2: cut after 2
            assert await echo_n(dropped, 2) == ["m0", "m1"]
            msg = await dropped.receive(timeout=10)
            assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR), msg
            assert dropped.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE  # 1006: no close frame
            assert len(await echo_n(first, 3)) == 3
            await first.close()
    with WsDemoTargetProcess(drop_every=2, drop_after=2) as t:
        run(go(t.url))


def test_a_stalled_connection_stops_answering_but_stays_open_and_answers_pings():
    async def go(url):
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(url + "/echo", autoping=False)
            assert await echo_n(ws, 2) == ["m0", "m1"]
            before = await health(url)
            await ws.send_str("unanswered")
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=QUIET_S)
            assert (await health(url))["received"] == before["received"] + 1  # read, not answered
            await ws.ping(b"still there?")
            msg = await ws.receive(timeout=10)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.PONG, b"still there?")
            assert not ws.closed
            await ws.close()

            push = await s.ws_connect(url + "/push?interval_ms=5")
            assert [(await push.receive_json())["seq"] for _ in range(2)] == [1, 2]
            with pytest.raises(asyncio.TimeoutError):
                await push.receive(timeout=QUIET_S)
            await push.close()
    with WsDemoTargetProcess(stall_every=1, stall_after=2) as t:
        run(go(t.url))


def test_garbage_after_the_handshake_is_a_protocol_error_for_the_client():
    async def go(url):
        async with aiohttp.ClientSession() as s:
            good = await s.ws_connect(url + "/echo")  # connection 1: a normal one
            assert await echo_n(good, 2) == ["m0", "m1"]
            bad = await s.ws_connect(url + "/echo")  # connection 2: garbage
            msg = await bad.receive(timeout=10)
            assert msg.type is aiohttp.WSMsgType.ERROR
            assert isinstance(msg.data, aiohttp.WebSocketError)
            assert msg.data.code == aiohttp.WSCloseCode.PROTOCOL_ERROR
            await bad.close()
            await good.close()
    with WsDemoTargetProcess(garbage_every=2) as t:
        run(go(t.url))


def test_an_oversized_message_is_closed_with_1009():
    async def go(url):
        async with aiohttp.ClientSession() as s, s.ws_connect(url + "/echo") as ws:
            assert await echo_n(ws, 1) == ["m0"]
            await ws.send_bytes(b"x" * 200)
            assert (await ws.receive(timeout=10)).type is aiohttp.WSMsgType.CLOSE
            assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    with WsDemoTargetProcess(max_message=100) as t:
        run(go(t.url))


@pytest.mark.parametrize("kwargs", [
    {"push_interval_ms": 0},  # no interval
    {"push_interval_ms": float("inf")},
    {"max_message": 0},
    {"faults": Faults(close_every=1)},  # valid: the control row
])
def test_make_app_checks_its_settings(kwargs):
    if "faults" in kwargs:
        assert make_app(**kwargs) is not None
    else:
        with pytest.raises(ValueError):
            make_app(**kwargs)


@pytest.mark.parametrize("field", ["close_every", "close_after", "drop_every", "drop_after", "stall_every", "stall_after",
                                   "garbage_every"])
def test_faults_reject_negative_counts(field):
    with pytest.raises(ValueError, match=field):
        Faults(**{field: -1})


def test_a_bad_flag_exits_2_with_one_error_line():
    p = subprocess.run([sys.executable, "-m", "driver.targets.ws_demo", "--stall-after", "-1"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].endswith("--stall-after must be an integer >= 0, got -1")
    assert "Traceback" not in p.stderr


def test_the_process_wrapper_refuses_unknown_options():
    with pytest.raises(TypeError, match="bogus"):
        WsDemoTargetProcess(bogus=1)
