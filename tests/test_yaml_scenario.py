"""YAML scenarios end to end against the demo target: the README's examples, flows with
captured values, a failing step ending its flow, per-command tier checks."""
from pathlib import Path

import pytest

import driver
from driver.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def _run(path, target, **overrides):
    overrides.setdefault("workers", 1)
    overrides.setdefault("duration", "2s")
    plan = load_config(path, overrides=overrides, env={"TARGET_URL": target.url, "API_URL": target.url})
    return driver.run(plan)


def test_whatsapp_flows_capture_and_complete(demo_target):
    result = _run(ROOT / "examples/whatsapp_flow.yaml", demo_target, users=4, think=0)
    flows = [e for e in result.endpoints if e.is_flow]
    assert flows and all(f.flows > 0 for f in flows)
    assert result.totals().check_failures == 0, result.checks
    for f in flows:
        lat = f.latency()
        assert lat["count"] == f.flows and lat["p50_ns"] > 0  # each flow timed end to end
    # a flow's duration covers its steps: at least the sum of its steps' medians
    assert result.totals().requests > sum(f.flows for f in flows)


def test_catalog_scenario_checks_tiers_per_command(demo_target):
    result = _run(ROOT / "examples/telegram_catalog.yaml", demo_target, users=6)
    names = {e.name for e in result.endpoints}
    assert {"/start", "/ai_chat", "/stats"} <= names
    tot = result.totals()
    assert tot.checks >= 3 * tot.requests and tot.check_failures == 0, result.checks


@pytest.mark.parametrize("example", ["telegram_bot.yaml", "rest_api.yaml"])
def test_examples_run_clean(demo_target, example):
    result = _run(ROOT / "examples" / example, demo_target, users=4, think=0, rate=None)
    tot = result.totals()
    assert tot.requests > 0 and tot.errors == 0
    bad = [c for c in result.checks if c["endpoint"] != "POST malformed"]
    assert not bad, bad


def test_a_failing_step_ends_its_flow(tmp_path, demo_target):
    cfg = tmp_path / "flow.yaml"
    cfg.write_text(f"""
target: {{base_url: "{demo_target.url}"}}
scenario:
  flows:
    - name: broken
      steps:
        - name: health
          path: /health
          capture: {{nothing: {{json: no.such.field}}}}
        - name: never
          path: /health
load: {{users: 2, requests: 20, workers: 1}}
""")
    result = driver.run(load_config(cfg))
    flow = result.endpoint("flow:broken")
    assert flow.flows == 0 and flow.check_failures == 20
    assert result.endpoint("health").requests == 20
    assert "never" not in {e.name for e in result.endpoints if e.requests}
    reasons = {c["reason"] for c in result.checks}
    assert "capture nothing: json no.such.field not found" in reasons
    assert "step health failed" in reasons
