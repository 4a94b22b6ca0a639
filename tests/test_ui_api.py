"""The HTTP API behind the web UI (driver.ui): a real UI server and real targets on loopback.

Start a run, watch its windows (poll and server-sent events), steer its users and see
the achieved rate follow, stop it, download every report, list past runs, compare two;
and the safety rules: the token off loopback, loopback host names only, JSON posts,
no path out of the working or output directory, user strings kept as data."""
from __future__ import annotations

import asyncio
import http.client
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from driver.ui import RunManager, UiServer
from driver.ui.server import TOKEN_COOKIE, make_app
from tests.servers import aiohttp_server

DELAY_S = 0.05  # the target's answer time: a user's rate is about 1 / DELAY_S


def slow_app():
    from aiohttp import web

    async def slow(request):
        await request.read()
        await asyncio.sleep(DELAY_S)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    return app


class Client:
    def __init__(self, base: str, headers: dict | None = None):
        self.base = base.split("?")[0].rstrip("/")
        self.headers = headers or {}

    def call(self, method: str, path: str, body=None, headers=None, raw: bool = False):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        hdrs = {"Content-Type": "application/json", **self.headers, **(headers or {})}
        req = urllib.request.Request(self.base + path, method=method, data=data, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                payload = r.read()
                return r.status, (payload if raw else json.loads(payload)), r.headers
        except urllib.error.HTTPError as e:
            payload = e.read()
            try:
                return e.code, json.loads(payload), e.headers
            except ValueError:
                return e.code, payload, e.headers

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, {} if body is None else body, **kw)

    def wait(self, until, timeout: float = 60.0):
        """The state once `until(state)` holds (polled)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, state, _ = self.get("/api/state")
            if until(state):
                return state
            time.sleep(0.2)
        raise AssertionError(f"timed out; last state: {state['run']}")


@pytest.fixture
def workdir(tmp_path) -> Path:
    (tmp_path / "configs").mkdir()
    return tmp_path


@pytest.fixture
def ui(workdir):
    with UiServer(RunManager(workdir, workdir / "results"), "127.0.0.1", 0) as server:
        yield Client(server.url)


@pytest.fixture(scope="module")
def target():
    with aiohttp_server(slow_app) as srv:
        yield srv


def _done(state) -> bool:
    return state["run"] is not None and state["run"]["status"] in ("done", "failed")


def _mean_rps(windows) -> float:
    return sum(w["point"]["rps"] for w in windows) / len(windows)


def _first_event(url: str, event: str, timeout: float = 30.0) -> dict:
    """The data of the first server-sent event named `event` on /api/events."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    conn.request("GET", "/api/events")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    name = None
    try:
        while True:
            line = resp.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == event:
                return json.loads(line[6:])
    finally:
        conn.close()


