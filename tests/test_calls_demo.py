"""The demo call API in its own process, driven by aiohttp's client: a call set up,
streamed, polled and hung up; the server's frame and pace counts; the capacity limit;
and each fault (a slow setup, media cut, calls that fail, stalled status polls)."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request

import aiohttp
import orjson
import pytest

from driver.targets.calls_demo import CallsConfig
from driver.targets.process import CallsDemoTargetProcess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET_S = 0.5  # how long "no answer" is waited for: a bound on the test, not a measurement


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def stats_of(url: str) -> dict:
    """The target's /stats, read without an event loop (for tests that run driver)."""
    with urllib.request.urlopen(url + "/stats", timeout=10) as r:
        return orjson.loads(r.read())


def call_of(url: str, call_id: str) -> dict:
    with urllib.request.urlopen(f"{url}/calls/{call_id}", timeout=10) as r:
        return orjson.loads(r.read())


async def initiate(s: aiohttp.ClientSession, url: str, body=None) -> tuple[int, dict]:
    async with s.post(url + "/calls", json={"codec": "pcmu"} if body is None else body) as r:
        return r.status, await r.json()


async def stream(ws, n: int, size: int = 160, frame_s: float = 0.02) -> None:
    """`n` frames of `size` bytes at real-time pace (frame_s 0: all at once)."""
    t0 = time.perf_counter()
    for k in range(n):
        if frame_s:
            await asyncio.sleep(max(0.0, t0 + k * frame_s - time.perf_counter()))
        await ws.send_bytes(bytes(size))


@pytest.fixture(scope="module")
def target():
    with CallsDemoTargetProcess(event_every=10) as t:
        yield t


def test_a_call_is_set_up_streamed_polled_and_hung_up(target):
    async def go():
        async with aiohttp.ClientSession() as s:
            status, doc = await initiate(s, target.url)
            assert status == 201 and doc["state"] == "ringing" and doc["media"] == f"/calls/{doc['id']}/media"
            assert doc["media_url"].startswith("ws://127.0.0.1:")
            async with s.ws_connect(target.url + doc["media"]) as ws:
                await stream(ws, 25)
                events = [await ws.receive_json(timeout=5), await ws.receive_json(timeout=5)]
                async with s.get(f"{target.url}/calls/{doc['id']}") as r:
                    live = await r.json()
                async with s.delete(f"{target.url}/calls/{doc['id']}") as r:
                    assert r.status == 200
                    ended = await r.json()
                closing = await ws.receive(timeout=5)
            return live, ended, events, closing

    live, ended, events, closing = run(go())
    assert live["state"] == "active" and live["frames"] == 25
    assert ended["state"] == "ended" and ended["reason"] == "hung up"
    assert ended["frames"] == 25 and ended["bytes"] == 25 * 160 and ended["bad_frames"] == 0
    assert [e["frames"] for e in events] == [10, 20] and events[0]["type"] == "transcript"
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1000


def test_hangup_by_post_and_of_an_unknown_call(target):
    async def go():
        async with aiohttp.ClientSession() as s:
            _, doc = await initiate(s, target.url)
            async with s.post(f"{target.url}/calls/{doc['id']}/hangup") as r:
                first = r.status, await r.json()
            async with s.post(f"{target.url}/calls/{doc['id']}/hangup") as r:
                again = r.status, await r.json()
            async with s.delete(f"{target.url}/calls/nope") as r:
                unknown = r.status
            try:  # an ended call takes no media
                await s.ws_connect(target.url + doc["media"])
                media = "connected"
            except aiohttp.WSServerHandshakeError as exc:
                media = exc.status
            return first, again, unknown, media

    first, again, unknown, media = run(go())
    assert first[0] == again[0] == 200 and first[1]["state"] == again[1]["state"] == "ended"
    assert unknown == 404 and media == 404


def test_the_server_counts_bad_frames_and_a_client_that_does_not_pace(target):
    async def go():
        async with aiohttp.ClientSession() as s:
            _, doc = await initiate(s, target.url, {"codec": "pcm16", "sample_rate": 8000, "frame_ms": 20})
            async with s.ws_connect(target.url + doc["media"]) as ws:
                await stream(ws, 3, size=100, frame_s=0.02)  # the wrong size: pcm16 20 ms is 320 bytes
                await stream(ws, 20, size=320, frame_s=0)  # 20 frames at once: ahead of real time
                await asyncio.sleep(0.2)
                async with s.get(f"{target.url}/calls/{doc['id']}") as r:
                    return await r.json()

    doc = run(go())
    assert doc["frames"] == 23 and doc["bad_frames"] == 3
    assert doc["early_frames"] >= 15  # frame k of the burst is up to k-3 frames ahead of its slot


