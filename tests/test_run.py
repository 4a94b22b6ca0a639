"""driver.run against real servers on loopback: closed loop, open loop, limits, framing, TLS."""
import os
import ssl

import orjson
import pytest

import driver
from driver.layout import C_CONNECTS, C_DROPPED, C_SENT
from driver.stats.result import Result
from driver.shm import list_segments
from tests.servers import (
    aiohttp_server,
    chunked_server,
    close_delimited_server,
    slow_server,
)


def _app():
    from aiohttp import web

    async def echo(request):
        body = await request.read()
        return web.json_response({"len": len(body)})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


def test_closed_loop_counts_every_request_exactly():
    with aiohttp_server(_app) as srv:
        plan = driver.make_plan(srv.url + "/jobs", users=4, requests=300, workers=2, method="POST",
                                body='{"x":1}')
        result = driver.run(plan)
    tot = result.totals()
    assert result.complete and not result.reasons
    assert tot.requests == 300  # -n is exact over all workers
    assert tot.status["2xx"] == 300 and tot.errors == 0
    assert tot.counters[C_SENT] == 300
    lat = tot.latency()
    assert 0 < lat["min_ns"] <= lat["p50_ns"] <= lat["p99_ns"] <= lat["max_ns"]
    assert result.endpoints[0].name == "POST /jobs"
    assert not [s for s in list_segments() if s.startswith(f"driver_{os.getpid()}_")]


def test_nginx_keepalive_one_connection_per_user(nginx):
    before = nginx.stub_status()["requests"]
    plan = driver.make_plan(nginx.url + "/", users=8, duration="1.5s", workers=1)
    result = driver.run(plan)
    tot = result.totals()
    answered = nginx.stub_status()["requests"] - before - 1  # stub_status counts its own request
    assert tot.requests > 100 and tot.errors == 0
    assert tot.counters[C_CONNECTS] == 8  # one keep-alive connection per user, none re-made
    # nginx answered what the driver counted, plus at most the one request per user cut off at the end
    assert tot.requests <= answered <= tot.requests + 8
    assert len(result.series) >= 1 and result.series[0]["rps"] > 0


def test_open_loop_sends_the_schedule_not_more():
    with aiohttp_server(_app) as srv:
        plan = driver.make_plan(srv.url + "/", rate=200, duration="2s", workers=2)
        result = driver.run(plan)
    tot = result.totals()
    # the schedule has 400 arrivals in 2 s (k = 0..399, the first due at t = 0)
    assert tot.counters[C_SENT] + tot.counters[C_DROPPED] == 400
    assert tot.requests == 400
    assert result.plan["mode"] == "open"


def test_open_loop_latency_counts_from_the_intended_start():
    # 10 arrivals/s against a server that takes 0.3 s, up to 5 in flight: every arrival
    # is sent on time on a connection of its own, so both latencies are the service time.
    with slow_server(0.3) as srv:
        plan = driver.make_plan(srv.url + "/", rate=10, duration="1.5s", workers=1, max_in_flight=5)
        result = driver.run(plan)
    tot = result.totals()
    lat, svc = tot.latency(), tot.service()
    assert tot.requests >= 10
    assert lat["p50_ns"] >= 0.3e9 and svc["p50_ns"] >= 0.3e9
    assert lat["p50_ns"] >= svc["p50_ns"]  # from intended >= from send, always


def test_open_loop_drops_at_the_cap_and_counts_it():
    with slow_server(0.5) as srv:
        plan = driver.make_plan(srv.url + "/", rate=40, duration="1s", workers=1, max_in_flight=2)
        result = driver.run(plan)
    tot = result.totals()
    assert tot.counters[C_DROPPED] > 20
    assert tot.counters[C_SENT] + tot.counters[C_DROPPED] == 40


def test_chunked_and_close_delimited_responses_are_framed():
    with chunked_server() as srv:
        res = driver.run(driver.make_plan(srv.url + "/", users=2, requests=50, workers=1))
    assert res.totals().requests == 50 and res.totals().errors == 0
    with close_delimited_server() as srv:
        res = driver.run(driver.make_plan(srv.url + "/", users=2, requests=30, workers=1))
    tot = res.totals()
    assert tot.requests == 30 and tot.errors == 0
    assert tot.counters[C_CONNECTS] >= 30  # each response ends its connection


def test_https(tmp_path):
    trustme = pytest.importorskip("trustme")
    from aiohttp import web

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)

    async def ok(request):
        return web.json_response({"tls": True})

    app = web.Application()
    app.router.add_get("/", ok)
    runner = None
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port = []

    async def start():
        nonlocal runner
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        port.append(site._server.sockets[0].getsockname()[1])
        ready.set()

    t = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    t.start()
    ready.wait(10)
    try:
        plan = driver.make_plan(f"https://127.0.0.1:{port[0]}/", users=2, requests=40, workers=1,
                                insecure=True)  # self-signed: the CLI's -k
        result = driver.run(plan)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)
    assert result.totals().requests == 40 and result.totals().errors == 0


def test_result_json_round_trip_and_merge(tmp_path):
    with aiohttp_server(_app) as srv:
        a = driver.run(driver.make_plan(srv.url + "/a", users=2, requests=100, workers=1))
        b = driver.run(driver.make_plan(srv.url + "/a", users=2, requests=50, workers=1))
    path = a.save(tmp_path / "a.json")
    data = orjson.loads(path.read_bytes())
    assert data["schema"] == "driver.result/1"
    assert data["totals"]["requests"] == 100
    assert data["environment"]["workers"] == 1
    loaded = Result.load(path)
    assert (loaded.endpoints[0].hists == a.endpoints[0].hists).all()
    assert (loaded.endpoints[0].counters == a.endpoints[0].counters).all()
    merged = loaded.merge(b)
    ep = merged.endpoints[0]
    assert ep.requests == 150
    assert (ep.hists == a.endpoints[0].hists + b.endpoints[0].hists).all()
    assert ep.latency()["max_ns"] == max(a.totals().latency()["max_ns"], b.totals().latency()["max_ns"])