def test_start_watch_steer_stop_and_download_every_report(ui, target):
    status, meta, _ = ui.post("/api/runs", {"url": target.url + "/jobs", "users": 2, "duration": "60s",
                                            "workers": 1, "thresholds": "p99<5s\nerror_rate<1%"})
    assert status == 201 and meta["mode"] == "closed"
    assert ui.post("/api/runs", {"url": target.url, "users": 1})[0] == 409  # one run at a time
    pushed = _first_event(ui.base, "window")  # the same windows, pushed
    assert pushed["point"]["t"] > 0 and "rps" in pushed["point"]
    state = ui.wait(lambda s: len(s["windows"]) >= 4)
    before = state["windows"][1:]
    assert {th["threshold"]: th["state"] for th in state["windows"][-1]["thresholds"]} == \
        {"p99<5s": "passing", "error_rate<1%": "passing"}
    assert state["windows"][-1]["rows"][0]["name"] == "GET /jobs"

    status, steered, _ = ui.post("/api/run/steer", {"users": 10})
    assert status == 200 and steered["load"] == 10
    assert ui.post("/api/run/steer", {"rate": 5})[0] == 400  # a closed-loop run takes users
    n = len(ui.get("/api/state")[1]["windows"])
    state = ui.wait(lambda s: len(s["windows"]) >= n + 5)
    after = [w for w in state["windows"][n + 1:] if w["point"]["t"] > steered["t"] + 1.0]
    assert after and all(w["point"]["asked"] == 10 for w in after)
    assert after[-1]["point"]["active_users"] == 10
    assert _mean_rps(after) > 3 * _mean_rps(before)  # the achieved rate follows the users

    assert ui.post("/api/run/stop")[0] == 200
    state = ui.wait(_done)
    summary = state["summary"]
    assert state["run"]["status"] == "done" and summary["complete"]
    assert "stopped from the web UI" in summary["notes"] and any("10 users" in n for n in summary["notes"])
    assert summary["requests"] > 0 and [v["passed"] for v in summary["verdicts"]] == [True, True]
    run = summary["run"]
    checks = {"report.html": b"<html", "result.json": b'"schema"', "stats.csv": b"Name", "summary.md": b"|",
              "stats_history.csv": b"Timestamp", "failures.csv": b"Method", "junit.xml": b"<testsuite"}
    for name, marker in checks.items():
        status, body, headers = ui.get(f"/api/results/{run}/{name}", raw=True)
        assert status == 200 and marker in body, name
        assert headers["Content-Disposition"] == f'attachment; filename="{run}-{name}"'
    assert ui.post("/api/run/stop")[0] == 409  # nothing going on any more


def test_past_runs_are_listed_and_compared(ui, target, workdir):
    for users in (1, 4):
        assert ui.post("/api/runs", {"url": target.url + "/a", "users": users, "requests": 40 * users,
                                     "workers": 1})[0] == 201
        ui.wait(_done)
    _, listed, _ = ui.get("/api/results")
    runs = listed["runs"]
    assert len(runs) == 2 and runs[0]["requests"] == 160 and runs[1]["requests"] == 40
    assert "report.html" in runs[0]["files"] and runs[0]["complete"]
    status, cmp, _ = ui.get(f"/api/compare?base={runs[1]['name']}&new={runs[0]['name']}")
    assert status == 200
    total = [r for r in cmp["rows"] if r["total"]][0]
    assert total["metrics"]["rps"]["new"] > 2 * total["metrics"]["rps"]["base"]
    assert "GET /a" in cmp["text"]
    assert ui.get("/api/compare?base=nope&new=" + runs[0]["name"])[0] == 404
    # a report not written at the end is written on demand from result.json
    (workdir / "results" / runs[1]["name"] / "junit.xml").unlink()
    assert ui.get(f"/api/results/{runs[1]['name']}/junit.xml", raw=True)[0] == 200


def test_a_run_started_from_a_config_file_and_open_loop_rate_steer(ui, target, workdir):
    (workdir / "configs" / "api.yaml").write_text(
        f"target:\n  base_url: {target.url}\nscenario:\n  tasks:\n    - name: health\n      path: /health\n")
    _, listing, _ = ui.get("/api/files?dir=configs")
    assert listing["entries"] == [{"name": "api.yaml", "path": "configs/api.yaml", "dir": False}]
    status, meta, _ = ui.post("/api/runs", {"config": "configs/api.yaml", "rate": 20, "users": 50,
                                            "duration": "60s", "workers": 1})
    assert status == 201 and meta["mode"] == "open", meta
    state = ui.wait(lambda s: len(s["windows"]) >= 3)
    status, steered, _ = ui.post("/api/run/steer", {"rate": 80})
    assert status == 200 and steered["load"] == 80
    n = len(state["windows"])
    state = ui.wait(lambda s: len(s["windows"]) >= n + 4)
    after = [w for w in state["windows"] if w["point"]["t"] > steered["t"] + 1.0]
    assert after and all(w["point"]["asked"] == 80 for w in after)
    assert _mean_rps(after) > 3 * _mean_rps(state["windows"][1:3])
    assert ui.post("/api/run/steer", {"paused": True})[1]["paused"] is True
    ui.post("/api/run/stop")
    assert ui.wait(_done)["run"]["status"] == "done"


