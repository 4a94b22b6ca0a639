"""driver.chaos.runner against real servers on loopback: the malformed battery, connection
faults, spikes, platform fault windows and the health poll, through a recording context."""
import asyncio
import collections
import json
import time

import pytest
from aiohttp import web

from driver.chaos.malformed import HUGE_BYTES
from driver.chaos.runner import apply_fault, run_timeline
from driver.chaos.timeline import MALFORMED_KINDS, parse_timeline
from driver.mock.faults import Faults
from driver.payloads.telegram import SECRET_HEADER
from tests.servers import _stream_server, aiohttp_server, reset_server

SECRET = "s3cret-token"
RUN_LIMIT_S = 60  # every run_timeline here ends long before: a hang fails the test, not the suite


class Context:
    """A ChaosContext that keeps every call."""

    def __init__(self, url, platform="telegram", secret_token=SECRET, app_secret=None, health_path=None):
        self.start_ns = time.monotonic_ns()
        self.target_url = url
        self.webhook_path = "/webhook"
        self.platform = platform
        self.secret_token = secret_token
        self.app_secret = app_secret
        self.health_path = health_path
        self.records = []
        self.faults = []
        self.stop = False
        self.updates = 0

    def set_faults(self, faults):
        self.faults.append(faults)

    def base_faults(self):
        return Faults(error_rate=0.2)

    def record(self, name, *, status=0, error=None, latency_ns=0, check=None):
        self.records.append((name, status, error, check))

    def stopping(self):
        return self.stop

    def update_body(self):
        self.updates += 1
        return json.dumps({"update_id": self.updates, "message": {
            "message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "/start"}}).encode()

    def named(self, name):
        return [r for r in self.records if r[0] == name]


def run(events, ctx):
    asyncio.run(asyncio.wait_for(run_timeline(parse_timeline(events), ctx), RUN_LIMIT_S))


def sound_bot():
    """A webhook that checks what it gets: secret token, JSON, types, update kind; 1 MiB limit."""

    async def webhook(request):
        if request.headers.get(SECRET_HEADER) != SECRET:
            return web.Response(status=401)
        if request.content_type != "application/json":
            return web.Response(status=415)
        raw = await request.read()  # over client_max_size: 413
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:
            return web.Response(status=400)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return web.Response(status=400)
        if "message" not in data:
            return web.Response(status=200)  # an update kind it does not know: ignored
        if not isinstance(data["message"], dict):
            return web.Response(status=400)
        return web.Response(status=200)

    async def health(request):
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    app.router.add_get("/health", health)
    return app


def fragile_bot():
    """Answers 500 to everything it cannot handle, and to everything else too."""

    async def webhook(request):
        await request.read()
        return web.Response(status=500)

    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_post("/webhook", webhook)
    return app


def test_the_battery_against_a_sound_bot_passes_every_check():
    with aiohttp_server(sound_bot) as server:
        ctx = Context(server.url, health_path="/health")

        async def main():
            task = asyncio.ensure_future(run_timeline(parse_timeline(
                [{"at": 0, "duration": 1.5, "fault": "malformed", "rate": 20}]), ctx))
            await asyncio.sleep(2.5)
            ctx.stop = True  # the health poll runs until the run stops
            await asyncio.wait_for(task, RUN_LIMIT_S)

        asyncio.run(main())
    kinds = {r[0] for r in ctx.records if r[0].startswith("malformed:")}
    # bad_signature is WhatsApp's: a Telegram bot cannot be sent one
    assert kinds == {f"malformed:{k}" for k in MALFORMED_KINDS if k != "bad_signature"}
    statuses = {r[0]: r[1] for r in ctx.records if r[0].startswith("malformed:")}
    assert statuses["malformed:huge_body"] == 413 and statuses["malformed:missing_secret"] == 401
    assert statuses["malformed:non_json"] == 415 and statuses["malformed:unknown_kind"] == 200
    failed = [r for r in ctx.records if r[3] is not None and not r[3][0]]
    assert failed == []
    health = ctx.named("health")
    assert len(health) >= 2 and all(r[1] == 200 and r[3] == (True, "") for r in health)


def test_a_bot_that_answers_500_to_garbage_fails_the_checks():
    with aiohttp_server(fragile_bot) as server:
        ctx = Context(server.url)
        run([{"at": 0, "duration": 1, "fault": "malformed", "rate": 20, "kinds": ["truncated_json", "huge_body"]}],
            ctx)
    records = [r for r in ctx.records if r[0].startswith("malformed:")]
    assert len(records) >= 5
    assert all(r[1] == 500 and r[3][0] is False for r in records)
    assert ("malformed truncated_json answered 500, expected 4xx"
            in {r[3][1] for r in records if r[0] == "malformed:truncated_json"})


def test_a_bot_that_drops_the_connection_fails_the_checks():
    with reset_server(after_requests=0) as server:
        ctx = Context(server.url)
        run([{"at": 0, "duration": 1, "fault": "malformed", "rate": 10, "kinds": ["empty_body"]}], ctx)
    records = ctx.named("malformed:empty_body")
    assert len(records) >= 3
    assert all(r[1] == 0 and r[2] == "connection_reset" and r[3][0] is False for r in records)
    assert records[0][3][1] == "malformed:empty_body got no answer (connection reset)"


def test_whatsapp_signatures_are_checked_by_kind():
    from driver.chaos.malformed import build, check

    body = b'{"object": "whatsapp_business_account", "entry": []}'
    assert build("missing_secret", "whatsapp", body, app_secret=None) is None  # no secret: nothing to see
    headers, _ = build("bad_signature", "whatsapp", body, app_secret="k")
    assert headers["X-Hub-Signature-256"] == "sha256=not-a-hex-digest"
    good, _ = build("truncated_json", "whatsapp", body, app_secret="k")
    wrong, _ = build("wrong_secret", "whatsapp", body, app_secret="k")
    assert good["X-Hub-Signature-256"].startswith("sha256=") and wrong["X-Hub-Signature-256"] != good.get("x")
    assert "X-Hub-Signature-256" not in build("missing_secret", "whatsapp", body, app_secret="k")[0]
    assert len(build("huge_body", "telegram", b"{}")[1]) > HUGE_BYTES
    assert check("unknown_kind", 204) == (True, "") and check("empty_body", 200)[0] is False


class Counting:
    """A raw server that counts connections open at once and the bytes they sent."""

    def __init__(self):
        self.open = 0
        self.peak = 0
        self.closed = 0
        self.resets = 0
        self.bytes = collections.Counter()

    async def handler(self, reader, writer, info):
        self.open += 1
        self.peak = max(self.peak, self.open)
        me = info.connections
        try:
            while chunk := await reader.read(65536):
                self.bytes[me] += len(chunk)
        except ConnectionResetError:
            self.resets += 1
        finally:
            self.open -= 1
            self.closed += 1


def _counting():
    counting = Counting()
    return counting, _stream_server(counting.handler, "127.0.0.1", "counting")


def _settle(counting, expected_closed):
    deadline = time.monotonic() + 10
    while counting.closed < expected_closed and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("fault, drips", [("slowloris", True), ("idle_flood", False)])
def test_held_connections_are_really_opened_and_closed_at_the_end(fault, drips):
    counting, server_cm = _counting()
    with server_cm as server:
        ctx = Context(server.url)
        run([{"at": 0, "duration": 2.5, "fault": fault, "connections": 20}], ctx)
        _settle(counting, 20)
        assert counting.peak == 20
        assert counting.open == 0 and counting.closed == 20
        sent = list(counting.bytes.values())
        if drips:  # the request line, then a header line or more, never the end of the headers
            assert len(sent) == 20 and all(n > len("POST /webhook HTTP/1.1\r\n") for n in sent)
        else:
            assert sum(sent) == 0
    assert len(ctx.named(fault)) == 20 and all(r[2] is None for r in ctx.named(fault))


def test_reset_mid_body_sends_half_a_body_then_a_reset():
    counting, server_cm = _counting()
    with server_cm as server:
        ctx = Context(server.url)
        run([{"at": 0, "duration": 1, "fault": "reset_mid_body", "rate": 5}], ctx)
        _settle(counting, len(ctx.named("reset_mid_body")))
    made = ctx.named("reset_mid_body")
    assert 3 <= len(made) <= 7
    assert counting.resets == len(made)


def test_a_spike_follows_its_rate_roughly_and_stops_with_its_window():
    with aiohttp_server(sound_bot) as server:
        ctx = Context(server.url)
        run([{"at": 0.2, "duration": 1, "fault": "spike", "rate": 40}], ctx)
    spikes = ctx.named("spike")
    assert 20 <= len(spikes) <= 45
    assert all(r[1] == 200 for r in spikes)


def test_platform_faults_are_swapped_in_for_the_window_and_the_base_restored():
    ctx = Context("http://127.0.0.1:9")  # no traffic is sent for platform faults
    run([{"at": 0, "duration": 0.3, "fault": "outage", "mode": "reset"},
         {"at": 0.4, "duration": 0.3, "fault": "rate_limit", "rate": 0.875, "retry_after": 3}], ctx)
    assert ctx.faults == [Faults(error_rate=0.2, outage="reset"), Faults(error_rate=0.2),
                          Faults(error_rate=0.125, rate_limit_rate=0.875, retry_after=3), Faults(error_rate=0.2)]


@pytest.mark.parametrize("entry, faults", [
    ({"fault": "slow_api", "latency_ms": 5, "latency_max_ms": 50}, Faults(error_rate=0.2, latency_ms=5.0,
                                                                          latency_max_ms=50.0)),
    ({"fault": "api_errors", "rate": 0.5, "status": 502}, Faults(error_rate=0.5, error_status=502)),
])
def test_apply_fault(entry, faults):
    (event,) = parse_timeline([{"at": 0, "duration": 1, **entry}])
    assert apply_fault(Faults(error_rate=0.2), event) == faults


def test_stopping_ends_a_long_window_early_and_a_failure_is_recorded_not_raised():
    counting, server_cm = _counting()
    with server_cm as server:
        ctx = Context(server.url)

        async def main():
            task = asyncio.ensure_future(run_timeline(parse_timeline(
                [{"at": 0, "duration": "1h", "fault": "idle_flood", "connections": 5}]), ctx))
            await asyncio.sleep(0.5)
            ctx.stop = True
            await asyncio.wait_for(task, RUN_LIMIT_S)

        asyncio.run(main())
        _settle(counting, 5)
        assert counting.open == 0
    ctx = Context("http://127.0.0.1:1")  # nothing listens: connections refused, recorded
    run([{"at": 0, "duration": 0.5, "fault": "slowloris", "connections": 3}], ctx)
    assert [r[2] for r in ctx.named("slowloris")] == ["connect_refused"] * 3


def test_a_bot_that_never_answers_times_out_and_the_cap_drops_the_rest(monkeypatch):
    import driver.chaos.runner as runner
    from tests.servers import stall_server

    monkeypatch.setattr(runner, "MAX_IN_FLIGHT", 4)
    monkeypatch.setattr(runner, "REQUEST_TIMEOUT_S", 1.0)
    with stall_server() as server:
        ctx = Context(server.url)
        run([{"at": 0, "duration": 0.5, "fault": "spike", "rate": 40}], ctx)
    errors = collections.Counter(r[2] for r in ctx.named("spike"))
    assert errors["request_timeout"] == 4  # the cap: 4 in flight, each timed out
    assert errors["dropped"] >= 5 and set(errors) == {"request_timeout", "dropped"}