@pytest.mark.parametrize("body", [b"[1]", b"nope", b'{"codec": "opus"}', b'{"frame_ms": -1}',
                                  b'{"sample_rate": "8000"}'])
def test_a_bad_initiate_body_is_400(target, body):
    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.post(target.url + "/calls", data=body) as r:
                return r.status

    assert run(go()) == 400


@pytest.mark.parametrize("busy,retry_after", [(503, None), (429, "1")])
def test_calls_past_capacity_are_refused(busy, retry_after):
    async def go(url):
        async with aiohttp.ClientSession() as s:
            got = [await initiate(s, url) for _ in range(3)]
            async with s.post(url + "/calls", json={}) as r:
                header = r.headers.get("Retry-After")
            async with s.delete(f"{url}/calls/{got[0][1]['id']}") as r:
                assert r.status == 200
            return [g[0] for g in got], header, (await initiate(s, url))[0]

    with CallsDemoTargetProcess(max_calls=2, busy_status=busy) as t:
        statuses, header, after_hangup = run(go(t.url))
        stats = stats_of(t.url)
    assert statuses == [201, 201, busy] and header == retry_after
    assert after_hangup == 201  # a place came free
    assert (stats["calls"], stats["rejected"], stats["active"]) == (3, 2, 2)


def test_setup_delay_holds_the_initiate():
    async def go(url):
        async with aiohttp.ClientSession() as s:
            t0 = time.perf_counter()
            await initiate(s, url)
            slow = time.perf_counter() - t0
            async with s.get(url + "/health") as r:
                t1 = time.perf_counter()
                await r.read()
            return slow, time.perf_counter() - t1

    with CallsDemoTargetProcess(setup_ms=300) as t:
        slow, fast = run(go(t.url))
    assert slow > fast  # the initiate waits for the setup, a health check does not


@pytest.mark.parametrize("fault,state,reason,close", [
    ({"drop_every": 1}, "ended", "media lost", None),  # a reset: no close frame
    ({"fail_every": 1}, "failed", "simulated failure", 1011),
])
def test_media_is_cut_or_the_call_fails_after_some_frames(fault, state, reason, close):
    async def go(url):
        async with aiohttp.ClientSession() as s:
            _, doc = await initiate(s, url)
            async with s.ws_connect(url + doc["media"]) as ws:
                try:
                    await stream(ws, 20, frame_s=0.005)
                except (ConnectionError, aiohttp.ClientError):
                    pass
                msg = await ws.receive(timeout=5)
            return doc["id"], msg

    with CallsDemoTargetProcess(drop_after=5, **fault) as t:
        call_id, msg = run(go(t.url))
        doc = call_of(t.url, call_id)
        stats = stats_of(t.url)
    assert doc["state"] == state and doc["reason"] == reason and doc["frames"] == 5
    if close is None:
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE)
        assert msg.type != aiohttp.WSMsgType.CLOSE or msg.data != 1000
        assert stats["dropped"] == 1
    else:
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == close
        assert stats["failed"] == 1


def test_every_nth_status_poll_stalls():
    async def go(url):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=QUIET_S)) as s:
            _, doc = await initiate(s, url)
            got = []
            for _ in range(4):
                try:
                    async with s.get(f"{url}/calls/{doc['id']}") as r:
                        got.append(r.status)
                except asyncio.TimeoutError:
                    got.append("stalled")
            return got

    with CallsDemoTargetProcess(stall_status_every=2) as t:
        assert run(go(t.url)) == [200, "stalled", 200, "stalled"]


@pytest.mark.parametrize("kw,needle", [
    ({"busy_status": 500}, "busy_status must be 429 or 503"),
    ({"max_calls": -1}, "max_calls must be an integer >= 0"),
    ({"codec": "opus"}, "codec must be one of"),
    ({"late_ms": 0}, "late_ms"),
])
def test_config_is_checked(kw, needle):
    with pytest.raises(ValueError, match=needle):
        CallsConfig(**kw)


def test_bad_flag_is_one_error_line():
    proc = subprocess.run([sys.executable, "-m", "driver.targets.calls_demo", "--max-calls", "-2"], cwd=ROOT,
                          capture_output=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip().splitlines()[-1].endswith("--max-calls must be an integer >= 0, got -2")
