"""The HTML report in a real browser: headless Chromium, driven over the DevTools protocol.

Checks that the page runs without console errors or exceptions, loads nothing but
itself (every request the browser makes is the file), and draws its charts: the
uPlot canvases exist, have a size and hold drawn pixels, and a screenshot of the
charts (decoded here with zlib + struct) is not blank and shows the series colours;
a chaos fault window tints every time chart red between its start and end.

Chromium is the Debian package `chromium`; without it the test is skipped, unless
the environment variable CI is set, where it fails. Set DRIVER_SCREENSHOT=PATH to
keep the full-page screenshot for a look.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import struct
import subprocess
import time
import zlib
from pathlib import Path

import aiohttp
import pytest

from benchmarks.bench_reports import synthetic_result
from driver.reports import write_reports

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
    # no name resolves: whatever the page tried to fetch from elsewhere could not leave the box
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-port=0", "--remote-allow-origins=*",
]
WIDTH = 1400
START_TIMEOUT_S = 15.0
STEP_TIMEOUT_S = 15.0


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing (apt-get install chromium); CI is set, so this is a failure")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


# -- a small DevTools protocol client -------------------------------------------------


class DevTools:
    """One page target over the browser's websocket ("flat" sessions): commands and events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.next_id = 0
        self.pending: dict[int, asyncio.Future] = {}
        self.events: list[dict] = []
        self.waiters: list[tuple[str, asyncio.Future]] = []
        self.session: str | None = None
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if "id" in data:
                fut = self.pending.pop(data["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
                continue
            self.events.append(data)
            for method, fut in list(self.waiters):
                if data.get("method") == method and not fut.done():
                    fut.set_result(data)
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("DevTools connection closed"))

    async def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        fut = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = fut
        await self.ws.send_str(json.dumps(msg))
        reply = await asyncio.wait_for(fut, STEP_TIMEOUT_S)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def waiter(self, method: str) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append((method, fut))
        return fut

    async def evaluate(self, expression: str):
        reply = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                     "awaitPromise": True})
        if "exceptionDetails" in reply:
            raise RuntimeError(f"evaluate failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and browser log errors, as text."""
        out = []
        for ev in self.events:
            method, p = ev.get("method"), ev.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                out.append(f"console.{p['type']}: " + " ".join(str(a.get("value", a.get("description")))
                                                              for a in p.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append(f"exception: {d.get('text')} {d.get('exception', {}).get('description', '')}")
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                e = p["entry"]
                if "willReadFrequently" in e.get("text", ""):  # the test's own pixel probe reads canvases back
                    continue
                out.append(f"log {e.get('level')} ({e.get('source')}): {e.get('text')} {e.get('url', '')}")
        return out

    def requested_urls(self) -> list[str]:
        return [ev["params"]["request"]["url"] for ev in self.events if ev.get("method") == "Network.requestWillBeSent"]


def _start_chromium(binary: str, profile: Path) -> tuple[subprocess.Popen, str]:
    # its own process group: the browser's helpers (zygote, renderer, GPU) end with it
    proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode} before it listened")
        lines = port_file.read_text().split("\n") if port_file.exists() else []
        if len(lines) >= 2 and lines[0].strip() and lines[1].strip():
            return proc, f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
        time.sleep(0.05)
    _stop(proc)
    raise RuntimeError("chromium did not open its DevTools port")


def _stop(proc: subprocess.Popen) -> None:
    """End the browser (it ends its own helpers), then whatever is left of its process group."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group this test started, by its id
    except ProcessLookupError:
        pass
    proc.wait(timeout=5)


CANVAS_PROBE = """(() => {
  const out = [];
  for (const c of document.querySelectorAll('.chart .uplot canvas')) {
    const ctx = c.getContext('2d');
    const px = ctx.getImageData(0, 0, c.width, c.height).data;
    let drawn = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) drawn++;
    const box = c.closest('.chart');
    out.push({chart: box.id, width: c.width, height: c.height, drawn: drawn});
  }
  return {canvases: out, charts: Number(document.body.getAttribute('data-charts') || 0)};
})()"""
SETTLE = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 50))))"


async def inspect_page(binary: str, page: Path, profile: Path, extra: dict[str, str] | None = None) -> dict:
    """Open `page`, let it draw, and return what the checks need; `extra`: {name: expression}
    evaluated once the page has drawn, their values under seen["extra"]."""
    proc, ws_url = _start_chromium(binary, profile)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(ws_url, max_msg_size=0) as ws:
                dt = DevTools(ws)
                target = await dt.send("Target.createTarget", {"url": "about:blank"}, session=False)
                attached = await dt.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                                         session=False)
                dt.session = attached["sessionId"]
                for domain in ("Runtime", "Log", "Network", "Page"):
                    await dt.send(f"{domain}.enable")
                await dt.send("Emulation.setDeviceMetricsOverride",
                              {"width": WIDTH, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
                loaded = dt.waiter("Page.loadEventFired")
                await dt.send("Page.navigate", {"url": page.as_uri()})
                await asyncio.wait_for(loaded, STEP_TIMEOUT_S)
                await dt.evaluate(SETTLE)
                probe = await dt.evaluate(CANVAS_PROBE)
                extra_values = {name: await dt.evaluate(expr) for name, expr in (extra or {}).items()}
                # the percentile plot redraws with a logarithmic latency axis, and back
                await dt.evaluate("document.getElementById('pct-log').click()")
                await dt.evaluate(SETTLE)
                probe_log = await dt.evaluate(CANVAS_PROBE)
                await dt.evaluate("document.getElementById('pct-log').click()")
                await dt.evaluate(SETTLE)
                rect = await dt.evaluate("(() => { const r = document.getElementById('charts')"
                                         ".getBoundingClientRect(); return {x: r.left + scrollX, y: r.top + scrollY,"
                                         " width: r.width, height: r.height}; })()")
                height = await dt.evaluate("document.documentElement.scrollHeight")
                charts_png = await dt.send("Page.captureScreenshot", {
                    "format": "png", "captureBeyondViewport": True,
                    "clip": {**rect, "scale": 0.5}})
                full_png = None
                if os.environ.get("DRIVER_SCREENSHOT"):
                    full_png = await dt.send("Page.captureScreenshot", {
                        "format": "png", "captureBeyondViewport": True,
                        "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}})
                title = await dt.evaluate("document.title")
                dt.reader.cancel()
                return {"problems": dt.problems(), "urls": dt.requested_urls(), "probe": probe, "title": title,
                        "probe_log": probe_log, "extra": extra_values,
                        "charts_png": base64.b64decode(charts_png["data"]),
                        "full_png": base64.b64decode(full_png["data"]) if full_png else None}
    finally:
        _stop(proc)


# the time charts' columns at seconds `inside` and `outside` of the run, rows of the plot area
# compared pixel by pixel (RGBA of the canvas: untouched pixels are transparent); the x scale
# runs from the first second of the series to the last, the plot area is uPlot's .u-over
COLUMNS_PROBE = """((inside, outside) => {
  const D = JSON.parse(document.getElementById('driver-data').textContent);
  const t = D.series.t, t0 = t[0], t1 = t[t.length - 1];
  const out = [];
  for (const box of document.querySelectorAll('.chart')) {
    if (box.id === 'chart-percentiles') continue;
    const c = box.querySelector('.uplot canvas'), over = box.querySelector('.u-over');
    const dpr = c.width / c.clientWidth;
    const x = s => Math.round(dpr * (over.offsetLeft + over.offsetWidth * (s - t0) / (t1 - t0)));
    const top = Math.round(dpr * over.offsetTop), height = Math.round(dpr * over.offsetHeight);
    const ctx = c.getContext('2d');
    const a = ctx.getImageData(x(inside), top, 1, height).data, b = ctx.getImageData(x(outside), top, 1, height).data;
    let differ = 0, background = 0, tinted = 0;
    for (let i = 0; i < a.length; i += 4) {
      if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2] || a[i + 3] !== b[i + 3]) differ++;
      if (b[i + 3] === 0) {  // nothing drawn in the other column's row: is this one red there?
        background++;
        if (a[i + 3] > 0 && a[i] > 2 * a[i + 1] && a[i] > 2 * a[i + 2]) tinted++;  // red, not orange
      }
    }
    out.push({chart: box.id, rows: height, differ: differ, background: background, tinted: tinted});
  }
  return out;
})"""


# -- PNG decoding with the standard library --------------------------------------------


def decode_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows) of an 8-bit RGB or RGBA PNG, unfiltered."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def pixel_stats(png: bytes) -> dict:
    width, height, bpp, rows = decode_png(png)
    non_white = blue = red = 0
    for row in rows:
        for x in range(0, width * bpp, bpp):
            r, g, b = row[x], row[x + 1], row[x + 2]
            if r < 235 or g < 235 or b < 235:
                non_white += 1
            if b > 150 and r < 90 and 60 < g < 150:  # the first series' blue (#0969da)
                blue += 1
            if r > 170 and g < 80 and b < 80:  # errors / p99 red (#cf222e)
                red += 1
    return {"pixels": width * height, "non_white": non_white, "blue": blue, "red": red}


# -- the test --------------------------------------------------------------------------


def test_report_renders_in_chromium(chromium, tmp_path):
    result = synthetic_result(seconds=300, endpoints=8, rps=400.0, users=50)
    result.endpoints[1].name = "<script>alert(1)</script>"
    result.validity = {"valid": False, "reasons": ["the load generator was CPU-bound"],
                       "figures": {"seconds": 299, "seconds_cpu_bound": 280, "cpu_max_share": 0.99}}
    result.aborted = {"threshold": "p99<500ms", "t": 240.0}
    page = write_reports(result, tmp_path, ["html"])[0]
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    seen = asyncio.run(asyncio.wait_for(inspect_page(chromium, page, profile), 60))
    if seen["full_png"] and os.environ.get("DRIVER_SCREENSHOT"):
        Path(os.environ["DRIVER_SCREENSHOT"]).write_bytes(seen["full_png"])

    assert seen["problems"] == []
    assert seen["urls"] and all(u.startswith("file:") for u in seen["urls"]), seen["urls"]
    assert seen["title"].startswith("driver report")

    probe = seen["probe"]
    charts = {c["chart"] for c in probe["canvases"]}
    assert probe["charts"] == 5
    assert charts == {"chart-throughput", "chart-latency", "chart-users", "chart-generator", "chart-percentiles"}
    for canvas in probe["canvases"]:
        assert canvas["width"] > 300 and canvas["height"] > 150, canvas
        assert canvas["drawn"] > 0.01 * canvas["width"] * canvas["height"], canvas  # lines, not an empty canvas

    assert [c["chart"] for c in seen["probe_log"]["canvases"]] == [c["chart"] for c in probe["canvases"]]
    log_plot = next(c for c in seen["probe_log"]["canvases"] if c["chart"] == "chart-percentiles")
    assert log_plot["drawn"] > 0.01 * log_plot["width"] * log_plot["height"]

    stats = pixel_stats(seen["charts_png"])
    assert stats["non_white"] > 0.03 * stats["pixels"], stats
    assert stats["blue"] > 200 and stats["red"] > 50, stats


def test_chaos_windows_are_shaded_on_every_time_chart(chromium, tmp_path):
    result = synthetic_result(seconds=300, endpoints=3, rps=200.0, users=20)
    result.chaos = [{"fault": "outage", "at_s": 120.0, "end_s": 180.0, "params": {"mode": "refuse"}},
                    {"fault": "malformed", "at_s": 240.0, "end_s": 250.0}]
    page = write_reports(result, tmp_path, ["html"])[0]
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    extra = {"band": f"{COLUMNS_PROBE}(157, 83)", "no_band": f"{COLUMNS_PROBE}(83, 97)"}  # off the grid lines
    seen = asyncio.run(asyncio.wait_for(inspect_page(chromium, page, profile, extra), 60))

    assert seen["problems"] == []
    band, no_band = seen["extra"]["band"], seen["extra"]["no_band"]
    assert [c["chart"] for c in band] == ["chart-throughput", "chart-latency", "chart-users", "chart-generator"]
    for inside, outside in zip(band, no_band):
        # where the column outside the window shows the background, the one inside is red,
        # but for the rows a series line (or the throughput chart's blue fill) covers there
        assert inside["background"] > 10, inside  # that fill covers most of the throughput chart
        assert inside["tinted"] > 0.6 * inside["background"], inside
        # two columns outside any window: red only where a red series (errors/s, p99) crosses
        assert outside["tinted"] < 0.25 * inside["tinted"], (inside, outside)
        assert inside["differ"] > outside["differ"], (inside, outside)