@pytest.mark.parametrize("form, status, field", [
    ({"url": "http://127.0.0.1:9/", "users": -1}, 400, "users"),
    ({"url": "http://127.0.0.1:9/", "users": "many"}, 400, "users"),
    ({"url": "ftp://127.0.0.1/"}, 400, "url"),
    ({"users": 2}, 400, "url"),
    ({"url": "http://127.0.0.1:9/", "threshold": "p99<1s"}, 400, "threshold"),  # unknown field
    ({"url": "http://127.0.0.1:9/", "thresholds": "p99<soon"}, 400, "thresholds"),
    ({"url": "http://127.0.0.1:9/", "config": "configs/x.yaml"}, 400, "config"),
    ({"config": "configs/none.yaml"}, 404, "config"),
])
def test_bad_forms_are_refused_naming_the_field(ui, form, status, field):
    got, body, _ = ui.post("/api/runs", form)
    assert got == status and body["field"] == field and body["error"]


def test_an_unreachable_target_fails_the_run_with_its_reason(ui):
    from tests.servers import free_port

    ui.post("/api/runs", {"url": f"http://127.0.0.1:{free_port()}/", "users": 1, "duration": "2s"})
    state = ui.wait(_done)
    assert state["run"]["status"] == "failed" and "refused" in state["run"]["error"]


@pytest.mark.parametrize("path, status", [
    ("/api/files?dir=..", 403),
    ("/api/files?dir=/etc", 403),
    ("/api/files?dir=configs/../..", 403),
    ("/api/files?dir=~", 403),
    ("/api/results/..%2F..%2Fetc/passwd", 403),
    ("/api/results/../result.json", 403),
    ("/api/compare?base=..&new=x", 403),
])
def test_paths_out_of_the_working_and_output_directories_are_refused(ui, path, status):
    assert ui.get(path)[0] == status


def test_traversal_by_link_and_by_report_name_is_refused(ui, workdir, tmp_path_factory, target):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.yaml").write_text("target:\n  base_url: http://127.0.0.1:9\n")
    os.symlink(outside, workdir / "configs" / "link")
    os.symlink(outside / "secret.yaml", workdir / "configs" / "secret.yaml")
    assert ui.get("/api/files?dir=configs")[1]["entries"] == []  # links out are not listed
    assert ui.get("/api/files?dir=configs/link")[0] == 403
    assert ui.post("/api/runs", {"config": "configs/secret.yaml"})[0] == 403
    assert ui.post("/api/runs", {"config": "../" + outside.name + "/secret.yaml"})[0] == 403
    assert ui.post("/api/runs", {"url": target.url, "scenario": "/etc/passwd"})[0] == 403
    ui.post("/api/runs", {"url": target.url, "users": 1, "requests": 5, "workers": 1})
    run = ui.wait(_done)["summary"]["run"]
    assert ui.get(f"/api/results/{run}/secret.txt")[0] == 403  # report files by their names only


