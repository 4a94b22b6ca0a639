"""Python scenarios against real loopback servers: weighted tasks, checks, errors in user
code, throttling, endpoint naming and overflow, open-loop iterations."""
import textwrap
from dataclasses import replace

import pytest

import driver
from driver.cli import build_plan
from driver.engine.endpoints import default_name
from driver.errors import DriverError
from tests.servers import aiohttp_server


def _app():
    from aiohttp import web

    hits = {"n": 0}

    async def ok(request):
        await request.read()
        return web.json_response({"ok": True, "path": request.path})

    async def limited(request):
        hits["n"] += 1
        if hits["n"] % 2 == 0:
            return web.json_response({"ok": False}, status=429, headers={"Retry-After": "1"})
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/limited", limited)
    app.router.add_route("*", "/{tail:.*}", ok)
    return app


def _scenario(tmp_path, body: str, name="scenario.py"):
    path = tmp_path / name
    path.write_text("from driver.scenario import User, task, between, constant, pacing\n" + textwrap.dedent(body))
    return str(path)


def _run(url, scenario, **load):
    load.setdefault("workers", 1)
    return driver.run(build_plan(url, load, scenario))


def test_weighted_tasks_checks_and_user_errors(tmp_path):
    path = _scenario(tmp_path, """
        class Bot(User):
            async def on_start(self):
                await self.http.get("/hello", name="on_start")

            @task(3)
            async def a(self):
                r = await self.http.post("/a", json={"x": 1}, name="A")
                r.expect(status=200, json={"ok": True, "path": "/a"})

            @task(1)
            async def b(self):
                r = await self.http.get("/b", name="B")
                r.expect(status="2xx", contains="nope")

            @task(1)
            async def broken(self):
                raise ValueError("bad step")
    """)
    with aiohttp_server(_app) as srv:
        result = _run(srv.url, path, users=3, requests=500)
    a, b = result.endpoint("A"), result.endpoint("B")
    assert result.endpoint("on_start").requests == 3  # once per user
    assert 2.0 < a.requests / b.requests < 4.5  # weights 3:1
    assert a.checks == 3 * a.requests and a.check_failures == 0
    assert b.check_failures == b.requests  # "nope" is never in the body
    err = result.endpoint("error:ValueError")
    assert err.errors_by_kind["other"] > 0
    reasons = {(c["endpoint"], c["reason"]) for c in result.checks}
    assert ("B", "body contains 'nope'") in reasons and ("error:ValueError", "bad step") in reasons
    assert a.requests + b.requests + err.errors == 500  # -n counts iterations of a scenario


def test_throttled_responses_are_counted_apart_from_errors(tmp_path):
    path = _scenario(tmp_path, """
        class Bot(User):
            @task
            async def hit(self):
                await self.http.get("/limited", name="limited")
    """)
    with aiohttp_server(_app) as srv:
        result = _run(srv.url, path, users=2, requests=100)
    ep = result.endpoint("limited")
    assert ep.throttled > 0 and ep.status["4xx"] == ep.throttled
    assert ep.http_errors == 0 and ep.error_rate == 0.0


def test_honouring_retry_after_backs_off_that_user(tmp_path):
    body = """
        class Bot(User):
            @task
            async def hit(self):
                await self.http.get("/limited", name="limited")
    """
    with aiohttp_server(_app) as srv:
        plan = build_plan(srv.url, {"users": 2, "duration": "2s", "workers": 1}, _scenario(tmp_path, body))
        ignore = driver.run(plan)
        honour = driver.run(replace(plan, scenario=replace(plan.scenario, retry_after="honour")))
    # every second request is throttled with Retry-After: 1; honouring users wait a second each time
    assert honour.endpoint("limited").requests < 10
    assert ignore.endpoint("limited").requests > 10 * honour.endpoint("limited").requests


