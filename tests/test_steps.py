"""YAML scenarios of single requests run on callbacks (driver.scenario.steps): the same
numbers as the coroutine path, without a coroutine per request."""
import textwrap

import pytest
from aiohttp import web

import driver
from driver.config import load_config
from driver.scenario import steps
from driver.scenario.loader import load_user_class
from servers import aiohttp_server


def _app():
    async def answer(request):
        kind = request.match_info["kind"]
        if kind == "ok":
            return web.json_response({"ok": True})
        if kind == "fail":
            return web.json_response({"ok": False}, status=500)
        if kind == "slow-down":
            return web.json_response({}, status=429)
        return web.json_response({}, status=503, headers={"Retry-After": "1"})

    app = web.Application()
    app.router.add_route("*", "/{kind}", answer)
    return app


TASKS = """
target: {{base_url: "{url}"}}
scenario:
  tasks:
    - {{name: ok, weight: 4, method: POST, path: /ok, telegram: {{kind: command, command: /start}},
       expect: {{status: 200}}{think}}}
    - {{name: fail, weight: 2, path: /fail, expect: {{status: 200}}}}
    - {{name: throttled, weight: 1, path: /slow-down, expect: {{status: 200}}}}
    - {{name: busy, weight: 1, path: /busy, json: {{a: "{{{{user.id}}}}"}}, expect: {{status: 200}}}}
"""


def _plan(tmp_path, url, think=""):
    path = tmp_path / f"tasks{len(think)}.yaml"
    path.write_text(textwrap.dedent(TASKS.format(url=url, think=think)))
    return load_config(path, overrides={"users": 4, "requests": 400, "workers": 1}, env={})


def test_single_request_tasks_run_on_callbacks_and_steps_do_not(tmp_path):
    fast = _plan(tmp_path, "http://127.0.0.1:9")
    cls = load_user_class(fast.scenario)
    assert steps.fits(fast.scenario, [s for s, _ in cls.driver_steps])
    # a think time of its own (even 0 s) keeps a task on the coroutine path
    slow = _plan(tmp_path, "http://127.0.0.1:9", think=", think: 0s")
    cls = load_user_class(slow.scenario)
    assert not steps.fits(slow.scenario, [s for s, _ in cls.driver_steps])


@pytest.mark.parametrize("think", ["", ", think: 0s"], ids=["callbacks", "coroutines"])
def test_both_paths_count_the_same_way(tmp_path, think):
    with aiohttp_server(_app) as srv:
        result = driver.run(_plan(tmp_path, srv.url, think))
    eps = {e.name: e.summary(result.duration_s) for e in result.endpoints}
    assert sum(eps[n]["requests"] for n in ("ok", "fail", "throttled", "busy")) == 400
    for name, ep in eps.items():
        if name == "iteration":
            continue
        assert ep["checks"] == ep["requests"]  # one status check per response
        assert ep["sent"] == ep["requests"]
    assert eps["ok"]["check_failures"] == 0
    assert eps["fail"]["check_failures"] == eps["fail"]["requests"] > 0
    # 429, and 503 with Retry-After, are throttling: counted apart, and the check fails
    assert eps["throttled"]["throttled"] == eps["throttled"]["requests"] > 0
    assert eps["busy"]["throttled"] == eps["busy"]["requests"] > 0
    assert eps["busy"]["check_failures"] == eps["busy"]["requests"]
    reasons = {(c["endpoint"], c["reason"]) for c in result.checks}
    assert reasons == {("fail", "status 200"), ("throttled", "status 200"), ("busy", "status 200")}
    assert eps["ok"]["bytes_out"] > eps["ok"]["requests"] * 200  # Telegram updates went out


def test_callbacks_count_a_request_without_response_as_a_failed_check(tmp_path):
    from servers import reset_server

    with reset_server(after_requests=0) as srv:  # every request is answered with a reset
        path = tmp_path / "t.yaml"
        path.write_text(f'target: {{base_url: "{srv.url}"}}\nscenario:\n  tasks:\n'
                        f'    - {{name: x, path: /x, expect: {{status: 200}}}}\n')
        result = driver.run(load_config(path, overrides={"users": 1, "requests": 5, "workers": 1}, env={}))
    ep = result.endpoint("x").summary(result.duration_s)
    assert ep["requests"] == 0
    assert ep["errors_by_kind"]["connection_reset"] == ep["sent"] >= 1
    assert ep["checks"] == ep["check_failures"] == ep["sent"]