def test_posts_must_be_json_and_hosts_loopback(ui):
    status, body, _ = ui.call("POST", "/api/run/stop", b"x=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    assert ui.get("/api/state", headers={"Host": "attacker.example:8089"})[0] == 403  # DNS rebinding
    assert ui.get("/api/state", headers={"Host": "localhost:8089"})[0] == 200


def test_a_token_is_required_off_loopback(workdir):
    assert UiServer(RunManager(workdir, workdir), "0.0.0.0", 0).token  # not loopback: a token, always
    assert UiServer(RunManager(workdir, workdir), "127.0.0.1", 0).token is None
    assert UiServer(RunManager(workdir, workdir), "::1", 0).token is None
    from tests.servers import aiohttp_server as serve

    token = "t0ken-" + os.urandom(8).hex()
    with serve(lambda: make_app(RunManager(workdir, workdir / "results"), token)) as srv:
        bare = Client(srv.url)
        assert bare.get("/api/state")[0] == 401
        assert bare.get("/")[0] == 401
        assert bare.get("/api/state", headers={"X-Driver-Token": "wrong"})[0] == 401
        assert bare.get("/api/state", headers={"X-Driver-Token": token})[0] == 200
        status, _, headers = bare.get("/?token=" + token, raw=True)
        assert status == 200 and f"{TOKEN_COOKIE}={token}" in headers["Set-Cookie"]
        assert "HttpOnly" in headers["Set-Cookie"]
        assert bare.get("/api/state", headers={"Cookie": f"{TOKEN_COOKIE}={token}"})[0] == 200
        # off loopback the token is the guard: any host name is answered once it is given
        assert bare.get("/api/state", headers={"Host": "box.lan:8089", "X-Driver-Token": token})[0] == 200


def test_user_strings_stay_data(ui, workdir, target):
    """A name with markup comes back as the same JSON string; the page sets text only and
    its policy runs no inline script."""
    name = '<img src=x onerror="alert(1)">&amp;'
    (workdir / "configs" / "xss.yaml").write_text(
        f"target:\n  base_url: {target.url}\nscenario:\n  tasks:\n"
        f"    - path: /x\n      name: '{name}'\n")
    ui.post("/api/runs", {"config": "configs/xss.yaml", "users": 1, "requests": 5, "workers": 1})
    summary = ui.wait(_done)["summary"]
    assert [e["name"] for e in summary["endpoints"]] == [name]
    status, page, headers = ui.get("/", raw=True)
    assert status == 200 and b"<script>" not in page  # every script is a file
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    js = (Path(__file__).resolve().parent.parent / "driver" / "ui" / "static" / "app.js").read_text()
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js
    _, runs, _ = ui.get("/api/results")
    assert runs["runs"][0]["requests"] == 5


def _url_from(stream, marker: str = "driver web UI: ", timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        if marker in line:
            return line.split(marker, 1)[1].split()[0]
    raise AssertionError("the UI's URL was not printed")


def test_driver_run_ui_attaches_the_page_to_a_cli_run(target, tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "driver.cli", "run", target.url + "/cli", "-u", "2", "-d", "60s",
                             "-w", "1", "-o", str(tmp_path / "out"), "--ui", "0"], cwd=root,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        page = Client(_url_from(proc.stderr))
        state = page.wait(lambda s: len(s["windows"]) >= 2)
        assert state["run"]["attached"] and state["windows"][-1]["rows"][0]["name"] == "GET /cli"
        assert page.post("/api/run/steer", {"users": 4})[0] == 200
        assert page.post("/api/run/stop")[0] == 200
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "results:" in out
    result = json.loads(next((tmp_path / "out").glob("*/result.json")).read_text())
    assert "stopped from the web UI" in result["notes"] and any("4 users" in n for n in result["notes"])


def test_driver_ui_serves_until_interrupted(tmp_path):
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "driver.cli", "ui", "--port", "0", "-o", str(tmp_path / "res")],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        page = Client(_url_from(proc.stdout))
        status, state, _ = page.get("/api/state")
        assert status == 200 and state["run"] is None and state["output"] == str(tmp_path / "res")
        status, html, _ = page.get("/", raw=True)
        assert status == 200 and b"Start a run" in html
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0


def test_driver_ui_refuses_a_port_in_use(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    with UiServer(RunManager(tmp_path, tmp_path), "127.0.0.1", 0) as busy:
        done = subprocess.run([sys.executable, "-m", "driver.cli", "ui", "--port", str(busy.port), "-o",
                               str(tmp_path / "r")], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("driver: error: the web UI cannot listen on 127.0.0.1:")
    assert len(done.stderr.strip().splitlines()) == 1 and str(busy.port) in done.stderr