def test_pacing_fixes_the_iteration_period(tmp_path):
    path = _scenario(tmp_path, """
        class Bot(User):
            wait = pacing(0.5)

            @task
            async def hit(self):
                await self.http.get("/p", name="p")
    """)
    with aiohttp_server(_app) as srv:
        result = _run(srv.url, path, users=2, duration="2.2s")
    assert 8 <= result.endpoint("p").requests <= 10  # 2 users x 5 iterations (t = 0, 0.5, ... 2.0)


def test_unnamed_requests_group_by_path_template_and_overflow_goes_to_other(tmp_path):
    path = _scenario(tmp_path, """
        class Bot(User):
            @task
            async def hit(self):
                n = self.rng.randint(1, 10**6)
                await self.http.get(f"/orders/{n}?full=1")
                await self.http.get(f"/unique-{n}")
    """)
    with aiohttp_server(_app) as srv:
        plan = build_plan(srv.url, {"users": 2, "requests": 200, "workers": 1}, path)
        result = driver.run(replace(plan, max_endpoints=8))
    names = [e.name for e in result.endpoints]
    assert "GET /orders/{id}" in names
    assert len(names) <= 8 and "other" in names
    assert result.endpoint("GET /orders/{id}").requests == 200
    assert result.totals().requests == 400  # nothing lost in the overflow


@pytest.mark.parametrize(
    "method, path, want",
    [
        ("get", "/users/123", "GET /users/{id}"),  # numeric id
        ("POST", "/a/3fa85f64-5717-4562-b3fc-2c963f66afa6/b", "POST /a/{id}/b"),  # uuid
        ("GET", "/blob/0123456789abcdef0123", "GET /blob/{id}"),  # long hex
        ("GET", "/v2/items?page=3", "GET /v2/items"),  # the query is not part of the name
        ("GET", "", "GET /"),  # empty path
    ],
)
def test_default_names(method, path, want):
    assert default_name(method, path) == want


def test_open_loop_iterations_and_drops(tmp_path):
    path = _scenario(tmp_path, """
        import asyncio

        class Bot(User):
            @task
            async def slow(self):
                await self.http.get("/x", name="x")
                await asyncio.sleep(0.5)
    """)
    with aiohttp_server(_app) as srv:
        result = _run(srv.url, path, rate=40, users=4, duration="1.5s")
    # at most 4 users in flight, each busy 0.5 s per iteration: ~12 iterations; the other
    # arrivals wait in the queue for a free user and, still queued at the end, count as
    # dropped (never sent) with their wait as their latency
    assert 4 <= result.endpoint("x").requests <= 16
    it = result.endpoint("iteration")
    c = it.summary(result.duration_s)["counters"]
    assert c["dropped"] >= 30
    assert c["sent"] + c["dropped"] == 60  # every arrival of 1.5 s at 40/s: started or dropped
    assert c["late"] >= 4  # the queued ones that got a user started late
    assert it.latency()["max_ns"] >= 0.5e9  # the queue's wait is in the latency view
    assert result.totals().dropped == c["dropped"]  # dropped iterations weigh on the run's error rate


@pytest.mark.parametrize(
    "body, needle",
    [
        ("class Bot(User):\n    @task\n    async def a(self):\n        pass\ndef broken(:\n", "SyntaxError"),
        ("import no_such_module_xyz\n", "ModuleNotFoundError"),
        ("class Bot(User):\n    pass\n", "no @task methods"),
        ("x = 1\n", "expected one User subclass"),
    ],
)
def test_broken_scenarios_are_one_clear_error(tmp_path, body, needle):
    path = _scenario(tmp_path, body)
    with pytest.raises(DriverError, match=needle):
        build_plan("http://127.0.0.1:9/", {"users": 1}, path)


def test_missing_scenario_file(tmp_path):
    with pytest.raises(DriverError, match="not found"):
        build_plan("http://127.0.0.1:9/", {"users": 1}, str(tmp_path / "nope.py"))
