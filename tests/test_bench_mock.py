"""The mock/correlation benchmark's pure parts (benchmarks/run_mock.py): the reply-path
micro-benchmark, the steady-window CPU split, the reply-path table and its slowest
part, the multipart body, the bare aiohttp floor server, and the RESULTS.md section."""
from __future__ import annotations

import json
import math
import os
import sys
import urllib.request

import pytest

from benchmarks import run_mock as rm

import common as c  # noqa: E402  (on the path run_mock puts benchmarks/ on)

TICK = c.CLK_TCK


def test_micro_reply_path_times_every_step_and_matches_every_reply():
    got = rm.micro_reply_path(updates=2_000, batch=5, chats=50)
    assert got["updates"] == 2_000
    for step in ("put", "take", "correlate", "tick", "on_call", "record"):
        assert math.isfinite(got[step]) and got[step] >= 0, step
    assert got["put"] > 0 and got["tick"] > 0 and got["correlate"] > 0
    assert got["unmatched"] == 0  # every synthetic reply found its update
    # closed after the 250 ms settle: only the last 50 ticks (5 ms each) are still open
    assert got["open"] == 50 * 5


def _sample(t, tree, bot):
    return (t, tree, [bot])


def test_steady_cores_uses_the_middle_of_the_busy_window():
    # the bot busy from t=1 to t=11; driver parent idle, worker at 0.5 core, bot side 0.25
    samples = []
    for i in range(0, 130):
        t = i / 10
        busy = min(max(t - 1.0, 0.0), 10.0)
        samples.append(_sample(t, {1: 5, 2: int(busy * 0.5 * TICK), 3: int(busy * 0.25 * TICK)},
                               int(busy * 0.8 * TICK)))
    got = rm.steady_cores(samples, {"parent": {1}, "workers": {2}, "bot side": {3}})
    assert got["parent"] == 0
    assert got["workers"] == pytest.approx(0.5, rel=0.1)
    assert got["bot side"] == pytest.approx(0.25, rel=0.1)
    assert got["watch0"] == pytest.approx(0.8, rel=0.1)


def test_steady_cores_is_empty_when_the_server_never_worked():
    samples = [_sample(i / 10, {1: 3}, 7) for i in range(20)]
    assert rm.steady_cores(samples, {"parent": {1}}) == {}


def test_reply_path_pieces_and_the_slowest_part():
    micro = {"put": 2000.0, "take": 500.0, "correlate": 3000.0, "tick": 6000.0, "on_call": 400.0,
             "record": 2500.0}
    pieces = rm.reply_path_pieces(micro, {"bot side": 70.0, "bot": 150.0})
    assert pieces["worker ring put"] == 2.0
    assert pieces["correlator match"] == 3.0
    assert pieces["mock HTTP handling"] == pytest.approx(70.0 - 6.4)
    assert pieces["bot-side recording and checks"] == pytest.approx(2.9)
    assert rm.slowest({k: v for k, v in pieces.items() if not k.startswith("bot (")}) == (
        "mock HTTP handling", pytest.approx(63.6))
    assert rm.slowest({"a": float("nan"), "b": 1.0}) == ("b", 1.0)


def test_multipart_body_is_well_formed():
    body = rm.multipart_body(42, "hello").decode()
    assert body.startswith(f"--{rm.BOUNDARY}\r\n") and body.endswith(f"--{rm.BOUNDARY}--\r\n")
    assert 'name="chat_id"\r\n\r\n42\r\n' in body and 'name="text"\r\n\r\nhello\r\n' in body


def test_bare_server_answers_a_bot_api_post():
    srv = rm.Server([sys.executable, rm.__file__, "--serve-bare", "0"], rm.BARE_PREFIX,
                    ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0))))
    try:
        req = urllib.request.Request(srv.url + "/bot123:TEST/sendMessage", data=rm.JSON_BODY.encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
            assert json.loads(resp.read())["ok"] is True
        assert srv.ticks() >= 0
    finally:
        srv.stop()
    assert srv.proc.returncode is not None


def test_section_is_replaced_between_its_markers(tmp_path):
    md = tmp_path / "RESULTS.md"
    md.write_text("# results\n\n<!-- other:begin -->\nkept\n<!-- other:end -->\n")
    c.update_section(md, rm.SECTION, "## first")
    c.update_section(md, rm.SECTION, "## second")
    text = md.read_text()
    assert "## first" not in text and text.count("<!-- mock:begin -->") == 1
    assert "<!-- mock:begin -->\n## second\n<!-- mock:end -->" in text
    assert "<!-- other:begin -->\nkept\n<!-- other:end -->" in text
