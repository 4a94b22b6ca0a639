"""WebSocket connection lifetimes in an HDR histogram: `ws:lifetime` (the unit of
`driver run ws://`, driver.engine.ws) and `ws:lifetime:NAME` (self.ws and YAML `ws:`
steps, driver.scenario.wsconn): one value per connection closed — by the server (with
its close code counted by reason on ws:connect, as before), by a timeout, or by the
user and the end of the run — against the demo WebSocket server closing every
connection with 1011 after 3 messages.

Lifetimes are recorded on aggregate endpoints (driver.stats.endpoint.is_aggregate: every
`ws:` name), so they never weigh on the round trips' latency."""
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson

import driver
from driver.cli import build_plan
from driver.config.loader import load_config
from driver.engine.ws import WS_LIFETIME, lifetime_name
from driver.layout import C_CONNECTS
from driver.planning import make_plan
from driver.targets.process import WsDemoTargetProcess

ROOT = Path(__file__).resolve().parents[1]


def _reasons(result, endpoint):
    return {c["reason"]: c["failures"] for c in result.checks if c["endpoint"] == endpoint}


def test_lifetime_names():
    assert lifetime_name() == "ws:lifetime" and lifetime_name("chat") == "ws:lifetime:chat"
    assert make_plan("ws://127.0.0.1:9/x").endpoints[2] == WS_LIFETIME  # the unit's third endpoint


def test_scenario_records_each_connections_lifetime(tmp_path):
    path = tmp_path / "scenario.py"
    path.write_text(textwrap.dedent("""
        from driver.scenario import User, task

        class Chat(User):
            async def on_start(self):
                self.conn = None

            @task
            async def talk(self):
                if self.conn is None or not self.conn.open:
                    self.conn = await self.ws.connect("/echo", name="chat", timeout=2)
                await self.conn.request("hi", name="hi", timeout=2)
    """))
    with WsDemoTargetProcess(close_every=1, close_after=3) as target:
        result = driver.run(build_plan(target.url.replace("ws://", "http://"), {"users": 2, "requests": 30,
                                                                                 "workers": 1}, str(path)))
    life, hs = result.endpoint("ws:lifetime:chat"), result.endpoint("ws:connect")
    closed_by_server = _reasons(result, "ws:connect").get("server closed 1011", 0)
    assert closed_by_server > 0 and hs.errors_by_kind["connection_reset"] == closed_by_server  # by code, as before
    # every connection opened was closed (by the server, or by its user at the end): one lifetime each
    assert life.flows == hs.counters[C_CONNECTS] >= closed_by_server
    assert life.is_aggregate and int(life.hists[0].sum()) == life.flows
    assert 0 < life.latency()["max_ns"] < 60e9
    hi = result.endpoint("hi")
    total = result.totals()
    assert total.requests == hi.requests  # lifetimes are not round trips: the total holds only "hi"


def test_yaml_plan_lists_the_lifetime_endpoint(tmp_path):
    config = tmp_path / "ws.yaml"
    config.write_text("target:\n  base_url: http://127.0.0.1:8765\nscenario:\n  flows:\n    - name: f\n"
                      "      steps:\n        - ws: {connect: /echo, as: chat}\n        - ws: {send: {text: x}}\n")
    connect, _ = load_config(config, env={}).scenario.flows[0]["steps"]
    assert connect["also"] == ("chat", "ws:lifetime:chat")


def test_unit_records_lifetimes_of_server_closed_connections(tmp_path):
    with WsDemoTargetProcess(close_every=1, close_after=3) as target:
        proc = subprocess.run([sys.executable, "-m", "driver.cli", "run", target.url + "/echo", "-u", "2", "-n", "30",
                               "-w", "1", "-q", "-o", str(tmp_path)], cwd=ROOT, capture_output=True, timeout=120)
    # the server's 1011 closes are failed checks of the round trips' endpoint: exit 1
    assert proc.returncode == 1, proc.stdout.decode() + proc.stderr.decode()
    data = orjson.loads(next(tmp_path.glob("*/result.json")).read_bytes())
    eps = {e["name"]: e for e in data["endpoints"]}
    life, hs = eps[WS_LIFETIME], eps["ws:connect"]
    closes = sum(c["failures"] for c in data["checks"] if c["reason"] == "server closed 1011")
    assert closes > 0 and eps["WS /echo"]["errors_by_kind"]["connection_reset"] <= closes
    assert life["count"] == hs["counters"]["connects"] > 1  # each connection closed: one lifetime
    assert life["latency"]["max_ns"] > 0
    assert data["totals"]["count"] == eps["WS /echo"]["count"]  # not in the total
