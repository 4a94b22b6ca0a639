"""The web UI in a real browser: headless Chromium (Debian's) driven by playwright.

From the page: start a run against a loopback target, change its users mid-run and see
the achieved rate follow, stop it, download a report; screenshots must show drawn
charts (canvas pixels that are not blank). A run from a config file chosen with the
page's file chooser shows an endpoint name with markup as text, not as HTML. The page
loads nothing but the UI server's own files (it works offline).

Without chromium or playwright the test is skipped, unless CI is set (then it fails).
DRIVER_UI_SCREENSHOT=PATH keeps the mid-run screenshot (the README's docs/ui.png).
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import time
import zlib
from pathlib import Path

import pytest

from driver.ui import RunManager, UiServer
from tests.servers import aiohttp_server
from tests.test_ui_api import Client, slow_app

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]  # no name but loopback resolves
STEP_MS = 30_000
expect = None  # playwright's, once the browser fixture found it


def _chromium() -> str | None:
    for name in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if name and os.path.exists(name):
            return name
    return None


@pytest.fixture(scope="module")
def browser():
    path = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if path is None or sync_playwright is None:
        missing = "chromium" if path is None else "playwright (pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(f"{missing} is missing; CI is set, so this is a failure")
        pytest.skip(f"{missing} is missing")
    global expect
    from playwright.sync_api import expect

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def setup(tmp_path):
    (tmp_path / "configs").mkdir()
    with aiohttp_server(slow_app) as target, \
            UiServer(RunManager(tmp_path, tmp_path / "results"), "127.0.0.1", 0) as ui:
        yield target, ui, tmp_path


def _png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGBA or RGB bytes) of a PNG, decoded with zlib (8-bit, filtered)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", data[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 4 if color == 6 else 3
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw, rows, prev = zlib.decompress(idat), [], bytearray(width * bpp)
    stride = width * bpp + 1
    for y in range(height):
        f, line = raw[y * stride], bytearray(raw[y * stride + 1:(y + 1) * stride])
        for i in range(len(line)):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def _coloured(png: bytes) -> int:
    """Pixels of a screenshot that are neither white-ish nor grey: drawn series."""
    width, height, rows, bpp = _png_pixels(png)
    n = 0
    for row in rows[::2]:
        for x in range(0, width * bpp, 2 * bpp):
            r, g, b = row[x], row[x + 1], row[x + 2]
            if max(r, g, b) - min(r, g, b) > 40:
                n += 1
    return n


def _canvas_inked(page) -> list[int]:
    """Per chart canvas: pixels with any paint (alpha > 0)."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('.chart canvas')).map(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })""")


def _wait_windows(api: Client, n: int, timeout: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        windows = api.get("/api/state")[1]["windows"]
        if len(windows) >= n:
            return windows
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} windows after {timeout}s")


def test_start_steer_stop_and_download_from_the_page(browser, setup, tmp_path):
    target, ui, _ = setup
    api = Client(ui.url)
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(ui.url)
    page.fill("#f-url", target.url + "/orders")
    page.fill("#f-users", "2")
    page.fill("#f-duration", "90s")
    page.fill("#f-workers", "1")
    page.fill("#f-thresholds", "p99<5s\nerror_rate<1%")
    page.click("#start")
    expect(page.locator("#status")).to_have_text(re.compile("^running"), timeout=STEP_MS)
    before = _wait_windows(api, 4)[1:]
    page.wait_for_selector("#endpoints tbody tr", timeout=STEP_MS)
    assert page.inner_text("#endpoints tbody tr td") == "GET /orders"

    page.fill("#steer-value", "10")
    page.click("#steer-apply")
    expect(page.locator("#steer-msg")).to_have_text(re.compile("^from "), timeout=STEP_MS)
    n = len(before) + 1
    windows = _wait_windows(api, n + 5)
    after = [w for w in windows[n + 1:] if w["point"]["asked"] == 10 and w["point"]["active_users"] == 10]
    assert len(after) >= 2
    mean = lambda ws: sum(w["point"]["rps"] for w in ws) / len(ws)  # noqa: E731
    assert mean(after) > 3 * mean(before)  # the achieved rate followed the users
    page.wait_for_timeout(1200)  # the page has drawn the windows after the steer
    figures = page.inner_text("#figures")
    assert "asked users" in figures and "10" in figures

    inked = _canvas_inked(page)
    assert len(inked) == 4 and all(n > 500 for n in inked), inked  # every chart drew its series
    shot = page.screenshot(full_page=True)
    assert _coloured(shot) > 2000  # series colours on the screenshot, not a blank page
    keep = os.environ.get("DRIVER_UI_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(page.screenshot(full_page=False))

    page.click("#stop")
    expect(page.locator("#status")).to_have_text("done", timeout=STEP_MS)
    page.wait_for_selector("#downloads a", timeout=STEP_MS)
    assert page.inner_text("#end-validity")
    with page.expect_download(timeout=STEP_MS) as dl:
        page.click("#downloads a:text('HTML')")
    saved = tmp_path / "downloaded.html"
    dl.value.save_as(saved)
    html = saved.read_text()
    assert "<html" in html and "GET /orders" in html
    page.wait_for_selector("#runs tbody tr", timeout=STEP_MS)
    assert errors == []
    assert all(u.startswith(ui.url.rstrip("/")) for u in requests), requests  # nothing from elsewhere
    page.close()


def test_config_from_the_file_chooser_and_markup_shown_as_text(browser, setup):
    target, ui, workdir = setup
    name = '<img id=pwned src=x onerror="document.title=1">'
    (workdir / "configs" / "api.yaml").write_text(
        f"target:\n  base_url: {target.url}\nscenario:\n  tasks:\n    - path: /x\n      name: '{name}'\n")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(ui.url)
    page.click("#choose-config")
    page.click("#chooser-list button:text('configs/')")
    page.click("#chooser-list button:text('api.yaml')")
    assert page.input_value("#f-config") == "configs/api.yaml"
    page.fill("#f-users", "1")
    page.fill("#f-duration", "30s")
    page.fill("#f-workers", "1")
    page.click("#start")
    page.wait_for_selector("#endpoints tbody tr", timeout=STEP_MS)
    assert page.inner_text("#endpoints tbody tr td") == name  # the markup, as text
    assert page.evaluate("document.getElementById('pwned')") is None
    page.click("#stop")
    expect(page.locator("#status")).to_have_text("done", timeout=STEP_MS)
    assert page.title() != "1"
    page.close()
