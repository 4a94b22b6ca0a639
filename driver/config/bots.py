"""The config's bot sections: `mock:` (a mock platform API started with the run) and
`replies:` (how the bot's replies are followed and judged). Every error at its line.

    mock:
      platform: telegram          # or whatsapp
      port: 8081                  # where the bot under test sends its API calls
      host: 127.0.0.1
      seed: 1                     # repeatable fault draws
      faults: {error_rate: 0.01, latency_ms: 20, latency_max_ms: 80}
    replies:
      channel: api                # webhook | api | both
      timeout: 10s                # no reply by then: reply_missing
      settle: 250ms               # an answer is complete this long after its last message
      refusal: "^⛔"              # a regular expression that marks a refusal
      tiers: {by: ranges, ranges: {premium: [2000000000, 2999999999]}, default: free}
      checks:                     # per command (endpoint name)
        /settings: {text: "Settings", buttons: true}
        /report: {messages: 2}
"""
from __future__ import annotations

import re
from pathlib import Path

from yaml.nodes import Node

from driver.config.schema import Doc, join
from driver.mock.faults import Faults
from driver.payloads.catalog import TIERS
from driver.plan import PLATFORMS, REPLY_CHANNELS, MockSpec, ReplySpec
from driver.replies.rules import DEFAULT_REFUSAL, ReplyCheck, ReplyRules
from driver.replies.tiers import TierRule

__all__ = ["read_mock", "read_replies", "MOCK_KEYS", "REPLIES_KEYS"]

MOCK_KEYS = ("platform", "host", "port", "seed", "faults")
REPLIES_KEYS = ("channel", "timeout", "settle", "refusal", "tiers", "checks")
TIER_KEYS = ("by", "ranges", "ids", "default", "function")
CHECK_KEYS = ("text", "buttons", "messages")


def read_mock(doc: Doc, node: Node) -> MockSpec:
    got = doc.fields(node, "mock", MOCK_KEYS, required=("platform",))
    kw: dict = {"platform": doc.choice(got["platform"], "mock.platform", PLATFORMS)}
    if "host" in got:
        host = doc.string(got["host"], "mock.host")
        if host not in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::") and not host.startswith("127."):
            raise doc.error(got["host"], f"mock.host must be a local address (127.0.0.1, ::1), got {host!r}")
        kw["host"] = host
    if "port" in got:
        port = doc.integer(got["port"], "mock.port", minimum=0)
        if port > 65535:
            raise doc.error(got["port"], f"mock.port must be a port number (0-65535), got {port}")
        kw["port"] = port
    if "seed" in got:
        kw["seed"] = doc.integer(got["seed"], "mock.seed", minimum=0)
    if "faults" in got:
        data = doc.data(got["faults"], "mock.faults")
        try:
            kw["faults"] = Faults.from_dict(data)
        except (ValueError, TypeError) as exc:
            raise doc.error(got["faults"], f"mock.faults: {exc}") from None
    return MockSpec(**kw)


def read_replies(doc: Doc, node: Node, base_dir: Path) -> ReplySpec:
    got = doc.fields(node, "replies", REPLIES_KEYS)
    kw: dict = {}
    if "channel" in got:
        kw["channel"] = doc.choice(got["channel"], "replies.channel", REPLY_CHANNELS)
    if "timeout" in got:
        kw["timeout_s"] = doc.duration(got["timeout"], "replies.timeout")
        if kw["timeout_s"] > 3600:
            raise doc.error(got["timeout"], f"replies.timeout must be at most 1h, got {got['timeout'].value}")
    if "settle" in got:
        kw["settle_s"] = doc.duration(got["settle"], "replies.settle", zero=True)
        if kw["settle_s"] > 600:
            raise doc.error(got["settle"], f"replies.settle must be at most 10m, got {got['settle'].value}")
    refusal = DEFAULT_REFUSAL
    if "refusal" in got:
        refusal = _pattern(doc, got["refusal"], "replies.refusal")
    if "tiers" in got:
        kw["tiers"] = _tiers(doc, got["tiers"], base_dir)
    checks = {}
    if "checks" in got:
        for name, key, value in doc.items(got["checks"], "replies.checks"):
            checks[name] = _check(doc, value, join("replies.checks", name))
    kw["rules"] = ReplyRules(refusal=refusal, tiers=TIERS, checks=checks)
    return ReplySpec(**kw)


def _pattern(doc: Doc, node: Node, where: str) -> str:
    text = doc.string(node, where)
    try:
        re.compile(text)
    except re.error as exc:
        raise doc.error(node, f"{where} is not a valid regular expression: {exc}") from None
    return text


def _check(doc: Doc, node: Node, where: str) -> ReplyCheck:
    got = doc.fields(node, where, CHECK_KEYS)
    kw: dict = {}
    if "text" in got:
        kw["text"] = _pattern(doc, got["text"], join(where, "text"))
    if "buttons" in got:
        kw["buttons"] = doc.boolean(got["buttons"], join(where, "buttons"))
    if "messages" in got:
        kw["min_messages"] = doc.integer(got["messages"], join(where, "messages"))
        if kw["min_messages"] > 100:
            raise doc.error(got["messages"], f"{join(where, 'messages')} must be at most 100")
    return ReplyCheck(**kw)


def _tier(doc: Doc, node: Node, where: str) -> str:
    return doc.choice(node, where, TIERS)


def _tiers(doc: Doc, node: Node, base_dir: Path) -> TierRule:
    got = doc.fields(node, "replies.tiers", TIER_KEYS, required=("by",))
    by = doc.choice(got["by"], "replies.tiers.by", ("ranges", "ids", "function"))
    kw: dict = {"by": by, "base_dir": str(base_dir)}
    need = {"ranges": "ranges", "ids": "ids", "function": "function"}[by]
    if need not in got and by != "ranges":
        raise doc.error(node, f"replies.tiers.by: {by} needs replies.tiers.{need}")
    if "default" in got:
        kw["default"] = _tier(doc, got["default"], "replies.tiers.default")
    if "ranges" in got:
        ranges = {}
        for name, key, value in doc.items(got["ranges"], "replies.tiers.ranges"):
            where = join("replies.tiers.ranges", name)
            if name not in TIERS:
                raise doc.error(key, f"{where}: unknown tier {name!r} (one of {', '.join(TIERS)})")
            bounds = doc.seq(value, where)
            if len(bounds) != 2:
                raise doc.error(value, f"{where} must be [lowest id, highest id]")
            low, high = (doc.integer(b, where, minimum=-(1 << 62)) for b in bounds)
            if high < low:
                raise doc.error(value, f"{where}: the highest id {high} is below the lowest {low}")
            ranges[name] = (low, high + 1)
        kw["ranges"] = ranges
    if "ids" in got:
        ids = {}
        for name, key, value in doc.items(got["ids"], "replies.tiers.ids"):
            where = join("replies.tiers.ids", name)
            if name not in TIERS:
                raise doc.error(key, f"{where}: unknown tier {name!r} (one of {', '.join(TIERS)})")
            ids[name] = frozenset(doc.integer(v, where, minimum=-(1 << 62)) for v in doc.seq(value, where))
        kw["ids"] = ids
    if "function" in got:
        spec = doc.string(got["function"], "replies.tiers.function")
        rule = TierRule(by="function", function=spec, base_dir=str(base_dir))
        try:
            rule.resolver()  # load it now: a missing file or name is the config's error
        except ValueError as exc:
            raise doc.error(got["function"], f"replies.tiers.function: {exc}") from None
        kw["function"] = spec
    return TierRule(**kw)
